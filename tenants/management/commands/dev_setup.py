"""Dev only: make sure the demo organization exists, then print a token and an example curl."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from apps.members.models import MemberRole
from apps.members.services import Owner, member_join
from tenants.management.commands.mint_dev_token import dev_token_mint
from tenants.models import Organization
from tenants.services import tenant_provision

DEMO_ORGANIZATION_ID = uuid.UUID("00000000-0000-4000-8000-00000000de00")
DEMO_USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
DEMO_EMAIL = "demo-admin@example.com"


class Command(BaseCommand):
    help = "Dev only: ensure the demo tenant, print an admin token and an example curl."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.HUB_ENV != "dev":
            self.stdout.write(f"dev_setup: nothing to do when HUB_ENV={settings.HUB_ENV}")
            return
        tenant = Organization.objects.filter(slug="demo").first()
        if tenant is None:
            if Organization.objects.filter(organization_id=DEMO_ORGANIZATION_ID).exists():
                raise CommandError("The demo organization id is taken by another slug.")
            self.stdout.write("provisioning the demo tenant (creating and migrating its schema) ...")
            self.stdout.flush()
            tenant = tenant_provision(
                organization_id=DEMO_ORGANIZATION_ID,
                slug="demo",
                name="Demo",
                check_identity=False,
                owner=Owner(user_id=DEMO_USER_ID, email=DEMO_EMAIL),
            )
            self.stdout.write(self.style.SUCCESS(f"provisioned the demo tenant at {tenant.primary_domain}"))
        else:
            # A demo tenant provisioned before memberships existed has no admin yet; one whose admin
            # was changed on purpose keeps that change.
            with tenant_context(tenant):
                member_join(user_id=DEMO_USER_ID, email=DEMO_EMAIL, role=MemberRole.ADMIN)
        # Shaped as the identity service issues tokens: no roles; the demo admin's role is its membership.
        token = dev_token_mint(
            tenant_id=tenant.organization_id,
            roles=[],
            user_id=DEMO_USER_ID,
            email=DEMO_EMAIL,
            ttl_seconds=24 * 3600,
        )
        # Send the tenant's host name explicitly: not every resolver maps *.localhost to loopback.
        base = f"http://{settings.HUB_HOST}:{settings.HUB_PORT}"
        host = f'-H "Host: {tenant.primary_domain}"'

        self.stdout.write("\nA dev token of the demo admin (its role is its membership; valid 24 hours):\n")
        self.stdout.write(f"export HUB_TOKEN={token}\n")
        self.stdout.write("\nTry it:\n")
        self.stdout.write(
            f'curl -s -X POST {base}/api/v1/entities/ {host} -H "Authorization: Bearer $HUB_TOKEN" '
            '-H \'Content-Type: application/json\' -d \'{"kind": "customer", "name": "Acme"}\'\n'
        )
        self.stdout.write(f'curl -s {base}/api/v1/entities/ {host} -H "Authorization: Bearer $HUB_TOKEN"\n')
        self.stdout.write(f"API docs: http://{tenant.primary_domain}:{settings.HUB_PORT}/api/v1/docs\n\n")
