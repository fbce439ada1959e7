"""Hostile input at every public door: injection and script in forms and API parameters,
hostile uploads, forged cross-site posts, the security headers, the per-address rate limits,
and residents' contact details kept off every public surface and out of the logs."""

from __future__ import annotations

import io
import logging
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from civicdesk.open311.keys import apikey_create
from civicdesk.servicerequests.models import RequestMedia, ServiceRequest
from civicdesk.servicerequests.services import ContactInput
from tests.conftest import DOWNTOWN, make_request, sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

PAYLOADS = [
    "'; DROP TABLE servicerequests_servicerequest; --",
    "1' OR '1'='1",
    "<script>alert(1)</script>",
    '" onmouseover="alert(1)',
    "Ünïcödé ✓ 東京 \u202e",
    "NUL\x00byte",
    "x" * 20000,
]
SCRIPT = "<script>alert(1)</script>"


def body(response: Any) -> str:
    raw = b"".join(response) if response.streaming else response.content
    return raw.decode(errors="replace")


def no_raw_script(response: Any) -> None:
    text = body(response)
    assert SCRIPT not in text
    assert 'onmouseover="alert(1)' not in text


def report(client: Client, **fields: Any) -> Any:
    data = {
        "description": "Hole",
        "address": "",
        "lat": str(DOWNTOWN[0]),
        "long": str(DOWNTOWN[1]),
        "attribute_size": "small",
        "attribute_in_traffic_lane": "yes",
        "name": "",
        "email": "",
        "phone": "",
    }
    data.update(fields)
    return client.post("/services/pothole/", data)


# --------------------------------------------------------------------------------------
# Injection and script


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field", ["description", "address", "name", "attribute_size"])
def test_report_form_fields_take_hostile_text_safely(field: str, payload: str) -> None:
    before = ServiceRequest.objects.count()
    response = report(Client(), **{field: payload})
    assert response.status_code in (302, 400), response.status_code
    no_raw_script(response)
    if response.status_code == 302:
        sr = ServiceRequest.objects.latest("id")
        page = Client().get(f"/requests/{sr.public_id}/")
        assert page.status_code == 200
        no_raw_script(page)
        if field == "description" and payload == SCRIPT:
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body(page)
    assert ServiceRequest.objects.count() >= before  # the table is still there


@pytest.mark.parametrize("payload", PAYLOADS)
def test_follow_form_and_track_lookup_take_hostile_text_safely(payload: str) -> None:
    sr = make_request()
    client = Client()
    followed = client.post(
        f"/requests/{sr.public_id}/", {"action": "follow", "email": payload, "phone": payload}
    )
    assert followed.status_code in (302, 400)
    no_raw_script(followed)
    tracked = client.get("/track/", {"public_id": payload})
    assert tracked.status_code in (200, 302)
    no_raw_script(tracked)
    listing = client.get("/requests/", {"service": payload, "status": payload, "since": payload})
    assert listing.status_code == 200
    no_raw_script(listing)
    assert ServiceRequest.objects.filter(pk=sr.pk).exists()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_open311_parameters_take_hostile_text_safely(payload: str) -> None:
    sr = make_request()
    _, key = apikey_create(name="Fuzz")
    client = Client()
    for fmt in ("json", "xml"):
        for params in (
            {"service_code": payload},
            {"start_date": payload, "end_date": payload},
            {"status": payload},
            {"service_request_id": payload},
        ):
            response = client.get(f"/open311/v2/requests.{fmt}", params)
            assert response.status_code in (200, 400, 404), (params, response.status_code)
            assert SCRIPT not in body(response) or fmt == "json"
        if "/" not in payload and "\x00" not in payload and len(payload) <= 64:
            detail = client.get(f"/open311/v2/requests/{payload}.{fmt}")
            assert detail.status_code in (400, 404)
        posted = client.post(
            f"/open311/v2/requests.{fmt}",
            {
                "api_key": key,
                "service_code": "pothole",
                "lat": str(DOWNTOWN[0]),
                "long": str(DOWNTOWN[1]),
                "attribute[size]": payload,
                "attribute[in_traffic_lane]": "yes",
                "description": payload,
                "first_name": payload,
                "email": payload,
            },
        )
        assert posted.status_code in (200, 201, 400), posted.status_code
    assert ServiceRequest.objects.filter(pk=sr.pk).exists()


