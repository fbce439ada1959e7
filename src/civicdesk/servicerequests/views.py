"""Serving the photos attached to requests. Only files recorded as request media are served,
with headers that stop a browser from treating them as anything but an image."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from .models import RequestMedia


@require_GET
def media_file(request: HttpRequest, name: str) -> FileResponse:
    media = RequestMedia.objects.filter(file=name).only("file", "content_type").first()
    if media is None or not media.file:
        raise Http404("no such file")
    try:
        handle = media.file.open("rb")
    except FileNotFoundError:
        raise Http404("no such file") from None
    response = FileResponse(handle, content_type=media.content_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "public, max-age=86400"
    return response
