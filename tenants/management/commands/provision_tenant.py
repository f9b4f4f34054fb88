"""Provision an organization, as the platform API's POST does."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.members.services import Owner
from hub.errors import HubError
from tenants.services import tenant_provision


class Command(BaseCommand):
    help = "Provision an organization: row, schema (migrated, under RLS) and domain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization-id", required=True, type=uuid.UUID)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--skip-identity-check", action="store_true", help="Do not ask the identity service (dev only)."
        )
        parser.add_argument(
            "--owner-id", type=uuid.UUID, help="The first admin's user id (with --owner-email)."
        )
        parser.add_argument("--owner-email", help="The first admin's email (with --owner-id).")
        parser.add_argument(
            "--actor",
            type=uuid.UUID,
            help="User id recorded in the platform's audit trail (default: the system).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The identity service answers its organization route to a bearer token only; a command has
        # no caller's token to forward, so it needs the service's.
        checks = not options["skip_identity_check"] and settings.IDENTITY_ORGANIZATION_CHECK != "off"
        if checks and not settings.IDENTITY_SERVICE_TOKEN:
            raise CommandError(
                "Checking the organization at the identity service needs IDENTITY_SERVICE_TOKEN "
                "(or --skip-identity-check outside production, or IDENTITY_ORGANIZATION_CHECK=off)."
            )
        if (options["owner_id"] is None) != (options["owner_email"] is None):
            raise CommandError("--owner-id and --owner-email go together.")
        try:
            owner = Owner(options["owner_id"], options["owner_email"]) if options["owner_id"] else None
            tenant = tenant_provision(
                organization_id=options["organization_id"],
                slug=options["slug"],
                name=options["name"],
                check_identity=not options["skip_identity_check"],
                actor=options["actor"],
                owner=owner,
            )
        except HubError as exc:
            raise CommandError(f"{exc.instance_code}: {exc.detail}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"provisioned {tenant.slug} ({tenant.organization_id}) at {tenant.primary_domain}"
            )
        )
