"""Who may open what: every URL pattern of the project, for every role and for a visitor who
is not signed in. The expected table (``MATRIX``) is the specification; a new URL that is not
in it fails ``test_every_url_pattern_is_in_the_matrix`` by name."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from PIL import Image

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Department
from civicdesk.console.models import KnowledgeArticle
from civicdesk.open311.keys import apikey_create
from civicdesk.open311.models import ApiSubmission
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import request_media_attach
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, make_request, sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

ANONYMOUS = "anonymous"
# One demo account per role (the resident is made by the fixture below).
ACCOUNTS = {
    Role.RESIDENT: "resident.rita",
    Role.CALL_TAKER: "calltaker",
    Role.DEPARTMENT_STAFF: "pw.crew",  # Public Works
    Role.SUPERVISOR: "pw.supervisor",  # Public Works
    Role.ANALYST: "analyst",
    Role.ADMINISTRATOR: "admin",
}
EVERYONE = frozenset({ANONYMOUS, *ACCOUNTS})
STAFF = frozenset(
    {Role.CALL_TAKER, Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ANALYST, Role.ADMINISTRATOR}
)
WORKERS = STAFF - {Role.ANALYST}  # act on requests, take calls
ALL_DEPARTMENTS_WORKERS = frozenset({Role.CALL_TAKER, Role.ADMINISTRATOR})
EDITORS = frozenset({Role.SUPERVISOR, Role.ADMINISTRATOR})  # knowledge base
ADMINISTRATORS = frozenset({Role.ADMINISTRATOR})
NOBODY: frozenset[str] = frozenset()
REPORTER_EMAIL = "matrix.reporter.7731@example.net"
REPORTER_PHONE = "+1 217 555 0199"
REPORTER_NAME = "Quintessa Matrixreporter"


@dataclass(frozen=True)
class Check:
    """``method`` on the URL that ``url`` builds (fresh for each role); ``allowed`` roles get
    one of ``ok`` statuses, everyone else is refused (sign-in redirect or 403), or gets
    ``refused`` if given. ``after`` checks, per role, what the call changed."""

    url: Callable[[World], str]
    allowed: frozenset[str]
    method: str = "get"
    data: Callable[[World], dict[str, Any]] = field(default=lambda world: {})
    ok: frozenset[int] = frozenset({200})
    refused: frozenset[int] = frozenset({302, 403})
    after: Callable[[World, bool], None] | None = None


@dataclass
class World:
    """The things concrete URLs point at."""

    request: ServiceRequest  # Public Works pothole with a reporter
    photo: str
    kb_slug: str
    token: str
    last: ServiceRequest | None = None

    def fresh(self, department: str = "PW") -> ServiceRequest:
        sr = make_request(description="Fresh request for an action")
        ServiceRequest.objects.filter(pk=sr.pk).update(
            department=Department.objects.get(code=department)
        )
        sr.refresh_from_db()
        self.last = sr
        return sr


def _acknowledge(department: str) -> Check:
    """Acknowledge a fresh request held by ``department``."""

    def url(world: World) -> str:
        sr = world.fresh(department)
        return reverse("console:request_action", args=[sr.public_id, "acknowledge"])

    def after(world: World, allowed: bool) -> None:
        assert world.last is not None
        world.last.refresh_from_db()
        expected = Status.ACKNOWLEDGED if allowed else Status.NEW
        assert world.last.status == expected

    return Check(
        url=url,
        method="post",
        data=lambda world: {"ack-expected_version": str(world.last.version if world.last else 1)},
        allowed=(WORKERS if department == "PW" else ALL_DEPARTMENTS_WORKERS),
        ok=frozenset({302}),
        after=after,
    )


def _open311(name: str, **kwargs: str) -> Callable[[World], str]:
    return lambda world: reverse(name, kwargs={"fmt": "json", **kwargs})


SURVEY_READERS = EDITORS | {Role.ANALYST}  # tracking and preview
SURVEY_PAPER = EDITORS | {Role.CALL_TAKER}  # paper questionnaires
SURVEY_STAFF = SURVEY_READERS | SURVEY_PAPER


def _survey(draft: bool = False) -> str:
    """An open survey (or a draft one) with a section and a question; made on first use."""
    from civicdesk.surveys.models import Question, Section, Survey, SurveyStatus

    slug = "matrix-draft" if draft else "matrix-survey"
    survey, created = Survey.objects.get_or_create(
        slug=slug, defaults={"title": "Matrix survey", "languages": ["en", "es"]}
    )
    if created:
        section = Section.objects.create(survey=survey, position=1, title="Section")
        Question.objects.create(
            survey=survey, section=section, position=1, code="q", kind="number", text="How many?"
        )
    # Each check starts from the state it needs (a close or publish may have run before).
    Survey.objects.filter(pk=survey.pk).update(
        status=SurveyStatus.DRAFT if draft else SurveyStatus.OPEN
    )
    return slug


def _survey_section() -> int:
    from civicdesk.surveys.models import Section

    return Section.objects.get(survey__slug="matrix-draft").pk


def _survey_question() -> int:
    from civicdesk.surveys.models import Question

    return Question.objects.get(survey__slug="matrix-draft").pk


# URL name (or route, for the unnamed ones) -> what each role may do there.
MATRIX: dict[str, list[Check]] = {
    # The resident portal: open to all.
    "portal:home": [Check(lambda w: "/", EVERYONE)],
    "portal:report": [Check(lambda w: "/services/pothole/", EVERYONE)],
    "portal:nearby": [
        Check(lambda w: f"/services/pothole/nearby/?lat={DOWNTOWN[0]}&long={DOWNTOWN[1]}", EVERYONE)
    ],
    "portal:requests": [Check(lambda w: "/requests/", EVERYONE)],
    "portal:track": [
        Check(lambda w: f"/track/?public_id={w.request.public_id}", EVERYONE, ok=frozenset({302}))
    ],
    "portal:request": [Check(lambda w: f"/requests/{w.request.public_id}/", EVERYONE)],
    # Only the browser that sent the report sees its confirmation: 404 for everyone else.
    "portal:confirmation": [
        Check(
            lambda w: f"/requests/{w.request.public_id}/received/", NOBODY, refused=frozenset({404})
        )
    ],
    "portal:performance": [Check(lambda w: "/performance/", EVERYONE)],
    "portal:performance_csv": [Check(lambda w: "/performance/download/service.csv", EVERYONE)],
    "portal:open_data": [Check(lambda w: "/open-data/", EVERYONE)],
    "portal:open_data_csv": [Check(lambda w: "/open-data/requests.csv", EVERYONE)],
    "portal:open_data_json": [Check(lambda w: "/open-data/requests.json", EVERYONE)],
    "portal:open_data_geojson": [Check(lambda w: "/open-data/requests.geojson", EVERYONE)],
    "media": [Check(lambda w: f"/media/{w.photo}", EVERYONE)],
    "set_language": [
        Check(
            lambda w: "/i18n/setlang/",
            EVERYONE,
            method="post",
            data=lambda w: {"language": "es"},
            ok=frozenset({302}),
        )
    ],
    "healthz": [Check(lambda w: "/healthz", EVERYONE)],
    # The staff console.
    "console:login": [Check(lambda w: "/staff/login/", EVERYONE, ok=frozenset({302}))],
    "console:logout": [
        Check(lambda w: "/staff/logout/", EVERYONE, method="post", ok=frozenset({302}))
    ],
    "console:queue": [Check(lambda w: "/staff/", STAFF)],
    "console:bulk": [Check(lambda w: "/staff/bulk/", WORKERS, method="post", ok=frozenset({302}))],
    "console:request": [Check(lambda w: f"/staff/requests/{w.request.public_id}/", STAFF)],
    "console:request_action": [_acknowledge("PW"), _acknowledge("SAN")],
    "console:intake": [Check(lambda w: "/staff/intake/", WORKERS)],
    "console:intake_service": [Check(lambda w: "/staff/intake/pothole/", WORKERS)],
    "console:intake_done": [
        Check(lambda w: f"/staff/intake/received/{w.request.public_id}/", WORKERS)
    ],
    "console:kb": [Check(lambda w: "/staff/kb/", STAFF)],
    "console:kb_create": [Check(lambda w: "/staff/kb/new/", EDITORS)],
    "console:kb_article": [Check(lambda w: f"/staff/kb/{w.kb_slug}/", STAFF)],
    "console:kb_edit": [Check(lambda w: f"/staff/kb/{w.kb_slug}/edit/", EDITORS)],
    "console:performance": [Check(lambda w: "/staff/performance/", STAFF)],
    "console:performance_csv": [Check(lambda w: "/staff/performance/download/service.csv", STAFF)],
    "console:performance-budget": [Check(lambda w: "/staff/performance/budget/", STAFF)],
    "console:performance-budget-costs": [
        Check(lambda w: "/staff/performance/budget/costs/", ADMINISTRATORS),
        # An empty form: administrators reach it (and are told what is missing).
        Check(
            lambda w: "/staff/performance/budget/costs/",
            ADMINISTRATORS,
            method="post",
            ok=frozenset({302, 400}),
        ),
    ],
    "console:performance-budget-costs-upload": [
        Check(
            lambda w: "/staff/performance/budget/costs/upload/",
            ADMINISTRATORS,
            method="post",
            data=lambda w: {"file": io.BytesIO(b"not,a,costs,file\n")},
            ok=frozenset({400}),
        )
    ],
    "console:performance-budget-costs-csv": [
        Check(lambda w: "/staff/performance/budget/unit-costs.csv", STAFF)
    ],
    # Resident surveys (docs/surveys.md, "Who does what"): the resident's pages are public;
    # a page of answers without a response begun in this browser goes back to the code.
    "surveys:start": [Check(lambda w: f"/surveys/{_survey()}/", EVERYONE)],
    "surveys:open": [Check(lambda w: f"/surveys/{_survey()}/open/", EVERYONE)],
    "surveys:page": [
        Check(lambda w: f"/surveys/{_survey()}/page/1/", EVERYONE, ok=frozenset({302}))
    ],
    "surveys:thanks": [
        Check(lambda w: f"/surveys/{_survey()}/thanks/", EVERYONE, ok=frozenset({302}))
    ],
    "surveys:staff_list": [Check(lambda w: "/staff/surveys/", SURVEY_STAFF)],
    "surveys:staff_create": [Check(lambda w: "/staff/surveys/new/", EDITORS)],
    "surveys:staff_survey": [Check(lambda w: f"/staff/surveys/{_survey()}/", SURVEY_STAFF)],
    "surveys:staff_edit": [Check(lambda w: f"/staff/surveys/{_survey()}/edit/", EDITORS)],
    "surveys:staff_publish": [
        Check(
            lambda w: f"/staff/surveys/{_survey(draft=True)}/publish/",
            EDITORS,
            method="post",
            ok=frozenset({302}),
        )
    ],
    "surveys:staff_close": [
        Check(
            lambda w: f"/staff/surveys/{_survey()}/close/",
            EDITORS,
            method="post",
            ok=frozenset({302}),
        )
    ],
    "surveys:staff_section_create": [
        Check(lambda w: f"/staff/surveys/{_survey(draft=True)}/sections/new/", EDITORS)
    ],
    "surveys:staff_section": [
        Check(
            lambda w: f"/staff/surveys/{_survey(draft=True)}/sections/{_survey_section()}/", EDITORS
        )
    ],
    "surveys:staff_question_create": [
        Check(
            lambda w: (
                f"/staff/surveys/{_survey(draft=True)}/sections/{_survey_section()}/questions/new/"
            ),
            EDITORS,
        )
    ],
    "surveys:staff_question": [
        Check(
            lambda w: f"/staff/surveys/{_survey(draft=True)}/questions/{_survey_question()}/",
            EDITORS,
        )
    ],
    "surveys:staff_preview": [
        Check(lambda w: f"/staff/surveys/{_survey()}/preview/", SURVEY_READERS)
    ],
    "surveys:staff_sample": [Check(lambda w: f"/staff/surveys/{_survey()}/sample/", EDITORS)],
    "surveys:staff_mailing": [Check(lambda w: f"/staff/surveys/{_survey()}/mailing.pdf", EDITORS)],
    "surveys:staff_reminders": [
        Check(lambda w: f"/staff/surveys/{_survey()}/reminders.pdf", EDITORS)
    ],
    "surveys:staff_paper": [Check(lambda w: f"/staff/surveys/{_survey()}/paper/", SURVEY_PAPER)],
    "surveys:staff_tracking": [
        Check(lambda w: f"/staff/surveys/{_survey()}/tracking/", SURVEY_READERS)
    ],
    # Results: read and set up by supervisors, administrators and analysts.
    "surveys:staff_results": [
        Check(lambda w: f"/staff/surveys/{_survey()}/results/", SURVEY_READERS)
    ],
    "surveys:staff_results_csv": [
        Check(lambda w: f"/staff/surveys/{_survey()}/results.csv", SURVEY_READERS)
    ],
    "surveys:staff_results_pdf": [
        Check(lambda w: f"/staff/surveys/{_survey()}/results.pdf", SURVEY_READERS)
    ],
    "surveys:staff_results_setup": [
        Check(lambda w: f"/staff/surveys/{_survey()}/results/setup/", EDITORS)
    ],
    # Open311 GeoReport v2: public reads (posting needs an api_key: see below).
    "open311-discovery": [Check(_open311("open311-discovery"), EVERYONE)],
    "open311-services": [Check(_open311("open311-services"), EVERYONE)],
    "open311-service": [Check(_open311("open311-service", service_code="pothole"), EVERYONE)],
    "open311-requests": [
        Check(_open311("open311-requests"), EVERYONE),
        Check(
            _open311("open311-requests"),
            NOBODY,
            method="post",
            data=lambda w: {"service_code": "pothole", "lat": DOWNTOWN[0], "long": DOWNTOWN[1]},
            refused=frozenset({403}),
        ),
    ],
    "open311-request": [
        Check(lambda w: reverse("open311-request", args=[w.request.public_id, "json"]), EVERYONE)
    ],
    "open311-token": [Check(lambda w: reverse("open311-token", args=[w.token, "json"]), EVERYONE)],
    "open311-openapi": [Check(lambda w: "/open311/v2/openapi.json", EVERYONE)],
    # Anything else under /open311/v2/ is an unknown resource, for everyone.
    "open311/v2/^(?P<path>.*)$": [
        Check(lambda w: "/open311/v2/nothing.json", NOBODY, refused=frozenset({404}))
    ],
}
# Whole areas checked by their own tests below.
GROUPS = {
    "accounts/": "sign-in pages (allauth): open to all",
    "admin/": "the administration site: administrators only",
}


def _walk(
    resolver: URLResolver, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        else:
            assert isinstance(entry, URLPattern)
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield prefix + str(entry.pattern), name or prefix + str(entry.pattern)


def test_every_url_pattern_is_in_the_matrix() -> None:
    seen, missing = set(), []
    for route, key in _walk(get_resolver()):
        if route.startswith(tuple(GROUPS)):
            continue
        seen.add(key)
        if key not in MATRIX:
            missing.append(f"{key} ({route})")
    assert not missing, "URL patterns without an entry in MATRIX: " + ", ".join(missing)
    assert not set(MATRIX) - seen, f"MATRIX names URLs that do not exist: {set(MATRIX) - seen}"


# --------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = str(tmp_path)
    from civicdesk.servicerequests.services import ContactInput

    sr = make_request(
        contact=ContactInput(name=REPORTER_NAME, email=REPORTER_EMAIL, phone=REPORTER_PHONE),
        description="Deep pothole by the school",
    )
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, format="PNG")
    media = request_media_attach(request=sr, data=out.getvalue(), actor_label="resident")
    _, key = apikey_create(name="Matrix app")
    posted = Client().post(
        "/open311/v2/requests.json",
        {
            "api_key": key,
            "service_code": "pothole",
            "lat": str(DOWNTOWN[0]),
            "long": str(DOWNTOWN[1]),
            "attribute[size]": "small",
            "attribute[in_traffic_lane]": "yes",
        },
    )
    assert posted.status_code in (200, 201), posted.content
    submission = ApiSubmission.objects.latest("created_at")
    article = KnowledgeArticle.objects.filter(published=True).first()
    assert article is not None
    User.objects.create_user(
        username=ACCOUNTS[Role.RESIDENT], password="x", role=Role.RESIDENT, email="rita@x.example"
    )
    return World(request=sr, photo=media.file.name, kb_slug=article.slug, token=submission.token)


def _client(role: str) -> Client:
    client = Client()
    if role != ANONYMOUS:
        sign_in(client, staff(ACCOUNTS[role]))
    return client


def _call(client: Client, check: Check, world: World) -> tuple[str, Any]:
    url = check.url(world)
    if check.method == "get":
        return url, client.get(url)
    return url, client.post(url, check.data(world))


def _refused_properly(role: str, response: Any) -> bool:
    if response.status_code == 302:
        # Refusal by redirect only to the sign-in page, and only for someone not signed in.
        return role == ANONYMOUS and response["Location"].startswith("/accounts/login/")
    return True


ROLES = [ANONYMOUS, *ACCOUNTS]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role: str, world: World) -> None:
    problems = []
    for key, checks in MATRIX.items():
        for check in checks:
            client = _client(role)
            url, response = _call(client, check, world)
            allowed = role in check.allowed
            status = response.status_code
            if allowed:
                good = status in check.ok
            else:
                good = status in check.refused and _refused_properly(role, response)
                if check.refused == frozenset({302, 403}) and status == 302:
                    good = good and role == ANONYMOUS
            if not good:
                where = response.get("Location", "")
                problems.append(
                    f"{key} {check.method.upper()} {url}: {role} got {status} {where} "
                    f"(expected {'allowed' if allowed else 'refused'})"
                )
            if check.after is not None:
                check.after(world, allowed)
    assert not problems, "\n".join(problems)


def test_posting_to_open311_needs_a_valid_api_key() -> None:
    data = {
        "service_code": "pothole",
        "lat": str(DOWNTOWN[0]),
        "long": str(DOWNTOWN[1]),
        "attribute[size]": "small",
        "attribute[in_traffic_lane]": "yes",
    }
    before = ServiceRequest.objects.count()
    signed_in_admin = sign_in(Client(), staff("admin"))
    for client in (Client(), signed_in_admin):  # a staff session is no api_key
        for extra in ({}, {"api_key": "x" * 32}):
            response = client.post("/open311/v2/requests.json", {**data, **extra})
            assert response.status_code == 403
            assert "api_key" in response.json()[0]["description"]
    assert ServiceRequest.objects.count() == before
    _, key = apikey_create(name="Good app")
    assert Client().post("/open311/v2/requests.json", {**data, "api_key": key}).status_code in (
        200,
        201,
    )
    assert ServiceRequest.objects.count() == before + 1


# --------------------------------------------------------------------------------------
# Sign-in pages and the administration site


def _accounts_urls() -> list[str]:
    urls = []
    for route, _key in _walk(get_resolver()):
        if route.startswith("accounts/") and "<" not in route and "(?P" not in route:
            urls.append("/" + route.replace("^", "").replace("$", ""))
    return urls


@pytest.mark.parametrize("role", ROLES)
def test_sign_in_pages_are_open_to_all_and_never_fail(role: str, world: World) -> None:
    client = _client(role)
    urls = _accounts_urls()
    assert "/accounts/login/" in urls and "/accounts/2fa/authenticate/" in urls
    for url in urls:
        response = client.get(url)
        # Pages that need a signed-in person send others to sign in, pages that do not apply
        # (no authenticator to remove, a third-party error) say so; none forbids or breaks.
        assert response.status_code in (200, 301, 302, 401, 404), (url, response.status_code)
    assert Client().get("/accounts/login/").status_code == 200


def _admin_urls() -> list[str]:
    urls = ["/admin/"]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


@pytest.mark.parametrize("role", ROLES)
def test_only_administrators_reach_the_administration_site(role: str, world: World) -> None:
    client = _client(role)
    urls = _admin_urls()
    assert len(urls) > 10
    for url in urls:
        response = client.get(url)
        if role == Role.ADMINISTRATOR:
            assert response.status_code == 200, url
            continue
        assert response.status_code in (302, 403), (url, response.status_code)
        if response.status_code == 302:
            assert "login" in response["Location"], (url, response["Location"])
        # Whatever page a refused person lands on names none of the configuration.
        landing = client.get(url, follow=True)
        body = landing.content.decode()
        assert "311 program configuration" not in body, url
        assert 'id="changelist"' not in body and "Site administration" not in body, url


# --------------------------------------------------------------------------------------
# Contact details


def test_analyst_never_sees_a_reporters_contact_details(world: World) -> None:
    """Every page the analyst can open, with a request whose reporter has an email, phone
    and name on file: none of them shows up anywhere."""
    analyst = _client(Role.ANALYST)
    opened = 0
    for checks in MATRIX.values():
        for check in checks:
            if Role.ANALYST not in check.allowed or check.method != "get":
                continue
            url = check.url(world)
            response = analyst.get(url)
            assert response.status_code in check.ok, url
            body = b"".join(response) if response.streaming else response.content
            for secret in (REPORTER_EMAIL, REPORTER_PHONE, REPORTER_NAME):
                assert secret.encode() not in body, (url, secret)
            opened += 1
    # The queue filtered to the request, and its search, too.
    for url in (
        f"/staff/?q={world.request.public_id}",
        f"/staff/requests/{world.request.public_id}/",
    ):
        body = analyst.get(url).content
        assert REPORTER_EMAIL.encode() not in body and REPORTER_PHONE.encode() not in body
        assert REPORTER_NAME.encode() not in body
    # Nor can the analyst find the request by the reporter's address.
    assert "0 requests." in analyst.get("/staff/", {"q": REPORTER_EMAIL}).content.decode()
    assert opened > 10
    # The same page shows them to a call taker, so the check above looks at the right place.
    taker = _client(Role.CALL_TAKER).get(f"/staff/requests/{world.request.public_id}/")
    assert REPORTER_EMAIL in taker.content.decode()
