"""Boundaries (city limits, council districts, wards, service zones), point-in-zone lookup,
routing rules and distances."""
