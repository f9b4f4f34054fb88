"""``manage.py fake_communication [--port 8003]``: a stand-in communication and workflow service
(``apps.deliveries.fake_receiver``) for development; point COMMUNICATION_SERVICE_URL (and
WORKFLOW_SERVICE_URL) at it."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.deliveries.fake_receiver import FakeReceiver


class Command(BaseCommand):
    help = "Serve a fake communication/workflow service that records and deduplicates deliveries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8003)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        self.stdout.write(f"fake communication/workflow service on http://{host}:{port} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            FakeReceiver().serve_forever(host, port)
