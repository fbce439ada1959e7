"""Photos from the public: checked by their content (not their name), size-limited, and
re-encoded so that EXIF data (the camera, the phone's GPS position) never leaves intake."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from civicdesk.errors import InvalidInput

ALLOWED_FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("png", "image/png"),
}
MAX_PIXELS = 40_000_000  # a 40-megapixel phone photo; more is a decompression bomb
MAX_SIDE = 3000  # stored photos are scaled down to this many pixels on the long side


@dataclass(frozen=True)
class CleanImage:
    content: bytes
    extension: str
    content_type: str
    width: int
    height: int


def image_clean(data: bytes, *, max_bytes: int | None = None) -> CleanImage:
    """Check an uploaded photo and return it re-encoded without metadata."""
    limit = max_bytes or settings.CIVICDESK_MAX_UPLOAD_BYTES
    if not data:
        raise InvalidInput({"media": [_("the file is empty")]})
    if len(data) > limit:
        raise InvalidInput(
            {
                "media": [
                    _("the file is %(size)s MB; the limit is %(limit)s MB")
                    % {"size": f"{len(data) / 1e6:.1f}", "limit": f"{limit / 1e6:.0f}"}
                ]
            }
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or ""
            if probe.width * probe.height > MAX_PIXELS:
                raise InvalidInput({"media": [_("the image has too many pixels")]})
            probe.verify()
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(
            {"media": [_("the file is not a photo (JPEG, PNG, WebP or GIF)")]}
        ) from None
    if kind not in ALLOWED_FORMATS:
        raise InvalidInput(
            {
                "media": [
                    _("%(kind)s images are not accepted; send JPEG or PNG") % {"kind": kind or "?"}
                ]
            }
        )
    extension, content_type = ALLOWED_FORMATS[kind]
    image = ImageOps.exif_transpose(image)  # keep the photo upright once EXIF is gone
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if extension == "jpg":
        image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    elif extension == "webp":
        image.save(out, format="WEBP", quality=85)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=True)
    return CleanImage(out.getvalue(), extension, content_type, image.width, image.height)
