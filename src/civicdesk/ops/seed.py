"""Synthetic service requests for the demo city and for benchmarks at any size.

Requests are spread over the last 18 months with each service's seasonality, a weekly and
daily rhythm, hot spots in the city, realistic channels and priorities, and outcomes drawn
against each service's level target, so the backlog, on-time and overdue mixes look like a
real 311 program. Timelines (received, acknowledged, assigned, in progress, closed, escalated,
reopened, merged) are written as events.

Rows go in through ``rows_insert`` (COPY on PostgreSQL, executemany on SQLite) in chunks of
one transaction each, with ids assigned here: a million requests load in a few minutes.
Due dates come from the one function that computes them (``due_at_compute``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import BusinessCalendar, Datatype, Service
from civicdesk.catalog.service_levels import WorkingCalendar, due_at_compute, working_calendar_for
from civicdesk.geo.models import LayerRole, RoutingRule
from civicdesk.geo.zones import zone_index
from civicdesk.servicerequests.models import (
    Channel,
    Contact,
    EventKind,
    Follower,
    RequestEvent,
    ServiceRequest,
)
from civicdesk.servicerequests.services import public_id_format, public_ids_allocate
from civicdesk.servicerequests.statuses import Status

from .bulkload import epoch_adapter, next_id, rows_insert, sequence_reset, tables_analyze
from .demo import catalog_data

UTC = dt.UTC
WINDOW_DAYS = 548  # about 18 months
CHUNK = 10_000
WEEKDAY_FACTOR = [1.15, 1.1, 1.05, 1.0, 0.95, 0.6, 0.5]
HOUR_WEIGHTS = [
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.5,
    1.2,
    2.5,
    4.5,
    6,
    6.5,
    6.5,
    6,
    6,
    6,
    5.8,
    5.2,
    4.5,
    3.5,
    3,
    2.6,
    2.2,
    1.8,
    1.3,
]
CHANNELS = [
    (Channel.PHONE, 38),
    (Channel.WEB, 30),
    (Channel.MOBILE_APP, 20),
    (Channel.API, 4),
    (Channel.EMAIL, 3),
    (Channel.WALK_IN, 1),
    (Channel.STAFF, 4),
]
PRIORITIES = [(2, 86), (3, 7), (1, 5), (4, 2)]
FIRST = [
    "Maria",
    "James",
    "Sofia",
    "Michael",
    "Ana",
    "David",
    "Linda",
    "Jose",
    "Emily",
    "Robert",
    "Lucia",
    "Daniel",
    "Grace",
    "Luis",
    "Karen",
    "Kevin",
    "Rosa",
    "Thomas",
    "Aisha",
    "Wei",
]
LAST = [
    "Garcia",
    "Smith",
    "Johnson",
    "Hernandez",
    "Brown",
    "Lopez",
    "Miller",
    "Davis",
    "Martinez",
    "Wilson",
    "Anderson",
    "Nguyen",
    "Taylor",
    "Moore",
    "Jackson",
    "Lee",
    "Perez",
    "White",
]
STREETS = [
    "Main",
    "Oak",
    "Maple",
    "Prairie",
    "River",
    "Elm",
    "Washington",
    "Lincoln",
    "Cedar",
    "Jefferson",
    "Walnut",
    "Pine",
    "Mill",
    "Church",
    "Park",
    "Hickory",
    "Grand",
    "Union",
]
SUFFIXES = ["St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct"]
REMARKS = [
    "",
    "",
    "Please fix soon.",
    "It has been like this for a week.",
    "Neighbors have noticed it too.",
    "It is getting worse.",
    "Near the bus stop.",
    "Second time I report this.",
    "Dangerous for kids walking to school.",
]
CLOSING_NOTES: dict[str, list[str]] = {
    Status.CLOSED: ["Work completed.", "Crew finished the job.", "Issue fixed. Thank you."],
    Status.RESOLVED: ["Repaired by the crew.", "Resolved on site."],
    Status.REFERRED: ["Referred to the county, which owns this road."],
    Status.CANNOT_LOCATE: ["The crew could not find the problem at this location."],
}


@dataclass
class ServiceModel:
    id: int
    code: str
    name: str
    department_id: int
    team_id: int | None
    sla_amount: int | None
    sla_unit: str
    calendar: WorkingCalendar
    weight: float
    seasonality: list[float]
    on_time_share: float
    questions: list[tuple[str, str, bool, list[str]]]
    emergency: bool


@dataclass
class SeedStats:
    requests: int = 0
    events: int = 0
    contacts: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)


def _services() -> list[ServiceModel]:
    extras = {s["service_code"]: s for s in catalog_data()["services"]}
    calendars: dict[int | None, WorkingCalendar] = {}
    models = []
    services = Service.objects.filter(active=True).prefetch_related("attributes")
    for svc in services:
        if svc.calendar_id not in calendars:
            calendars[svc.calendar_id] = working_calendar_for(svc)
        extra = extras.get(svc.service_code, {})
        # A stable per-service share of requests closed on time (55% to 92%).
        on_time = 0.55 + (sum(map(ord, svc.service_code)) % 38) / 100
        models.append(
            ServiceModel(
                id=svc.pk,
                code=svc.service_code,
                name=svc.name,
                department_id=svc.department_id,
                team_id=svc.default_team_id,
                sla_amount=svc.sla_amount,
                sla_unit=svc.sla_unit,
                calendar=calendars[svc.calendar_id],
                weight=float(extra.get("volume_weight", 1.0)),
                seasonality=list(extra.get("seasonality") or [1.0] * 12),
                on_time_share=on_time,
                questions=[
                    (a.code, a.datatype, a.required, [str(v["key"]) for v in a.values])
                    for a in svc.attributes.all()
                    if a.variable
                ],
                emergency=svc.emergency,
            )
        )
    return models


def _timestamps(
    rng: np.random.Generator,
    services: list[ServiceModel],
    count: int,
    end: dt.datetime,
    tz: ZoneInfo,
) -> tuple[np.ndarray, np.ndarray]:
    """Request times (epoch seconds, sorted) and the service index of each."""
    start_day = (end - dt.timedelta(days=WINDOW_DAYS)).astimezone(tz).date()
    days = [start_day + dt.timedelta(days=i) for i in range(WINDOW_DAYS + 1)]
    weights = np.array([s.weight for s in services])
    intensity = np.empty((len(services), len(days)))
    for j, day in enumerate(days):
        season = np.array([s.seasonality[day.month - 1] for s in services])
        trend = 1 + 0.04 * j / len(days)  # slow growth in demand
        intensity[:, j] = weights * season * WEEKDAY_FACTOR[day.weekday()] * trend
    per_day = rng.multinomial(count, intensity.sum(axis=0) / intensity.sum())
    hours = np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS)
    stamps: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    for j, k in enumerate(per_day):
        if not k:
            continue
        midnight = dt.datetime.combine(days[j], dt.time(), tzinfo=tz).timestamp()
        secs = rng.choice(24, size=k, p=hours) * 3600 + rng.integers(0, 3600, size=k)
        stamps.append(midnight + secs)
        kinds.append(rng.choice(len(services), size=k, p=intensity[:, j] / intensity[:, j].sum()))
    ts = np.concatenate(stamps)
    svc = np.concatenate(kinds)
    # Anything that would fall after "now" (today's later hours) moves back a day.
    ts = np.where(ts > end.timestamp(), ts - 86400, ts)
    order = np.argsort(ts, kind="stable")
    return ts[order], svc[order]


def _locations(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    index = zone_index()
    bounds = [
        g.bounds
        for g, r in zip(index.geometries, index.roles, strict=True)
        if r == LayerRole.JURISDICTION
    ]
    if bounds:
        min_long, min_lat, max_long, max_lat = bounds[0]
    else:  # no city limits loaded: a 10 km square around the configured centre
        min_long, min_lat, max_long, max_lat = -89.06, 39.955, -88.94, 40.045
    hot = np.column_stack([rng.uniform(min_lat, max_lat, 14), rng.uniform(min_long, max_long, 14)])
    lats: list[np.ndarray] = []
    longs: list[np.ndarray] = []
    have = 0
    while have < count:
        n = int((count - have) * 1.4) + 100
        lat = rng.uniform(min_lat, max_lat, n)
        long = rng.uniform(min_long, max_long, n)
        near = rng.random(n) < 0.35
        pick = rng.integers(0, len(hot), n)
        lat = np.where(near, hot[pick, 0] + rng.normal(0, 0.004, n), lat)
        long = np.where(near, hot[pick, 1] + rng.normal(0, 0.005, n), long)
        # Round before the check: rounding afterwards could push a point over the city line.
        lat, long = lat.round(6), long.round(6)
        keep = index.inside_many(lat, long)
        lats.append(lat[keep])
        longs.append(long[keep])
        have += int(keep.sum())
    return np.concatenate(lats)[:count], np.concatenate(longs)[:count]


Event = tuple[float, str, bool, str, str, str, str, int | None]


def _step(
    events: list[Event], status: str, actor: int | None, when: float, to: str, note: str = ""
) -> str:
    events.append((when, EventKind.STATUS_CHANGE, True, status, to, note, "{}", actor))
    return to


def _answers(
    r: random.Random, questions: list[tuple[str, str, bool, list[str]]], at: dt.datetime
) -> str:
    answers: dict[str, Any] = {}
    for code, datatype, required, keys in questions:
        if not required and r.random() < 0.4:
            continue
        if datatype == Datatype.SINGLEVALUELIST:
            answers[code] = r.choice(keys)
        elif datatype == Datatype.MULTIVALUELIST:
            answers[code] = r.sample(keys, k=min(len(keys), r.choice((1, 1, 2))))
        elif datatype == Datatype.NUMBER:
            answers[code] = r.randint(1, 12)
        elif datatype == Datatype.DATETIME:
            answers[code] = (at - dt.timedelta(hours=r.randint(1, 96))).isoformat()
        elif datatype == Datatype.STRING:
            answers[code] = r.choice(STREETS) + " " + r.choice(SUFFIXES)
        else:
            answers[code] = r.choice(REMARKS[2:])
    return json.dumps(answers)


def requests_seed(
    *,
    count: int,
    seed: int = 311,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedStats:
    """Add ``count`` synthetic requests to the city that is loaded (catalogue and boundaries)."""
    started = time.perf_counter()
    now = now or timezone.now()
    tz = ZoneInfo(
        BusinessCalendar.objects.filter(is_default=True).values_list("timezone", flat=True).first()
        or settings.TIME_ZONE
    )
    services = _services()
    if not services:
        raise ValueError("no active services: load a catalogue first (civicdesk seed loads one)")
    services_online = [s for s in services if not s.emergency]
    rng = np.random.default_rng(seed)
    r = random.Random(seed)

    ts, svc_idx = _timestamps(rng, services_online, count, now, tz)
    lats, longs = _locations(rng, count)
    index = zone_index()
    districts = index.place_many(lats, longs, LayerRole.COUNCIL_DISTRICT)
    wards = index.place_many(lats, longs, LayerRole.WARD)
    svc_zones = index.place_many(lats, longs, LayerRole.SERVICE_ZONE)
    rules_in_zone = {
        (rule.service_id, rule.zone_id): (rule.department_id, rule.team_id)
        for rule in RoutingRule.objects.filter(active=True, zone__isnull=False)
    }
    rules_anywhere = {
        rule.service_id: (rule.department_id, rule.team_id)
        for rule in RoutingRule.objects.filter(active=True, zone__isnull=True)
    }
    workers: dict[int, list[int | None]] = {}
    for user_id, dep_id in User.objects.filter(
        role__in=[Role.DEPARTMENT_STAFF, Role.SUPERVISOR],
        is_active=True,
        department__isnull=False,
    ).values_list("id", "department_id"):
        workers.setdefault(dep_id, []).append(user_id)
    district_zip = {z: f"6170{i + 1}" for i, z in enumerate(sorted(set(districts.tolist()) - {0}))}
    now_ts = now.timestamp()
    when = epoch_adapter()

    stats = SeedStats()
    channel_names = [c for c, _ in CHANNELS]
    channel_weights = [w for _, w in CHANNELS]
    priority_values = [p for p, _ in PRIORITIES]
    priority_weights = [w for _, w in PRIORITIES]
    last_of_service: dict[int, tuple[int, float]] = {}

    for begin in range(0, count, CHUNK):
        end = min(begin + CHUNK, count)
        with transaction.atomic():
            request_id = next_id(ServiceRequest)
            contact_id = next_id(Contact)
            prefixes = [dt.datetime.fromtimestamp(t, tz).strftime("%y") for t in ts[begin:end]]
            numbers: dict[str, int] = {}
            for prefix in sorted(set(prefixes)):
                numbers[prefix] = public_ids_allocate(prefix=prefix, count=prefixes.count(prefix))
            req_rows: list[tuple[Any, ...]] = []
            ev_rows: list[tuple[Any, ...]] = []
            contact_rows: list[tuple[Any, ...]] = []
            follower_rows: list[tuple[Any, ...]] = []
            for i in range(begin, end):
                s = services_online[int(svc_idx[i])]
                t = float(ts[i])
                at = dt.datetime.fromtimestamp(t, UTC)
                prefix = prefixes[i - begin]
                public_id = public_id_format(prefix, numbers[prefix])
                numbers[prefix] += 1
                due = due_at_compute(
                    amount=s.sla_amount, unit=s.sla_unit, requested_at=at, calendar=s.calendar
                )
                span = (due - at).total_seconds() if due else 7 * 86400.0
                district = int(districts[i]) or None
                ward = int(wards[i]) or None
                zone = int(svc_zones[i]) or None
                dep, team = (
                    rules_in_zone.get((s.id, district or 0))
                    or rules_in_zone.get((s.id, ward or 0))
                    or rules_in_zone.get((s.id, zone or 0))
                    or rules_anywhere.get(s.id)
                    or (s.department_id, s.team_id)
                )
                channel = r.choices(channel_names, channel_weights)[0]
                priority = r.choices(priority_values, priority_weights)[0]
                actor_label = (
                    "staff"
                    if channel in (Channel.PHONE, Channel.STAFF, Channel.WALK_IN)
                    else "resident"
                )
                staff = workers.get(dep) or [None]

                # Outcome: when would the city finish, and how?
                luck = r.random()
                if luck < 0.03:  # the long tail a real backlog has: stuck for weeks
                    resolve = span * r.uniform(4, 30)
                elif luck < s.on_time_share:
                    resolve = span * r.uniform(0.12, 0.98)
                else:
                    resolve = span * (1.02 + r.expovariate(1 / 0.9))
                close_ts = t + resolve
                ack_ts = t + min(resolve * 0.1, r.uniform(300, 4 * 3600))
                act_ts = ack_ts + (close_ts - ack_ts) * r.uniform(0.2, 0.6)
                parent_id = None
                previous = last_of_service.get(s.id)
                final: str = Status.CLOSED
                roll = r.random()
                if previous and t - previous[1] < 2 * 86400 and roll < 0.05:
                    final, parent_id = Status.DUPLICATE, previous[0]
                    close_ts = ack_ts = act_ts = t + r.uniform(600, 6 * 3600)
                elif roll < 0.07:
                    final = Status.REFERRED
                elif roll < 0.09:
                    final = Status.CANNOT_LOCATE
                elif roll < 0.25:
                    final = Status.RESOLVED
                if channel == Channel.PHONE and final == Status.CLOSED and r.random() < 0.2:
                    # Settled on the call: the call taker resolved it at first contact.
                    final = Status.RESOLVED
                    ack_ts = t + r.uniform(30, 90)
                    act_ts = ack_ts + r.uniform(10, 60)
                    close_ts = act_ts + r.uniform(60, 1200)
                reopened = final in (Status.CLOSED, Status.RESOLVED) and r.random() < 0.02
                last_of_service[s.id] = (request_id, t)
                assignee = r.choice(staff)

                events: list[Event] = [
                    (
                        t,
                        EventKind.CREATED,
                        True,
                        "",
                        Status.NEW,
                        "",
                        json.dumps({"channel": channel}),
                        None,
                    )
                ]
                status: str = Status.NEW
                acknowledged = first_action = closed = escalated = None

                if ack_ts <= now_ts:
                    acknowledged = ack_ts
                    status = _step(events, status, assignee, ack_ts, Status.ACKNOWLEDGED)
                if final == Status.DUPLICATE:
                    if close_ts <= now_ts:
                        status = _step(events, status, assignee, close_ts, Status.DUPLICATE)
                        events.append((close_ts, EventKind.MERGE, True, "", "", "", "{}", None))
                        closed = close_ts
                else:
                    if act_ts <= now_ts:
                        first_action = ack_ts + (act_ts - ack_ts) * 0.3
                        events.append(
                            (first_action, EventKind.ASSIGNMENT, False, "", "", "", "{}", assignee)
                        )
                        status = _step(events, status, assignee, first_action, Status.ASSIGNED)
                        status = _step(events, status, assignee, act_ts, Status.IN_PROGRESS)
                    if close_ts <= now_ts:
                        status = _step(
                            events,
                            status,
                            assignee,
                            close_ts,
                            final,
                            r.choice(CLOSING_NOTES[final]),
                        )
                        closed = close_ts
                        if reopened and close_ts + 5 * 86400 <= now_ts:
                            again = close_ts + r.uniform(1, 5) * 86400
                            events.append(
                                (
                                    again,
                                    EventKind.REOPEN,
                                    True,
                                    "",
                                    "",
                                    "The problem came back.",
                                    "{}",
                                    None,
                                )
                            )
                            status = _step(
                                events,
                                status,
                                assignee,
                                again,
                                Status.REOPENED,
                                "The problem came back.",
                            )
                            closed = None
                            finish = again + r.uniform(0.5, 4) * 86400
                            if finish <= now_ts:
                                status = _step(
                                    events, status, assignee, finish, Status.CLOSED, "Fixed again."
                                )
                                closed = finish
                    elif act_ts <= now_ts and r.random() < 0.12:
                        status = _step(
                            events,
                            status,
                            assignee,
                            act_ts + (now_ts - act_ts) * 0.5,
                            Status.ON_HOLD,
                            "Waiting for more details from the resident.",
                        )
                if due is not None:
                    due_ts = due.timestamp()
                    finished = closed if closed is not None else now_ts
                    if finished > due_ts + 300:
                        escalated = due_ts + 300
                        events.append(
                            (escalated, EventKind.ESCALATION, False, "", "", "", "{}", None)
                        )
                events.sort(key=lambda e: e[0])
                last_ts = events[-1][0]
                notes = ""
                for e in reversed(events):
                    if e[5] and e[2]:
                        notes = e[5]
                        break

                reporter_id = None
                if channel != Channel.STAFF and r.random() < 0.6:
                    first, last = r.choice(FIRST), r.choice(LAST)
                    spanish = r.random() < 0.2
                    phone = f"+1-217-555-{r.randint(100, 199):04d}" if r.random() < 0.5 else ""
                    contact_rows.append(
                        (
                            contact_id,
                            f"{first} {last}",
                            f"{first.lower()}.{last.lower()}{r.randint(1, 999)}@example.net",
                            phone,
                            "es" if spanish else "en",
                            bool(phone) and r.random() < 0.3,
                            None,
                            when(t),
                        )
                    )
                    follower_rows.append((request_id, contact_id, when(t)))
                    reporter_id = contact_id
                    contact_id += 1

                number = r.randint(100, 9899)
                address = f"{number} {r.choice('NSEW')} {r.choice(STREETS)} {r.choice(SUFFIXES)}"
                description = f"{s.name} at {address}. {r.choice(REMARKS)}".strip()

                req_rows.append(
                    (
                        request_id,
                        public_id,
                        s.id,
                        description,
                        _answers(r, s.questions, at),
                        float(lats[i]),
                        float(longs[i]),
                        address,
                        "",
                        district_zip.get(district or 0, ""),
                        district,
                        ward,
                        channel,
                        priority,
                        status,
                        notes,
                        dep,
                        team,
                        assignee if status not in (Status.NEW, Status.ACKNOWLEDGED) else None,
                        "Macon County Highway Department" if status == Status.REFERRED else "",
                        reporter_id,
                        parent_id if status == Status.DUPLICATE else None,
                        when(t),
                        when(acknowledged),
                        when(first_action),
                        when(last_ts),
                        when(due.timestamp()) if due else None,
                        when(closed),
                        when(escalated),
                        len(events),
                        "",  # source: taken in by civicdesk, not imported
                        "",  # source_id
                    )
                )
                for e_ts, kind, public, from_s, to_s, note, data, actor in events:
                    ev_rows.append(
                        (
                            request_id,
                            kind,
                            public,
                            from_s,
                            to_s,
                            note,
                            data,
                            actor,
                            "staff"
                            if actor
                            else ("system" if kind == EventKind.ESCALATION else actor_label),
                            when(e_ts),
                        )
                    )
                stats.by_status[status] = stats.by_status.get(status, 0) + 1
                request_id += 1

            rows_insert(
                Contact,
                [
                    "id",
                    "name",
                    "email",
                    "phone",
                    "preferred_language",
                    "sms_opt_in",
                    "user_id",
                    "created_at",
                ],
                contact_rows,
            )
            rows_insert(
                ServiceRequest,
                [
                    "id",
                    "public_id",
                    "service_id",
                    "description",
                    "attributes",
                    "lat",
                    "long",
                    "address",
                    "address_id",
                    "zipcode",
                    "district_id",
                    "ward_id",
                    "channel",
                    "priority",
                    "status",
                    "status_notes",
                    "department_id",
                    "team_id",
                    "assignee_id",
                    "referred_to",
                    "reporter_id",
                    "parent_id",
                    "requested_at",
                    "acknowledged_at",
                    "first_action_at",
                    "updated_at",
                    "due_at",
                    "closed_at",
                    "escalated_at",
                    "version",
                    "source",
                    "source_id",
                ],
                req_rows,
            )
            rows_insert(Follower, ["request_id", "contact_id", "created_at"], follower_rows)
            rows_insert(
                RequestEvent,
                [
                    "request_id",
                    "kind",
                    "public",
                    "from_status",
                    "to_status",
                    "note",
                    "data",
                    "actor_id",
                    "actor_label",
                    "created_at",
                ],
                ev_rows,
            )
            stats.requests += len(req_rows)
            stats.events += len(ev_rows)
            stats.contacts += len(contact_rows)
        if progress:
            progress(stats.requests)
    for model in (ServiceRequest, Contact):
        sequence_reset(model)
    if not connection.in_atomic_block:
        tables_analyze([ServiceRequest, RequestEvent, Contact, Follower])
    stats.seconds = time.perf_counter() - started
    if stats.requests and math.isfinite(stats.seconds):
        stats.seconds = round(stats.seconds, 2)
    return stats
