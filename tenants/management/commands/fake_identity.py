"""Dev only: serve a stand-in for the identity service (``tenants.fake_identity``) in the foreground."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.fake_identity import FakeIdentityService
from tenants.management.commands.dev_setup import DEMO_ORGANIZATION_ID, DEMO_USER_ID

DEMO_ADMIN = ("demo-admin@example.com", "demo")
PLATFORM_ADMIN = ("platform-admin@example.com", "platform")


def fake_identity_demo(*, secret: str) -> FakeIdentityService:
    """The fake with the demo organization (``dev_setup``'s), its admin, and a platform admin: the one
    account whose tokens carry ``roles`` (the real service issues none, and the platform API needs
    ``platform_admin``), who sees every organization as the real service's superusers do."""
    fake = FakeIdentityService(secret=secret)
    demo = fake.organization_add(name="Demo", slug="demo", organization_id=DEMO_ORGANIZATION_ID)
    email, password = DEMO_ADMIN
    fake.user_add(email=email, password=password, organization=demo, user_id=DEMO_USER_ID)
    email, password = PLATFORM_ADMIN
    fake.user_add(
        email=email, password=password, organization=None, is_superuser=True, roles=["platform_admin"]
    )
    return fake


class Command(BaseCommand):
    help = "Dev only: serve a fake identity service (login, validate, organizations) until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        default = urlsplit(settings.IDENTITY_SERVICE_URL)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=default.port or 8001)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PROD:
            raise CommandError("fake_identity is refused when HUB_ENV=prod.")
        if not settings.IDENTITY_JWT_SECRET or settings.IDENTITY_JWKS_URL:
            raise CommandError("fake_identity signs HS256 tokens with IDENTITY_JWT_SECRET: set it.")
        fake = fake_identity_demo(secret=settings.IDENTITY_JWT_SECRET)
        base = f"http://{options['host']}:{options['port']}"
        self.stdout.write(f"fake identity service on {base} (Ctrl-C stops it)\n")
        for email, password in (DEMO_ADMIN, PLATFORM_ADMIN):
            self.stdout.write(f"  {email} / {password}\n")
        self.stdout.write(
            f"log in: curl -s -X POST {base}/api/v1/auth/login -H 'Content-Type: application/json' "
            f'-d \'{{"email": "{DEMO_ADMIN[0]}", "password": "{DEMO_ADMIN[1]}"}}\'\n'
        )
        self.stdout.flush()
        try:
            fake.serve_forever(options["host"], options["port"])
        except KeyboardInterrupt:
            self.stdout.write("stopped\n")
        except OSError as exc:
            raise CommandError(f"Cannot listen on {base}: {exc}") from exc
