"""The platform's audit trail: every organization lifecycle change (provision, rename, suspend, activate,
delete) writes exactly one entry, with its actor, in the transaction of the change; nothing personal;
append-only for the runtime role and the owner alike; tampering found by ``verify_audit --platform``."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from apps.audit.services import MASK
from tenants.models import Domain, Organization, PlatformAuditEntry
from tenants.routers import MIGRATION_ALIAS
from tenants.selectors import platform_audit_verify
from tenants.services import tenant_provision, tenant_rename

BASE = "/api/platform/v1/tenants"
ADMIN = uuid.UUID("5a5a5a5a-0000-4000-8000-00000000a0a0")
NAME = "Jane Doe Plumbing"  # a company name that is a person's name


def _entries(organization_id: uuid.UUID) -> list[PlatformAuditEntry]:
    return list(PlatformAuditEntry.objects.filter(organization_id=organization_id).order_by("sequence"))


def _everything_stored(organization_id: uuid.UUID) -> str:
    """Every column of the organization's entries, as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT row_to_json(e)::text FROM tenants_platformauditentry e WHERE organization_id = %s",
            [organization_id],
        )
        return " ".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def admin(client_for: Any) -> Any:
    return client_for(None, ["platform_admin"], sub=str(ADMIN), email="platform.admin@example.com")


def test_each_lifecycle_action_writes_one_entry_naming_its_actor(committed_db: None, admin: Any) -> None:
    organization_id, slug = uuid.uuid4(), f"aud-{uuid.uuid4().hex[:6]}"
    body = {"organization_id": str(organization_id), "slug": slug, "name": NAME, "skip_identity_check": True}
    assert admin.post(BASE, body, content_type="application/json").status_code == 201
    assert [entry.action for entry in _entries(organization_id)] == ["provision"]
    one = f"{BASE}/{organization_id}"
    steps = [
        ("rename", lambda: admin.patch(one, {"name": "Jane Doe Pipes"}, content_type="application/json")),
        ("suspend", lambda: admin.post(f"{one}/suspend")),
        ("activate", lambda: admin.post(f"{one}/activate")),
        ("delete", lambda: admin.delete(f"{one}?confirm={organization_id}")),
    ]
    done = ["provision"]
    for action, step in steps:
        assert step().status_code in (200, 204)
        done.append(action)
        assert [entry.action for entry in _entries(organization_id)] == done

    entries = _entries(organization_id)
    assert {entry.actor_id for entry in entries} == {ADMIN}
    assert [entry.changes for entry in entries] == [
        {"slug": [None, slug], "name": [None, MASK], "status": [None, "active"]},
        {"name": [MASK, MASK]},
        {"status": ["active", "suspended"]},
        {"status": ["suspended", "active"]},
        {"slug": [slug, None], "name": [MASK, None], "status": ["active", None]},
    ]
    stored = _everything_stored(organization_id)
    for personal in ("Jane", "Doe", "Pipes", "platform.admin", "example.com"):
        assert personal not in stored
    assert platform_audit_verify().ok


def test_a_change_that_changes_nothing_writes_nothing(committed_db: None, admin: Any) -> None:
    tenant = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"same-{uuid.uuid4().hex[:6]}", name=NAME, check_identity=False
    )
    assert admin.post(f"{BASE}/{tenant.organization_id}/activate").status_code == 200
    assert [entry.action for entry in _entries(tenant.organization_id)] == ["provision"]


