"""`civicdesk apikey create NAME` prints a new Open311 API key; `revoke PREFIX`; `list`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.errors import CivicdeskError
from civicdesk.open311.keys import apikey_create, apikey_revoke
from civicdesk.open311.models import ApiKey


class Command(BaseCommand):
    help = "Issue, revoke and list the API keys apps use to post Open311 requests."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Issue a key and print it (shown only once).")
        create.add_argument("name", help="Who the key is for, e.g. 'SeeClickFix'.")
        create.add_argument("--posts-per-minute", type=int, default=60)
        revoke = sub.add_parser("revoke", help="Revoke a key by its first characters.")
        revoke.add_argument("prefix")
        sub.add_parser("list", help="List keys (never the keys themselves).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                record, key = apikey_create(
                    name=options["name"], posts_per_minute=options["posts_per_minute"]
                )
                self.stdout.write(key)
                self.stderr.write(
                    f"Key {record.prefix}... for {record.name!r}, "
                    f"{record.posts_per_minute} posts a minute. Store it now: it is not kept."
                )
            elif options["action"] == "revoke":
                record = apikey_revoke(prefix=options["prefix"])
                self.stdout.write(f"Revoked {record}.")
            else:
                for record in ApiKey.objects.all():
                    used = record.last_used_at.isoformat() if record.last_used_at else "never"
                    self.stdout.write(
                        f"{record.prefix}...  {record.name:30} {record.posts_per_minute:6}/min  "
                        f"last used {used}{'  REVOKED' if record.revoked_at else ''}"
                    )
        except CivicdeskError as exc:
            raise CommandError(str(exc)) from None
