"""Writes of transactions: create, post, void, reverse. Every function is atomic and validates first.

A transaction is written by one database function (migration ``0003_transaction_write``): it locks the
accounts the postings touch in id order (so two transfers between the same accounts wait for each other
instead of deadlocking), checks them, writes the transaction and its postings and moves the maintained
balances, in one round trip. PostgreSQL checks at commit that the postings balance (migration
``0002_guarantees``); the checks here and in that function come first, with the reason.

A refused write has written nothing when it raises, so the functions here run in the caller's
transaction when there is one (no savepoint) and in one of their own otherwise.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import DataError, connection
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.ledger import validators
from apps.ledger.currencies import MAX_MINOR_UNITS
from apps.ledger.errors import (
    AccountNotFound,
    LedgerConflict,
    LedgerErrorCode,
    LedgerInvalid,
    TransactionNotFound,
)
from apps.ledger.models import BALANCE_DIGITS, Posting, Transaction
from apps.ledger.services.atomic import atomic_unless_inside
from apps.notifications.events import (
    transaction_created_emit,
    transaction_event_emit,
    transactions_created_emit,
)
from tenants.models import User

POSTINGS_MAX = 100
ZERO = Decimal(0)
# A balance column holds less than this in absolute value (numeric(BALANCE_DIGITS, MAX_MINOR_UNITS)).
BALANCE_LIMIT = Decimal(10) ** (BALANCE_DIGITS - MAX_MINOR_UNITS)


@dataclass(frozen=True)
class PostingLine:
    """One posting of a transaction about to be written (or read back): its account and amount."""

    account_id: uuid.UUID
    amount: Decimal


@dataclass(frozen=True)
class KeyClaim:
    """The ``Idempotency-Key`` a write claims, and the response it stores for replays."""

    key: str
    fingerprint: str
    expired_before: datetime
    response: dict[str, Any]


@dataclass(frozen=True)
class Replay:
    """What a key already used (and not expired) stored: the caller answers it instead of writing."""

    fingerprint: str
    status: int | None
    response: Any
    transaction_id: uuid.UUID | None


def _lines_clean(postings: Sequence[dict[str, Any]], *, currency: str) -> list[PostingLine]:
    """Each posting's amount valid for ``currency``; at least two; summing to exactly zero."""
    if not 2 <= len(postings) <= POSTINGS_MAX:
        raise LedgerInvalid(
            f"A transaction has 2 to {POSTINGS_MAX} postings; this one has {len(postings)}.",
            field="postings",
            code=LedgerErrorCode.POSTINGS_COUNT,
        )
    lines = [
        PostingLine(
            account_id=posting["account_id"],
            amount=validators.amount_clean(
                posting.get("amount"), currency=currency, field=f"postings.{index}.amount"
            ),
        )
        for index, posting in enumerate(postings)
    ]
    total = sum((line.amount for line in lines), ZERO)
    if total != 0:
        raise LedgerInvalid(
            f"The postings must sum to zero; they sum to {total}.",
            field="postings",
            code=LedgerErrorCode.UNBALANCED,
        )
    return lines


def _overflow() -> LedgerConflict:
    return LedgerConflict(
        "This posting would take an account's balance beyond what the ledger can hold.",
        code=LedgerErrorCode.BALANCE_OVERFLOW,
    )


def _refusal(outcome: str, *, index: int, code: str, account_currency: str, currency: str) -> Exception:
    """The error of a write ``ledger_transaction_write`` refused (``outcome``), for posting ``index``."""
    where = f"postings.{index}.account_id"
    if outcome == "account_not_found":
        return AccountNotFound(f"{where}: no account has this id.")
    if outcome == "account_archived":
        return LedgerInvalid(
            f"{where}: account {code} is archived.", field=where, code=LedgerErrorCode.ACCOUNT_ARCHIVED
        )
    if outcome == "currency_mismatch":
        return LedgerInvalid(
            f"{where}: account {code} is in {account_currency}, the transaction in {currency}; "
            "a transaction has one currency.",
            field=where,
            code=LedgerErrorCode.CURRENCY_MISMATCH,
        )
    return _overflow()


_WRITE_SQL = (
    "SELECT * FROM ledger_transaction_write(%s::uuid, %s::text, %s::text, %s::date, %s::text, %s::uuid, "
    "%s::text, %s::uuid, %s::timestamptz, %s::uuid, %s::uuid[], %s::numeric[], %s::boolean, %s::numeric, "
    "%s::text, %s::text, %s::timestamptz, %s::jsonb, %s::uuid)"
)


