"""Writes of the ledger. Every function is atomic and validates before it writes a row.

Posting locks the accounts it touches in id order (so two transfers between the same accounts wait for
each other instead of deadlocking), writes the transaction and its postings, and moves the maintained
balances with one ``UPDATE``, all in one database transaction. PostgreSQL checks at commit that the
postings balance (migration ``0002_guarantees``); the checks here come first, with the reason.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_access, audit_change, audit_record, audit_snapshot
from apps.entities.errors import EntityNotFound
from apps.entities.models import Entity
from apps.entities.selectors import EntityViewer, entity_list
from apps.ledger import validators
from apps.ledger.errors import (
    AccountNotFound,
    IdempotencyKeyReused,
    LedgerConflict,
    LedgerInvalid,
)
from apps.ledger.models import Account, IdempotencyKey, Posting, Transaction
from tenants.models import User

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
POSTINGS_MAX = 100
ZERO = Decimal(0)


def _entity_get(entity_id: uuid.UUID | None, *, viewer: EntityViewer | None) -> Entity | None:
    """A live entity ``viewer`` may see; a missing, deleted or hidden one is the same 404."""
    if entity_id is None:
        return None
    entity = entity_list(viewer=viewer).filter(id=entity_id).first()
    if entity is None:
        raise EntityNotFound("No entity has this entity_id.", code="entity_not_found")
    return entity


def _account_save(account: Account, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            account.save(**kwargs)
    except IntegrityError as exc:
        if "ledger_account_code_key" in str(exc):
            raise LedgerConflict(f"An account already has code {account.code!r}.", code="code_taken") from exc
        raise  # pragma: no cover - every other constraint is checked above first


def _type_clean(value: str) -> str:
    if value not in Account.Type.values:
        raise LedgerInvalid(f"type must be one of {', '.join(Account.Type.values)}.", field="type")
    return value


@transaction.atomic
def account_create(
    *,
    actor: User,
    code: str,
    name: str,
    type: str,
    currency: str,
    entity_id: uuid.UUID | None = None,
    viewer: EntityViewer | None = None,
) -> Account:
    """Open an account; its code is unique in the organization, its currency fixed for good."""
    account = Account(
        code=validators.text_clean(code, field="code", max_length=validators.CODE_MAX),
        name=validators.text_clean(name, field="name", max_length=validators.NAME_MAX),
        type=_type_clean(type),
        currency=validators.currency_clean(currency),
        entity=_entity_get(entity_id, viewer=viewer),
        created_by=actor,
    )
    _account_save(account, force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=account, actor=actor)
    return account


@transaction.atomic
def account_update(
    *, actor: User, account: Account, changes: dict[str, Any], viewer: EntityViewer | None = None
) -> Account:
    """Change ``code``, ``name``, ``type``, ``entity_id`` or ``archived`` (archive, never delete).

    The currency and the balances are not changeable: postings depend on them.
    """
    before = audit_snapshot(account)
    for field, value in changes.items():
        if field == "entity_id":
            account.entity = _entity_get(value, viewer=viewer)
        elif value is None:
            raise LedgerInvalid(f"{field} cannot be null.", field=field)
        elif field == "type":
            account.type = _type_clean(value)
        elif field == "archived":
            account.archived = bool(value)
        elif field in ("code", "name"):
            limit = validators.CODE_MAX if field == "code" else validators.NAME_MAX
            setattr(account, field, validators.text_clean(value, field=field, max_length=limit))
        else:
            raise LedgerInvalid(f"{field} cannot be changed.", field=field)
    fields = [field.removesuffix("_id") for field in changes] + ["updated_at"]
    _account_save(account, update_fields=fields)
    audit_change(action=AuditEntry.Action.UPDATE, instance=account, before=before, actor=actor, fields=fields)
    return account


@dataclass(frozen=True)
class _Line:
    account_id: uuid.UUID
    amount: Decimal


def _lines_clean(postings: Sequence[dict[str, Any]], *, currency: str) -> list[_Line]:
    """Each posting's amount valid for ``currency``; at least two; summing to exactly zero."""
    if not 2 <= len(postings) <= POSTINGS_MAX:
        raise LedgerInvalid(
            f"A transaction has 2 to {POSTINGS_MAX} postings; this one has {len(postings)}.",
            field="postings",
            code="postings_count",
        )
    lines = [
        _Line(
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
            f"The postings must sum to zero; they sum to {total}.", field="postings", code="unbalanced"
        )
    return lines


def _accounts_lock(lines: list[_Line], *, currency: str, allow_archived: bool = False) -> None:
    """Lock the lines' accounts in id order (deadlock-free) and check each one may take the posting."""
    ids = sorted({line.account_id for line in lines})
    accounts = {
        account.id: account
        for account in Account.objects.select_for_update().filter(id__in=ids).order_by("id")
    }
    for index, line in enumerate(lines):
        account = accounts.get(line.account_id)
        where = f"postings.{index}.account_id"
        if account is None:
            raise AccountNotFound(f"{where}: no account has this id.")
        if account.archived and not allow_archived:
            raise LedgerInvalid(
                f"{where}: account {account.code} is archived.", field=where, code="account_archived"
            )
        if account.currency != currency:
            raise LedgerInvalid(
                f"{where}: account {account.code} is in {account.currency}, the transaction in {currency}; "
                "a transaction has one currency.",
                field=where,
                code="currency_mismatch",
            )


def _balances_move(lines: list[_Line], *, posted: int, pending: int) -> None:
    """Add ``posted`` (1, 0 or -1) times each amount to ``balance``, ``pending`` times to
    ``pending_balance``: one statement, on rows ``_accounts_lock`` already holds."""
    totals: dict[uuid.UUID, Decimal] = {}
    for line in lines:
        totals[line.account_id] = totals.get(line.account_id, ZERO) + line.amount
    ids = sorted(totals)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ledger_account a SET balance = a.balance + %s * d.amount, "
                "pending_balance = a.pending_balance + %s * d.amount "
                "FROM unnest(%s::uuid[], %s::numeric[]) AS d(id, amount) WHERE a.id = d.id",
                [posted, pending, ids, [totals[account_id] for account_id in ids]],
            )
    except DataError as exc:  # numeric field overflow: the caller's transaction is rolled back
        raise LedgerConflict(
            "This posting would take an account's balance beyond what the ledger can hold.",
            code="balance_overflow",
        ) from exc


