"""Posting service requests through Open311 GeoReport v2 (POST requests.{json,xml}) as an
app does: API keys and their limits, locations, answers, contacts, photos, the errors a
client gets back (and that nothing is written when it gets one), and the key command."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from PIL import Image

from civicdesk.open311.keys import apikey_create, apikey_revoke
from civicdesk.open311.models import ApiKey, ApiSubmission
from civicdesk.servicerequests.models import (
    Contact,
    Follower,
    RequestEvent,
    RequestMedia,
    ServiceRequest,
)
from tests.conftest import DOWNTOWN, EAST_SIDE, OUTSIDE

pytestmark = pytest.mark.usefixtures("city")

BASE = "/open311/v2"
FORMATS = ("json", "xml")
MISSED_PICKUP_NOTICE = (
    "Please wait until 6 p.m. on your collection day before reporting a missed pickup."
)


# --------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def key() -> str:
    _, value = apikey_create(name="Pothole Pal app")
    return value


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def pothole(key: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "api_key": key,
        "service_code": "pothole",
        "lat": str(DOWNTOWN[0]),
        "long": str(DOWNTOWN[1]),
        "attribute[size]": "large",
        "attribute[in_traffic_lane]": "yes",
        "description": "Hole in the eastbound lane",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def missed_pickup(key: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "api_key": key,
        "service_code": "missed-pickup",
        "address_string": "418 Prairie Avenue",
        "attribute[carts_missed][]": ["trash", "recycling"],
        "attribute[cart_out_time]": "2026-11-25T05:45:00-06:00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_form(client: Client, data: dict[str, Any], fmt: str = "json") -> Any:
    """A form post as most apps send it (application/x-www-form-urlencoded)."""
    return client.post(
        f"{BASE}/requests.{fmt}",
        urlencode(data, doseq=True),
        content_type="application/x-www-form-urlencoded",
    )


def post_multipart(client: Client, data: dict[str, Any], fmt: str = "json") -> Any:
    return client.post(f"{BASE}/requests.{fmt}", data)


def parse_xml(response: Any) -> ET.Element:
    assert re.match(rb"<\?xml version=\"1.0\" encoding=\"utf-8\"\?>", response.content, re.I)
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)  # noqa: S314 (our own answer, under test)


def posted(response: Any) -> dict[str, Any]:
    """The one record of a successful post, in either format."""
    assert response.status_code == 201, response.content[:500]
    assert response["X-Open311-Token"]
    if response["Content-Type"].startswith("text/xml"):
        root = parse_xml(response)
        assert root.tag == "service_requests"
        [item] = root
        assert item.tag == "request"
        record: dict[str, Any] = {child.tag: child.text for child in item}
    else:
        body = response.json()
        assert isinstance(body, list) and len(body) == 1
        record = body[0]
    assert set(record) == {"service_request_id", "service_notice", "account_id"}
    assert "token" not in record  # an id or a token, not both: the token is in the header
    return record


def error_texts(response: Any, status: int, *words: str) -> str:
    """The specification's error list, in the response's format; returns the texts joined."""
    assert response.status_code == status, response.content[:500]
    if response["Content-Type"].startswith("text/xml"):
        root = parse_xml(response)
        assert root.tag == "errors" and len(root) >= 1
        assert all(e.tag == "error" for e in root)
        assert all([c.tag for c in e] == ["code", "description"] for e in root)
        assert {e.findtext("code") for e in root} == {str(status)}
        texts = [e.findtext("description") or "" for e in root]
    else:
        body = response.json()
        assert isinstance(body, list) and body
        assert all(set(e) == {"code", "description"} and e["code"] == status for e in body)
        texts = [e["description"] for e in body]
    joined = " | ".join(texts)
    for word in words:
        assert word in joined, (word, joined)
    return joined


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            ServiceRequest,
            Contact,
            Follower,
            RequestEvent,
            RequestMedia,
            ApiSubmission,
        )
    }


def get_one(client: Client, public_id: str, fmt: str = "json", **params: str) -> Any:
    response = client.get(f"{BASE}/requests/{public_id}.{fmt}", params)
    assert response.status_code == 200, response.content[:300]
    if fmt == "xml":
        return parse_xml(response)
    [record] = response.json()
    return record


def jpeg_with_gps(size: tuple[int, int] = (320, 240)) -> bytes:
    image = Image.new("RGB", size, (30, 90, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x8825] = {1: "N", 2: (40.0, 0.0, 48.0), 3: "W", 4: (89.0, 3.0, 52.0)}  # GPS
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


# --------------------------------------------------------------------------------------
# Posting requests


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_a_pothole_by_lat_long(client: Client, key: str, fmt: str) -> None:
    response = post_form(
        client,
        pothole(
            key,
            first_name="Ada",
            last_name="Lovelace",
            email="Ada.Lovelace@Example.org",
            phone="+1 217 555 0142",
            locale="es-MX",
        ),
        fmt,
    )
    record = posted(response)
    public_id = record["service_request_id"]
    assert re.fullmatch(r"\d{2}-\d{6}", public_id)
    assert record["service_notice"] is None and record["account_id"] is None

    created = ServiceRequest.objects.select_related("reporter").get(public_id=public_id)
    assert created.channel == "api"
    assert created.attributes == {"size": "large", "in_traffic_lane": "yes"}
    assert (created.lat, created.long) == DOWNTOWN
    assert created.reporter is not None
    assert created.reporter.name == "Ada Lovelace"
    assert created.reporter.email == "ada.lovelace@example.org"
    assert created.reporter.phone == "+1 217 555 0142"
    assert created.reporter.preferred_language == "es"
    assert Follower.objects.filter(request=created, contact=created.reporter).exists()
    submission = ApiSubmission.objects.get(request=created)
    assert submission.token == response["X-Open311-Token"]
    assert submission.api_key.last_used_at is not None

    # The request is public at once, and the token leads to it in both formats.
    seen = get_one(client, public_id)
    assert seen["service_code"] == "pothole" and seen["status"] == "open"
    assert (seen["lat"], seen["long"]) == DOWNTOWN
    assert seen["description"] == "Hole in the eastbound lane"
    token = response["X-Open311-Token"]
    assert client.get(f"{BASE}/tokens/{token}.json").json() == [
        {"service_request_id": public_id, "token": token}
    ]
    root = parse_xml(client.get(f"{BASE}/tokens/{token}.xml"))
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == public_id
    assert root.findtext("request/token") == token
    [extended] = client.get(f"{BASE}/requests/{public_id}.json?extensions=true").json()
    assert extended["extended_attributes"]["channel"] == "api"


def test_post_by_address_string(client: Client, key: str) -> None:
    data = pothole(key, lat=None, long=None, address_string="301 W Main St", zipcode="61801")
    public_id = posted(post_form(client, data))["service_request_id"]
    seen = get_one(client, public_id)
    assert seen["address"] == "301 W Main St" and seen["zipcode"] == "61801"
    assert seen["lat"] is None and seen["long"] is None
    created = ServiceRequest.objects.get(public_id=public_id)
    assert created.reporter is None  # contact fields are optional


def test_post_by_address_id(client: Client, key: str) -> None:
    data = pothole(key, lat=None, long=None, address_id="MAF-000123")
    public_id = posted(post_form(client, data))["service_request_id"]
    assert get_one(client, public_id)["address_id"] == "MAF-000123"


@pytest.mark.parametrize("post", [post_form, post_multipart])
def test_post_multivaluelist_answers(
    client: Client, key: str, post: Callable[..., Any], media_root: Path
) -> None:
    record = posted(post(client, missed_pickup(key, account_id="acct-42")))
    assert record["service_notice"] == MISSED_PICKUP_NOTICE
    assert record["account_id"] == "acct-42"
    created = ServiceRequest.objects.get(public_id=record["service_request_id"])
    assert created.attributes["carts_missed"] == ["trash", "recycling"]
    assert created.attributes["cart_out_time"].startswith("2026-11-25T05:45:00")
    [extended] = client.get(
        f"{BASE}/requests/{created.public_id}.json", {"extensions": "true"}
    ).json()
    answers = {a["code"]: a["value"] for a in extended["extended_attributes"]["attributes"]}
    assert answers["carts_missed"] == ["trash", "recycling"]


def test_one_value_for_a_multivaluelist_without_brackets(client: Client, key: str) -> None:
    data = missed_pickup(key, **{"attribute[carts_missed][]": None})
    data["attribute[carts_missed]"] = "yard_waste"
    record = posted(post_form(client, data))
    created = ServiceRequest.objects.get(public_id=record["service_request_id"])
    assert created.attributes["carts_missed"] == ["yard_waste"]


def test_device_id_marks_a_mobile_app_and_stays_private(client: Client, key: str) -> None:
    record = posted(post_form(client, pothole(key, device_id="ios-9F2C-device")))
    created = ServiceRequest.objects.get(public_id=record["service_request_id"])
    assert created.channel == "mobile_app"
    assert ApiSubmission.objects.get(request=created).device_id == "ios-9F2C-device"
    for fmt in FORMATS:
        body = client.get(f"{BASE}/requests/{created.public_id}.{fmt}?extensions=true").content
        assert b"ios-9F2C" not in body


def test_jurisdiction_id_on_post(client: Client, key: str) -> None:
    from django.conf import settings

    data = pothole(key, jurisdiction_id=settings.CIVICDESK_JURISDICTION_ID)
    posted(post_form(client, data))
    before = counts()
    response = post_form(client, pothole(key, jurisdiction_id="gotham.example"))
    error_texts(response, 404, "gotham.example")
    assert counts() == before


# --------------------------------------------------------------------------------------
# Keys and limits


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_wrong_and_revoked_keys_are_403(client: Client, key: str, fmt: str) -> None:
    before = counts()
    error_texts(post_form(client, pothole(key, api_key=None), fmt), 403, "api_key")
    error_texts(post_form(client, pothole(key, api_key=""), fmt), 403, "api_key")
    wrong = key[:-1] + ("y" if key.endswith("x") else "x")
    error_texts(post_form(client, pothole(key, api_key=wrong), fmt), 403, "not valid")
    error_texts(post_form(client, pothole(key, api_key="nonsense"), fmt), 403, "not valid")
    apikey_revoke(prefix=key[:8])
    error_texts(post_form(client, pothole(key), fmt), 403, "revoked")
    # Even a post that is otherwise broken answers 403 first, and writes nothing.
    error_texts(post_form(client, {"api_key": "nope"}, fmt), 403)
    assert counts() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_rate_limit_per_key(client: Client, fmt: str) -> None:
    _, slow_key = apikey_create(name="Slow app", posts_per_minute=2)
    _, other_key = apikey_create(name="Other app")
    posted(post_form(client, pothole(slow_key), fmt))
    posted(post_form(client, pothole(slow_key), fmt))
    before = counts()
    response = post_form(client, pothole(slow_key), fmt)
    error_texts(response, 429, "2 requests a minute")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert counts() == before
    # The limit is per key.
    posted(post_form(client, pothole(other_key), fmt))


# --------------------------------------------------------------------------------------
# Bad posts


def _too_many_files() -> dict[str, Any]:
    return {"media": [SimpleUploadedFile(f"p{i}.jpg", b"x", "image/jpeg") for i in range(6)]}


BAD_POSTS: list[tuple[str, Callable[[str], dict[str, Any]], int, list[str]]] = [
    ("no location", lambda k: pothole(k, lat=None, long=None), 400, ["location"]),
    ("lat without long", lambda k: pothole(k, long=None), 400, ["long", "go together"]),
    ("long without lat", lambda k: pothole(k, lat=None), 400, ["lat", "go together"]),
    ("latitude out of range", lambda k: pothole(k, lat="95"), 400, ["lat", "95"]),
    ("latitude not a number", lambda k: pothole(k, lat="north"), 400, ["lat", "north"]),
    ("latitude NaN", lambda k: pothole(k, lat="nan"), 400, ["lat"]),
    (
        "outside the city",
        lambda k: pothole(k, lat=str(OUTSIDE[0]), long=str(OUTSIDE[1])),
        400,
        ["location", "outside"],
    ),
    (
        "missing required attribute",
        lambda k: pothole(k, **{"attribute[size]": None}),
        400,
        ["attribute[size]", "required"],
    ),
    (
        "value not in the list",
        lambda k: pothole(k, **{"attribute[size]": "enormous"}),
        400,
        ["attribute[size]", "enormous"],
    ),
    (
        "unknown attribute",
        lambda k: pothole(k, **{"attribute[colour]": "grey"}),
        400,
        ["attribute[colour]"],
    ),
    (
        "malformed datetime attribute",
        lambda k: missed_pickup(k, **{"attribute[cart_out_time]": "Tuesday morning"}),
        400,
        ["attribute[cart_out_time]", "Tuesday morning"],
    ),
    (
        "value not in a multivaluelist",
        lambda k: missed_pickup(k, **{"attribute[carts_missed][]": ["trash", "compost"]}),
        400,
        ["attribute[carts_missed]", "compost"],
    ),
    (
        "number attribute not a number",
        lambda k: pothole(k, **{"attribute[depth_inches]": "deep"}),
        400,
        ["attribute[depth_inches]"],
    ),
    (
        "description over 4,000 characters",
        lambda k: pothole(k, description="x" * 4001),
        400,
        ["description", "4000"],
    ),
    ("bad email", lambda k: pothole(k, email="ada-at-example"), 400, ["email", "ada-at-example"]),
    ("bad phone", lambda k: pothole(k, phone="call me"), 400, ["phone"]),
    (
        "attribute[bad][x] syntax",
        lambda k: pothole(k, **{"attribute[size][x]": "large"}),
        400,
        ["attribute[size][x]"],
    ),
    (
        "media_url not http",
        lambda k: pothole(k, media_url="ftp://x.example/a.jpg"),
        400,
        ["media_url"],
    ),
    ("too many media files", lambda k: {**pothole(k), **_too_many_files()}, 400, ["media", "5"]),
    ("too many fields", lambda k: {**pothole(k), **{f"f{i}": "1" for i in range(250)}}, 400, []),
    (
        "emergency service",
        lambda k: pothole(k, service_code="gas-odor"),
        400,
        ["service_code", "911"],
    ),
    ("unknown service_code", lambda k: pothole(k, service_code="unicorns"), 404, ["unicorns"]),
    ("no service_code", lambda k: pothole(k, service_code=None), 404, ["service_code"]),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("build", "status", "words"),
    [case[1:] for case in BAD_POSTS],
    ids=[case[0] for case in BAD_POSTS],
)
def test_bad_posts_name_the_field_and_write_nothing(
    client: Client,
    key: str,
    media_root: Path,
    fmt: str,
    build: Callable[[str], dict[str, Any]],
    status: int,
    words: list[str],
) -> None:
    before = counts()
    response = post_multipart(client, build(key), fmt)
    error_texts(response, status, *words)
    assert "X-Open311-Token" not in response
    assert counts() == before
    assert not any(media_root.rglob("*.*"))


def test_several_problems_are_reported_at_once(client: Client, key: str) -> None:
    data = pothole(key, email="nope", description="y" * 4001, **{"attribute[size]": None})
    response = post_form(client, data)
    error_texts(response, 400, "email", "description", "attribute[size]")
    assert len(response.json()) >= 3  # one error per problem


NASTY_FIELDS = [
    "description",
    "address_string",
    "address_id",
    "zipcode",
    "first_name",
    "last_name",
    "email",
    "phone",
    "device_id",
    "account_id",
    "media_url",
    "locale",
    "lat",
    "service_code",
    "attribute[size]",
    "attribute[depth_inches]",
    "jurisdiction_id",
]


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "9" * 5000, "ünï ☃ \u202e", "' OR 1=1 --"])
def test_nasty_post_fields_never_cause_a_500(client: Client, key: str, value: str) -> None:
    for field in NASTY_FIELDS:
        before = counts()
        response = post_form(client, pothole(key, **{field: value}))
        assert response.status_code < 500, (field, value)
        if response.status_code != 201:
            error_texts(response, response.status_code)
            assert counts() == before, field
    _, other = apikey_create(name="Nasty key holder")
    assert post_form(client, pothole(other, api_key=value)).status_code == 403


# --------------------------------------------------------------------------------------
# Media


def test_media_url_is_stored_and_returned(client: Client, key: str) -> None:
    photo = "https://photos.example.org/pothole/123.jpg"
    public_id = posted(post_form(client, pothole(key, media_url=photo)))["service_request_id"]
    assert get_one(client, public_id)["media_url"] == photo
    assert get_one(client, public_id, "xml").findtext("request/media_url") == photo


def _served(client: Client, media_url: str) -> bytes:
    parts = urlsplit(media_url)
    assert parts.path.startswith("/media/"), media_url
    response = client.get(parts.path)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "image/jpeg"
    # Reading the stream to its end closes the file (the test client's wrapper).
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("field", ["media", "media[]"])
def test_photo_upload_is_served_without_exif(
    client: Client, key: str, media_root: Path, field: str
) -> None:
    raw = jpeg_with_gps()
    assert b"PhoneMaker" in raw and b"Exif" in raw
    upload = SimpleUploadedFile("IMG_0001 ada-home.jpg", raw, content_type="image/jpeg")
    record = posted(post_multipart(client, {**pothole(key), field: upload}))
    public_id = record["service_request_id"]
    media_url = get_one(client, public_id)["media_url"]
    assert media_url and "ada-home" not in media_url and "IMG_0001" not in media_url
    assert get_one(client, public_id, "xml").findtext("request/media_url") == media_url
    served = _served(client, media_url)
    assert b"PhoneMaker" not in served and b"Exif" not in served
    with Image.open(io.BytesIO(served)) as image:
        assert image.format == "JPEG"
        assert image.size == (320, 240)
        assert not image.getexif()
    stored = [p for p in media_root.rglob("*") if p.is_file()]
    assert len(stored) == 1 and b"PhoneMaker" not in stored[0].read_bytes()
    [extended] = client.get(f"{BASE}/requests/{public_id}.json?extensions=true").json()
    assert "media" in [n["type"] for n in extended["notes"]]


def test_several_photos_under_both_names(client: Client, key: str, media_root: Path) -> None:
    files = {
        "media": SimpleUploadedFile("a.jpg", jpeg_with_gps(), "image/jpeg"),
        "media[]": [
            SimpleUploadedFile("b.jpg", jpeg_with_gps(), "image/jpeg"),
            SimpleUploadedFile("c.jpg", jpeg_with_gps(), "image/jpeg"),
        ],
    }
    record = posted(post_multipart(client, {**pothole(key), **files}))
    created = ServiceRequest.objects.get(public_id=record["service_request_id"])
    assert RequestMedia.objects.filter(request=created).count() == 3
    first = RequestMedia.objects.filter(request=created).order_by("id").first()
    assert first is not None
    assert get_one(client, created.public_id)["media_url"].endswith(first.file.name)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.jpg", b"%PDF-1.7 this is a document"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64),
        ("script.html", b"<script>alert(1)</script>"),
        ("empty.jpg", b""),
    ],
)
def test_non_image_upload_is_400_and_writes_nothing(
    client: Client, key: str, media_root: Path, name: str, content: bytes
) -> None:
    before = counts()
    upload = SimpleUploadedFile(name, content, content_type="image/jpeg")
    response = post_multipart(client, {**pothole(key), "media": upload})
    error_texts(response, 400, "media")
    assert counts() == before
    assert not [p for p in media_root.rglob("*") if p.is_file()]


# --------------------------------------------------------------------------------------
# The key command


def test_apikey_command_create_list_revoke(client: Client) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "apikey", "create", "Acme 311 app", "--posts-per-minute", "30", stdout=out, stderr=err
    )
    new_key = out.getvalue().strip()
    assert new_key and "\n" not in new_key and len(new_key) >= 32
    assert new_key not in err.getvalue()
    record = ApiKey.objects.get(name="Acme 311 app")
    assert record.prefix == new_key[:8] and record.posts_per_minute == 30
    assert new_key not in record.key_hash  # only a hash is kept
    posted(post_form(client, pothole(new_key)))

    listing = io.StringIO()
    call_command("apikey", "list", stdout=listing)
    text = listing.getvalue()
    assert "Acme 311 app" in text and record.prefix in text
    assert new_key not in text and "REVOKED" not in text

    with pytest.raises(CommandError, match="zzzzzzzz"):
        call_command("apikey", "revoke", "zzzzzzzz", stdout=io.StringIO())

    revoked = io.StringIO()
    call_command("apikey", "revoke", record.prefix, stdout=revoked)
    assert "Revoked" in revoked.getvalue()
    listing = io.StringIO()
    call_command("apikey", "list", stdout=listing)
    assert "REVOKED" in listing.getvalue() and new_key not in listing.getvalue()
    error_texts(post_form(client, pothole(new_key)), 403, "revoked")


def test_apikey_command_refuses_a_blank_name() -> None:
    with pytest.raises(CommandError, match="name"):
        call_command("apikey", "create", "   ", stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiKey.objects.filter(name="").exists()


def test_keys_from_the_command_post_from_any_side_of_town(client: Client) -> None:
    out = io.StringIO()
    call_command("apikey", "create", "East side app", stdout=out, stderr=io.StringIO())
    data = pothole(out.getvalue().strip(), lat=str(EAST_SIDE[0]), long=str(EAST_SIDE[1]))
    public_id = posted(post_form(client, data))["service_request_id"]
    assert (get_one(client, public_id)["lat"], get_one(client, public_id)["long"]) == EAST_SIDE


def test_keys_can_always_be_named_on_the_command_line() -> None:
    # A key starting with "-" reads as an option to `civicdesk apikey revoke`.
    for n in range(200):
        _, key = apikey_create(name=f"app {n}")
        assert key.isalnum() and len(key) == 32
