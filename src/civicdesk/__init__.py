"""civicdesk: resident services for local governments (311/CRM, Open311, portal, console)."""

__version__ = "0.1.0"
