"""Print an HS256 access token signed with IDENTITY_JWT_SECRET, for local use only."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import Organization


def dev_token_mint(
    *,
    tenant_id: uuid.UUID | None,
    roles: list[str],
    user_id: uuid.UUID,
    email: str,
    ttl_seconds: int,
) -> str:
    """An access token shaped as the identity service issues them (contract section 3)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "email": email,
        "tenant_id": str(tenant_id) if tenant_id else None,
        "type": "access",
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if roles:  # the identity service itself issues none: the Hub's memberships hold them
        claims["roles"] = roles
    if settings.IDENTITY_JWT_ISSUER:
        claims["iss"] = settings.IDENTITY_JWT_ISSUER
    if settings.IDENTITY_JWT_AUDIENCE:
        claims["aud"] = settings.IDENTITY_JWT_AUDIENCE
    return jwt.encode(claims, settings.IDENTITY_JWT_SECRET, algorithm="HS256")


class Command(BaseCommand):
    help = "Print an HS256 access token for local use; refused when HUB_ENV=prod."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--tenant", help="The organization's slug.")
        target.add_argument(
            "--platform", action="store_true", help="A platform-level token (tenant_id null)."
        )
        parser.add_argument("--roles", required=True, help="Comma-separated, e.g. admin or member,viewer.")
        parser.add_argument(
            "--user", type=uuid.UUID, default=uuid.UUID("00000000-0000-4000-8000-000000000001")
        )
        parser.add_argument("--email", default="dev@example.com")
        parser.add_argument("--ttl", type=int, default=3600, help="Lifetime in seconds.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PROD:
            raise CommandError("mint_dev_token is refused when HUB_ENV=prod.")
        tenant_id = None
        if options["tenant"]:
            tenant = Organization.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No organization has the slug {options['tenant']!r}.")
            tenant_id = tenant.organization_id
        roles = [role.strip() for role in options["roles"].split(",") if role.strip()]
        if options["ttl"] <= 0:
            raise CommandError("--ttl must be positive.")
        token = dev_token_mint(
            tenant_id=tenant_id,
            roles=roles,
            user_id=options["user"],
            email=options["email"],
            ttl_seconds=options["ttl"],
        )
        self.stdout.write(token)