def _audit_created(txn: Transaction, lines: list[_Line], *, actor: User) -> None:
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
    audit_record(action=AuditEntry.Action.CREATE, instance=txn, changes=changes, actor=actor)


def _transaction_write(
    *, actor: User, txn: Transaction, lines: list[_Line], allow_archived: bool = False
) -> Transaction:
    _accounts_lock(lines, currency=txn.currency, allow_archived=allow_archived)
    txn.save(force_insert=True)
    Posting.objects.bulk_create(
        [Posting(transaction=txn, account_id=line.account_id, amount=line.amount) for line in lines]
    )
    posted = 1 if txn.state == Transaction.State.POSTED else 0
    _balances_move(lines, posted=posted, pending=1)
    _audit_created(txn, lines, actor=actor)
    return txn


def _transaction_create(
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
    """Record a transaction, ``posted`` (balances move) or ``pending`` (only ``pending_balance`` does).

    ``postings``: ``[{"account_id": UUID, "amount": "-10.00"}, ...]``, amounts as decimal strings.
    """
    currency = validators.currency_clean(currency)
    if state not in (Transaction.State.POSTED, Transaction.State.PENDING):
        raise LedgerInvalid("state must be posted or pending.", field="state")
    lines = _lines_clean(postings, currency=currency)
    txn = Transaction(
        description=validators.text_clean(
            description, field="description", max_length=validators.DESCRIPTION_MAX
        ),
        currency=currency,
        effective_date=effective_date or timezone.localdate(),
        reference=validators.optional_text_clean(
            reference, field="reference", max_length=validators.REFERENCE_MAX
        ),
        entity=_entity_get(entity_id, viewer=viewer),
        state=state,
        created_by=actor,
    )
    return _transaction_write(actor=actor, txn=txn, lines=lines)


# The atomic entry point. ``transaction_create_idempotent`` calls the body inside its own transaction,
# which saves a savepoint's two round-trips on every posting.
transaction_create = transaction.atomic(_transaction_create)


@dataclass(frozen=True)
class IdempotentResult:
    """What ``POST /transactions/`` answers: the first response to its key, replayed or new."""

    status: int
    body: dict[str, Any]
    replayed: bool


def request_fingerprint(request: dict[str, Any]) -> str:
    """SHA-256 of the request body's canonical JSON: equal bodies, equal fingerprints."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_claim(*, key: str, fingerprint: str) -> bool:
    """Insert the key's row first, so a concurrent request with the same key waits on the unique
    index until this transaction ends; a key older than the TTL is taken over. False: already taken."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_idempotencykey (key, fingerprint, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
            "created_at = EXCLUDED.created_at, status = NULL, response = NULL, transaction_id = NULL "
            "WHERE ledger_idempotencykey.created_at < %s RETURNING id",
            [key, fingerprint, now, now - IDEMPOTENCY_KEY_TTL],
        )
        return cursor.fetchone() is not None


