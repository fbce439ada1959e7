"""Budgeting, the forecast and the council report: what requests cost, next year's volume,
workload and budget, the monthly report's PDF and CSV, and the pages and commands that set
unit costs. Figures are checked against arithmetic done by hand on requests the test sets
down, and the forecast against synthetic series whose pattern is known."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Department, Service
from civicdesk.errors import InvalidInput
from civicdesk.performance.budget import (
    NO_RATE,
    NO_SERVICE_COSTS,
    NotCosted,
    UnitCost,
    cost_summary,
    unit_costs,
)
from civicdesk.performance.costs import costs_csv_parse, costs_export, costs_load
from civicdesk.performance.forecast import forecast_series, outlook
from civicdesk.performance.measures import FIGURES
from civicdesk.performance.models import DepartmentCost, ServiceCost
from civicdesk.performance.rollups import rollups_rebuild
from civicdesk.performance.selectors import Filters, measures, measures_by
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import ContactInput
from tests.conftest import DOWNTOWN, EAST_SIDE, make_request, sign_in, staff

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
TODAY = timezone.localdate()
# The known seasonal pattern of the synthetic series (potholes: a late-winter peak).
PATTERN = np.array([1.3, 1.7, 2.0, 1.6, 1.1, 0.8, 0.6, 0.6, 0.6, 0.7, 0.8, 1.0])
PATTERN = PATTERN / PATTERN.mean()


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock on ``day``; today, if that is still to come, its first moment (a
    request cannot be received in the future, and the figures count days)."""
    moment = dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)
    if moment > timezone.now():
        moment = dt.datetime.combine(day, dt.time(0), tzinfo=TZ)
    return moment


def answers(service_code: str) -> dict[str, Any]:
    """Plausible answers to a service's required questions (the first choice of each list)."""
    out: dict[str, Any] = {}
    service = Service.objects.get(service_code=service_code)
    for attribute in service.attributes.filter(required=True):
        first = attribute.values[0]["key"] if attribute.values else ""
        out[attribute.code] = {
            "singlevaluelist": first,
            "multivaluelist": [first],
            "number": "1",
            "datetime": "2026-01-05T10:00:00-06:00",
        }.get(attribute.datatype, "Something")
    return out


def received(service: str, day: dt.date, *, where: tuple[float, float] = EAST_SIDE) -> Any:
    """A request received on ``day`` (the services stamp the real clock; set it back)."""
    contact = ContactInput(name="Test Resident", email="resident@example.com")
    request = make_request(
        service,
        at=where,
        requested_at=at(day),
        attributes=answers(service),
        contact=contact if Service.objects.get(service_code=service).contact_required else None,
    )
    ServiceRequest.objects.filter(pk=request.pk).update(requested_at=at(day))
    return request


def set_costs(text: str) -> None:
    costs_load("kind,code,hourly_rate,annual_fixed_cost,labour_hours,materials_cost\n" + text)


# --------------------------------------------------------------------------------------
# Cost arithmetic


@pytest.fixture
def known_costs(city: None) -> None:
    """Public Works at 50 an hour with 12,000 a year of fixed costs; potholes take 2 hours
    and 10 of materials; graffiti 1 hour at its own rate of 80; noise complaints have no
    unit costs; Animal Services has no rate."""
    set_costs(
        "department,PW,50,12000,,\n"
        "service,pothole,,,2,10\n"
        "service,graffiti,80,,1,0\n"
        "service,noise-complaint,,,,\n"
        "department,ANS,,,,\n"
    )


