"""Append-only for the runtime role, and a hash chain that verify_audit and the API check."""

from __future__ import annotations

import io
import itertools
import json
import threading
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django_tenants.utils import tenant_context

from apps.audit.services import audit_seal_batch
from apps.audit.tests.conftest import as_owner
from apps.entities import services
from tenants.models import Organization, User
from tests.helpers import assert_error

VERIFY_URL = "/api/v1/audit/verify"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditentry SET object_repr = 'x'", "DELETE FROM audit_auditentry"]
)
def test_runtime_role_cannot_change_entries(
    statement: str, tenant_a: Organization, entity_a: Any, entries_of: Any
) -> None:
    before = [(entry.sequence, entry.object_repr) for entry in entries_of(tenant_a)]
    assert before
    with tenant_context(tenant_a):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditentry")
    assert [(entry.sequence, entry.object_repr) for entry in entries_of(tenant_a)] == before


@pytest.mark.django_db
def test_chain_links_each_entry_to_the_previous_one(
    tenant_a: Organization, entity_a: Any, actor: User, entries_of: Any
) -> None:
    with tenant_context(tenant_a):
        services.entity_create(actor=actor, kind="customer", name="Two")
        services.entity_create(actor=actor, kind="customer", name="Three")
        # Appended unsealed; sealed here, inside the test's transaction that never commits.
        assert [entry.sequence for entry in entries_of(tenant_a)] == [None, None, None]
        assert audit_seal_batch() == 3
    entries = entries_of(tenant_a)
    assert [entry.sequence for entry in entries] == list(range(1, len(entries) + 1))
    assert entries[0].previous_hash == ""
    for previous, entry in itertools.pairwise(entries):
        assert entry.previous_hash == previous.entry_hash


def _verify(tenant: Organization) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_audit", "--tenant", tenant.slug, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def _api_verify(client_for: Any, tenant: Organization) -> dict[str, Any]:
    response = client_for(tenant, ["admin"]).get(VERIFY_URL)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_untouched_chain_verifies(gamma: Organization, client_for: Any) -> None:
    code, output = _verify(gamma)
    assert code == 0
    assert f"[1/1 100%] {gamma.slug}: 3 entries ok" in output
    body = _api_verify(client_for, gamma)
    head = body.pop("head")
    assert body == {
        "ok": True,
        "after_sequence": 0,
        "entries": 3,
        "first_broken": None,
        "reason": "",
        "more": False,
        "unsealed": 0,
        "unsealed_overdue_ids": [],
    }
    assert head["sequence"] == 3
    assert len(head["hash"]) == 64


def test_altered_entry_is_named(gamma: Organization, client_for: Any) -> None:
    as_owner(gamma, "UPDATE audit_auditentry SET object_repr = 'forged' WHERE sequence = 2")

    code, output = _verify(gamma)
    assert code == 1
    assert "BROKEN at entry 2" in output
    body = _api_verify(client_for, gamma)
    assert (body["ok"], body["first_broken"], body["entries"]) == (False, 2, 1)


def test_altered_entry_with_recomputed_hash_breaks_the_next_link(gamma: Organization) -> None:
    as_owner(
        gamma,
        "UPDATE audit_auditentry SET object_repr = 'forged' WHERE sequence = 2; "
        "UPDATE audit_auditentry a SET entry_hash = audit_entry_digest(a) WHERE sequence = 2",
    )
    code, output = _verify(gamma)
    assert code == 1
    assert "BROKEN at entry 3" in output


def test_deleted_entry_in_the_middle_is_named(gamma: Organization, client_for: Any) -> None:
    as_owner(gamma, "DELETE FROM audit_auditentry WHERE sequence = 2")

    code, output = _verify(gamma)
    assert code == 1
    assert "BROKEN at entry 2" in output
    assert _api_verify(client_for, gamma)["first_broken"] == 2


def test_entries_removed_from_the_end_are_caught_against_a_recorded_anchor(
    gamma: Organization, client_for: Any, tmp_path: Any
) -> None:
    anchors = tmp_path / "heads.json"
    call_command(
        "verify_audit", "--tenant", gamma.slug, "--record-anchors", str(anchors), stdout=io.StringIO()
    )
    head = json.loads(anchors.read_text())[gamma.slug]
    assert head["sequence"] == 3

    as_owner(gamma, "DELETE FROM audit_auditentry WHERE sequence = 3")

    assert _verify(gamma)[0] == 0  # a chain cut short is still a valid chain: only the anchor shows it
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", "--tenant", gamma.slug, "--anchors", str(anchors), stdout=out)
    assert caught.value.returncode == 1
    assert "BROKEN at entry 3" in out.getvalue()
    assert "removed from its end" in out.getvalue()
    admin = client_for(gamma, ["admin"])
    body = admin.get(VERIFY_URL, {"sequence": head["sequence"], "hash": head["hash"]}).json()
    assert (body["ok"], body["first_broken"]) == (False, 3)


def test_an_anchored_entry_replaced_by_another_is_caught(gamma: Organization, tmp_path: Any) -> None:
    anchors = tmp_path / "heads.json"
    call_command(
        "verify_audit", "--tenant", gamma.slug, "--record-anchors", str(anchors), stdout=io.StringIO()
    )
    as_owner(gamma, "DELETE FROM audit_auditentry WHERE sequence = 3")
    with tenant_context(gamma):  # a new entry takes the removed one's place in the chain
        services.entity_create(actor=User.objects.get(id=uuid.UUID(int=0x6A)), kind="customer", name="Four")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", "--tenant", gamma.slug, "--anchors", str(anchors), stdout=out)
    assert "BROKEN at entry 3" in out.getvalue()
    assert "rewritten" in out.getvalue()


def test_unreadable_anchors_are_an_error(committed_db: None, tmp_path: Any) -> None:
    bad = tmp_path / "heads.json"
    for content in ("not json", '{"alpha": {"sequence": "x"}}', "[1]"):
        bad.write_text(content)
        with pytest.raises(CommandError, match="Cannot read the anchors"):
            call_command("verify_audit", "--anchors", str(bad))
    with pytest.raises(CommandError, match="Cannot read the anchors"):
        call_command("verify_audit", "--anchors", str(tmp_path / "missing.json"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"sequence": "3"},
        {"hash": "a" * 64},
        {"sequence": "0", "hash": "a" * 64},
        {"sequence": "3", "hash": "xyz"},
    ],
)
def test_malformed_anchor_is_refused(admin_client: Any, query: dict[str, str]) -> None:
    assert_error(admin_client.get(VERIFY_URL, query), 422)


def test_verify_walks_every_tenant_with_progress(gamma: Organization) -> None:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    total = Organization.objects.count()
    assert f"[{total}/{total} 100%]" in out.getvalue()
    assert f"{gamma.slug}: 3 entries ok" in out.getvalue()


def test_unknown_tenant_is_an_error(committed_db: None) -> None:
    with pytest.raises(CommandError, match="No organization"):
        call_command("verify_audit", "--tenant", "nope")


def test_concurrent_appends_do_not_fork_the_chain(gamma: Organization) -> None:
    actor = User.objects.get(id=uuid.UUID(int=0x6A))
    start, errors = threading.Barrier(4), []

    def append(worker: int) -> None:
        try:
            start.wait()
            with tenant_context(gamma):
                for index in range(5):
                    services.entity_create(actor=actor, kind="customer", name=f"W{worker}-{index}")
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=append, args=(worker,)) for worker in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert errors == []
    code, output = _verify(gamma)
    assert code == 0, output
    assert f"{gamma.slug}: 23 entries ok" in output
