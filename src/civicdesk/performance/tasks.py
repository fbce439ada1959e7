"""Background jobs of the performance app."""

from __future__ import annotations

from django_tasks import task

from .rollups import rollups_refresh


@task()
def refresh_rollups() -> int:
    return rollups_refresh()
