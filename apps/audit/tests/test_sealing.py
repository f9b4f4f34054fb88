"""The chain is sealed after commit: entries are appended unsealed, ``audit_seal`` numbers and links them
under a try-lock, and the database accepts no UPDATE but that exact seal.

The races are staged with barriers and a held lock, never with sleeps.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import audit_seal_batch, audit_seal_pending, audit_unsealed_exists
from apps.audit.tests.conftest import GAMMA_ACTOR
from apps.entities import services
from apps.entities.models import Entity
from tenants.models import Organization, User
from tenants.routers import MIGRATION_ALIAS

VERIFY_URL = "/api/v1/audit/verify"


def _verify(tenant: Organization) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_audit", "--tenant", tenant.slug, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def _sequences(tenant: Organization) -> list[int | None]:
    with tenant_context(tenant):
        return list(AuditEntry.objects.order_by("id").values_list("sequence", flat=True))


def _create(tenant: Organization, name: str) -> None:
    with tenant_context(tenant):
        services.entity_create(actor=User.objects.get(id=GAMMA_ACTOR), kind="customer", name=name)


def _left_unsealed(tenant: Organization, count: int) -> list[int]:
    """Entries committed without their seal: what a process that died right after its commit leaves."""
    content_type = ContentType.objects.get_for_model(Entity)
    with tenant_context(tenant):
        entries = AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    action=AuditEntry.Action.ACCESS,
                    content_type_id=content_type.pk,
                    object_type="entities.entity",
                    object_pk=str(uuid.uuid4()),
                    object_repr="entity",
                )
                for _ in range(count)
            ]
        )
    return [entry.pk for entry in entries]


# --- Appending and the one UPDATE allowed ---------------------------------------------------------


@pytest.mark.django_db
def test_an_insert_is_appended_unsealed_whatever_it_says(tenant_a: Organization, entity_a: Any) -> None:
    content_type = ContentType.objects.get_for_model(Entity)
    with tenant_context(tenant_a):
        [entry] = AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    action=AuditEntry.Action.ACCESS,
                    content_type_id=content_type.pk,
                    object_type="entities.entity",
                    object_pk="x",
                    object_repr="x",
                    sequence=1,
                    previous_hash="",
                    entry_hash="a" * 64,
                )
            ]
        )
        entry.refresh_from_db()
    assert (entry.sequence, entry.previous_hash, entry.entry_hash) == (None, "", "")


_FIRST_HASH = "(SELECT entry_hash FROM audit_auditentry WHERE sequence = 1)"


def _seal_by_hand(
    entry_id: int,
    *,
    sequence: int,
    previous_hash: str = _FIRST_HASH,
    object_repr: str | None = None,
    entry_hash: str | None = None,
) -> None:
    """UPDATE one entry as the runtime role: its seal columns (and maybe another), with the digest of
    the row as it would then be unless ``entry_hash`` forces one."""
    new_row = (
        "jsonb_populate_record(e, jsonb_build_object("
        f"'sequence', %(sequence)s::bigint, 'previous_hash', {previous_hash}, "
        "'object_repr', COALESCE(%(repr)s, e.object_repr)))"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE audit_auditentry e SET sequence = %(sequence)s, previous_hash = {previous_hash}, "
            "object_repr = COALESCE(%(repr)s, e.object_repr), "
            f"entry_hash = COALESCE(%(hash)s, audit_entry_digest({new_row})) WHERE id = %(id)s",
            {"sequence": sequence, "repr": object_repr, "hash": entry_hash, "id": entry_id},
        )


@pytest.fixture
def one_sealed_one_not(tenant_a: Organization, actor: User) -> list[int]:
    """Two entries of ``tenant_a``, the first sealed (sequence 1), the second not: their ids."""
    with tenant_context(tenant_a):
        services.entity_create(actor=actor, kind="customer", name="One")
        services.entity_create(actor=actor, kind="customer", name="Two")
        assert audit_seal_batch(max_rows=1) == 1
        return list(AuditEntry.objects.order_by("id").values_list("id", flat=True))


FORGERIES = {
    "wrong hash": {"sequence": 2, "entry_hash": "a" * 64},
    "wrong sequence": {"sequence": 3},
    "sequence taken": {"sequence": 1},
    "wrong previous hash": {"sequence": 2, "previous_hash": "repeat('b', 64)"},
    "a changed field, hashed": {"sequence": 2, "object_repr": "forged"},
}
# The unique sequence refuses a number taken before the statement's check runs (after its rows).
_REFUSED_BY = {"sequence taken": "audit_entry_sequence_unique"}


@pytest.mark.django_db
@pytest.mark.parametrize("forgery", FORGERIES.keys())
def test_a_forged_seal_by_the_runtime_role_is_refused(
    tenant_a: Organization, one_sealed_one_not: list[int], forgery: str
) -> None:
    _first, second = one_sealed_one_not
    with tenant_context(tenant_a):
        with pytest.raises(DatabaseError, match=_REFUSED_BY.get(forgery, "append-only")):
            _seal_by_hand(second, **FORGERIES[forgery])  # type: ignore[arg-type]
        assert AuditEntry.objects.get(id=second).sequence is None
        _seal_by_hand(second, sequence=2)  # the one legitimate seal, the same statement: accepted
        sealed = AuditEntry.objects.get(id=second)
    assert sealed.sequence == 2
    assert _verify_in_transaction(tenant_a)


def _verify_in_transaction(tenant: Organization) -> bool:
    with tenant_context(tenant):
        report = audit_chain_verify()
    return report.ok and report.entries == 2


@pytest.mark.django_db
def test_a_sealed_entry_cannot_be_sealed_again_or_changed(
    tenant_a: Organization, one_sealed_one_not: list[int]
) -> None:
    first, second = one_sealed_one_not
    with tenant_context(tenant_a):
        with pytest.raises(DatabaseError, match="append-only"):
            _seal_by_hand(first, sequence=1, previous_hash="''")  # its own seal, again
        with pytest.raises(DatabaseError, match="append-only"):
            _seal_by_hand(first, sequence=2)  # resealed further on
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE audit_auditentry SET object_repr = 'x' WHERE id = %s", [second])
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [second])


# --- Sealing after commit -------------------------------------------------------------------------


def test_a_committed_request_is_sealed_before_its_response(gamma: Organization, client_for: Any) -> None:
    client: Client = client_for(gamma, ["member"])
    response = client.post(
        "/api/v1/entities/", {"kind": "customer", "name": "Four"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert _sequences(gamma) == [1, 2, 3, 4]
    assert _verify(gamma)[0] == 0


def test_a_held_seal_lock_leaves_the_entries_to_its_holder(gamma: Organization) -> None:
    """While one connection holds the seal lock, another commits entries and its try-lock fails; the
    holder, looking again after it releases the lock, seals them."""
    held, release = threading.Barrier(2), threading.Barrier(2)
    seen: dict[str, Any] = {}

    def holder() -> None:
        try:
            with tenant_context(gamma):
                with transaction.atomic():
                    seen["first"] = audit_seal_batch()
                    held.wait()
                    release.wait()
                seen["left"] = audit_unsealed_exists()  # after the release, as audit_seal_pending does
                seen["then"] = audit_seal_pending()
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        held.wait()
        _create(gamma, "Four")  # commits, then its seal finds the lock taken and stops
        with tenant_context(gamma):
            assert audit_seal_batch() == -1
            assert audit_seal_pending() is None
        assert _sequences(gamma)[-1] is None
    finally:
        release.wait()
        thread.join()
    assert seen == {"first": 0, "left": True, "then": 1}
    assert _sequences(gamma) == [1, 2, 3, 4]
    assert _verify(gamma)[0] == 0


def test_sixteen_concurrent_writers_end_in_one_chain_without_a_gap(gamma: Organization) -> None:
    start, errors = threading.Barrier(16), []

    def write(worker: int) -> None:
        try:
            start.wait()
            for index in range(3):
                _create(gamma, f"W{worker}-{index}")
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write, args=(worker,)) for worker in range(16)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert errors == []
    assert sorted(_sequences(gamma)) == list(range(1, 3 + 16 * 3 + 1))  # type: ignore[type-var]
    code, output = _verify(gamma)
    assert code == 0, output
    assert f"{gamma.slug}: 51 entries ok" in output


# --- verify_audit's bound and seal_audit ----------------------------------------------------------


def test_entries_left_unsealed_past_the_bound_fail_verification_until_sealed(
    gamma: Organization, client_for: Any, settings: Any
) -> None:
    left = _left_unsealed(gamma, 2)

    code, output = _verify(gamma)  # within the default bound (60 s): in flight, a count
    assert code == 0, output
    assert f"{gamma.slug}: 3 entries ok; 2 entries written in the last 60 s not sealed yet" in output

    settings.HUB_AUDIT_SEAL_BOUND_SECONDS = 0
    code, output = _verify(gamma)
    assert code == 1
    assert f"2 entries left unsealed for more than 0 s (ids {left[0]}, {left[1]})" in output
    body = client_for(gamma, ["admin"]).get(VERIFY_URL).json()
    assert (body["ok"], body["entries"], body["unsealed"], body["unsealed_overdue_ids"]) == (
        False,
        3,
        2,
        left,
    )

    out = io.StringIO()
    call_command("seal_audit", "--tenant", gamma.slug, stdout=out)
    assert f"{gamma.slug}: 2 entries sealed" in out.getvalue()
    code, output = _verify(gamma)
    assert code == 0, output
    assert f"{gamma.slug}: 5 entries ok" in output
    body = client_for(gamma, ["admin"]).get(VERIFY_URL).json()
    assert (body["ok"], body["entries"], body["unsealed"]) == (True, 5, 0)


class _Crash(Exception):
    pass


class _CrashAfterFirstBatch(io.StringIO):
    """A command's stdout that dies on the first progress line: the process killed mid-run."""

    def write(self, text: str) -> int:
        if "sealed so far" in text:
            raise _Crash
        return super().write(text)


