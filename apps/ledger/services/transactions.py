"""Writes of transactions: create, post, void, reverse. Every function is atomic and validates first.

Posting locks the accounts it touches in id order (so two transfers between the same accounts wait for
each other instead of deadlocking), writes the transaction and its postings, and moves the maintained
balances with one ``UPDATE``, all in one database transaction. PostgreSQL checks at commit that the
postings balance (migration ``0002_guarantees``); the checks here come first, with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import DataError, connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.ledger import validators
from apps.ledger.errors import AccountNotFound, LedgerConflict, LedgerErrorCode, LedgerInvalid
from apps.ledger.models import Account, Posting, Transaction
from tenants.models import User

POSTINGS_MAX = 100
ZERO = Decimal(0)


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
            code=LedgerErrorCode.POSTINGS_COUNT,
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
            f"The postings must sum to zero; they sum to {total}.",
            field="postings",
            code=LedgerErrorCode.UNBALANCED,
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
                f"{where}: account {account.code} is archived.",
                field=where,
                code=LedgerErrorCode.ACCOUNT_ARCHIVED,
            )
        if account.currency != currency:
            raise LedgerInvalid(
                f"{where}: account {account.code} is in {account.currency}, the transaction in {currency}; "
                "a transaction has one currency.",
                field=where,
                code=LedgerErrorCode.CURRENCY_MISMATCH,
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
            code=LedgerErrorCode.BALANCE_OVERFLOW,
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
    in the caller's database transaction (``transaction_create`` is the atomic one).

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
        entity=entity_linked_get(entity_id, viewer=viewer),
        state=state,
        created_by=actor,
    )
    return _transaction_write(actor=actor, txn=txn, lines=lines)


# The atomic entry point. ``transaction_create_idempotent`` calls the body inside its own transaction,
# which saves a savepoint's two round-trips on every posting.
transaction_create = transaction.atomic(transaction_record)


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
            code=LedgerErrorCode.TRANSACTION_NOT_PENDING,
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
            f"Only a posted transaction can be reversed; this one is {original.state}.",
            code=LedgerErrorCode.NOT_POSTED,
        )
    if Transaction.objects.filter(reverses=original).exists():
        raise LedgerConflict(
            "This transaction has already been reversed.", code=LedgerErrorCode.ALREADY_REVERSED
        )
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
