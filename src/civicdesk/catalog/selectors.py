"""Reads on the catalogue: finding services by the words residents and call takers use."""

from __future__ import annotations

import unicodedata

from .models import Service


def text_fold(text: str) -> str:
    """Lower case without accents, so "arbol" finds "árbol" and "bache" finds "Bache"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _haystack(service: Service) -> str:
    parts = [
        service.service_code.replace("-", " "),
        service.name,
        service.description,
        service.group,
        " ".join(str(k) for k in service.keywords),
    ]
    for texts in (service.translations or {}).values():
        parts.extend(str(v) for v in texts.values())
    return text_fold(" ".join(parts))


def services_search(query: str) -> list[Service]:
    """Active services matching every word of ``query`` in any language, best first."""
    words = [w for w in text_fold(query).split() if len(w) > 1]
    if not words:
        return []
    scored = []
    for service in Service.objects.filter(active=True):
        haystack = _haystack(service)
        if all(w in haystack for w in words):
            names = text_fold(
                " ".join(
                    [service.name]
                    + [str(t.get("name", "")) for t in (service.translations or {}).values()]
                )
            )
            scored.append((sum(w in names for w in words), service))
    scored.sort(key=lambda pair: (-pair[0], pair[1].name))
    return [service for _, service in scored]