def _key_replay(*, key: str, fingerprint: str) -> IdempotentResult:
    stored = IdempotencyKey.objects.select_related("transaction").get(key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    # The row is completed in the transaction that inserted it, so a committed row is complete.
    assert stored.status is not None  # noqa: S101
    assert stored.transaction is not None  # noqa: S101
    assert isinstance(stored.response, dict)  # noqa: S101
    audit_access(instance=stored.transaction)
    return IdempotentResult(status=stored.status, body=stored.response, replayed=True)


@transaction.atomic
def transaction_create_idempotent(
    *,
    actor: User,
    key: str,
    request: dict[str, Any],
    render: Callable[[Transaction], dict[str, Any]],
    viewer: EntityViewer | None = None,
) -> IdempotentResult:
    """``transaction_create`` at most once per ``key``: the same key and body again answer the first
    response (same id, same status) without posting; the same key with another body is a conflict.

    ``request`` is the validated body (``transaction_create``'s keyword arguments); ``render`` turns the
    new transaction into the response body that is stored for replays.
    """
    fingerprint = request_fingerprint(request)
    if not _key_claim(key=key, fingerprint=fingerprint):
        return _key_replay(key=key, fingerprint=fingerprint)
    # Not the atomic ``transaction_create``: this function's transaction is enough (no savepoint).
    txn = _transaction_create(actor=actor, viewer=viewer, **request)
    body = render(txn)
    IdempotencyKey.objects.filter(key=key).update(status=201, response=body, transaction=txn)
    return IdempotentResult(status=201, body=body, replayed=False)


def _locked(txn: Transaction) -> Transaction:
    """The transaction's row, locked: state changes of one transaction happen one at a time."""
    return Transaction.objects.select_for_update().get(pk=txn.pk)


def _lines_of(txn: Transaction) -> list[_Line]:
    return [
        _Line(account_id=account_id, amount=amount)
        for account_id, amount in Posting.objects.filter(transaction=txn)
        .order_by("id")
        .values_list("account_id", "amount")
    ]


def _state_change(*, actor: User, txn: Transaction, state: str, posted: int, pending: int) -> Transaction:
    txn = _locked(txn)
    if txn.state != Transaction.State.PENDING:
        raise LedgerConflict(
            f"Only a pending transaction can become {state}; this one is {txn.state}.",
            code="transaction_not_pending",
        )
    before = audit_snapshot(txn)
    lines = _lines_of(txn)
    _accounts_lock(lines, currency=txn.currency, allow_archived=True)
    txn.state = state
    txn.save(update_fields=["state", "updated_at"])
    _balances_move(lines, posted=posted, pending=pending)
    audit_change(action=AuditEntry.Action.UPDATE, instance=txn, before=before, actor=actor, fields=["state"])
    return txn


@transaction.atomic
def transaction_post(*, actor: User, txn: Transaction) -> Transaction:
    """Post a pending transaction: its amounts join the posted balances."""
    return _state_change(actor=actor, txn=txn, state=Transaction.State.POSTED, posted=1, pending=0)


@transaction.atomic
def transaction_void(*, actor: User, txn: Transaction) -> Transaction:
    """Void a pending transaction: its amounts leave the pending balances. A posted one is reversed."""
    return _state_change(actor=actor, txn=txn, state=Transaction.State.VOIDED, posted=0, pending=-1)


@transaction.atomic
def transaction_reverse(*, actor: User, txn: Transaction, effective_date: date | None = None) -> Transaction:
    """Undo a posted transaction with a new posted one of opposite amounts pointing at it (once).

    Archived accounts take a reversal: undoing a mistake must stay possible after archiving.
    """
    original = _locked(txn)
    if original.state != Transaction.State.POSTED:
        raise LedgerConflict(
            f"Only a posted transaction can be reversed; this one is {original.state}.", code="not_posted"
        )
    if Transaction.objects.filter(reverses=original).exists():
        raise LedgerConflict("This transaction has already been reversed.", code="already_reversed")
    lines = [_Line(account_id=line.account_id, amount=-line.amount) for line in _lines_of(original)]
    reversal = Transaction(
        description=f"Reversal of {original.description}"[: validators.DESCRIPTION_MAX],
        currency=original.currency,
        effective_date=effective_date or timezone.localdate(),
        reference=original.reference,
        entity_id=original.entity_id,
        state=Transaction.State.POSTED,
        reverses=original,
        created_by=actor,
    )
    return _transaction_write(actor=actor, txn=reversal, lines=lines, allow_archived=True)


def idempotency_keys_purge(*, older_than: timedelta = IDEMPOTENCY_KEY_TTL) -> int:
    """Delete the current organization's idempotency keys older than ``older_than`` (at least the
    24-hour TTL, never less); return how many."""
    cutoff = timezone.now() - max(older_than, IDEMPOTENCY_KEY_TTL)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
