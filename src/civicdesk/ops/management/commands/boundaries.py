"""`civicdesk boundaries`: load a boundary layer from GeoJSON, or list the layers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.errors import InvalidInput
from civicdesk.geo.models import BoundaryLayer, LayerRole
from civicdesk.geo.services import layer_load


class Command(BaseCommand):
    help = "Load boundary layers (city limits, council districts, wards, service zones)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Load or replace a layer from a GeoJSON file.")
        load.add_argument("file")
        load.add_argument("--layer", required=True, help="Layer slug, e.g. council-districts.")
        load.add_argument("--name", default=None, help="Human name of the layer.")
        load.add_argument("--role", default=LayerRole.OTHER, choices=LayerRole.values)
        load.add_argument("--code-property", default="code")
        load.add_argument("--name-property", default="name")
        sub.add_parser("list", help="List the loaded layers.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for layer in BoundaryLayer.objects.all():
                self.stdout.write(
                    f"{layer.slug:24} {layer.role:18} {layer.zones.count():4} zones  {layer.name}"
                )
            return
        try:
            layer = layer_load(
                source=options["file"],
                slug=options["layer"],
                name=options["name"],
                role=options["role"],
                code_property=options["code_property"],
                name_property=options["name_property"],
            )
        except InvalidInput as exc:
            raise CommandError(f"{options['file']}: {exc}") from None
        self.stdout.write(f"Loaded {layer.zones.count()} zones into {layer.slug} ({layer.role}).")