def test_failed_actions_write_no_entry(committed_db: None, admin: Any) -> None:
    alpha = Organization.objects.get(slug="alpha")
    # Provisioning gets through the row, the schema, its migrations and RLS, then fails on the domain.
    Domain.objects.create(domain="audit-victim.localhost", tenant=alpha, is_primary=False)
    organization_id = uuid.uuid4()
    try:
        body = {
            "organization_id": str(organization_id),
            "slug": "audit-victim",
            "name": NAME,
            "skip_identity_check": True,
        }
        assert admin.post(BASE, body, content_type="application/json").status_code == 409
    finally:
        Domain.objects.filter(domain="audit-victim.localhost").delete()
    assert _entries(organization_id) == []

    before = PlatformAuditEntry.objects.count()
    one = f"{BASE}/{alpha.organization_id}"
    assert admin.patch(one, {"name": " "}, content_type="application/json").status_code == 422
    assert admin.delete(one).status_code == 400  # no confirmation
    assert admin.delete(f"{one}?confirm={uuid.uuid4()}").status_code == 400
    assert admin.post(f"{BASE}/{uuid.uuid4()}/suspend").status_code == 404
    assert PlatformAuditEntry.objects.count() == before


@pytest.fixture
def runtime_cannot_append(committed_db: None) -> Iterator[None]:
    """The runtime role loses INSERT on the trail for the test (given back after)."""
    runtime = connections["default"].settings_dict["USER"]
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(f'REVOKE INSERT ON tenants_platformauditentry FROM "{runtime}"')
    try:
        yield
    finally:
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute(f'GRANT INSERT ON tenants_platformauditentry TO "{runtime}"')


def test_a_change_whose_entry_cannot_be_written_does_not_happen(runtime_cannot_append: None) -> None:
    tenant = Organization.objects.get(slug="beta")
    with pytest.raises(DatabaseError, match="permission denied"):
        tenant_rename(tenant=tenant, name="Renamed Without A Trace", actor=ADMIN)
    tenant.refresh_from_db()
    assert tenant.name == "Beta"


def test_provision_tenant_command_records_its_actor_or_the_system(committed_db: None) -> None:
    given, system = uuid.uuid4(), uuid.uuid4()
    for organization_id, extra in ((given, ["--actor", str(ADMIN)]), (system, [])):
        call_command(
            "provision_tenant", "--organization-id", str(organization_id), "--slug",
            f"cmd-{organization_id.hex[:6]}", "--name", "Cmd", "--skip-identity-check", *extra,
            stdout=io.StringIO(),
        )  # fmt: skip
    assert [entry.actor_id for entry in _entries(given)] == [ADMIN]
    assert [entry.actor_id for entry in _entries(system)] == [None]


@pytest.mark.django_db
def test_the_runtime_role_can_append_and_read_but_never_change_the_trail() -> None:
    for statement in (
        "UPDATE tenants_platformauditentry SET changes = '{}'",
        "DELETE FROM tenants_platformauditentry",
        "TRUNCATE tenants_platformauditentry",
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            connection.cursor().execute(statement)


def test_the_owner_role_cannot_change_the_trail_either(committed_db: None) -> None:
    tenant_provision(
        organization_id=uuid.uuid4(), slug=f"own-{uuid.uuid4().hex[:6]}", name="O", check_identity=False
    )
    for statement in (
        "UPDATE tenants_platformauditentry SET changes = '{}'",
        "DELETE FROM tenants_platformauditentry",
        "TRUNCATE tenants_platformauditentry",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(using=MIGRATION_ALIAS):
            connections[MIGRATION_ALIAS].cursor().execute(statement)


def _owner_rewrite(sequence: int, changes: str) -> None:
    """What an attacker with the owner role can do: switch the trigger off, rewrite, switch it on."""
    with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            "ALTER TABLE tenants_platformauditentry DISABLE TRIGGER platform_audit_entry_append_only"
        )
        cursor.execute(
            "UPDATE tenants_platformauditentry SET changes = %s::jsonb WHERE sequence = %s",
            [changes, sequence],
        )
        cursor.execute(
            "ALTER TABLE tenants_platformauditentry ENABLE TRIGGER platform_audit_entry_append_only"
        )


def test_tampering_is_found_by_verify_audit_platform(committed_db: None, tmp_path: Path) -> None:
    tenant = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"tamper-{uuid.uuid4().hex[:6]}", name="T", check_identity=False
    )
    (entry,) = _entries(tenant.organization_id)
    anchors = tmp_path / "anchors.json"
    out = io.StringIO()
    call_command("verify_audit", "--platform", "--record-anchors", str(anchors), stdout=out)
    assert "entries complete and unaltered" in out.getvalue()
    assert json.loads(anchors.read_text())["platform"]["sequence"] >= entry.sequence

    original = json.dumps(entry.changes)
    _owner_rewrite(entry.sequence, json.dumps({"slug": [None, "someone-else"]}))
    try:
        out = io.StringIO()
        with pytest.raises(CommandError) as broken:
            call_command("verify_audit", "--platform", stdout=out)
        assert broken.value.returncode == 1
        assert f"BROKEN at entry {entry.sequence} (its content does not match its hash)" in out.getvalue()
    finally:
        _owner_rewrite(entry.sequence, original)
    call_command("verify_audit", "--platform", "--anchors", str(anchors), stdout=io.StringIO())
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("verify_audit", "--platform", "--tenant", "alpha", stdout=io.StringIO())