def test_seal_audit_resumes_where_an_interrupted_run_stopped(gamma: Organization) -> None:
    _left_unsealed(gamma, 5)

    with pytest.raises(_Crash):
        call_command(
            "seal_audit", "--tenant", gamma.slug, "--batch-size", "2", stdout=_CrashAfterFirstBatch()
        )
    assert _sequences(gamma) == [1, 2, 3, 4, 5, None, None, None]  # the first batch stayed sealed

    out = io.StringIO()
    call_command("seal_audit", "--tenant", gamma.slug, "--batch-size", "2", stdout=out)
    assert f"{gamma.slug}: 2 entries sealed so far" in out.getvalue()
    assert f"{gamma.slug}: 3 entries sealed" in out.getvalue()
    assert _sequences(gamma) == list(range(1, 9))
    assert _verify(gamma)[0] == 0


def test_seal_audit_walks_every_tenant(gamma: Organization) -> None:
    _left_unsealed(gamma, 1)
    out = io.StringIO()
    call_command("seal_audit", stdout=out)
    total = Organization.objects.count()
    assert f"[{total}/{total} 100%]" in out.getvalue()
    assert _sequences(gamma)[-1] == 4


def test_seal_audit_refuses_a_bad_batch_and_an_unknown_tenant(committed_db: None) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("seal_audit", "--batch-size", "0")
    with pytest.raises(CommandError, match="No organization"):
        call_command("seal_audit", "--tenant", "nope")


