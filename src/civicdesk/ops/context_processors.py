"""What every page needs to know about the installation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "CITY_NAME": settings.CIVICDESK_CITY_NAME,
        "MAP_TILE_URL": settings.CIVICDESK_MAP_TILE_URL,
        "MAP_ATTRIBUTION": settings.CIVICDESK_MAP_ATTRIBUTION,
    }