AUDIT = "/api/platform/v1/audit"


def test_the_trail_is_listed_newest_first_a_page_at_a_time(
    committed_db: None, admin: Any, client_for: Any
) -> None:
    tenant = tenant_provision(organization_id=uuid.uuid4(), slug=f"lst-{uuid.uuid4().hex[:6]}", name=NAME,
                              check_identity=False, actor=ADMIN)  # fmt: skip
    one = f"{BASE}/{tenant.organization_id}"
    for step in ("suspend", "activate", "suspend"):
        assert admin.post(f"{one}/{step}").status_code == 200
    mine = f"{AUDIT}?organization_id={tenant.organization_id}"

    first = admin.get(f"{mine}&limit=3")
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["count"], body["count_exact"]) == (4, True)
    assert [item["action"] for item in body["items"]] == ["suspend", "activate", "suspend"]
    assert {item["actor_id"] for item in body["items"]} == {str(ADMIN)}
    assert body["next"] is not None
    rest = admin.get(f"{mine}&limit=3&cursor={body['next']}").json()
    assert [item["action"] for item in rest["items"]] == ["provision"]
    assert rest["next"] is None
    assert rest["items"][0]["changes"] == {
        "slug": [None, tenant.slug],
        "name": [None, MASK],
        "status": [None, "active"],
    }
    provisions = admin.get(f"{mine}&action=provision").json()
    assert [item["sequence"] for item in provisions["items"]] == [rest["items"][0]["sequence"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "cursor=abc",
        "cursor=0",
        "cursor=-1",
        "cursor=" + "9" * 30,
        "limit=0",
        "action=explode",
        "organization_id=x",
    ],
)
def test_bad_audit_list_queries_are_422(admin: Any, query: str) -> None:
    response = admin.get(f"{AUDIT}?{query}")
    assert response.status_code == 422, response.content
    assert set(response.json()) >= {"detail", "code"}


@pytest.mark.django_db
def test_the_trail_is_for_platform_admins_only(client_for: Any, tenant_a: Organization) -> None:
    assert client_for(None).get(AUDIT).status_code == 401
    assert client_for(None, ["admin"]).get(AUDIT).status_code == 403
    assert client_for(tenant_a, ["platform_admin"]).get(AUDIT).status_code in (403, 404)


def test_key_rotation_is_recorded_with_its_actor(committed_db: None) -> None:
    from tenants import crypto

    tenant = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"rot-{uuid.uuid4().hex[:6]}", name="R", check_identity=False
    )
    before = crypto.data_keys(tenant.organization_id).current
    call_command("rotate_field_keys", "--tenant", tenant.slug, "--actor", str(ADMIN), stdout=io.StringIO())
    after = crypto.data_keys(tenant.organization_id).current
    entry = _entries(tenant.organization_id)[-1]
    assert (entry.action, entry.actor_id) == ("rotate_keys", ADMIN)
    assert entry.changes == {
        "data_key_version": [before, after],
        "rewrapped_keys": [None, 0],
        "reencrypted_rows": [None, 0],
    }
    assert after > before