def test_sealing_inside_a_transaction_is_refused(gamma: Organization) -> None:
    # The check for what is left must follow the lock's release: inside a transaction it cannot.
    with tenant_context(gamma), transaction.atomic(), pytest.raises(RuntimeError, match="outside"):
        audit_seal_pending()


# --- One UPDATE sealing many entries (how ``audit_seal`` seals a batch) ---------------------------


@dataclass(frozen=True)
class _Seal:
    """One row of a multi-row seal by hand: ``previous_hash`` None links it to the seal before it in
    the statement (the first to entry 1), ``entry_hash`` None is the digest of the row as sealed."""

    entry_id: int
    sequence: int
    previous_hash: str | None = None
    entry_hash: str | None = None
    object_repr: str | None = None


def _seal_many_by_hand(seals: list[_Seal]) -> None:
    """Seal ``seals`` with ONE UPDATE as the runtime role, their hashes computed beforehand by the
    database's own digest (reads only)."""
    rows = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT entry_hash FROM audit_auditentry WHERE sequence = 1")
        [previous] = cursor.fetchone()
        for seal in seals:
            previous_hash = previous if seal.previous_hash is None else seal.previous_hash
            cursor.execute(
                "SELECT e.object_repr, audit_entry_digest(jsonb_populate_record(e, jsonb_build_object("
                "'sequence', %s::bigint, 'previous_hash', %s::text, "
                "'object_repr', COALESCE(%s, e.object_repr)))) FROM audit_auditentry e WHERE id = %s",
                [seal.sequence, previous_hash, seal.object_repr, seal.entry_id],
            )
            object_repr, digest = cursor.fetchone()
            entry_hash = digest if seal.entry_hash is None else seal.entry_hash
            rows.append(
                (seal.entry_id, seal.sequence, previous_hash, entry_hash, seal.object_repr or object_repr)
            )
            previous = entry_hash
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry e SET sequence = s.sequence, previous_hash = s.previous_hash, "
            "entry_hash = s.entry_hash, object_repr = s.object_repr "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[]) "
            "AS s(id, sequence, previous_hash, entry_hash, object_repr) WHERE e.id = s.id",
            [list(column) for column in zip(*rows, strict=True)],
        )


