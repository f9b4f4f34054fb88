"""Memberships held by the Hub (issue 11): ``/api/v1/members/`` (admins), roles from the memberships in
the order of ``IDENTITY_ROLES_SOURCE``, ``not_a_member``, auto-join and ``/api/v1/me``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.members.models import Member, MemberRole
from apps.members.services import member_role_set
from tenants.models import Organization
from tests.fakes import FakeIdentityService
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/members/"
ME = "/api/v1/me"
ENTITIES = "/api/v1/entities/"
VALIDATE = "/api/v1/auth/validate"
ADMIN_SUB = uuid.UUID(int=0x1234)  # conftest.make_token's default ``sub``
ALICE = uuid.UUID("a11ce000-0000-4000-8000-000000000001")
BOB = uuid.UUID("b0b00000-0000-4000-8000-000000000002")
CAROL = uuid.UUID("ca201000-0000-4000-8000-000000000003")


def _member_add(tenant: Organization, user_id: uuid.UUID, role: str, email: str = "") -> None:
    with tenant_context(tenant):
        member_role_set(actor=None, user_id=user_id, role=MemberRole(role), email=email or None)


def _roleless(tenant: Organization, make_token: Any, user_id: uuid.UUID, **claims: Any) -> Client:
    """A client whose token, as the real identity service issues it, names no roles."""
    token = make_token(tenant, sub=str(user_id), email=f"{user_id.hex[:6]}@example.com", **claims)
    return Client(headers={"Host": tenant.primary_domain, "Authorization": f"Bearer {token}"})


def _put(client: Client, user_id: Any, body: Any) -> Any:
    return client.put(f"{MEMBERS}{user_id}", body, content_type="application/json")


def _role(tenant: Organization, user_id: uuid.UUID) -> str | None:
    with tenant_context(tenant):
        return Member.objects.filter(user_id=user_id).values_list("role", flat=True).first()


# --- the endpoints ---------------------------------------------------------------------------------


def test_admin_adds_reads_lists_changes_and_removes_a_member(
    admin_client: Client, tenant_a: Organization
) -> None:
    created = _put(admin_client, ALICE, {"role": "member", "email": "alice@example.com"})
    assert created.status_code == 200, created.content
    assert created.json() == {"user_id": str(ALICE), "email": "alice@example.com", "role": "member"}
    _put(admin_client, BOB, {"role": "viewer"})

    assert admin_client.get(f"{MEMBERS}{ALICE}").json()["role"] == "member"
    listed = admin_client.get(MEMBERS).json()
    assert [item["user_id"] for item in listed["items"]] == [str(ALICE), str(BOB)]
    assert (listed["count"], listed["count_exact"], listed["next"]) == (2, True, None)
    viewers = admin_client.get(MEMBERS, {"role": "viewer"}).json()
    assert [item["user_id"] for item in viewers["items"]] == [str(BOB)]

    changed = _put(admin_client, ALICE, {"role": "admin"})
    assert changed.json() == {"user_id": str(ALICE), "email": "alice@example.com", "role": "admin"}
    assert admin_client.delete(f"{MEMBERS}{BOB}").status_code == 204
    assert_error(admin_client.get(f"{MEMBERS}{BOB}"), 404, "member_not_found")
    assert_error(admin_client.delete(f"{MEMBERS}{BOB}"), 404, "member_not_found")
    assert _role(tenant_a, BOB) is None


def test_the_list_pages_with_a_keyset_cursor(admin_client: Client, tenant_a: Organization) -> None:
    users = sorted(uuid.uuid4() for _ in range(5))
    for user_id in users:
        _member_add(tenant_a, user_id, "viewer")

    first = admin_client.get(MEMBERS, {"limit": 2}).json()
    second = admin_client.get(MEMBERS, {"limit": 2, "cursor": first["next"]}).json()
    third = admin_client.get(MEMBERS, {"limit": 2, "cursor": second["next"]}).json()

    pages = [first, second, third]
    assert [item["user_id"] for page in pages for item in page["items"]] == [str(u) for u in users]
    assert third["next"] is None
    assert all(page["count"] == 5 for page in pages)
    assert_error(admin_client.get(MEMBERS, {"cursor": "not-a-uuid"}), 422)


def test_members_changes_are_audited_without_the_email(admin_client: Client, tenant_a: Organization) -> None:
    _put(admin_client, ALICE, {"role": "member", "email": "alice@example.com"})
    _put(admin_client, ALICE, {"role": "viewer"})
    admin_client.delete(f"{MEMBERS}{ALICE}")

    with tenant_context(tenant_a):
        member = Member.objects.get(user_id=ALICE)
        entries = list(
            AuditEntry.objects.filter(object_pk=str(member.id))
            .exclude(action=AuditEntry.Action.ACCESS)
            .order_by("id")
        )
    assert [entry.action for entry in entries] == [
        AuditEntry.Action.CREATE,
        AuditEntry.Action.UPDATE,
        AuditEntry.Action.DELETE,
    ]
    assert [entry.changes["role"] for entry in entries] == [
        [None, "member"],
        ["member", "viewer"],
        ["viewer", None],
    ]
    assert all(str(entry.actor_id) == str(ADMIN_SUB) for entry in entries)
    assert "alice@example.com" not in str([entry.changes for entry in entries])


@pytest.mark.parametrize("roles", [["member"], ["viewer"]])
def test_members_and_viewers_cannot_manage_members(
    client_for: Any, tenant_a: Organization, roles: list[str]
) -> None:
    _member_add(tenant_a, ALICE, "member")
    client = client_for(tenant_a, roles)

    assert_error(client.get(MEMBERS), 403, "role_required")
    assert_error(client.get(f"{MEMBERS}{ALICE}"), 403, "role_required")
    assert_error(_put(client, BOB, {"role": "admin"}), 403, "role_required")
    assert_error(client.delete(f"{MEMBERS}{ALICE}"), 403, "role_required")
    assert _role(tenant_a, BOB) is None
    assert _role(tenant_a, ALICE) == "member"


@pytest.mark.parametrize(
    "body",
    [
        {"role": "owner"},
        {"role": "platform_admin"},
        {"role": "ADMIN"},
        {"role": None},
        {},
        {"role": "member", "email": "not an email"},
        {"role": "member", "extra": 1},
        ["member"],
    ],
)
def test_bad_membership_input_is_422_and_changes_nothing(
    admin_client: Client, tenant_a: Organization, body: Any
) -> None:
    assert_error(_put(admin_client, ALICE, body), 422)
    assert _role(tenant_a, ALICE) is None


@pytest.mark.parametrize("user_id", ["not-a-uuid", "1234", "00000000-0000-4000-8000-00000000000g"])
def test_a_user_id_that_is_not_a_uuid_is_422(admin_client: Client, user_id: str) -> None:
    assert_error(_put(admin_client, user_id, {"role": "member"}), 422)
    assert_error(admin_client.get(f"{MEMBERS}{user_id}"), 422)
    assert_error(admin_client.delete(f"{MEMBERS}{user_id}"), 422)


def test_the_last_admin_can_be_neither_demoted_nor_removed(
    admin_client: Client, tenant_a: Organization
) -> None:
    _member_add(tenant_a, ALICE, "admin")

    assert_error(_put(admin_client, ALICE, {"role": "member"}), 409, "last_admin")
    assert_error(admin_client.delete(f"{MEMBERS}{ALICE}"), 409, "last_admin")
    assert _role(tenant_a, ALICE) == "admin"

    _member_add(tenant_a, BOB, "admin")  # with a second admin, either may go
    assert _put(admin_client, ALICE, {"role": "member"}).status_code == 200
    assert_error(admin_client.delete(f"{MEMBERS}{BOB}"), 409, "last_admin")


# --- another organization --------------------------------------------------------------------------


def test_an_admin_of_a_cannot_reach_the_members_of_b(
    admin_client: Client, tenant_a: Organization, tenant_b: Organization
) -> None:
    _member_add(tenant_b, CAROL, "admin", "carol@beta.example.com")
    missing = uuid.uuid4()

    for user_id in (CAROL, missing):  # B's member looks exactly like nobody
        body = assert_error(admin_client.get(f"{MEMBERS}{user_id}"), 404, "member_not_found")
        assert body["detail"] == "No member of this organization has this id."
        assert_error(admin_client.delete(f"{MEMBERS}{user_id}"), 404, "member_not_found")
    assert admin_client.get(MEMBERS).json()["count"] == 0

    # Giving B's user a role in A makes a membership of A only, shown as A knows it (no email).
    added = _put(admin_client, CAROL, {"role": "viewer"})
    assert added.json() == {"user_id": str(CAROL), "email": None, "role": "viewer"}
    assert _role(tenant_a, CAROL) == "viewer"
    assert _role(tenant_b, CAROL) == "admin"
    with tenant_context(tenant_b):
        assert Member.objects.get(user_id=CAROL).email == "carol@beta.example.com"


def test_an_admin_token_of_b_manages_nothing_on_a(
    client_for: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    _member_add(tenant_a, ALICE, "admin")
    b_admin = client_for(tenant_b, ["admin"])
    attacker = Client(
        headers={"Host": tenant_a.primary_domain, "Authorization": b_admin.defaults["HTTP_AUTHORIZATION"]}
    )

    assert_error(attacker.get(MEMBERS), 403, "tenant_mismatch")
    assert_error(_put(attacker, BOB, {"role": "admin"}), 403, "tenant_mismatch")
    assert _role(tenant_a, BOB) is None


# --- where roles come from ------------------------------------------------------------------------


def test_a_token_without_roles_gets_its_membership_role(make_token: Any, tenant_a: Organization) -> None:
    _member_add(tenant_a, ALICE, "viewer")
    client = _roleless(tenant_a, make_token, ALICE)

    assert client.get(ENTITIES).status_code == 200
    assert_error(
        client.post(ENTITIES, {"kind": "customer", "name": "x"}, "application/json"), 403, "role_required"
    )
    assert client.get(ME).json()["roles_source"] == "membership"


def test_a_role_changed_by_an_admin_holds_on_the_next_request(
    admin_client: Client, make_token: Any, tenant_a: Organization
) -> None:
    _member_add(tenant_a, ALICE, "viewer")
    client = _roleless(tenant_a, make_token, ALICE)
    _put(admin_client, ALICE, {"role": "member"})

    assert client.post(ENTITIES, {"kind": "customer", "name": "x"}, "application/json").status_code == 201


def test_the_token_roles_come_before_the_membership(client_for: Any, tenant_a: Organization) -> None:
    _member_add(tenant_a, ADMIN_SUB, "admin")
    client = client_for(tenant_a, ["viewer"])

    assert_error(client.get(MEMBERS), 403, "role_required")
    assert client.get(ME).json()["roles_source"] == "token"


def test_the_order_of_the_sources_is_configurable(
    client_for: Any, tenant_a: Organization, settings: Any
) -> None:
    settings.IDENTITY_ROLES_SOURCE = ("membership", "token")
    _member_add(tenant_a, ADMIN_SUB, "admin")
    client = client_for(tenant_a, ["viewer"])

    assert client.get(MEMBERS).status_code == 200
    assert client.get(ME).json()["roles_source"] == "membership"


def test_the_membership_comes_before_the_identity_service(
    identity_service: FakeIdentityService, make_token: Any, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, 200, {"valid": True, "roles": ["admin"]})
    _member_add(tenant_a, ALICE, "viewer")

    assert _roleless(tenant_a, make_token, ALICE).get(ME).json()["roles"] == ["viewer"]
    assert [call for call in identity_service.requests if call[:2] == ("POST", VALIDATE)] == []
    bob = _roleless(tenant_a, make_token, BOB).get(ME).json()  # no membership: the identity service
    assert (bob["roles"], bob["roles_source"]) == (["admin"], "identity")


def test_a_membership_of_another_organization_grants_nothing(
    make_token: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    _member_add(tenant_b, ALICE, "admin")

    assert_error(_roleless(tenant_a, make_token, ALICE).get(ENTITIES), 403, "not_a_member")


def test_a_user_with_no_role_anywhere_is_not_a_member(make_token: Any, tenant_a: Organization) -> None:
    client = _roleless(tenant_a, make_token, ALICE)

    body = assert_error(client.get(ENTITIES), 403, "not_a_member")
    assert_error(client.get(ME), 403, "not_a_member")
    assert "role" in body["detail"]
    assert _role(tenant_a, ALICE) is None
    with tenant_context(tenant_a):
        assert not Member.objects.filter(user_id=ALICE).exists()


def test_a_removed_member_is_not_a_member_any_more(
    admin_client: Client, make_token: Any, tenant_a: Organization
) -> None:
    _member_add(tenant_a, ALICE, "member")
    client = _roleless(tenant_a, make_token, ALICE)
    assert client.get(ENTITIES).status_code == 200

    admin_client.delete(f"{MEMBERS}{ALICE}")

    assert_error(client.get(ENTITIES), 403, "not_a_member")


def test_the_roles_source_setting_refuses_unknown_sources() -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "hub.settings", "IDENTITY_ROLES_SOURCE": "token,groups"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "IDENTITY_ROLES_SOURCE" in result.stderr


# --- auto-join -------------------------------------------------------------------------------------


def test_auto_join_gives_the_default_role_once_and_audits_it(
    make_token: Any, tenant_a: Organization, settings: Any
) -> None:
    settings.HUB_DEFAULT_MEMBER_ROLE = "viewer"
    client = _roleless(tenant_a, make_token, ALICE)

    first = client.get(ME).json()
    assert (first["roles"], first["roles_source"]) == (["viewer"], "default")
    assert _role(tenant_a, ALICE) == "viewer"
    assert client.get(ME).json()["roles_source"] == "membership"
    assert_error(
        client.post(ENTITIES, {"kind": "customer", "name": "x"}, "application/json"), 403, "role_required"
    )
    with tenant_context(tenant_a):
        member = Member.objects.get(user_id=ALICE)
        assert member.email == f"{ALICE.hex[:6]}@example.com"
        entry = AuditEntry.objects.get(object_pk=str(member.id), action=AuditEntry.Action.CREATE)
    assert entry.changes["role"] == [None, "viewer"]
    assert str(entry.actor_id) == str(ALICE)
    assert member.email not in str(entry.changes)


def test_auto_join_keeps_a_role_given_before(make_token: Any, tenant_a: Organization, settings: Any) -> None:
    settings.HUB_DEFAULT_MEMBER_ROLE = "viewer"
    _member_add(tenant_a, ALICE, "admin")

    assert _roleless(tenant_a, make_token, ALICE).get(MEMBERS).status_code == 200
    assert _role(tenant_a, ALICE) == "admin"


def test_without_a_default_role_nobody_joins(make_token: Any, tenant_a: Organization) -> None:
    assert django_settings.HUB_DEFAULT_MEMBER_ROLE is None
    assert_error(_roleless(tenant_a, make_token, ALICE).get(ENTITIES), 403, "not_a_member")


# --- /me -------------------------------------------------------------------------------------------


def test_me_answers_who_the_caller_is_here(client_for: Any, tenant_a: Organization) -> None:
    body = client_for(tenant_a, ["member"], email="me@example.com").get(ME).json()

    assert body["user_id"] == str(ADMIN_SUB)
    assert body["email"] == "me@example.com"
    assert body["organization"] == {"id": str(tenant_a.organization_id), "slug": "alpha", "name": "Alpha"}
    assert (body["roles"], body["roles_source"]) == (["member"], "token")
    assert "entities.write" in body["permissions"]
    assert "entities.read" in body["permissions"]
    assert "members.manage" not in body["permissions"]


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("viewer", "entities.read", "entities.write"),
        ("member", "transactions.write", "audit.read"),
        ("admin", "members.manage", "tenants.manage"),
    ],
)
def test_me_lists_what_each_role_allows(
    client_for: Any, tenant_a: Organization, role: str, allowed: str, refused: str
) -> None:
    permissions = client_for(tenant_a, [role]).get(ME).json()["permissions"]

    assert allowed in permissions
    assert refused not in permissions


def test_me_needs_a_token_of_this_organization(
    client_for: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    assert_error(client_for(tenant_a).get(ME), 401)
    token = client_for(tenant_b, ["admin"]).defaults["HTTP_AUTHORIZATION"]
    assert_error(
        Client(headers={"Host": tenant_a.primary_domain, "Authorization": token}).get(ME),
        403,
        "tenant_mismatch",
    )


# --- cost ------------------------------------------------------------------------------------------


def test_a_page_of_members_costs_the_same_however_many_there_are(
    admin_client: Client, tenant_a: Organization
) -> None:
    admin_client.get(MEMBERS)  # the caller's sighting is written once
    _member_add(tenant_a, ALICE, "member")
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(MEMBERS).json()["count"] == 1
    for _ in range(30):
        _member_add(tenant_a, uuid.uuid4(), "viewer")
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(MEMBERS).json()["count"] == 31

    assert len(many) == len(few)
