"""GeoReport v2 documents in both formats. JSON mirrors the XML: a top-level array where the
XML has a list element. XML is written directly (UTF-8, with its declaration), with the
element names of the specification; characters XML cannot carry are dropped."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpResponse

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# The element name of each item in a list, by the list's own name.
ITEM = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "notes": "note",
}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _NOT_XML.sub("", str(value)).translate(_ESCAPES)


def _element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        out.append(f"<{name}/>")
    elif isinstance(value, dict):
        out.append(f"<{name}>")
        for key, child in value.items():
            _element(key, child, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        item = ITEM.get(name, "item")
        out.append(f"<{name}>")
        for child in value:
            _element(item, child, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_text(value)}</{name}>")


def xml_document(root: str, value: Any) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _element(root, value, out)
    return "".join(out).encode("utf-8")


def document(fmt: str, root: str, value: Any, *, status: int = 200) -> HttpResponse:
    """``value`` under the XML root ``root`` (a list or an object), or as JSON."""
    if fmt == "xml":
        body = xml_document(root, value)
    else:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    response = HttpResponse(body, status=status, content_type=FORMATS[fmt])
    response["Access-Control-Allow-Origin"] = "*"
    return response


def errors(fmt: str, status: int, messages: list[str]) -> HttpResponse:
    """The specification's error list: ``[{code, description}]`` / ``errors/error``."""
    return document(
        fmt, "errors", [{"code": status, "description": m} for m in messages], status=status
    )