@pytest.fixture
def one_sealed_two_not(tenant_a: Organization, actor: User) -> list[int]:
    """Three entries of ``tenant_a``, the first sealed (sequence 1), the other two not: their ids."""
    with tenant_context(tenant_a):
        for name in ("One", "Two", "Three"):
            services.entity_create(actor=actor, kind="customer", name=name)
        assert audit_seal_batch(max_rows=1) == 1
        return list(AuditEntry.objects.order_by("id").values_list("id", flat=True))


MULTI_ROW_FORGERIES: dict[str, Callable[[int, int, int], list[_Seal]]] = {
    "a wrong hash": lambda _first, a, b: [_Seal(a, 2), _Seal(b, 3, entry_hash="a" * 64)],
    "a skipped number": lambda _first, a, b: [_Seal(a, 2), _Seal(b, 4)],
    "not after the last sealed": lambda _first, a, b: [_Seal(a, 3), _Seal(b, 4)],
    "two entries swapped": lambda _first, a, b: [_Seal(b, 2), _Seal(a, 3)],
    "a link skipping the entry before": lambda _first, a, b: [_Seal(a, 2), _Seal(b, 3, previous_hash="")],
    "another column changed, hashed": lambda _first, a, b: [_Seal(a, 2), _Seal(b, 3, object_repr="forged")],
    "a sealed entry sealed again": lambda first, a, _b: [_Seal(first, 2, previous_hash=""), _Seal(a, 3)],
    "one good seal, one bad": lambda _first, a, b: [_Seal(a, 2), _Seal(b, 5)],
}


