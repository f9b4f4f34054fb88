"""The first admin of an organization, named when it is provisioned (platform API, command, dev setup),
and the last-admin rule under concurrency (a staged race)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.members.errors import LastAdmin
from apps.members.models import Member, MemberRole
from apps.members.services import Owner, member_role_set
from tenants.models import Organization
from tenants.services import tenant_provision
from tests.helpers import assert_error, staged

TENANTS = "/api/platform/v1/tenants"
OWNER = uuid.UUID("0a000000-0000-4000-8000-0000000000aa")
SECOND = uuid.UUID("0b000000-0000-4000-8000-0000000000bb")


def _provision_body(**extra: Any) -> dict[str, Any]:
    return {
        "organization_id": str(uuid.uuid4()),
        "slug": f"own-{uuid.uuid4().hex[:8]}",
        "name": "Owned",
        "skip_identity_check": True,
        **extra,
    }


def _members(tenant: Organization) -> dict[uuid.UUID, tuple[str | None, str]]:
    with tenant_context(tenant):
        return {m.user_id: (m.role, m.email) for m in Member.objects.all()}


def test_the_owner_named_at_provisioning_is_the_first_admin(
    committed_db: None, platform_client: Client, make_token: Any
) -> None:
    body = _provision_body(owner={"user_id": str(OWNER), "email": "owner@example.com"})

    response = platform_client.post(TENANTS, body, content_type="application/json")

    assert response.status_code == 201, response.content
    tenant = Organization.objects.get(organization_id=body["organization_id"])
    assert _members(tenant) == {OWNER: ("admin", "owner@example.com")}
    with tenant_context(tenant):
        entry = AuditEntry.objects.get(object_type="members.member", action=AuditEntry.Action.CREATE)
    assert entry.changes["role"] == [None, "admin"]
    assert "owner@example.com" not in str(entry.changes)
    # Written on the provisioning's connection, sealed right after its commit like any other entry.
    assert (entry.sequence, entry.previous_hash, len(entry.entry_hash)) == (1, "", 64)
    # The owner's real-shaped token (no roles) now administers the organization.
    token = make_token(tenant, sub=str(OWNER), email="owner@example.com")
    owner = Client(headers={"Host": tenant.primary_domain, "Authorization": f"Bearer {token}"})
    created = owner.post("/api/v1/entities/", {"kind": "customer", "name": "Acme"}, "application/json")
    assert created.status_code == 201, created.content
    me = owner.get("/api/v1/me").json()
    assert (me["roles"], me["roles_source"]) == (["admin"], "membership")


@pytest.mark.parametrize(
    "owner",
    [
        {"user_id": "not-a-uuid", "email": "owner@example.com"},
        {"user_id": str(OWNER), "email": "no email"},
        {"user_id": str(OWNER)},
        {"user_id": str(OWNER), "email": "owner@example.com", "role": "admin"},
        "owner@example.com",
    ],
)
def test_a_bad_owner_is_422_and_provisions_nothing(
    committed_db: None, platform_client: Client, owner: Any
) -> None:
    body = _provision_body(owner=owner)

    assert_error(platform_client.post(TENANTS, body, content_type="application/json"), 422)
    assert not Organization.objects.filter(organization_id=body["organization_id"]).exists()


def test_provisioning_without_an_owner_has_no_members(committed_db: None, platform_client: Client) -> None:
    body = _provision_body()
    assert platform_client.post(TENANTS, body, content_type="application/json").status_code == 201

    assert _members(Organization.objects.get(organization_id=body["organization_id"])) == {}


def test_the_command_names_the_owner(committed_db: None) -> None:
    organization_id, slug = uuid.uuid4(), f"cmd-{uuid.uuid4().hex[:8]}"
    call_command(
        "provision_tenant",
        "--organization-id", str(organization_id),
        "--slug", slug,
        "--name", "Commanded",
        "--skip-identity-check",
        "--owner-id", str(OWNER),
        "--owner-email", "owner@example.com",
    )  # fmt: skip

    assert _members(Organization.objects.get(slug=slug)) == {OWNER: ("admin", "owner@example.com")}
    with pytest.raises(CommandError, match="go together"):
        call_command(
            "provision_tenant", "--organization-id", str(uuid.uuid4()), "--slug", "lonely", "--name", "L",
            "--skip-identity-check", "--owner-id", str(OWNER),
        )  # fmt: skip
    with pytest.raises(CommandError, match="owner_invalid"):
        call_command(
            "provision_tenant", "--organization-id", str(uuid.uuid4()), "--slug", "bad-mail", "--name", "B",
            "--skip-identity-check", "--owner-id", str(OWNER), "--owner-email", "nope",
        )  # fmt: skip
    assert not Organization.objects.filter(slug__in=["lonely", "bad-mail"]).exists()


def test_dev_setup_makes_the_demo_user_an_admin_member(committed_db: None, settings: Any) -> None:
    from tenants.management.commands.dev_setup import DEMO_USER_ID

    settings.HUB_ENV = "dev"
    Organization.objects.filter(slug="demo").delete() if False else None
    if Organization.objects.filter(slug="demo").exists():
        pytest.skip("a demo tenant exists already in this database")
    call_command("dev_setup", stdout=io.StringIO())

    assert _members(Organization.objects.get(slug="demo"))[DEMO_USER_ID][0] == "admin"


@pytest.fixture
def owned(committed_db: None) -> Organization:
    """A committed organization whose owner and a second user are both admins."""
    tenant = tenant_provision(
        organization_id=uuid.uuid4(),
        slug=f"race-{uuid.uuid4().hex[:6]}",
        name="Race",
        check_identity=False,
        owner=Owner(user_id=OWNER, email="owner@example.com"),
    )
    with tenant_context(tenant):
        member_role_set(actor=None, user_id=SECOND, role=MemberRole.ADMIN)
    return tenant


def test_two_admins_demoting_each_other_at_once_leave_one_admin(owned: Organization) -> None:
    def demote(user_id: uuid.UUID) -> Any:
        with tenant_context(owned):
            return member_role_set(actor=None, user_id=user_id, role=MemberRole.MEMBER)

    outcome = staged(lambda: demote(SECOND), lambda: demote(OWNER))

    assert isinstance(outcome["second"], LastAdmin), outcome
    assert {user: role for user, (role, _email) in _members(owned).items()} == {
        OWNER: "admin",
        SECOND: "member",
    }


def test_two_admins_removing_each_other_at_once_leave_one_admin(owned: Organization) -> None:
    from apps.members.services import member_remove

    def remove(user_id: uuid.UUID) -> Any:
        with tenant_context(owned):
            return member_remove(actor=None, user_id=user_id)

    outcome = staged(lambda: remove(OWNER), lambda: remove(SECOND))

    assert isinstance(outcome["second"], LastAdmin), outcome
    assert {user: role for user, (role, _email) in _members(owned).items()} == {OWNER: None, SECOND: "admin"}
