"""The resident portal, as a resident uses it: find a service, report, track, follow, reopen."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from civicdesk.notifications.models import Notification
from civicdesk.servicerequests.models import Channel, Contact, ServiceRequest
from civicdesk.servicerequests.services import (
    ContactInput,
    request_note_add,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, make_request

pytestmark = pytest.mark.usefixtures("city")

POTHOLE = {"attribute_size": "large", "attribute_in_traffic_lane": "yes"}


def _photo() -> io.BytesIO:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    Image.new("RGB", (64, 48), (90, 90, 90)).save(out, format="JPEG", exif=exif)
    out.seek(0)
    out.name = "pothole.jpg"
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pothole", "Pothole"),
        ("bache", "Pothole"),  # Spanish word, English page
        ("arbol caido", "Fallen tree"),  # no accents typed
        ("trash", "Missed"),
    ],
)
def test_service_search_finds_by_keyword_in_either_language(
    client: Client, query: str, expected: str
) -> None:
    page = client.get("/", {"q": query}).content.decode()
    results = page.split('id="results-heading"')[1].split("All services")[0]
    assert expected in results


def test_search_with_no_match_says_so(client: Client) -> None:
    page = client.get("/", {"q": "xyzzy"}).content.decode()
    assert "0 services match" in page and "Try other words" in page


def test_emergency_services_tell_the_resident_to_call(client: Client) -> None:
    page = client.get("/services/gas-odor/").content.decode()
    assert "This is an emergency" in page and "<form" not in page.split("</header>")[1]


def test_report_with_photo_stores_it_without_metadata(
    client: Client, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    response = client.post(
        "/services/pothole/",
        {
            **POTHOLE,
            "lat": str(DOWNTOWN[0]),
            "long": str(DOWNTOWN[1]),
            "description": "Deep hole by the bus stop",
            "email": "Rosa@Example.net",
            "name": "Rosa",
            "photos": _photo(),
        },
    )
    assert response.status_code == 302
    request = ServiceRequest.objects.get()
    assert response["Location"] == f"/requests/{request.public_id}/received/"
    assert request.channel == Channel.WEB
    assert request.reporter is not None and request.reporter.email == "rosa@example.net"
    stored = request.media.get().file.read()
    assert b"PhoneMaker" not in stored
    confirmation = client.get(response["Location"]).content.decode()
    assert request.public_id in confirmation
    # The confirmation is only for the browser that reported it.
    assert Client().get(response["Location"]).status_code == 404


def test_address_alone_is_enough(client: Client) -> None:
    response = client.post("/services/pothole/", {**POTHOLE, "address": "400 W Main St"})
    assert response.status_code == 302
    assert ServiceRequest.objects.get().address == "400 W Main St"


def test_every_problem_is_shown_at_once_and_nothing_is_written(client: Client) -> None:
    response = client.post("/services/pothole/", {"attribute_size": "huge", "email": "nope"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="error-summary"' in page
    for anchor in (
        "#id_address",
        "#id_attribute_size",
        "#id_attribute_in_traffic_lane",
        "#id_email",
    ):
        assert f'href="{anchor}"' in page
    assert 'aria-invalid="true"' in page
    assert ServiceRequest.objects.count() == 0 and Contact.objects.count() == 0


def test_a_bad_photo_leaves_no_request_behind(client: Client) -> None:
    bad = io.BytesIO(b"not a picture")
    bad.name = "x.jpg"
    response = client.post("/services/pothole/", {**POTHOLE, "address": "1 Oak St", "photos": bad})
    assert response.status_code == 400
    assert "not a photo" in response.content.decode()
    assert ServiceRequest.objects.count() == 0


def test_errors_are_in_spanish_for_spanish_readers(client: Client) -> None:
    client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    page = client.post("/services/pothole/", {}).content.decode()
    assert "Corrija lo siguiente" in page
    assert "esta respuesta es obligatoria" in page
    assert "escriba una dirección" in page.lower() or "Escriba una dirección" in page


def test_nearby_open_requests_are_offered(client: Client) -> None:
    existing = make_request(at=DOWNTOWN)
    fragment = client.get(
        "/services/pothole/nearby/", {"lat": DOWNTOWN[0] + 0.0001, "long": DOWNTOWN[1]}
    ).content.decode()
    assert existing.public_id in fragment and "follow this one instead" in fragment
    assert client.get("/services/pothole/nearby/", {"lat": "x", "long": "y"}).status_code == 200


def test_tracking_page_shows_public_timeline_only(client: Client) -> None:
    request = make_request(
        contact=ContactInput(name="Rosa Diaz", email="rosa@example.net", phone="+1 217 555 0142")
    )
    request_note_add(request=request, note="Repeat caller, be patient.", public=False)
    request_note_add(request=request, note="Crew scheduled for Tuesday.", public=True)
    page = client.get(f"/requests/{request.public_id}/").content.decode()
    assert "Crew scheduled for Tuesday." in page
    for private in ("Repeat caller", "Rosa", "rosa@example.net", "555 0142"):
        assert private not in page


def test_sensitive_locations_are_coarsened_on_public_pages(client: Client) -> None:
    request = make_request(
        "homeless-encampment", address="3387 W Walnut Ave", attributes={}, at=DOWNTOWN
    )
    page = client.get(f"/requests/{request.public_id}/").content.decode()
    assert "3300 block of W Walnut Ave" in page and "3387" not in page
    assert f"{DOWNTOWN[0]:.5f}" not in page


def test_follow_and_unfollow(client: Client) -> None:
    request = make_request()
    url = f"/requests/{request.public_id}/"
    response = client.post(url, {"action": "follow", "email": "neighbour@example.net"})
    assert response.status_code == 302
    assert request.followers.filter(contact__email="neighbour@example.net").exists()
    bad = client.post(url, {"action": "follow", "email": ""})
    assert bad.status_code == 400 and "give an email address" in bad.content.decode()
    client.post(url, {"action": "unfollow", "email": "neighbour@example.net"})
    assert not request.followers.filter(contact__email="neighbour@example.net").exists()


def test_resident_reopens_a_closed_request(client: Client) -> None:
    request = make_request()
    request_transition(request=request, to_status=Status.CLOSED, note="Filled.")
    url = f"/requests/{request.public_id}/"
    assert "Reopen this request" in client.get(url).content.decode()
    assert client.post(url, {"action": "reopen", "reason": ""}).status_code == 400
    client.post(url, {"action": "reopen", "reason": "The hole is back."})
    request.refresh_from_db()
    assert request.status == Status.REOPENED


def test_track_form_finds_a_request_or_says_it_does_not_exist(client: Client) -> None:
    request = make_request()
    response = client.get("/track/", {"public_id": request.public_id})
    assert response.status_code == 302 and response["Location"].endswith(
        f"/requests/{request.public_id}/"
    )
    assert (
        "There is no request with that number"
        in client.get("/track/", {"public_id": "99-999999"}).content.decode()
    )
    assert client.get("/requests/99-999999/").status_code == 404


def test_recent_requests_filter_and_page(client: Client) -> None:
    make_request("pothole")
    make_request("graffiti")
    page = client.get("/requests/", {"service": "graffiti"}).content.decode()
    assert "1 request" in page and "Graffiti" in page.split("<tbody>")[1]
    for garbage in (
        {"page": "-3"},
        {"since": "yesterday"},
        {"status": "'; drop"},
        {"district": "x" * 500},
    ):
        assert client.get("/requests/", garbage).status_code == 200


def test_language_choice_is_remembered_and_dates_are_localised(client: Client) -> None:
    request = make_request()
    client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    page = client.get(f"/requests/{request.public_id}/").content.decode()
    assert '<html lang="es">' in page
    assert "Solicitud recibida" in page and " de 20" in page  # "26 de noviembre de 2026"


def test_receipt_is_sent_in_the_residents_language(client: Client) -> None:
    client.post("/i18n/setlang/", {"language": "es", "next": "/"})
    client.post(
        "/services/pothole/", {**POTHOLE, "address": "1 Oak St", "email": "maria@example.net"}
    )
    receipt = Notification.objects.get(kind="received")
    assert receipt.language == "es" and receipt.subject.startswith("Recibimos su solicitud")