def test_a_script_in_a_description_is_escaped_on_every_page_that_shows_it() -> None:
    sr = make_request(description=SCRIPT + '" onmouseover="alert(1)')
    admin = sign_in(Client(), staff("admin"))
    for client, url in (
        (Client(), f"/requests/{sr.public_id}/"),
        (Client(), "/requests/"),
        (admin, f"/staff/requests/{sr.public_id}/"),
        (admin, "/staff/"),
    ):
        response = client.get(url)
        assert response.status_code == 200
        no_raw_script(response)
    xml = Client().get(f"/open311/v2/requests/{sr.public_id}.xml")
    assert SCRIPT not in body(xml) and "&lt;script&gt;" in body(xml)


# --------------------------------------------------------------------------------------
# Uploads


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


def _bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A small PNG whose header claims a huge image."""
    raw = zlib.compress(b"\x00" * 1000)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 50, 50))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (40.0, 0.0, 0.0), 3: "W", 4: (89.0, 0.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)
HOSTILE_UPLOADS = {
    "oversized": ("big.jpg", b"\xff\xd8\xff" + b"0" * 3000, "the limit is"),
    "not an image": ("photo.jpg", b"%PDF-1.7 not a photo", "not a photo"),
    "truncated jpeg": ("photo.jpg", _jpeg_with_gps()[:200], "not a photo"),
    "svg with script": ("photo.svg", SVG, "not a photo"),
    # Pillow itself refuses an image this size on opening: "not a photo".
    "decompression bomb": ("bomb.png", _bomb_png(), "not a photo"),
    "bomb under Pillow's limit": ("bomb.png", _bomb_png(8000, 8000), "too many pixels"),
    "polyglot": ("photo.jpg", b"GIF89a<script>alert(1)</script>" + b"\x00" * 50, "not a photo"),
}


@pytest.mark.parametrize("case", list(HOSTILE_UPLOADS))
def test_hostile_uploads_are_refused_with_a_message_and_no_request(
    case: str, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.CIVICDESK_MAX_UPLOAD_BYTES = 2000
    name, data, message = HOSTILE_UPLOADS[case]
    before = ServiceRequest.objects.count()
    upload = io.BytesIO(data)
    upload.name = name
    response = Client().post(
        "/services/pothole/",
        {
            "description": "Hole",
            "lat": str(DOWNTOWN[0]),
            "long": str(DOWNTOWN[1]),
            "attribute_size": "small",
            "attribute_in_traffic_lane": "yes",
            "photos": upload,
        },
    )
    assert response.status_code == 400
    assert message in body(response)
    assert ServiceRequest.objects.count() == before
    assert RequestMedia.objects.count() == 0
    no_raw_script(response)


def test_photos_are_served_safely_and_without_their_gps(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    raw = _jpeg_with_gps()
    upload = io.BytesIO(raw)
    upload.name = "pothole.jpg"
    response = report(Client(), photos=upload)
    assert response.status_code == 302
    media = RequestMedia.objects.get()
    served = Client().get(f"/media/{media.file.name}")
    assert served.status_code == 200
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    assert served["Content-Type"] == "image/jpeg"
    content = b"".join(served.streaming_content)
    assert b"PhoneMaker" not in content
    with Image.open(io.BytesIO(content)) as image:
        assert 0x8825 not in image.getexif()


# --------------------------------------------------------------------------------------
# Cross-site request forgery


def test_state_changing_forms_refuse_a_post_without_a_token(settings: Any) -> None:
    sr = make_request()
    anonymous = Client(enforce_csrf_checks=True)
    admin = Client(enforce_csrf_checks=True)
    sign_in(admin, staff("admin"))
    before = ServiceRequest.objects.count()
    cases = [
        (anonymous, "/services/pothole/", {"description": "x", "lat": "40", "long": "-89"}),
        (anonymous, f"/requests/{sr.public_id}/", {"action": "follow", "email": "a@b.example"}),
        (anonymous, "/accounts/login/", {"login": "admin", "password": "prairiefalls-demo"}),
        (admin, f"/staff/requests/{sr.public_id}/acknowledge/", {"ack-expected_version": "1"}),
        (admin, "/staff/bulk/", {"bulk-action": "acknowledge", "bulk-ids": [str(sr.pk)]}),
        (admin, "/staff/performance/budget/costs/", {}),
        (admin, "/staff/logout/", {}),
    ]
    for client, url, data in cases:
        response = client.post(url, data)
        assert response.status_code == 403, url
    sr.refresh_from_db()
    assert sr.status == "new" and sr.followers.count() == 0
    assert ServiceRequest.objects.count() == before
    assert admin.get("/staff/").status_code == 200  # still signed in: logout was refused too


# --------------------------------------------------------------------------------------
# Headers


def test_every_html_page_carries_the_security_headers() -> None:
    sr = make_request()
    admin = sign_in(Client(), staff("admin"))
    pages = [
        (Client(), "/"),
        (Client(), "/services/pothole/"),
        (Client(), f"/requests/{sr.public_id}/"),
        (Client(), "/requests/"),
        (Client(), "/track/"),
        (Client(), "/performance/"),
        (Client(), "/open-data/"),
        (Client(), "/accounts/login/"),
        (Client(), "/no-such-page/"),
        (admin, "/staff/"),
        (admin, f"/staff/requests/{sr.public_id}/"),
        (admin, "/admin/"),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response["Content-Type"].startswith("text/html"), url
        policy = response["Content-Security-Policy"]
        script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, url
        assert "frame-ancestors 'none'" in policy, url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"], url
        assert response["X-Frame-Options"] == "DENY", url


# --------------------------------------------------------------------------------------
# Rate limits


def test_the_fourth_report_in_an_hour_gets_429_with_when_to_retry(settings: Any) -> None:
    settings.CIVICDESK_RATE_REPORT = "3/h"
    client = Client(REMOTE_ADDR="198.51.100.9")
    assert [report(client).status_code for _ in range(3)] == [302, 302, 302]
    before = ServiceRequest.objects.count()
    fourth = report(client)
    assert fourth.status_code == 429
    assert int(fourth["Retry-After"]) > 0
    assert "try again in" in body(fourth)
    assert ServiceRequest.objects.count() == before
    # Another address is not affected.
    assert report(Client(REMOTE_ADDR="198.51.100.10")).status_code == 302


def test_the_open311_api_limit_answers_in_the_georeport_format(settings: Any) -> None:
    settings.CIVICDESK_RATE_API = "3/m"
    client = Client(REMOTE_ADDR="198.51.100.11")
    assert [client.get("/open311/v2/services.json").status_code for _ in range(3)] == [200] * 3
    limited = client.get("/open311/v2/services.json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    errors = limited.json()
    assert errors[0]["code"] == 429 and "try again" in errors[0]["description"]
    xml = client.get("/open311/v2/services.xml")
    assert xml.status_code == 429 and b"<errors>" in xml.content


# --------------------------------------------------------------------------------------
# Personal data on public surfaces and in the logs

NAME, EMAIL, PHONE = "Zebulon Quillfeather", "zq.private.4417@example.net", "+1 217 555 0142"


def test_a_reporters_details_never_appear_on_a_public_surface() -> None:
    sr = make_request(
        contact=ContactInput(name=NAME, email=EMAIL, phone=PHONE), description="Pothole"
    )
    client = Client()
    urls = [
        "/",
        f"/requests/{sr.public_id}/",
        "/requests/",
        "/open311/v2/requests.json",
        "/open311/v2/requests.xml",
        f"/open311/v2/requests/{sr.public_id}.json",
        f"/open311/v2/requests/{sr.public_id}.xml",
        "/open-data/requests.csv",
        "/open-data/requests.json",
        "/open-data/requests.geojson",
        "/performance/",
        *(
            f"/performance/download/{section}.csv"
            for section in (
                "summary",
                "trend",
                "service",
                "department",
                "district",
                "channel",
                "backlog",
            )
        ),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        text = body(response)
        for secret in (NAME, EMAIL, PHONE, "555 0142"):
            assert secret not in text, (url, secret)
    assert sr.public_id in body(client.get("/open-data/requests.csv"))  # the request is there


def test_intake_and_notifications_log_no_contact_details(
    caplog: pytest.LogCaptureFixture, deliver: Any, outbox: list[Any]
) -> None:
    caplog.set_level(logging.INFO)
    with deliver():
        response = report(Client(), name=NAME, email=EMAIL, phone=PHONE, sms_opt_in="on")
        assert response.status_code == 302
    assert outbox, "the reporter was sent a confirmation"
    logged = caplog.text
    assert logged  # intake and delivery do log
    for secret in (EMAIL, PHONE, "2175550142"):
        assert secret not in logged, secret
