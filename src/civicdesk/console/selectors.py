"""Reads for the staff console: the work queue, everything about one request, and the
knowledge base. The queue is a hot read: it fetches plain rows (``values()``) with their
joins in one query per page, whatever the page size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    F,
    Q,
    QuerySet,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Datatype, Department, Service, Team
from civicdesk.catalog.selectors import text_fold
from civicdesk.catalog.service_levels import SlaState, sla_state
from civicdesk.geo.models import LayerRole, Zone
from civicdesk.servicerequests.models import (
    Contact,
    RequestEvent,
    RequestMedia,
    ServiceRequest,
)
from civicdesk.servicerequests.selectors import (
    DuplicateCandidate,
    duplicates_find,
    request_timeline,
    sla_conditions,
    sla_counts,
)
from civicdesk.servicerequests.statuses import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    Status,
)

from .access import can_act_on, queue_department_id
from .models import KnowledgeArticle

PAGE_SIZE = 50
# Statuses a person picks in the "change status" form: duplicates are made by merging,
# reopening and referral have their own forms (a reason, an agency).
STATUS_FORM_EXCLUDED = frozenset({Status.DUPLICATE, Status.REOPENED, Status.REFERRED})

# --------------------------------------------------------------------------------------
# Queue


@dataclass(frozen=True)
class QueueFilters:
    department: str = ""  # department code
    team: int | None = None
    service: str = ""  # service code
    status: str = "open"  # "open", "closed", "all" or one status
    district: str = ""  # council district code
    sla: str = ""  # on_time, due_soon, overdue
    mine: bool = False
    q: str = ""
    sort: str = "due"  # due, requested, oldest, priority


SORTS: dict[str, tuple[Any, ...]] = {
    # Soonest due first, so overdue requests lead; requests without a target come last.
    "due": (F("due_at").asc(nulls_last=True), "requested_at", "id"),
    "requested": ("-requested_at", "-id"),
    "oldest": ("requested_at", "id"),
    "priority": ("-priority", F("due_at").asc(nulls_last=True), "id"),
}

QUEUE_FIELDS = (
    "id",
    "public_id",
    "status",
    "priority",
    "version",
    "requested_at",
    "due_at",
    "closed_at",
    "address",
    "description",
    "department_id",
    "service__name",
    "service__translations",
    "department__code",
    "department__name",
    "department__translations",
    "team__name",
    "assignee_id",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
    "district__name",
)


SLA_FILTERS = frozenset({SlaState.OVERDUE, SlaState.DUE_SOON, SlaState.ON_TIME})


def _queue_queryset(user: User, filters: QueueFilters) -> QuerySet[ServiceRequest]:
    qs = ServiceRequest.objects.all()
    department_id = queue_department_id(user)
    if department_id is not None:
        qs = qs.filter(department_id=department_id)
    elif filters.department:
        qs = qs.filter(department__code=filters.department)
    if filters.team:
        qs = qs.filter(team_id=filters.team)
    if filters.service:
        qs = qs.filter(service__service_code=filters.service)
    if filters.status == "open":
        qs = qs.filter(status__in=sorted(OPEN_STATUSES))
    elif filters.status == "closed":
        qs = qs.filter(status__in=sorted(CLOSED_STATUSES))
    elif filters.status in Status.values:
        qs = qs.filter(status=filters.status)
    if filters.district:
        qs = qs.filter(district__code=filters.district)
    if filters.mine:
        qs = qs.filter(assignee=user)
    if filters.q:
        for word in filters.q.split()[:8]:
            qs = qs.filter(
                Q(public_id__icontains=word)
                | Q(address__icontains=word)
                | Q(description__icontains=word)
            )
    return qs


@dataclass
class QueuePage:
    page: Page[Any]
    rows: list[dict[str, Any]]
    counts: dict[str, int]


def queue_page(*, user: User, filters: QueueFilters, page: int) -> QueuePage:
    """One page of the user's queue, each row with its service-level state, and how many
    open requests in the filtered queue are on time, due soon and overdue."""
    now = timezone.now()
    qs = _queue_queryset(user, filters)
    counts = sla_counts(qs, now)
    if filters.sla in SLA_FILTERS:
        qs = qs.filter(sla_conditions(now)[SlaState(filters.sla)])
    rows = qs.order_by(*SORTS.get(filters.sort, SORTS["due"])).values(*QUEUE_FIELDS)
    page_obj = Paginator(rows, PAGE_SIZE).get_page(page)
    out = []
    for row in page_obj.object_list:
        row["sla"] = sla_state(
            requested_at=row["requested_at"],
            due_at=row["due_at"],
            closed_at=row["closed_at"],
            now=now,
        )
        row["is_open"] = row["status"] not in CLOSED_STATUSES
        row["can_act"] = can_act_on(user, row["department_id"])
        out.append(row)
    return QueuePage(page_obj, out, counts)


@dataclass(frozen=True)
class QueueChoices:
    departments: list[Department]
    teams: list[Team]
    services: list[Service]
    districts: list[Zone]


def workers(department_id: int | None = None) -> QuerySet[User]:
    """People a request can be assigned to (the roles ``request_assign`` accepts)."""
    qs = User.objects.filter(
        is_active=True, role__in=[Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR]
    ).select_related("department")
    if department_id:
        qs = qs.filter(Q(department_id=department_id) | Q(department__isnull=True))
    return qs.order_by("department__name", "last_name", "first_name", "username")


def queue_choices(user: User) -> QueueChoices:
    department_id = queue_department_id(user)
    teams = Team.objects.select_related("department").order_by("department__name", "name")
    if department_id is not None:
        teams = teams.filter(department_id=department_id)
    return QueueChoices(
        departments=list(Department.objects.filter(active=True).order_by("name")),
        teams=list(teams),
        services=list(
            Service.objects.only("service_code", "name", "translations").order_by("name")
        ),
        # Not the geometry: a filter needs only names.
        districts=list(
            Zone.objects.filter(layer__role=LayerRole.COUNCIL_DISTRICT)
            .only("code", "name")
            .order_by("code")
        ),
    )


# --------------------------------------------------------------------------------------
# One request


@dataclass(frozen=True)
class Answer:
    label: str
    value: str


@dataclass
class RequestDetail:
    request: ServiceRequest
    sla: SlaState
    answers: list[Answer]
    information: list[str]
    events: list[RequestEvent]
    media: list[RequestMedia]
    followers: int
    merged: list[str]  # public ids of requests merged into this one
    reporter: Contact | None  # only for roles that may see contact details
    point: list[dict[str, Any]] | None
    next_statuses: list[str]
    duplicates: list[DuplicateCandidate] = field(default_factory=list)
    can_act: bool = False
    names: Mapping[str, Mapping[int, str]] = field(default_factory=dict)

    @property
    def can_acknowledge(self) -> bool:
        return Status.ACKNOWLEDGED in TRANSITIONS[self.request.status]

    @property
    def can_refer(self) -> bool:
        return Status.REFERRED in TRANSITIONS[self.request.status]

    @property
    def can_reopen(self) -> bool:
        return Status.REOPENED in TRANSITIONS[self.request.status]

    @property
    def is_open(self) -> bool:
        return self.request.status not in CLOSED_STATUSES


def next_statuses(status: str) -> list[str]:
    """The statuses the status form offers from ``status``, in lifecycle order."""
    allowed = TRANSITIONS.get(status, frozenset())
    return [s for s in Status.values if s in allowed and s not in STATUS_FORM_EXCLUDED]


def _answer_text(datatype: str, value: Any, attribute: Any, language: str) -> str:
    if datatype in (Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST):
        keys = value if isinstance(value, list) else [value]
        return ", ".join(attribute.value_name(str(k), language) for k in keys)
    if datatype == Datatype.DATETIME:
        moment = parse_datetime(str(value))
        if moment is not None:
            return date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return str(value)


def request_for_staff(public_id: str) -> ServiceRequest | None:
    public_id = str(public_id).strip()[:32]
    if "\x00" in public_id:  # PostgreSQL refuses NUL in text: no request has one
        return None
    return (
        ServiceRequest.objects.select_related(
            "service",
            "department",
            "team",
            "assignee",
            "district",
            "ward",
            "parent",
            "reporter",
        )
        .filter(public_id=public_id)
        .first()
    )


def _names(events: list[RequestEvent]) -> dict[str, dict[int, str]]:
    """Names of the departments, teams and people that assignment events refer to."""
    ids: dict[str, set[int]] = {"department": set(), "team": set(), "assignee": set()}
    for event in events:
        for side in ("from", "to"):
            values = (event.data or {}).get(side)
            if isinstance(values, dict):
                for key in ids:
                    if isinstance(values.get(key), int):
                        ids[key].add(values[key])
    return {
        "department": {d.pk: d.name for d in Department.objects.filter(pk__in=ids["department"])},
        "team": {t.pk: t.name for t in Team.objects.filter(pk__in=ids["team"])},
        "assignee": {u.pk: str(u) for u in User.objects.filter(pk__in=ids["assignee"])},
    }


def request_detail(*, request: ServiceRequest, viewer: User, language: str) -> RequestDetail:
    """Everything staff see about one request; contact details only for roles allowed them."""
    attributes = list(request.service.attributes.all().order_by("order", "code"))
    answers, information = [], []
    for attribute in attributes:
        if not attribute.variable:
            information.append(attribute.localized("label", language))
            continue
        if attribute.code in (request.attributes or {}):
            value = request.attributes[attribute.code]
            answers.append(
                Answer(
                    attribute.localized("label", language),
                    _answer_text(attribute.datatype, value, attribute, language),
                )
            )
    events = request_timeline(request, public_only=False)
    point = (
        [{"id": request.public_id, "lat": request.lat, "long": request.long}]
        if request.lat is not None and request.long is not None
        else None
    )
    detail = RequestDetail(
        request=request,
        sla=sla_state(
            requested_at=request.requested_at,
            due_at=request.due_at,
            closed_at=request.closed_at,
            now=timezone.now(),
        ),
        answers=answers,
        information=information,
        events=events,
        media=list(RequestMedia.objects.filter(request=request)),
        followers=request.followers.count(),
        merged=list(
            ServiceRequest.objects.filter(parent=request)
            .order_by("public_id")
            .values_list("public_id", flat=True)
        ),
        reporter=request.reporter if viewer.can_view_contacts else None,
        point=point,
        next_statuses=next_statuses(request.status),
        can_act=can_act_on(viewer, request.department_id),
        names=_names(events),
    )
    if detail.can_act and detail.is_open and request.lat is not None and request.long is not None:
        detail.duplicates = duplicates_find(
            service=request.service,
            lat=request.lat,
            long=request.long,
            at=request.requested_at,
            exclude_id=request.pk,
            limit=5,
        )
    return detail


# --------------------------------------------------------------------------------------
# Knowledge base


def knowledge_articles(
    *, query: str = "", service_code: str = "", include_unpublished: bool = False
) -> QuerySet[KnowledgeArticle]:
    """Articles matching every word of ``query`` in any language (accents and case aside)."""
    qs = KnowledgeArticle.objects.select_related("service", "updated_by")
    if not include_unpublished:
        qs = qs.filter(published=True)
    if service_code == "general":
        qs = qs.filter(service__isnull=True)
    elif service_code:
        qs = qs.filter(service__service_code=service_code)
    for word in text_fold(query).split()[:8]:
        qs = qs.filter(search_text__contains=word)
    return qs.order_by("title")


def knowledge_for_service(service: Service) -> list[KnowledgeArticle]:
    """What a call taker reads beside the intake form: the service's articles first, then
    the general ones."""
    articles = KnowledgeArticle.objects.filter(
        Q(service=service) | Q(service__isnull=True), published=True
    )
    return sorted(articles, key=lambda a: (a.service_id is None, a.title))
