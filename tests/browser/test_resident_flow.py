"""A resident reports a pothole in a real browser: search, map pin (with nearby requests
offered), answers, photo, confirmation, tracking page, follow."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from civicdesk.servicerequests.models import ServiceRequest
from tests.browser.conftest import axe_violations
from tests.conftest import DOWNTOWN, make_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "pothole.jpg"
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (40.0, 0.0, 0.0), 3: "W", 4: (89.0, 0.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (70, 70, 70)).save(out, format="JPEG", exif=exif)
    path.write_bytes(out.getvalue())
    return path


def test_resident_reports_a_pothole_with_the_map_and_a_photo(
    page: Any, site: str, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    earlier = make_request(at=DOWNTOWN)  # someone reported one here already

    page.goto(site + "/")
    page.fill("#service-search", "pothole")
    page.press("#service-search", "Enter")
    page.click("#results-heading ~ ul a:has-text('Pothole')")
    assert page.locator("h1").inner_text() == "Report: Pothole"

    # Drop a pin in the middle of the map (the city centre): lat/long are filled in.
    page.wait_for_function("() => window.L !== undefined")
    box = page.locator("#report-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.querySelector('input[name=lat]').value !== ''")
    assert page.locator("[data-map-chosen]").is_visible()

    page.check("input[name=attribute_size][value=large]")
    page.check("input[name=attribute_in_traffic_lane][value=yes]")
    page.fill("#id_description", "Deep hole next to the bus stop")
    page.set_input_files("#id_photos", str(_photo(tmp_path)))
    page.fill("#id_email", "resident@example.net")
    page.click("form[enctype] button[type=submit]")

    page.wait_for_url("**/received/")
    public_id = page.locator(".request-id").inner_text()
    created = ServiceRequest.objects.get(public_id=public_id)
    assert created.lat is not None and created.media.count() == 1
    assert created.public_id != earlier.public_id
    assert axe_violations(page) == []

    page.click("text=Track this request")
    page.wait_for_url(f"**/requests/{public_id}/")
    assert "New" in page.locator(".facts").inner_text()
    assert page.locator("img[alt^='Photo 1']").count() == 1

    page.fill("#id_email", "neighbour@example.net")
    page.click("button[value=follow]")
    assert page.locator(".messages").inner_text().startswith("You will receive updates")
    assert created.followers.filter(contact__email="neighbour@example.net").exists()


def test_nearby_open_requests_are_offered_after_a_map_pin(page: Any, site: str) -> None:
    earlier = make_request(at=DOWNTOWN)
    page.goto(site + "/services/pothole/")
    page.wait_for_function("() => window.L !== undefined && window.htmx !== undefined")
    # Put the pin exactly on the earlier report through the same code path as a click.
    page.evaluate(
        """([lat, lng]) => {
            const form = document.querySelector('form[enctype]');
            form.querySelector('input[name=lat]').value = lat.toFixed(6);
            form.querySelector('input[name=long]').value = lng.toFixed(6);
            const url = document.querySelector('[data-map-picker]').dataset.nearbyUrl;
            htmx.ajax('GET', url + '?lat=' + lat + '&long=' + lng, {target: '#nearby'});
        }""",
        list(DOWNTOWN),
    )
    page.wait_for_selector("#nearby-heading")
    link = page.locator("#nearby a")
    assert earlier.public_id in link.first.inner_text()
    assert axe_violations(page) == []
