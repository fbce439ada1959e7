"""Importing other systems' service-request history: a city's 311 export (a CSV file read
through a mapping or a shipped preset) or another GeoReport v2 server. See docs/imports.md.

- ``mapping``: the mapping file (TOML) that says which column feeds which field; presets
  are mapping files shipped in ``presets/``.
- ``reader``: a CSV file, decoded and checked, turned row by row into ``Record`` values.
- ``open311_client``: the same records from another GeoReport v2 server, by date window.
- ``loader``: records into the database in bulk, idempotently (created, updated, unchanged).
- ``run``: one import from start to finish, in one transaction, with its ``ImportRun``.
"""
