"""The catalogue of services: departments, services and their questions, service levels and
the business calendar they are measured on."""
