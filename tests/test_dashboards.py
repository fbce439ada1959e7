"""The performance dashboards: the public page at /performance/, the staff dashboard at
/staff/performance/, their CSV downloads and filters, and the rollup cube they read.

Figures on the pages are checked against requests whose outcomes the test sets down, and the
cube's figures against the same figures summed straight from the daily rollups.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re
from collections import defaultdict
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicdesk.accounts.models import STAFF_ROLES, User
from civicdesk.catalog.models import Service
from civicdesk.geo.models import BoundaryLayer, LayerRole, Zone
from civicdesk.performance.measures import FIGURES, Measures
from civicdesk.performance.models import DailyRollup, DurationMeasure, DurationRollup
from civicdesk.performance.rollups import rollups_rebuild, rollups_refresh
from civicdesk.performance.selectors import (
    Filters,
    comparison,
    measures,
    measures_by,
    measures_trend,
    period_start,
)
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.services import request_transition
from civicdesk.servicerequests.statuses import OPEN_STATUSES
from tests.conftest import DOWNTOWN, EAST_SIDE, sign_in, staff
from tests.test_measures import at, history

pytestmark = pytest.mark.usefixtures("city")

PUBLIC = "/performance/"
STAFF_PAGE = "/staff/performance/"
OCTOBER = "period=custom&start=2026-10-01&end=2026-10-31"
DAY = dt.date(2026, 10, 14)
LATER = dt.timedelta(days=2)


def text(response: Any) -> str:
    """The page's text without tags, spaces collapsed."""
    body = re.sub(r"<script.*?</script>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def section(response: Any, name: str) -> str:
    """The text of one section of a dashboard (``summary``, ``trends``, ``services``...)."""
    html = response.content.decode()
    found = re.search(rf'<section id="{name}".*?</section>', html, re.S)
    assert found is not None, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0]))


def rows_of(response: Any) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def october() -> None:
    """Five requests received in October 2026 with known outcomes: web potholes closed on
    time (two), late (one) and open past due (one); a phone graffiti report closed on time.
    On-time rate: 3 of 5; potholes alone 2 of 4; phone alone 1 of 1."""
    due = at(DAY + LATER, 17)
    history(received=at(DAY, 9), closed=at(DAY, 15), due=due, first_action=at(DAY, 10))
    history(received=at(DAY, 10), closed=at(DAY, 20), due=due, first_action=at(DAY, 11))
    history(received=at(DAY, 11), closed=at(DAY + 5 * LATER, 11), due=due)
    history(received=at(DAY, 12), due=due, first_action=at(DAY, 15))
    history(
        "graffiti",
        received=at(DAY, 14),
        closed=at(DAY, 16),
        due=due,
        channel=Channel.PHONE,
        at=EAST_SIDE,
    )
    rollups_rebuild()


# --------------------------------------------------------------------------------------
# The public page


def test_public_page_shows_the_figures_of_the_requests_received() -> None:
    october()
    response = Client().get(f"{PUBLIC}?{OCTOBER}")
    assert response.status_code == 200
    page = text(response)
    assert "How we are doing" in page
    assert "Requests received from Oct. 1, 2026 to Oct. 31, 2026" in page
    assert "Figures as of" in page
    # The key figures and the full table: 5 received, 60.0% on time, 1 open past due.
    summary = section(response, "summary")
    assert "Requests received 5 " in summary
    assert "On-time rate 60.0%" in summary
    assert "Open past due 1 " in summary
    # Previous period (September) had nothing: counts change, rates cannot be compared.
    assert "Previous period Sept. 1, 2026 to Sept. 30, 2026" in summary
    assert "▲ +5 " in summary
    # Breakdowns: the pothole row and the graffiti row, by channel too.
    assert re.search(r"Pothole 4 80\.0% 50\.0% 1 ", page)
    assert re.search(r"Graffiti 1 20\.0% 100\.0% 0 ", page)
    assert re.search(r"Phone 1 20\.0% 100\.0% 0 ", page)
    # Charts carry their data as JSON for charts.js and as tables.
    html = response.content.decode()
    for chart in ("trend-volume", "trend-on-time", "trend-close", "channel-shares", "backlog-ages"):
        assert f'data-chart="{chart}-data"' in html
        assert f'<script id="{chart}-data" type="application/json">' in html
        assert f'id="{chart}-table"' in html
    assert 'data-district-map="district-features"' in html
    # No inline script or style: the page can run under a strict Content-Security-Policy.
    assert not re.search(r"<script(?![^>]*(src=|application/json))", html)
    assert " style=" not in html


