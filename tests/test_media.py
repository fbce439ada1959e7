"""Photos: checked by content and size, stored without the camera's metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from civicdesk.errors import InvalidInput
from civicdesk.servicerequests.models import EventKind, RequestMedia
from civicdesk.servicerequests.services import request_media_attach
from tests.conftest import make_request

pytestmark = pytest.mark.usefixtures("city")


def _jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (200, 50, 50))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    exif[0x8825] = {1: "N", 2: (40.0, 0.0, 0.0), 3: "W", 4: (89.0, 0.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_photo_is_stored_without_metadata_and_upright(settings: object, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    request = make_request()
    raw = _jpeg_with_gps()
    assert b"PhoneMaker" in raw
    media = request_media_attach(request=request, data=raw, actor_label="resident")
    stored = media.file.read()
    assert b"PhoneMaker" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert image.size == (480, 640)  # the orientation tag was applied, then dropped
    assert media.content_type == "image/jpeg" and media.file.name.endswith(".jpg")
    assert request.events.filter(kind=EventKind.MEDIA, public=True).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7 not a photo at all", "not a photo"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not a photo"),  # a truncated JPEG header
    ],
)
def test_files_that_are_not_photos_are_refused(data: bytes, message: str) -> None:
    request = make_request()
    with pytest.raises(InvalidInput, match=message):
        request_media_attach(request=request, data=data)
    assert RequestMedia.objects.count() == 0


def test_oversized_uploads_are_refused(settings: object) -> None:
    settings.CIVICDESK_MAX_UPLOAD_BYTES = 1000  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="the limit is"):
        request_media_attach(request=make_request(), data=_jpeg_with_gps())
    assert RequestMedia.objects.count() == 0


def test_big_photos_are_scaled_down(settings: object, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    media = request_media_attach(request=make_request(), data=_jpeg_with_gps((5000, 1000)))
    with Image.open(media.file) as image:
        assert max(image.size) == 3000
