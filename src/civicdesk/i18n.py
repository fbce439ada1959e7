"""The reader's language, as the catalogue and the message templates key it."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import get_language


def current_language() -> str:
    """The active language's base code (``es`` for ``es-mx``), or the site's default."""
    return (get_language() or settings.LANGUAGE_CODE).split("-")[0]
