"""Print a new random master key for ``HUB_FIELD_KEYS``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tenants.master_keys import master_key_generate


class Command(BaseCommand):
    help = "Print a new master key for HUB_FIELD_KEYS (base64 of 32 random bytes)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(master_key_generate())
