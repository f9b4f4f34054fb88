"""Write the OpenAPI document of the tenant API or the platform API, as the server would answer it at
``/api/v1/openapi.json`` or ``/api/platform/v1/openapi.json``, without a server or a database (client
generators, CI: ``clients/typescript``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from ninja.responses import NinjaJSONEncoder

from api.platform import api as platform_api
from api.tenant import api as tenant_api

# The prefix each API is mounted at (hub/urls_tenant.py, hub/urls_platform.py).
APIS = {"tenant": (tenant_api, "/api/v1/"), "platform": (platform_api, "/api/platform/v1/")}


def openapi_document(name: str) -> dict[str, Any]:
    """The OpenAPI document of the API ``name`` (``tenant`` or ``platform``), with its served paths."""
    api, prefix = APIS[name]
    return dict(api.get_openapi_schema(path_prefix=prefix))


class Command(BaseCommand):
    help = "Write the OpenAPI document of the tenant or platform API (JSON) to a file or stdout."
    requires_system_checks: list[str] = []  # no database, no server

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--api", choices=sorted(APIS), default="tenant", help="Which API (default: tenant)."
        )
        parser.add_argument("--out", type=Path, help="The file to write (default: stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        text = (
            json.dumps(openapi_document(options["api"]), indent=2, ensure_ascii=False, cls=NinjaJSONEncoder)
            + "\n"
        )
        out: Path | None = options["out"]
        if out is None:
            self.stdout.write(text, ending="")
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        self.stderr.write(f"wrote {out} ({len(text)} bytes)")