def test_cost_per_request_is_labour_materials_and_a_share_of_fixed_costs(known_costs: None) -> None:
    # Within the twelve months: three potholes and one graffiti (east side: Public Works).
    # A pothole 400 days ago makes the data cover the whole year, and is outside it.
    for days in (10, 40, 100):
        received("pothole", TODAY - dt.timedelta(days=days))
    received("graffiti", TODAY - dt.timedelta(days=20))
    received("pothole", TODAY - dt.timedelta(days=400))
    for days in (5, 6):
        received("noise-complaint", TODAY - dt.timedelta(days=days))
    rollups_rebuild()

    table = unit_costs(as_of=TODAY)
    by_code = {(u.service_code, u.department_code): u for u in table.rows}
    pothole = by_code[("pothole", "PW")]
    # Fixed share: 12,000 over the 4 requests Public Works handled in the twelve months.
    assert pothole.fixed_share == Decimal(3000)
    assert pothole.labour == Decimal(100)
    assert pothole.total == Decimal(3110)
    graffiti = by_code[("graffiti", "PW")]
    assert graffiti.rate_from_service and graffiti.hourly_rate == Decimal(80)
    assert graffiti.total == Decimal(3080)

    year = Filters(start=TODAY - dt.timedelta(days=364), end=TODAY)
    summary = cost_summary(year)
    assert summary.total.requests == 4
    assert summary.total.cost == Decimal(3 * 3110 + 3080)
    assert summary.total.labour_hours == Decimal(7)
    assert summary.total.not_costed_requests == 2
    services = {line.code: line for line in summary.by_service}
    assert services["pothole"].cost == Decimal(9330)
    assert services["pothole"].per_request == Decimal(3110)
    assert services["noise-complaint"].cost == 0
    assert services["noise-complaint"].not_costed_requests == 2
    # Every breakdown adds up to the total.
    for lines in (summary.by_department, summary.by_district, summary.by_district_service):
        assert sum(line.cost for line in lines) == summary.total.cost
        assert sum(line.requests for line in lines) == summary.total.requests


def test_services_without_costs_are_listed_as_not_costed_not_free(known_costs: None) -> None:
    received("noise-complaint", TODAY - dt.timedelta(days=3))
    received("stray-animal", TODAY - dt.timedelta(days=3))
    rollups_rebuild()
    summary = cost_summary(Filters(start=TODAY - dt.timedelta(days=7), end=TODAY))
    reasons = {item.service_code: item for item in summary.not_costed}
    assert reasons["noise-complaint"].reason == NO_SERVICE_COSTS
    assert reasons["noise-complaint"].requests == 1
    assert reasons["stray-animal"].reason == NO_RATE  # Animal Services has no rate
    assert summary.total.requests == 0 and summary.total.cost == 0
    assert "Animal Services" in summary.departments_without_costs
    table = unit_costs(as_of=TODAY)
    assert all(isinstance(item, NotCosted) for item in table.not_costed)
    assert {"noise-complaint", "stray-animal"} <= {i.service_code for i in table.not_costed}
    assert all(isinstance(unit, UnitCost) for unit in table.rows)


def test_fixed_costs_are_spread_over_a_year_even_when_the_data_cover_less(
    known_costs: None,
) -> None:
    # Data only from 30 days ago: two requests in 30 days are about 24 a year.
    received("pothole", TODAY - dt.timedelta(days=29))
    received("pothole", TODAY)
    rollups_rebuild()
    pothole = next(u for u in unit_costs(as_of=TODAY).rows if u.service_code == "pothole")
    assert pothole.fixed_share == pytest.approx(Decimal(12000) / (Decimal(2) * 365 / 30))


def test_requests_cost_at_the_rate_of_the_department_that_handled_them(
    known_costs: None,
) -> None:
    # Downtown graffiti goes to Code Enforcement (a routing rule): its rate applies there.
    set_costs("department,CE,40,0,,\nservice,graffiti,,,1,0\n")
    received("graffiti", TODAY - dt.timedelta(days=2), where=DOWNTOWN)
    received("graffiti", TODAY - dt.timedelta(days=2), where=EAST_SIDE)
    rollups_rebuild()
    summary = cost_summary(Filters(start=TODAY - dt.timedelta(days=7), end=TODAY))
    departments = {line.code: line for line in summary.by_department}
    assert departments["CE"].cost == Decimal(40)
    # Public Works handled one request in the three days of data: 1 x 365 / 3 a year.
    assert departments["PW"].cost == pytest.approx(Decimal(50) + Decimal(12000) * 3 / 365)


# --------------------------------------------------------------------------------------
# Unit costs in: the CSV file, the command