def test_filters_narrow_every_figure() -> None:
    october()
    client = Client()
    potholes = client.get(f"{PUBLIC}?{OCTOBER}&service=pothole")
    assert "Service: Pothole" in text(potholes)
    summary = section(potholes, "summary")
    assert "Requests received 4 " in summary and "On-time rate 50.0%" in summary
    summary = section(client.get(f"{PUBLIC}?{OCTOBER}&channel=phone"), "summary")
    assert "Requests received 1 " in summary and "On-time rate 100.0%" in summary
    # The same figures whatever the range's edges (day cells and month cells agree).
    wider = client.get(f"{PUBLIC}?period=custom&start=2026-10-10&end=2026-11-03&grain=week")
    summary = section(wider, "summary")
    assert "Requests received 5 " in summary and "On-time rate 60.0%" in summary


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=custom&start=2026-10-31&end=2026-10-01", "The last day is before the first day."),
        ("period=custom&start=2026-10-01", "Enter the last day of the period."),
        ("period=custom&start=not-a-date&end=2026-10-01", "Enter a valid date."),
        ("period=custom&start=0001-01-01&end=2026-10-01", "Enter a date between 1900-01-01"),
        ("service=no-such-service", "Select a valid choice."),
        ("district=99&channel=carrier-pigeon", "Select a valid choice."),
        ("grain=day", "Select a valid choice."),
        ("period=forever", "Select a valid choice."),
        ("period=custom&start=1900-01-01&end=2026-10-01&grain=week", "too many periods"),
    ],
)
def test_bad_filters_are_explained_never_a_server_error(query: str, message: str) -> None:
    for url in (PUBLIC, "/performance/download/summary.csv"):
        response = Client().get(f"{url}?{query}")
        assert response.status_code == 400, (url, query)
        assert message in response.content.decode(), (url, query)
    page = text(Client().get(f"{PUBLIC}?{query}"))
    assert "These filters cannot be used" in page
    assert "Key figures" not in page


def test_every_preset_period_works_and_the_default_is_the_last_twelve_months() -> None:
    client = Client()
    response = client.get(PUBLIC)
    assert response.status_code == 200
    assert "Requests received from" in text(response)
    assert 'value="last_12_months" selected' in response.content.decode()
    for period in (
        "last_30_days",
        "this_month",
        "last_month",
        "this_quarter",
        "last_quarter",
        "this_year",
        "last_12_months",
    ):
        for grain in ("week", "month", "quarter", "year"):
            assert client.get(f"{PUBLIC}?period={period}&grain={grain}").status_code == 200


def test_spanish_page_is_translated() -> None:
    october()
    response = Client(HTTP_ACCEPT_LANGUAGE="es").get(f"{PUBLIC}?{OCTOBER}")
    assert response.status_code == 200
    page = text(response)
    assert 'lang="es"' in response.content.decode()
    for phrase in ("Cómo vamos", "Cifras clave", "Tasa de cumplimiento a tiempo", "Descargar CSV"):
        assert phrase in page, phrase
    assert "60,0" in page  # Spanish decimal comma
    for english in ("Key figures", "How requests arrive", "Download CSV", "Requests received"):
        assert english not in page, english


# --------------------------------------------------------------------------------------
# CSV downloads


def test_every_section_downloads_as_csv_with_the_figures_shown() -> None:
    october()
    client = Client()
    page = client.get(f"{PUBLIC}?{OCTOBER}").content.decode()
    links = re.findall(r'href="(/performance/download/[a-z]+\.csv\?[^"]+)"', page)
    sections = {re.search(r"download/([a-z]+)\.csv", link)[1] for link in links}  # type: ignore[index]
    assert sections == {
        "summary",
        "trend",
        "service",
        "department",
        "district",
        "channel",
        "backlog",
    }
    figures = list(FIGURES)
    got = {}
    for link in links:
        response = client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        assert "attachment" in response["Content-Disposition"]
        got[re.search(r"download/([a-z]+)\.csv", link)[1]] = rows_of(response)  # type: ignore[index]
    summary = {row["period"]: row for row in got["summary"]}
    assert list(got["summary"][0]) == ["period", "start", "end", *figures]
    current = summary["current"]
    assert (current["start"], current["end"]) == ("2026-10-01", "2026-10-31")
    assert current["received"] == "5" and current["on_time_rate"] == "0.6"
    assert current["open_past_due"] == "1" and current["closed"] == "4"
    assert summary["previous"]["received"] == "0" and summary["previous"]["on_time_rate"] == ""
    assert list(got["service"][0])[:3] == ["service", "name", "share_of_received"]
    services = {row["service"]: row for row in got["service"]}
    assert services["pothole"]["received"] == "4" and services["pothole"]["on_time_rate"] == "0.5"
    assert services["graffiti"]["share_of_received"] == "0.2"
    channels = {row["channel"]: row for row in got["channel"]}
    assert channels["phone"]["first_contact_rate"] in ("0.0", "1.0")
    assert got["trend"][0]["period_start"] == "2026-10-01"
    assert got["trend"][0]["received"] == "5"
    assert got["trend"][0]["received_same_period_last_year"] == "0"
    assert got["trend"][0]["on_time_rate_same_period_last_year"] == ""
    assert {row["district"] for row in got["district"]} >= {"1", "3"}
    backlog = {row["age_days"]: row for row in got["backlog"]}
    assert "all" in backlog and int(backlog["all"]["open"]) >= 1


