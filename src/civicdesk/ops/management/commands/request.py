"""`civicdesk request`: take in, show and move service requests from the command line
(the same service functions as every other door)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from civicdesk.catalog.service_levels import sla_state
from civicdesk.errors import CivicdeskError
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.selectors import duplicates_find, request_get, request_timeline
from civicdesk.servicerequests.services import (
    ContactInput,
    request_create,
    request_note_add,
    request_reopen,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status


def _attributes(pairs: list[str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for pair in pairs:
        code, sep, value = pair.partition("=")
        if not sep or not code:
            raise CommandError(f"--attribute takes CODE=VALUE, not {pair!r}")
        if code in answers:  # repeated code: a multiple-choice answer
            previous = answers[code]
            answers[code] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            answers[code] = value
    return answers


class Command(BaseCommand):
    help = "Create, show and change service requests."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Take in a new request.")
        create.add_argument("--service", required=True, help="service_code")
        create.add_argument("--description", default="")
        create.add_argument("--lat")
        create.add_argument("--long")
        create.add_argument("--address", default="")
        create.add_argument("--zipcode", default="")
        create.add_argument(
            "--attribute",
            action="append",
            default=[],
            metavar="CODE=VALUE",
            help="An answer; repeat the code for several choices.",
        )
        create.add_argument("--channel", default=Channel.PHONE, choices=Channel.values)
        create.add_argument("--name", default="")
        create.add_argument("--email", default="")
        create.add_argument("--phone", default="")
        create.add_argument("--language", default="en")

        show = sub.add_parser("show", help="Show a request and its timeline.")
        show.add_argument("public_id")

        status = sub.add_parser("status", help="Move a request to another status.")
        status.add_argument("public_id")
        status.add_argument(
            "status",
            choices=[s for s in Status.values if s not in (Status.DUPLICATE, Status.REOPENED)],
        )
        status.add_argument("--note", default="")
        status.add_argument("--internal", action="store_true", help="Keep the note internal.")
        status.add_argument("--referred-to", default="")

        note = sub.add_parser("note", help="Add a note to the timeline.")
        note.add_argument("public_id")
        note.add_argument("text")
        note.add_argument("--internal", action="store_true")

        reopen = sub.add_parser("reopen", help="Reopen a closed request.")
        reopen.add_argument("public_id")
        reopen.add_argument("--reason", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['action']}")(options)
        except CivicdeskError as exc:
            raise CommandError(str(exc)) from None

    def do_create(self, o: dict[str, Any]) -> None:
        request = request_create(
            service_code=o["service"],
            description=o["description"],
            attributes=_attributes(o["attribute"]),
            lat=o["lat"],
            long=o["long"],
            address=o["address"],
            zipcode=o["zipcode"],
            channel=o["channel"],
            contact=ContactInput(
                name=o["name"], email=o["email"], phone=o["phone"], preferred_language=o["language"]
            ),
            actor_label="staff",
        )
        self.stdout.write(
            f"Created {request.public_id}: {request.service.name}, "
            f"routed to {request.department.name}"
            + (f" / {request.team.name}" if request.team else "")
            + "."
        )
        if request.due_at:
            self.stdout.write(f"Due {timezone.localtime(request.due_at):%Y-%m-%d %H:%M %Z}.")
        if request.lat is not None and request.long is not None:
            similar = duplicates_find(
                service=request.service, lat=request.lat, long=request.long, exclude_id=request.pk
            )
            for c in similar:
                self.stdout.write(
                    f"  possible duplicate: {c.public_id} ({c.distance_m:.0f} m, "
                    f"{Status(c.status).label})"
                )

    def do_show(self, o: dict[str, Any]) -> None:
        r: ServiceRequest = request_get(o["public_id"])
        state = sla_state(
            requested_at=r.requested_at, due_at=r.due_at, closed_at=r.closed_at, now=timezone.now()
        )
        local = timezone.localtime
        lines = [
            f"{r.public_id}  {r.service.name}  [{Status(r.status).label}; Open311: "
            f"{r.open311_status}]",
            f"  where: {r.address or '-'} ({r.lat}, {r.long})"
            + (f", {r.district.name}" if r.district else "")
            + (f", {r.ward.name}" if r.ward else ""),
            f"  owner: {r.department.name}" + (f" / {r.team.name}" if r.team else ""),
            f"  requested {local(r.requested_at):%Y-%m-%d %H:%M}; due "
            + (f"{local(r.due_at):%Y-%m-%d %H:%M}" if r.due_at else "-")
            + f"; service level: {state.value.replace('_', ' ')}",
            f"  description: {r.description or '-'}",
        ]
        if r.attributes:
            lines.append("  answers: " + ", ".join(f"{k}={v}" for k, v in r.attributes.items()))
        lines.append("  timeline:")
        for e in request_timeline(r, public_only=False):
            who = e.actor.username if e.actor else e.actor_label
            change = f" {e.from_status}->{e.to_status}" if e.to_status else ""
            visibility = "" if e.public else " (internal)"
            lines.append(
                f"    {local(e.created_at):%Y-%m-%d %H:%M} {e.kind}{change} by {who}"
                f"{visibility}{': ' + e.note if e.note else ''}"
            )
        self.stdout.write("\n".join(lines))

    def do_status(self, o: dict[str, Any]) -> None:
        r = request_transition(
            request=request_get(o["public_id"]),
            to_status=o["status"],
            note=o["note"],
            note_public=not o["internal"],
            referred_to=o["referred_to"],
            actor_label="staff",
        )
        self.stdout.write(f"{r.public_id} is now {Status(r.status).label}.")

    def do_note(self, o: dict[str, Any]) -> None:
        request_note_add(
            request=request_get(o["public_id"]),
            note=o["text"],
            public=not o["internal"],
            actor_label="staff",
        )
        self.stdout.write("Note added.")

    def do_reopen(self, o: dict[str, Any]) -> None:
        r = request_reopen(request=request_get(o["public_id"]), reason=o["reason"])
        self.stdout.write(f"{r.public_id} is reopened.")
