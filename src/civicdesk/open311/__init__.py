"""The Open311 GeoReport v2 adapter: discovery, services, service definitions, requests
(read and create), tokens, in XML and JSON, with the extensions large cities use; and the
API keys that apps post with."""