def test_an_unknown_section_is_not_found() -> None:
    assert Client().get("/performance/download/secrets.csv").status_code == 404


# --------------------------------------------------------------------------------------
# The staff dashboard


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_staff_dashboard_opens_for_every_staff_role(role: str) -> None:
    october()
    user = User.objects.filter(role=role, is_active=True).first()
    assert user is not None
    client = Client()
    sign_in(client, user)
    response = client.get(f"{STAFF_PAGE}?{OCTOBER}")
    assert response.status_code == 200
    page = text(response)
    assert "On-time rate 60.0%" in page
    html = response.content.decode()
    assert 'aria-current="page"' in html and 'href="/staff/performance/"' in html
    # Every figure in the tables, sortable, with links into the queue.
    assert "data-sortable" in html
    assert str(FIGURES["first_contact_rate"]) in page
    assert "/staff/?service=pothole" in html
    csv_response = client.get(f"/staff/performance/download/service.csv?{OCTOBER}")
    assert csv_response.status_code == 200
    assert {row["service"] for row in rows_of(csv_response)} >= {"pothole", "graffiti"}


def test_staff_dashboard_needs_a_staff_sign_in() -> None:
    for url in (STAFF_PAGE, "/staff/performance/download/summary.csv"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_navigation_links_to_both_pages() -> None:
    assert 'href="/performance/"' in Client().get("/").content.decode()
    client = Client()
    sign_in(client, staff("analyst"))
    assert 'href="/staff/performance/"' in client.get("/staff/").content.decode()


# --------------------------------------------------------------------------------------
# The district map


def test_map_draws_districts_with_a_boundary_and_circles_for_districts_known_by_code() -> None:
    october()
    layer = BoundaryLayer.objects.filter(role=LayerRole.COUNCIL_DISTRICT).first()
    assert layer is not None
    bare = Zone.objects.create(layer=layer, code="99", name="District 99 (imported)")
    request = history(received=at(DAY, 9))
    ServiceRequest.objects.filter(pk=request.pk).update(district=bare)
    rollups_rebuild()
    response = Client().get(f"{PUBLIC}?{OCTOBER}")
    html = response.content.decode()
    features = re.search(
        r'<script id="district-features" type="application/json">(.*?)</script>', html, re.S
    )
    assert features is not None
    drawn = {f["code"]: f for f in json.loads(features[1])}
    assert drawn["1"]["geometry"] is not None and drawn["1"]["center"] is None
    assert drawn["99"]["geometry"] is None and drawn["99"]["center"] is not None
    assert "shown as a circle" in text(response)
    assert "District 99 (imported)" in text(response)


# --------------------------------------------------------------------------------------
# Speed: queries do not grow with the requests


def test_page_query_count_is_bounded(django_assert_max_num_queries: Any) -> None:
    october()
    client = Client()
    client.get(f"{PUBLIC}?{OCTOBER}")  # district centres cached
    with django_assert_max_num_queries(45):
        assert client.get(f"{PUBLIC}?{OCTOBER}").status_code == 200
    with CaptureQueriesContext(connection) as few:
        client.get(f"{PUBLIC}?period=custom&start=2026-10-10&end=2026-11-03")
    for hour in range(8, 20):
        history("abandoned-vehicle", received=at(DAY + LATER, hour), channel=Channel.EMAIL)
    rollups_rebuild()
    with CaptureQueriesContext(connection) as more:
        client.get(f"{PUBLIC}?period=custom&start=2026-10-10&end=2026-11-03")
    assert len(more.captured_queries) == len(few.captured_queries)


# --------------------------------------------------------------------------------------
# The cube gives the figures the daily rollups give


def _reference(filters: Filters, dimension: str | None, grain: str = "") -> dict[Any, Measures]:
    """Figures summed in Python straight from the daily rollups and the requests."""
    columns = {"service": 1, "department": 2, "district": 3, "channel": 4}

    def key(row: tuple[Any, ...], day: dt.date) -> Any:
        if grain:
            return period_start(day, grain)
        return row[columns[dimension]] if dimension else None

    groups: dict[Any, Measures] = defaultdict(Measures)
    daily = DailyRollup.objects.filter(filters.rollup_q()).values_list(
        "day", "service_id", "department_id", "district_id", "channel", *Measures.COUNTS
    )
    for row in daily:
        slot = groups[key(row, row[0])]
        slot.add(Measures.from_sums(dict(zip(Measures.COUNTS, row[5:], strict=True))))
        if row[4] == Channel.PHONE:
            slot.phone_received += row[5]
    durations = DurationRollup.objects.filter(filters.rollup_q()).values_list(
        "day", "service_id", "department_id", "district_id", "channel", "measure", "bucket", "count"
    )
    for row in durations:
        slot = groups[key(row, row[0])]
        histogram = (
            slot.close_histogram if row[5] == DurationMeasure.CLOSE else slot.first_action_histogram
        )
        histogram[row[6]] = histogram.get(row[6], 0) + row[7]
    now = timezone.now()
    for request in ServiceRequest.objects.filter(filters.request_q(), status__in=OPEN_STATUSES):
        if request.due_at and request.due_at < now and request.parent_id is None:
            day = timezone.localtime(request.requested_at).date()
            values = (None, request.service_id, request.department_id, request.district_id)
            groups[key((*values, request.channel), day)].open_past_due += 1
    return {k: m for k, m in groups.items() if m != Measures()}


def _same(got: dict[Any, Measures], expected: dict[Any, Measures], where: Any) -> None:
    assert got.keys() == expected.keys(), where
    for key, figures in got.items():
        assert figures == expected[key], (where, key)


def _spread(rng: random.Random, count: int) -> None:
    services = ["pothole", "graffiti", "abandoned-vehicle"]
    channels = [Channel.WEB, Channel.PHONE, Channel.EMAIL]
    start = dt.date(2026, 8, 25)
    for _i in range(count):
        received = at(start + dt.timedelta(days=rng.randrange(75)), rng.randrange(7, 22))
        closed = received + dt.timedelta(hours=rng.lognormvariate(3, 1.5))
        history(
            rng.choice(services),
            received=received,
            closed=closed if rng.random() < 0.7 else None,
            due=received + dt.timedelta(days=rng.choice([1, 3, 10])),
            first_action=received + dt.timedelta(minutes=rng.randrange(5, 3000)),
            channel=rng.choice(channels),
            at=rng.choice([DOWNTOWN, EAST_SIDE]),
        )


CASES = [
    ("2026-09-01", "2026-10-31"),  # whole months only
    ("2026-08-27", "2026-11-05"),  # whole months and edge days
    ("2026-09-10", "2026-09-24"),  # days inside one month
    ("2026-10-31", "2026-11-01"),  # two days across a month's end
]


def _check_cube_against_daily_rollups() -> None:
    pothole = Service.objects.get(service_code="pothole").pk
    graffiti = Service.objects.get(service_code="graffiti").pk
    district = ServiceRequest.objects.exclude(district=None).values_list("district_id", flat=True)[
        0
    ]
    narrowings: list[dict[str, Any]] = [
        {},
        {"service_ids": (pothole,)},
        {"service_ids": (pothole, graffiti), "channels": (Channel.PHONE,)},
        {"district_ids": (district,), "channels": (Channel.WEB,), "service_ids": (pothole,)},
    ]
    for start, end in CASES:
        for narrowing in narrowings:
            filters = Filters(
                start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end), **narrowing
            )
            where = (start, end, narrowing)
            total = {None: measures(filters)}
            _same(total, _reference(filters, None) or {None: Measures()}, where)
            for dimension in ("service", "department", "district", "channel"):
                got = dict(measures_by(filters, dimension))
                _same(got, _reference(filters, dimension), (where, dimension))
            for grain in ("week", "month"):
                trend = {k: m for k, m in measures_trend(filters, grain) if m != Measures()}
                _same(trend, _reference(filters, None, grain), (where, grain))


def test_the_cube_gives_the_figures_of_the_daily_rollups() -> None:
    _spread(random.Random(311), 60)
    rollups_rebuild()
    _check_cube_against_daily_rollups()
    # A change to a request reaches the cube through the periodic refresh, day and month.
    still_open = ServiceRequest.objects.filter(status__in=OPEN_STATUSES).order_by("pk")
    for request in still_open[:5]:
        request_transition(request=request, to_status="closed", note="Done.")
    rollups_refresh()
    _check_cube_against_daily_rollups()


def test_comparison_reads_three_periods() -> None:
    october()
    result = comparison(Filters(start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31)))
    assert (result.current.received, result.previous.received, result.last_year.received) == (
        5,
        0,
        0,
    )