def test_a_costs_file_with_errors_names_each_row_and_changes_nothing(city: None) -> None:
    before = costs_export()
    bad = (
        "kind,code,hourly_rate,annual_fixed_cost,labour_hours,materials_cost\n"
        "service,pothole,,,3,20\n"  # good, but the file is rejected as a whole
        "service,potholes,,,3,20\n"
        "department,PW,-5,,,\n"
        "service,graffiti,,,abc,\n"
        "department,SAN,60,100,2,\n"
        "service,sidewalk-damage,,,,15\n"
        "vehicle,PW,1,,,\n"
        "service,pothole,,,1,1\n"
        "service,debris-in-street,,,1.234,\n"
    )
    with pytest.raises(InvalidInput) as error:
        costs_load(bad)
    errors = error.value.field_errors
    assert errors["row 3"] == ["code: no service 'potholes'"]
    assert "hourly_rate" in errors["row 4"][0] and "negative" in errors["row 4"][0]
    assert "labour_hours" in errors["row 5"][0] and "not a number" in errors["row 5"][0]
    assert "labour_hours: leave it empty on a department row" in errors["row 6"]
    assert "labour_hours" in errors["row 7"][0] and "required" in errors["row 7"][0]
    assert "kind" in errors["row 8"][0]
    assert "first on row 2" in errors["row 9"][0]
    assert "two decimals" in errors["row 10"][0]
    assert costs_export() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"kind,code,rate\n", "Unknown column 'rate'"),
        (b"code,hourly_rate\n", "'kind' column is missing"),
        (b"kind,code,hourly_rate\n", "no rows"),
        (b"\xff\xfe\x00k", "not UTF-8"),
        (b"kind,code,hourly_rate\ndepartment,PW\n", "2 values for 3 columns"),
    ],
)
def test_a_file_that_is_not_a_costs_file_is_refused_clearly(
    city: None, content: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        costs_csv_parse(content)


def test_the_costs_command_loads_a_file_and_refuses_a_bad_one(city: None, tmp_path: Path) -> None:
    good = tmp_path / "costs.csv"
    good.write_text(
        "kind,code,hourly_rate,annual_fixed_cost,labour_hours,materials_cost\n"
        "department,PW,70.50,1000,,\nservice,pothole,,,3,\nservice,noise-complaint,,,,\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    call_command("costs", "load", str(good), stdout=out)
    assert "2 changed, 1 removed" in out.getvalue()
    assert DepartmentCost.objects.get(department__code="PW").hourly_rate == Decimal("70.50")
    assert ServiceCost.objects.get(service__service_code="pothole").materials_cost == 0
    assert not ServiceCost.objects.filter(service__service_code="noise-complaint").exists()

    bad = tmp_path / "bad.csv"
    bad.write_text("kind,code,hourly_rate\ndepartment,PW,lots\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"nothing was saved.*row 2: hourly_rate"):
        call_command("costs", "load", str(bad))
    with pytest.raises(CommandError, match="No such file"):
        call_command("costs", "load", str(tmp_path / "missing.csv"))
    assert DepartmentCost.objects.get(department__code="PW").hourly_rate == Decimal("70.50")

    exported = io.StringIO()
    call_command("costs", "export", stdout=exported)
    assert "department,PW,70.50,1000.00,," in exported.getvalue()
    costs_csv_parse(exported.getvalue())  # reads back


def test_the_demo_city_has_unit_costs_for_every_service(city: None) -> None:
    assert DepartmentCost.objects.count() == Department.objects.count()
    assert ServiceCost.objects.count() == Service.objects.count()


# --------------------------------------------------------------------------------------
# The forecast on synthetic series


def _series(rng: np.random.Generator, months: int, level: float, slope: float = 0.0) -> Any:
    t = np.arange(months)
    return rng.poisson(level * (1 + slope * t) * PATTERN[t % 12])


def test_the_forecast_recovers_a_known_seasonal_pattern_and_trend() -> None:
    rng = np.random.default_rng(7)
    errors, slopes = [], []
    for _ in range(20):
        forecast = forecast_series(_series(rng, 36, 200, 0.01), first_month=1)
        assert forecast.method == "seasonal-trend"
        errors.append(np.abs(np.array(forecast.seasonal) - PATTERN).mean())
        slopes.append(forecast.slope)
    assert np.mean(errors) < 0.05  # indices run from 0.5 to 1.9
    assert np.mean(slopes) == pytest.approx(2.0, rel=0.15)  # 1% of 200 a month
    # Started in July, the indices still come out by calendar month.
    forecast = forecast_series(_series(rng, 48, 400)[6:42], first_month=7)
    assert np.abs(np.array(forecast.seasonal) - PATTERN).max() < 0.15


@pytest.mark.parametrize(("months", "method"), [(36, "seasonal-trend"), (18, "seasonal")])
def test_prediction_intervals_cover_held_out_months_at_about_the_nominal_rate(
    months: int, method: str
) -> None:
    rng = np.random.default_rng(months)
    inside80 = inside95 = total80 = 0
    runs = 200
    for _ in range(runs):
        series = _series(rng, months + 12, 100)
        forecast = forecast_series(series[:months], first_month=1)
        assert forecast.method == method
        future = series[months:]
        for value, interval in zip(future, forecast.monthly, strict=True):
            inside80 += interval.low80 <= value <= interval.high80
            inside95 += interval.low95 <= value <= interval.high95
        total80 += forecast.total.low80 <= future.sum() <= forecast.total.high80
    assert 0.74 <= inside80 / (runs * 12) <= 0.87
    assert 0.91 <= inside95 / (runs * 12) <= 0.985
    assert 0.68 <= total80 / runs <= 0.92


def test_the_forecast_falls_back_with_short_histories_and_says_so() -> None:
    assert forecast_series([], first_month=1).method == "none"
    assert forecast_series([], first_month=1).total.mean == 0
    short = forecast_series([10, 12, 9, 11, 10, 8], first_month=3)
    assert short.method == "average"
    assert short.total.mean == pytest.approx(12 * 10)
    assert short.seasonal == (1.0,) * 12
    assert forecast_series([10] * 12, first_month=1).method == "seasonal"
    assert forecast_series([10] * 23, first_month=1).method == "seasonal"
    assert forecast_series([10] * 24, first_month=1).method == "seasonal-trend"


def test_the_interval_widens_with_the_horizon() -> None:
    rng = np.random.default_rng(3)
    forecast = forecast_series(rng.poisson(50, size=30), first_month=1)
    # Without a season the months only differ in how far ahead they are.
    relative = [m.sd / max(m.mean, 1e-9) for m in forecast.monthly]
    assert relative[-1] > relative[0]


# --------------------------------------------------------------------------------------
# The outlook: forecast volume, workload and budget from the database


def test_the_outlook_carries_volume_into_workload_and_budget(known_costs: None) -> None:
    # Fourteen whole months of potholes (two a month) up to last month.
    first = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    month = first
    for _ in range(14):
        received("pothole", month + dt.timedelta(days=3))
        received("pothole", month + dt.timedelta(days=12))
        month = (month - dt.timedelta(days=1)).replace(day=1)
    rollups_rebuild()
    view = outlook(as_of=TODAY)
    assert view.history_end == TODAY.replace(day=1) - dt.timedelta(days=1)
    pothole = next(s for s in view.services if s.service_code == "pothole")
    assert pothole.forecast.method == "seasonal"
    assert pothole.forecast.total.mean == pytest.approx(24, rel=0.05)
    assert pothole.hours is not None and pothole.budget is not None
    assert pothole.hours.mean == pytest.approx(pothole.forecast.total.mean * 2)
    public_works = next(d for d in view.departments if d.department_code == "PW")
    # Potholes are all Public Works expects, so they carry its whole fixed cost.
    assert pothole.budget.mean == pytest.approx(pothole.forecast.total.mean * 110 + 12000)
    assert public_works.budget.mean == pytest.approx(pothole.budget.mean)
    assert public_works.budget.low80 < public_works.budget.mean < public_works.budget.high80
    noise = next(s for s in view.services if s.service_code == "noise-complaint")
    assert noise.budget is None and noise.not_costed == NO_SERVICE_COSTS
    assert len(view.months) == 12 and view.months[0] > first


# --------------------------------------------------------------------------------------
# The monthly report


REPORT_MONTH = "2026-10"


@pytest.fixture
def report_month(city: None) -> None:
    """Requests in October 2026, September 2026 and October 2025, in two districts."""
    for day, service, where in (
        (dt.date(2026, 10, 5), "pothole", EAST_SIDE),
        (dt.date(2026, 10, 6), "pothole", DOWNTOWN),
        (dt.date(2026, 10, 7), "graffiti", EAST_SIDE),
        (dt.date(2026, 10, 20), "missed-pickup", DOWNTOWN),
        (dt.date(2026, 9, 15), "pothole", EAST_SIDE),
        (dt.date(2025, 10, 15), "pothole", EAST_SIDE),
        (dt.date(2025, 10, 16), "streetlight-out", DOWNTOWN),
    ):
        received(service, day, where=where)
    ServiceRequest.objects.update(due_at=timezone.now() + dt.timedelta(days=30))
    rollups_rebuild()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{round(value, 6):.6f}".rstrip("0").rstrip(".")
    return str(value)


def test_the_report_writes_a_pdf_and_a_csv_of_the_selectors_figures(
    report_month: None, tmp_path: Path
) -> None:
    out = io.StringIO()
    call_command("report", "monthly", "--month", REPORT_MONTH, "--out", str(tmp_path), stdout=out)
    pdf_path, csv_path = tmp_path / "performance-2026-10.pdf", tmp_path / "performance-2026-10.csv"
    assert out.getvalue().split() == [str(pdf_path), str(csv_path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [csv_path.name, pdf_path.name]

    assert pdf_path.read_bytes().startswith(b"%PDF")
    reader = PdfReader(pdf_path)
    assert len(reader.pages) >= 4
    assert reader.metadata is not None
    assert reader.metadata.title == "Prairie Falls 311 performance report, October 2026"
    assert reader.trailer["/Root"]["/Lang"] == "en"
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in (
        "Key figures",
        "The last 13 months",
        "By department",
        "By council district",
        "Backlog",
        "What the month's requests cost",
        "Next year's requests, workload and budget",
        "Definitions",
    ):
        assert heading in text
    outline = [item.title for item in reader.outline if not isinstance(item, list)]
    assert outline == ["Prairie Falls 311 performance report, October 2026"]

    rows = _csv(csv_path)
    assert list(rows[0]) == [
        "section",
        "dimension",
        "key",
        "label",
        "figure",
        "value",
        "previous",
        "last_year",
    ]
    october = Filters(start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31))
    expected = {
        "value": measures(october).figures(),
        "previous": measures(october.previous()).figures(),
        "last_year": measures(october.last_year()).figures(),
    }
    summary = {row["figure"]: row for row in rows if row["section"] == "summary"}
    assert list(summary) == list(FIGURES)
    for name in FIGURES:
        for column, figures in expected.items():
            assert summary[name][column] == _value(figures[name]), (name, column)
    assert summary["received"]["value"] == "4"
    assert summary["received"]["previous"] == "1"
    assert summary["received"]["last_year"] == "2"

    codes = dict(Service.objects.values_list("pk", "service_code"))
    by_service = {
        codes[key]: m.figures() for key, m in measures_by(october, "service") if m.received
    }
    reported = {
        (row["key"], row["figure"]): row["value"] for row in rows if row["section"] == "by_service"
    }
    assert {key for key, _figure in reported} == set(by_service)
    for code, figures in by_service.items():
        for name in FIGURES:
            assert reported[(code, name)] == _value(figures[name])

    costs = {
        (row["dimension"], row["key"], row["figure"]): row["value"]
        for row in rows
        if row["section"] == "costs"
    }
    summary_costs = cost_summary(october)
    assert costs[("city", "", "cost")] == str(summary_costs.total.cost.quantize(Decimal("0.01")))
    assert costs[("city", "", "requests")] == "4"
    forecast = [row for row in rows if row["section"] == "forecast" and row["dimension"] == "month"]
    assert len({row["key"] for row in forecast}) == 12


def test_the_report_in_spanish(report_month: None, tmp_path: Path) -> None:
    call_command(
        "report", "monthly", "--month", REPORT_MONTH, "--out", str(tmp_path), "--language", "es"
    )
    reader = PdfReader(tmp_path / "performance-2026-10.pdf")
    assert reader.trailer["/Root"]["/Lang"] == "es"
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "octubre de 2026" in text
    assert "Cifras clave" in text
    rows = _csv(tmp_path / "performance-2026-10.csv")
    assert rows[1]["figure"] == "language" and rows[1]["value"] == "es"


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-13", "is not a month; write it as YYYY-MM"),
        ("October", "is not a month"),
        ("2019-03", r"No requests were received in 2019-03 \(the data run from 2025-10"),
        ("0001-01", "is before 1900"),
    ],
)
def test_a_bad_month_is_refused_and_nothing_is_written(
    report_month: None, tmp_path: Path, month: str, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("report", "monthly", "--month", month, "--out", str(tmp_path))
    assert _files(tmp_path) == []


def test_a_month_that_has_not_begun_is_refused(report_month: None, tmp_path: Path) -> None:
    future = (TODAY.replace(day=1) + dt.timedelta(days=40)).strftime("%Y-%m")
    with pytest.raises(CommandError, match="has not begun"):
        call_command("report", "monthly", "--month", future, "--out", str(tmp_path))
    assert _files(tmp_path) == []


def test_an_empty_month_is_written_only_when_asked(report_month: None, tmp_path: Path) -> None:
    call_command("report", "monthly", "--month", "2019-03", "--out", str(tmp_path), "--allow-empty")
    text = "\n".join(
        page.extract_text() for page in PdfReader(tmp_path / "performance-2019-03.pdf").pages
    )
    assert "No requests were received in this month." in text


def test_an_unusable_output_directory_is_refused_and_nothing_is_left(
    report_month: None, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("report", "monthly", "--month", REPORT_MONTH, "--out", str(tmp_path / "no"))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("report", "monthly", "--month", REPORT_MONTH, "--out", str(a_file))
    # A directory where the CSV should go: the write fails, and no part of the report (nor
    # any temporary file) is left behind.
    (tmp_path / "performance-2026-10.csv").mkdir()
    with pytest.raises(CommandError, match="Could not write the report"):
        call_command("report", "monthly", "--month", REPORT_MONTH, "--out", str(tmp_path))
    assert _files(tmp_path) == ["file.txt", "performance-2026-10.csv"]


def test_an_unknown_language_is_refused(report_month: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'fr'"):
        call_command(
            "report", "monthly", "--month", REPORT_MONTH, "--out", str(tmp_path), "--language", "fr"
        )


# --------------------------------------------------------------------------------------
# The console's budget pages


BUDGET = "console:performance-budget"
COSTS = "console:performance-budget-costs"
UPLOAD = "console:performance-budget-costs-upload"


def signed_in(username: str) -> Client:
    client = Client()
    sign_in(client, staff(username))
    return client


def test_the_budget_page_is_for_staff_and_only_administrators_change_costs(city: None) -> None:
    url = reverse(BUDGET)
    response = Client().get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    resident = User.objects.create_user("resident1", password="x", role=Role.RESIDENT)
    client = Client()
    sign_in(client, resident)
    assert client.get(url).status_code == 403
    for username in ("calltaker", "pw.crew", "pw.supervisor", "analyst", "admin"):
        response = signed_in(username).get(url)
        assert response.status_code == 200, username
        assert (reverse(COSTS) in response.content.decode()) == (username == "admin")
        assert (
            signed_in(username).get(reverse("console:performance-budget-costs-csv")).status_code
            == 200
        )
    for username in ("calltaker", "pw.supervisor", "analyst"):
        client = signed_in(username)
        assert client.get(reverse(COSTS)).status_code == 403
        assert client.post(reverse(COSTS), {}).status_code == 403
        upload = io.BytesIO(b"kind,code,hourly_rate\ndepartment,PW,1\n")
        upload.name = "costs.csv"
        assert client.post(reverse(UPLOAD), {"file": upload}).status_code == 403
    assert DepartmentCost.objects.get(department__code="PW").hourly_rate == Decimal(68)


def test_the_budget_page_shows_costs_and_the_forecast(known_costs: None) -> None:
    for days in (10, 40, 100):
        received("pothole", TODAY - dt.timedelta(days=days))
    received("graffiti", TODAY - dt.timedelta(days=20))
    received("pothole", TODAY - dt.timedelta(days=400))
    rollups_rebuild()
    start = TODAY - dt.timedelta(days=364)
    response = signed_in("analyst").get(reverse(BUDGET), {"start": start, "end": TODAY})
    assert response.status_code == 200
    page = response.content.decode()
    assert "$12,410" in page  # 3 x 3,110 + 3,080
    assert "$3,110.00" in page
    assert "Next 12 months: requests, workload and budget" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2026-13-01", "end": "2026-10-31"}, "Enter a valid date."),
        ({"start": "2026-10-31", "end": "2026-10-01"}, "The end date is before the start date."),
        ({"start": "2026-10-01"}, "This field is required."),
        ({"start": "0001-01-01", "end": "2026-10-31"}, "Choose a date in 1900 or later."),
    ],
)
def test_a_bad_period_is_a_clear_error_not_a_server_error(
    city: None, query: dict[str, str], message: str
) -> None:
    response = signed_in("admin").get(reverse(BUDGET), query)
    assert response.status_code == 400
    assert message in response.content.decode()


def _form_data(client: Client) -> dict[str, str]:
    """What the costs form holds now, as a browser would submit it."""
    form = client.get(reverse(COSTS)).context["form"]
    return {name: form[name].value() or "" for name in form.fields}


def test_an_administrator_changes_unit_costs_in_the_form(city: None) -> None:
    client = signed_in("admin")
    data = _form_data(client)
    data["department-PW-hourly_rate"] = "70.25"
    data["service-pothole-hourly_rate"] = "90"
    for column in ("labour_hours", "materials_cost", "hourly_rate"):
        data[f"service-graffiti-{column}"] = ""
    response = client.post(reverse(COSTS), data)
    assert response.status_code == 302
    assert DepartmentCost.objects.get(department__code="PW").hourly_rate == Decimal("70.25")
    assert ServiceCost.objects.get(service__service_code="pothole").hourly_rate == 90
    assert not ServiceCost.objects.filter(service__service_code="graffiti").exists()
    page = client.get(response["Location"]).content.decode()
    assert "2 changed, 1 removed" in page


def test_bad_values_in_the_form_are_named_and_nothing_is_saved(city: None) -> None:
    client = signed_in("admin")
    before = costs_export()
    data = _form_data(client)
    data["department-PW-hourly_rate"] = "70"  # a good change, not saved with the bad ones
    data["department-SAN-hourly_rate"] = "-3"
    data["service-pothole-labour_hours"] = "two"
    data["service-graffiti-labour_hours"] = ""
    response = client.post(reverse(COSTS), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Solid Waste and Recycling: Hourly rate" in page
    assert "-3 is negative" in page
    assert "Pothole: Labour hours per request" in page
    assert "&#x27;two&#x27; is not a number" in page
    assert "Graffiti: Labour hours per request" in page
    assert 'aria-invalid="true"' in page
    assert costs_export() == before


def test_a_costs_file_upload_names_bad_rows_and_saves_nothing(city: None) -> None:
    client = signed_in("admin")
    before = costs_export()
    upload = io.BytesIO(
        b"kind,code,hourly_rate,annual_fixed_cost,labour_hours,materials_cost\n"
        b"department,PW,99,,,\n"
        b"service,nope,,,1,\n"
        b"service,pothole,,,-1,\n"
    )
    upload.name = "costs.csv"
    response = client.post(reverse(UPLOAD), {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was saved" in page
    assert "row 3: code: no service &#x27;nope&#x27;" in page
    assert "row 4: labour_hours: -1 is negative" in page
    assert costs_export() == before

    response = client.post(reverse(UPLOAD), {})
    assert response.status_code == 400 and "This field is required." in response.content.decode()

    good = io.BytesIO(b"kind,code,hourly_rate\ndepartment,PW,99\n")
    good.name = "costs.csv"
    response = client.post(reverse(UPLOAD), {"file": good})
    assert response.status_code == 302
    assert DepartmentCost.objects.get(department__code="PW").hourly_rate == 99


def test_unit_costs_in_the_admin_go_through_the_same_checks(city: None) -> None:
    client = signed_in("admin")
    cost = ServiceCost.objects.get(service__service_code="pothole")
    url = reverse("admin:performance_servicecost_change", args=[cost.pk])
    response = client.post(url, {"labour_hours": "-1", "materials_cost": "5", "hourly_rate": ""})
    assert response.status_code == 200  # the form again, with the error
    response = client.post(url, {"labour_hours": "4", "materials_cost": "5", "hourly_rate": ""})
    assert response.status_code == 302
    cost.refresh_from_db()
    assert cost.labour_hours == 4