@pytest.mark.django_db
@pytest.mark.parametrize("forgery", MULTI_ROW_FORGERIES.keys())
def test_a_forged_multi_row_seal_is_refused_whole(
    tenant_a: Organization, one_sealed_two_not: list[int], forgery: str, entries_of: Any
) -> None:
    before = [(e.id, e.sequence, e.previous_hash, e.entry_hash, e.object_repr) for e in entries_of(tenant_a)]
    with tenant_context(tenant_a), pytest.raises(DatabaseError, match="append-only"):
        _seal_many_by_hand(MULTI_ROW_FORGERIES[forgery](*one_sealed_two_not))
    after = [(e.id, e.sequence, e.previous_hash, e.entry_hash, e.object_repr) for e in entries_of(tenant_a)]
    assert after == before


@pytest.mark.django_db
def test_the_exact_multi_row_seal_is_accepted(tenant_a: Organization, one_sealed_two_not: list[int]) -> None:
    _first, a, b = one_sealed_two_not
    with tenant_context(tenant_a):
        _seal_many_by_hand([_Seal(a, 2), _Seal(b, 3)])  # what audit_seal does: accepted
        report = audit_chain_verify()
    assert (report.ok, report.entries) == (True, 3)
    assert _sequences(tenant_a) == [1, 2, 3]


@pytest.mark.django_db
def test_a_sealed_entry_updated_to_itself_is_refused(
    tenant_a: Organization, one_sealed_two_not: list[int]
) -> None:
    first = one_sealed_two_not[0]
    with (
        tenant_context(tenant_a),
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditentry SET sequence = sequence WHERE id = %s", [first])


def test_a_large_batch_seals_in_one_statement_and_verifies(gamma: Organization) -> None:
    """``audit_seal`` seals its whole batch with one UPDATE the statement trigger accepts, batch after
    batch continuing the chain."""
    _left_unsealed(gamma, 2500)
    with tenant_context(gamma):
        assert audit_seal_pending(batch=1000) == 2500
    assert _sequences(gamma) == list(range(1, 2504))
    code, output = _verify(gamma)
    assert code == 0, output
    assert f"{gamma.slug}: 2503 entries ok" in output


def _sequential_scans_of_the_trail(cursor: Any) -> int:
    """Sequential scans of the current organization's trail in the current transaction (so far)."""
    cursor.execute(
        "SELECT seq_scan FROM pg_stat_xact_user_tables "
        "WHERE relname = 'audit_auditentry' AND schemaname = current_schema()"
    )
    return int(cursor.fetchone()[0])


@pytest.fixture
def gamma_long_trail(gamma: Organization) -> Organization:
    """``gamma`` with a trail of 20,000 sealed entries, analyzed: a table whose size the planner sees
    (on a handful of rows, a sequential scan is its right choice)."""
    with tenant_context(gamma), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (object_pk, object_repr, action, changes_text, changes, "
            "object_type, request_id, user_agent, actor_email, timestamp, content_type_id, additional_data) "
            "SELECT gen_random_uuid()::text, 'entity', 0, '', '{}', 'entities.entity', '', '', '', now(), "
            "%s, '{}' FROM generate_series(1, 20000)",
            [ContentType.objects.get_for_model(Entity).pk],
        )
        assert audit_seal_pending(batch=5000) == 20000
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(f'ANALYZE "{gamma.schema_name}".audit_auditentry')
    return gamma


@pytest.mark.parametrize("batch", [1, 100])
def test_a_seal_never_reads_the_whole_trail(gamma_long_trail: Organization, batch: int) -> None:
    """A seal and its check find the chain's ends through indexes, so its cost does not grow with the
    trail. 0006's check ("none sealed past this batch") was an EXISTS planned as a sequential scan of
    the organization's whole trail. Ten seals in one session: PL/pgSQL plans the trigger's statements
    generically from the sixth on, and neither plan may scan."""
    _left_unsealed(gamma_long_trail, 10 * batch)
    with tenant_context(gamma_long_trail), transaction.atomic(), connection.cursor() as cursor:
        scans_before = _sequential_scans_of_the_trail(cursor)
        for _ in range(10):
            assert audit_seal_batch(max_rows=batch) == batch
        assert _sequential_scans_of_the_trail(cursor) == scans_before
        transaction.set_rollback(True)