def transaction_write(
    txn: Transaction,
    lines: Sequence[PostingLine],
    *,
    allow_archived: bool = False,
    claim: KeyClaim | None = None,
) -> Replay | None:
    """Write ``txn`` (built by ``transaction_prepare``; with the ``source_import`` an import sets) and
    its postings, and move the balances: one statement. With ``claim``, at most once per key: a key
    already used answers its ``Replay`` and nothing is written. A refused write (account missing,
    archived, in another currency, a balance overflowing) raises having written nothing, the key given
    back."""
    key: list[Any] = [None, None, None, None]
    if claim is not None:
        key = [claim.key, claim.fingerprint, claim.expired_before, json.dumps(claim.response)]
    params = [
        txn.id,
        txn.description,
        txn.currency,
        txn.effective_date,
        txn.reference,
        txn.entity_id,
        txn.state,
        txn.reverses_id,
        txn.created_at,
        txn.created_by_id,
        [line.account_id for line in lines],
        [line.amount for line in lines],
        allow_archived,
        BALANCE_LIMIT,
        *key,
        txn.source_import,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_SQL, params)
        outcome, index, code, account_currency, *replay = cursor.fetchone()
    if outcome == "created":
        return None
    if outcome == "replay":
        fingerprint, status, response, transaction_id = replay
        if isinstance(response, str):
            response = json.loads(response)
        return Replay(
            fingerprint=fingerprint, status=status, response=response, transaction_id=transaction_id
        )
    raise _refusal(outcome, index=index, code=code, account_currency=account_currency, currency=txn.currency)


def transaction_audit(txn: Transaction, lines: Sequence[PostingLine], *, actor: User) -> None:
    """The ``create`` entry of a transaction just written (``_create_audit``), and its event."""
    _create_audit(txn, lines, actor=actor)
    transaction_created_emit(txn=txn, lines=lines, actor_id=actor.id)


def _create_audit(txn: Transaction, lines: Sequence[PostingLine], *, actor: User) -> None:
    """The ``create`` entry of a transaction just written: its fields and its postings (redacted by
    ``apps.audit``)."""
    changes: dict[str, list[Any]] = {
        field: [None, None if value is None else str(value)]
        for field, value in (
            ("description", txn.description),
            ("currency", txn.currency),
            ("effective_date", txn.effective_date),
            ("reference", txn.reference),
            ("entity", txn.entity_id),
            ("state", txn.state),
            ("reverses", txn.reverses_id),
        )
    }
    changes["postings"] = [None, [[str(line.account_id), str(line.amount)] for line in lines]]
    if txn.source_import is not None:  # written by an import (apps.imports)
        changes["source_import"] = [None, str(txn.source_import)]
    audit_record(action=AuditEntry.Action.CREATE, instance=txn, changes=changes, actor=actor)


def transaction_prepare(
    *,
    actor: User,
    description: str,
    currency: str,
    postings: Sequence[dict[str, Any]],
    effective_date: date | None = None,
    reference: str | None = None,
    entity_id: uuid.UUID | None = None,
    state: str = Transaction.State.POSTED,
    viewer: EntityViewer | None = None,
) -> tuple[Transaction, list[PostingLine]]:
    """The transaction a request asks for and its postings, validated, not written yet (its id and
    timestamps are set here). The accounts are checked when it is written (``transaction_write``)."""
    currency = validators.currency_clean(currency)
    if state not in (Transaction.State.POSTED, Transaction.State.PENDING):
        raise LedgerInvalid("state must be posted or pending.", field="state")
    lines = _lines_clean(postings, currency=currency)
    now = timezone.now()
    txn = Transaction(
        description=validators.text_clean(
            description, field="description", max_length=validators.DESCRIPTION_MAX
        ),
        currency=currency,
        effective_date=effective_date or timezone.localdate(),
        reference=validators.optional_text_clean(
            reference, field="reference", max_length=validators.REFERENCE_MAX
        ),
        entity=entity_linked_get(entity_id, viewer=viewer),
        state=state,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    return txn, lines


def transaction_record(
    *,
    actor: User,
    description: str,
    currency: str,
    postings: Sequence[dict[str, Any]],
    effective_date: date | None = None,
    reference: str | None = None,
    entity_id: uuid.UUID | None = None,
    state: str = Transaction.State.POSTED,
    viewer: EntityViewer | None = None,
) -> Transaction:
    """Record a transaction, ``posted`` (balances move) or ``pending`` (only ``pending_balance`` does),
    in the caller's database transaction (``transaction_create`` opens one when there is none).

    ``postings``: ``[{"account_id": UUID, "amount": "-10.00"}, ...]``, amounts as decimal strings.
    """
    txn, lines = transaction_prepare(
        actor=actor,
        description=description,
        currency=currency,
        postings=postings,
        effective_date=effective_date,
        reference=reference,
        entity_id=entity_id,
        state=state,
        viewer=viewer,
    )
    transaction_write(txn, lines)
    transaction_audit(txn, lines, actor=actor)
    return txn


def transactions_record_many(
    *, actor: User, requests: Sequence[dict[str, Any]], source_import: uuid.UUID | None = None
) -> list[Transaction]:
    """``transaction_record`` for each of ``requests`` (its keyword arguments but ``actor``), in the
    caller's database transaction, tagged with ``source_import`` (an import's batch): each validated,
    written (one statement each: its accounts locked, its balances moved) and audited as one would be;
    their events in one statement."""
    written: list[tuple[Transaction, list[PostingLine]]] = []
    for request in requests:
        txn, lines = transaction_prepare(actor=actor, **request)
        txn.source_import = source_import
        transaction_write(txn, lines)
        _create_audit(txn, lines, actor=actor)
        written.append((txn, lines))
    transactions_created_emit(written=written, actor_id=actor.id)
    return [txn for txn, _ in written]


def transaction_create(**kwargs: Any) -> Transaction:
    """``transaction_record``, atomic: in the caller's transaction, or in one of its own."""
    with atomic_unless_inside():
        return transaction_record(**kwargs)


def _state_change(*, actor: User, txn: Transaction, state: str, posted: int, pending: int) -> Transaction:
    """One statement: the row locked, then its accounts in id order, the state set, the balances
    moved. ``txn`` is updated in place (only ``state`` and ``updated_at`` of a transaction change, so
    the rest of it, its postings too, is what the database holds)."""
    now = timezone.now()
    with atomic_unless_inside():
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT ledger_transaction_state_set(%s::uuid, %s::text, %s::integer, %s::integer, "
                    "%s::timestamptz)",
                    [txn.pk, state, posted, pending, now],
                )
                (previous,) = cursor.fetchone()
        except DataError as exc:  # numeric field overflow: the caller's transaction is rolled back
            raise _overflow() from exc
        if previous is None:
            raise TransactionNotFound()
        if previous != Transaction.State.PENDING:
            raise LedgerConflict(
                f"Only a pending transaction can become {state}; this one is {previous}.",
                code=LedgerErrorCode.TRANSACTION_NOT_PENDING,
            )
        before = audit_snapshot(txn)
        setattr(before, "state", previous)  # noqa: B010 - a snapshot is a plain Model to mypy
        txn.state, txn.updated_at = state, now
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=txn, before=before, actor=actor, fields=["state"]
        )
        transaction_event_emit(
            event_type=f"transaction.{state}", txn=txn, lines=_lines_of(txn), actor_id=actor.id
        )
    return txn


def transaction_post(*, actor: User, txn: Transaction) -> Transaction:
    """Post a pending transaction: its amounts join the posted balances."""
    return _state_change(actor=actor, txn=txn, state=Transaction.State.POSTED, posted=1, pending=0)


def transaction_void(*, actor: User, txn: Transaction) -> Transaction:
    """Void a pending transaction: its amounts leave the pending balances. A posted one is reversed."""
    return _state_change(actor=actor, txn=txn, state=Transaction.State.VOIDED, posted=0, pending=-1)


def _lines_of(txn: Transaction) -> list[PostingLine]:
    """The postings of ``txn`` in their order: the ones it holds (prefetched), else read (they never
    change once written)."""
    cached = getattr(txn, "_prefetched_objects_cache", {}).get("postings")
    if cached is not None:
        postings: list[Posting] = sorted(cached, key=lambda posting: posting.id)
        return [PostingLine(account_id=p.account_id, amount=p.amount) for p in postings]
    return [
        PostingLine(account_id=account_id, amount=amount)
        for account_id, amount in Posting.objects.filter(transaction=txn)
        .order_by("id")
        .values_list("account_id", "amount")
    ]


def transaction_reverse(*, actor: User, txn: Transaction, effective_date: date | None = None) -> Transaction:
    """Undo a posted transaction with a new posted one of opposite amounts pointing at it (once).

    Archived accounts take a reversal: undoing a mistake must stay possible after archiving.
    """
    with atomic_unless_inside():
        # The original's row locked first: two reversals of it happen one after the other, and the
        # second one's check (a statement of its own, so it sees the first) refuses it.
        original = Transaction.objects.select_for_update().filter(pk=txn.pk).values_list("state", flat=True)
        state = original.first()
        if state is None:
            raise TransactionNotFound()
        if state != Transaction.State.POSTED:
            raise LedgerConflict(
                f"Only a posted transaction can be reversed; this one is {state}.",
                code=LedgerErrorCode.NOT_POSTED,
            )
        if Transaction.objects.filter(reverses_id=txn.pk).exists():
            raise LedgerConflict(
                "This transaction has already been reversed.", code=LedgerErrorCode.ALREADY_REVERSED
            )
        lines = [PostingLine(account_id=line.account_id, amount=-line.amount) for line in _lines_of(txn)]
        now = timezone.now()
        reversal = Transaction(
            description=f"Reversal of {txn.description}"[: validators.DESCRIPTION_MAX],
            currency=txn.currency,
            effective_date=effective_date or timezone.localdate(),
            reference=txn.reference,
            entity_id=txn.entity_id,
            state=Transaction.State.POSTED,
            reverses_id=txn.pk,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        transaction_write(reversal, lines, allow_archived=True)
        transaction_audit(reversal, lines, actor=actor)
    return reversal
