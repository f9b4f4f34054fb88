"""Imports of the ledger: accounts (``ledger_accounts``) and transactions (``ledger_transactions``).

Each row is checked with the ledger's own validators and services (``apps.ledger.validators``,
``apps.ledger.services``), never a copy of their rules, and written through their path (audited, events
emitted, balances moved in the statement that writes the postings).

Transactions: the rows of one transaction are consecutive and share its ``reference``; it is written
whole or not at all (in ``valid_rows`` mode too: a transaction with one bad row is skipped, its other
rows reported ``group_invalid``). Accounts are named by code and must exist in the organization when
the file is read (import the accounts first: a transactions file cannot name an account it creates).
The ledger is append-only: undoing a transactions import reverses each of its transactions (a new
posted transaction of opposite amounts, ``transaction_reverse``) and voids the pending ones; nothing is
deleted. Undoing an accounts import deletes its accounts, refused while any of them has postings.
An account or a transaction may name its entity (``entity``: ``kind:reference``, ``importers.linked``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.db.models import Q

from apps.imports.base import BATCH_ROWS, Column, ImportContext, Importer, IssueCode, RowIssue, SourceRow
from apps.imports.errors import ImportNotUndoable
from apps.imports.importers.linked import ENTITY_COLUMN, Key, entities_found, entity_key, entity_viewer
from apps.ledger import validators
from apps.ledger.errors import LedgerConflict, LedgerErrorCode, LedgerInvalid
from apps.ledger.models import Account, Transaction
from apps.ledger.services.accounts import account_create, type_clean
from apps.ledger.services.transactions import (
    transaction_prepare,
    transaction_reverse,
    transaction_void,
    transactions_record_many,
)
from hub.errors import HubError


def cell_text(row: SourceRow, column: str) -> str | None:
    """The cell as text (numbers as written, ``None`` when empty or absent); a boolean is refused."""
    value = row.values.get(column)
    if value is None:
        return None
    if isinstance(value, bool):
        raise LedgerInvalid(f"{column} must be text, not a boolean.", field=column)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip(" ") else None


def issue_of(row: SourceRow, exc: HubError, *, column: str) -> RowIssue:
    """The report line of a service's refusal of ``row``."""
    return RowIssue(row=row.number, column=column, code=IssueCode.INVALID, message=exc.detail)


def required(row: SourceRow, column: str) -> str:
    value = cell_text(row, column)
    if value is None:
        raise _Missing(column)
    return value


class _Missing(Exception):
    """A required cell is empty."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _missing_issue(row: SourceRow, missing: _Missing) -> RowIssue:
    return RowIssue(
        row=row.number,
        column=missing.column,
        code=IssueCode.REQUIRED,
        message=f"{missing.column} is required.",
    )


def batches(rows: Iterable[SourceRow], size: int = BATCH_ROWS) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AccountDraft:
    code: str
    name: str
    type: str
    currency: str
    entity: Key | None = None


class LedgerAccountsImporter(Importer):
    """Accounts of the chart, as ``POST /api/v1/transactions/accounts`` takes them."""

    type = "ledger_accounts"
    label = "Ledger accounts"
    columns = (
        Column("code", "The account's code, unique in the organization (1 to 40 characters).", "1000", True),
        Column("name", "The account's name (1 to 200 characters).", "Bank", True),
        Column("type", "asset, liability, equity, income or expense.", "asset", True),
        Column("currency", "ISO 4217 code in upper case; fixed for good.", "EUR", True),
        ENTITY_COLUMN,
    )

    def _draft(self, row: SourceRow) -> tuple[_AccountDraft | None, list[RowIssue]]:
        issues: list[RowIssue] = []
        values: dict[str, str] = {}
        cleaners: dict[str, Callable[[str], str]] = {
            "code": lambda v: validators.text_clean(v, field="code", max_length=validators.CODE_MAX),
            "name": lambda v: validators.text_clean(v, field="name", max_length=validators.NAME_MAX),
            "type": type_clean,
            "currency": validators.currency_clean,
        }
        for column, clean in cleaners.items():
            try:
                values[column] = clean(required(row, column))
            except _Missing as missing:
                issues.append(_missing_issue(row, missing))
            except LedgerInvalid as exc:
                issues.append(issue_of(row, exc, column=column))
        try:
            entity = entity_key(row.values.get("entity"))
        except ValueError as exc:
            issues.append(RowIssue(row.number, "entity", IssueCode.INVALID, str(exc)))
        if issues:
            return None, issues
        return _AccountDraft(**values, entity=entity), []

    def validate(self, rows: Iterable[SourceRow]) -> Iterator[RowIssue]:
        seen: set[str] = set()
        for batch in batches(rows):
            drafts = [(row, *self._draft(row)) for row in batch]
            codes = {draft.code for _, draft, _ in drafts if draft is not None}
            taken = set(Account.objects.filter(code__in=codes).values_list("code", flat=True))
            linked = entities_found({d.entity for _, d, _ in drafts if d and d.entity}, context=self.context)
            for row, draft, issues in drafts:
                yield from issues
                if draft is None:
                    continue
                if draft.entity is not None and draft.entity not in linked:
                    kind, reference = draft.entity
                    yield RowIssue(
                        row.number,
                        "entity",
                        IssueCode.UNKNOWN_REFERENCE,
                        f"No live entity {kind}:{reference[:100]} is visible to you.",
                    )
                if draft.code in seen:
                    yield RowIssue(
                        row.number,
                        "code",
                        IssueCode.DUPLICATE_IN_FILE,
                        f"Code {draft.code!r} is already in the file.",
                    )
                elif draft.code in taken:
                    yield RowIssue(
                        row.number, "code", IssueCode.CONFLICT, f"An account already has code {draft.code!r}."
                    )
                seen.add(draft.code)

    def commit(self, rows: Iterable[SourceRow], *, skip: Container[int]) -> Iterator[int]:
        handled = 0
        for batch in batches(rows):
            drafts = [(row, *self._draft(row)) for row in batch if row.number not in skip]
            linked = entities_found({d.entity for _, d, _ in drafts if d and d.entity}, context=self.context)
            for _, draft, issues in drafts:
                if draft is None:  # pragma: no cover - validate reported it, the framework skips it
                    raise LedgerInvalid(issues[0].message, field=issues[0].column)
                account_create(
                    actor=self.context.actor,
                    code=draft.code,
                    name=draft.name,
                    type=draft.type,
                    currency=draft.currency,
                    entity_id=None if draft.entity is None else linked[draft.entity],
                    viewer=entity_viewer(self.context),
                    source_import=self.context.import_id,
                )
                handled += 1
            yield handled

    def undo(self) -> int:
        """Delete the import's accounts (each audited as a deletion), refused while any has postings:
        the ledger never loses a posting, so such an account stays (archive it instead)."""
        accounts = Account.objects.filter(source_import=self.context.import_id)
        used = list(
            accounts.filter(postings__isnull=False).distinct().order_by("code").values_list("code", flat=True)
        )
        if used:
            shown = ", ".join(used[:10]) + (" ..." if len(used) > 10 else "")
            raise ImportNotUndoable(
                f"{len(used)} accounts of this import have postings ({shown}); archive them instead."
            )
        deleted = 0
        for account in accounts.order_by("code"):  # one by one: each deletion audited (apps.audit)
            account.delete()
            deleted += 1
        return deleted


# --- Transactions -------------------------------------------------------------------------------

# The columns every row of a transaction repeats or leaves empty (its first row's value holds).
_HEADER_COLUMNS = ("description", "currency", "effective_date", "state", "entity")


@dataclass
class _Group:
    """The rows of one transaction in the file."""

    reference: str
    rows: list[SourceRow] = field(default_factory=list)


def _groups(rows: Iterable[SourceRow]) -> Iterator[_Group | SourceRow]:
    """Consecutive rows of one reference as a group; a row without reference alone."""
    current: _Group | None = None
    for row in rows:
        try:
            reference = validators.optional_text_clean(
                cell_text(row, "reference"), field="reference", max_length=validators.REFERENCE_MAX
            )
        except LedgerInvalid:
            reference = None
        if reference is None:
            if current is not None:
                yield current
                current = None
            yield row
        elif current is not None and current.reference == reference:
            current.rows.append(row)
        else:
            if current is not None:
                yield current
            current = _Group(reference, [row])
    if current is not None:
        yield current


def _group_batches(rows: Iterable[SourceRow]) -> Iterator[list[_Group | SourceRow]]:
    """Whole groups, about ``BATCH_ROWS`` rows at a time."""
    batch: list[_Group | SourceRow] = []
    count = 0
    for item in _groups(rows):
        batch.append(item)
        count += len(item.rows) if isinstance(item, _Group) else 1
        if count >= BATCH_ROWS:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


@dataclass(frozen=True)
class _Lookups:
    """What one batch's references name in the organization (one query each)."""

    accounts: dict[str, Account]
    references_used: set[str]
    entities: dict[Key, uuid.UUID]

    @classmethod
    def of(cls, batch: list[_Group | SourceRow], context: ImportContext) -> _Lookups:
        groups = [item for item in batch if isinstance(item, _Group)]
        keys = {key for group in groups if (key := _quiet_entity(group.rows[0])) is not None}
        codes = {
            code.strip(" ")
            for group in groups
            for row in group.rows
            if (code := _quiet_text(row, "account")) is not None
        }
        accounts = {account.code: account for account in Account.objects.filter(code__in=codes)}
        references = {group.reference for group in groups}
        # A reference held by a live transaction: one reversed (an undone import) may come again.
        held = (
            Transaction.objects.filter(reference__in=references, reverses__isnull=True, reversal__isnull=True)
            .exclude(state=Transaction.State.VOIDED)
            .values_list("reference", flat=True)
        )
        return cls(
            accounts=accounts,
            references_used={reference for reference in held if reference},
            entities=entities_found(keys, context=context),
        )


def _quiet_entity(row: SourceRow) -> Key | None:
    try:
        return entity_key(row.values.get("entity"))
    except ValueError:
        return None


def _quiet_text(row: SourceRow, column: str) -> str | None:
    try:
        return cell_text(row, column)
    except LedgerInvalid:
        return None


def _amount_text(row: SourceRow) -> str:
    """The amount cell as the decimal string the ledger takes (a spreadsheet's number as written)."""
    value = row.values.get("amount")
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return str(Decimal(repr(value)))
    return required(row, "amount")


def _date_cell(row: SourceRow) -> date | None:
    """``effective_date``: ISO text, or a spreadsheet's date cell (a date at midnight)."""
    value = row.values.get("effective_date")
    if isinstance(value, datetime):
        if value.time() != time(0) or value.tzinfo is not None:
            raise ValueError(value)
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(row, "effective_date")
    return None if text is None else date.fromisoformat(text.strip(" "))


@dataclass(frozen=True)
class _TransactionDraft:
    """A transaction of the file, checked: what ``transactions_record_many`` takes."""

    reference: str
    description: str
    currency: str
    effective_date: date | None
    state: str
    postings: list[dict[str, Any]]
    entity_id: uuid.UUID | None


class LedgerTransactionsImporter(Importer):
    """Transactions, one row per posting, as ``POST /api/v1/transactions/`` takes them."""

    type = "ledger_transactions"
    label = "Ledger transactions"
    columns = (
        Column(
            "reference",
            "Groups the postings of one transaction (its rows consecutive) and becomes its reference "
            "(1 to 100 characters). A reference the ledger already holds is a conflict.",
            "INV-2026-031",
            True,
        ),
        Column(
            "description",
            "The transaction's description (1 to 500 characters): on its first row; later rows repeat "
            "it or leave it empty.",
            "Rent for March",
            True,
        ),
        Column("currency", "ISO 4217 code of the transaction (first row; every account's).", "EUR", True),
        Column("effective_date", "YYYY-MM-DD (first row); empty: today.", "2026-03-01"),
        Column("state", "posted or pending (first row); empty: posted.", "posted"),
        Column(
            "entity",
            "The entity the transaction belongs to, as kind:reference (first row); empty: none.",
            "customer:C-1042",
        ),
        Column(
            "account", "The code of an account of the organization (import accounts first).", "6000", True
        ),
        Column(
            "amount",
            "Decimal string, debit positive, at most the currency's minor units; the postings of a "
            "transaction sum to zero.",
            "1200.00",
            True,
        ),
    )

    def validate(self, rows: Iterable[SourceRow]) -> Iterator[RowIssue]:
        seen: set[str] = set()
        for batch in _group_batches(rows):
            lookups = _Lookups.of(batch, self.context)
            for item in batch:
                if isinstance(item, SourceRow):
                    yield from self._lone_row_issues(item)
                    continue
                _, issues = self._check(item, lookups, seen)
                seen.add(item.reference)
                yield from sorted(issues, key=lambda issue: issue.row)

    def _lone_row_issues(self, row: SourceRow) -> list[RowIssue]:
        try:
            validators.optional_text_clean(
                cell_text(row, "reference"), field="reference", max_length=validators.REFERENCE_MAX
            )
        except LedgerInvalid as exc:
            return [issue_of(row, exc, column="reference")]
        return [RowIssue(row.number, "reference", IssueCode.REQUIRED, "reference is required.")]

    def _check(
        self, group: _Group, lookups: _Lookups, seen: set[str]
    ) -> tuple[_TransactionDraft | None, list[RowIssue]]:
        """The group as a transaction, or the issues of its rows (every row has one when any has)."""
        first = group.rows[0]
        issues: list[RowIssue] = []
        if group.reference in seen:
            issues += [
                RowIssue(
                    row.number,
                    "reference",
                    IssueCode.DUPLICATE_IN_FILE,
                    f"Reference {group.reference!r} appeared earlier in the file, apart from these rows: "
                    "the rows of a transaction are consecutive.",
                )
                for row in group.rows
            ]
            return None, issues
        if group.reference in lookups.references_used:
            issues.append(
                RowIssue(
                    first.number,
                    "reference",
                    IssueCode.CONFLICT,
                    f"The ledger already holds a transaction with reference {group.reference!r}.",
                )
            )
        header, header_issues = self._header(group)
        issues += header_issues
        entity = header.get("entity")
        if entity is not None and entity not in lookups.entities:
            issues.append(
                RowIssue(
                    first.number,
                    "entity",
                    IssueCode.UNKNOWN_REFERENCE,
                    f"No live entity {entity[0]}:{entity[1][:100]} is visible to you.",
                )
            )
        currency = header.get("currency")
        postings: list[dict[str, Any]] = []
        for index, row in enumerate(group.rows):
            posting, row_issues = self._posting(row, lookups, currency=currency, index=index)
            issues += row_issues
            if posting is not None:
                postings.append(posting)
        if not issues and currency is not None:
            try:
                txn, _ = transaction_prepare(
                    actor=self.context.actor,
                    description=header["description"],
                    currency=currency,
                    postings=postings,
                    effective_date=header.get("effective_date"),
                    reference=group.reference,
                    state=header["state"],
                )
            except LedgerInvalid as exc:
                code = (
                    IssueCode.UNBALANCED
                    if exc.instance_code == LedgerErrorCode.UNBALANCED
                    else IssueCode.INVALID
                )
                column = "amount" if code == IssueCode.UNBALANCED else ""
                return None, [RowIssue(row.number, column, code, exc.detail) for row in group.rows]
            draft = _TransactionDraft(
                reference=group.reference,
                description=txn.description,
                currency=txn.currency,
                effective_date=txn.effective_date,
                state=txn.state,
                postings=postings,
                entity_id=None if entity is None else lookups.entities[entity],
            )
            return draft, []
        flagged = {issue.row for issue in issues}
        issues += [
            RowIssue(
                row.number,
                "",
                IssueCode.GROUP_INVALID,
                f"Another row of transaction {group.reference!r} is invalid: the transaction is imported "
                "whole or not at all.",
            )
            for row in group.rows
            if row.number not in flagged
        ]
        return None, issues

    def _header(self, group: _Group) -> tuple[dict[str, Any], list[RowIssue]]:
        """The transaction's own fields, from its first row (later rows repeat them or leave them empty)."""
        first = group.rows[0]
        header: dict[str, Any] = {}
        issues: list[RowIssue] = []
        try:
            header["description"] = validators.text_clean(
                required(first, "description"), field="description", max_length=validators.DESCRIPTION_MAX
            )
        except _Missing as missing:
            issues.append(_missing_issue(first, missing))
        except LedgerInvalid as exc:
            issues.append(issue_of(first, exc, column="description"))
        try:
            header["currency"] = validators.currency_clean(required(first, "currency"))
        except _Missing as missing:
            issues.append(_missing_issue(first, missing))
        except LedgerInvalid as exc:
            issues.append(issue_of(first, exc, column="currency"))
        try:
            header["effective_date"] = _date_cell(first)
        except (ValueError, LedgerInvalid):
            issues.append(
                RowIssue(
                    first.number, "effective_date", IssueCode.INVALID, "effective_date must be YYYY-MM-DD."
                )
            )
        try:
            header["entity"] = entity_key(first.values.get("entity"))
        except ValueError as exc:
            issues.append(RowIssue(first.number, "entity", IssueCode.INVALID, str(exc)))
        header["state"] = (_quiet_text(first, "state") or Transaction.State.POSTED).strip(" ")
        if header["state"] not in (Transaction.State.POSTED, Transaction.State.PENDING):
            issues.append(
                RowIssue(first.number, "state", IssueCode.INVALID, "state must be posted or pending.")
            )
        for row in group.rows[1:]:
            for column in _HEADER_COLUMNS:
                value, expected = _quiet_text(row, column), _quiet_text(first, column)
                if value is not None and value.strip(" ") != (expected or "").strip(" "):
                    issues.append(
                        RowIssue(
                            row.number,
                            column,
                            IssueCode.INVALID,
                            f"{column} differs from the first row of transaction {group.reference!r}.",
                        )
                    )
        return header, issues

    def _posting(
        self, row: SourceRow, lookups: _Lookups, *, currency: str | None, index: int
    ) -> tuple[dict[str, Any] | None, list[RowIssue]]:
        issues: list[RowIssue] = []
        account: Account | None = None
        try:
            code = required(row, "account").strip(" ")
            account = lookups.accounts.get(code)
            if account is None:
                issues.append(
                    RowIssue(
                        row.number,
                        "account",
                        IssueCode.UNKNOWN_REFERENCE,
                        f"No account has code {code[:40]!r}.",
                    )
                )
            elif account.archived:
                issues.append(
                    RowIssue(row.number, "account", IssueCode.INVALID, f"Account {code} is archived.")
                )
            elif currency is not None and account.currency != currency:
                issues.append(
                    RowIssue(
                        row.number,
                        "account",
                        IssueCode.INVALID,
                        f"Account {code} is in {account.currency}, the transaction in {currency}; "
                        "a transaction has one currency.",
                    )
                )
        except _Missing as missing:
            issues.append(_missing_issue(row, missing))
        amount = None
        try:
            amount = _amount_text(row)
            if currency is not None:
                validators.amount_clean(amount, currency=currency)
        except _Missing as missing:
            issues.append(_missing_issue(row, missing))
        except LedgerInvalid as exc:
            issues.append(issue_of(row, exc, column="amount"))
        if issues or account is None:
            return None, issues
        return {"account_id": account.id, "amount": amount}, []

    def commit(self, rows: Iterable[SourceRow], *, skip: Container[int]) -> Iterator[int]:
        seen: set[str] = set()
        handled = 0
        for batch in _group_batches(rows):
            lookups = _Lookups.of(batch, self.context)
            requests: list[dict[str, Any]] = []
            for item in batch:
                if isinstance(item, SourceRow):
                    continue  # no reference: reported, skipped
                draft, issues = self._check(item, lookups, seen)
                seen.add(item.reference)
                if any(row.number in skip for row in item.rows):
                    continue  # all or nothing per transaction
                if draft is None:  # pragma: no cover - validate reported it, the framework skips it
                    raise LedgerInvalid(issues[0].message, field=issues[0].column)
                requests.append(
                    {
                        "description": draft.description,
                        "currency": draft.currency,
                        "postings": draft.postings,
                        "effective_date": draft.effective_date,
                        "reference": draft.reference,
                        "state": draft.state,
                        "entity_id": draft.entity_id,
                        "viewer": entity_viewer(self.context),
                    }
                )
                handled += len(item.rows)
            transactions_record_many(
                actor=self.context.actor, requests=requests, source_import=self.context.import_id
            )
            yield handled

    def undo(self) -> int:
        """Reverse each posted transaction of the import and void each pending one (the ledger is
        append-only: nothing is deleted); one already reversed or voided is left as it is. Returns how
        many were reversed or voided."""
        imported = Transaction.objects.filter(source_import=self.context.import_id).filter(
            Q(state=Transaction.State.PENDING) | Q(state=Transaction.State.POSTED, reversal__isnull=True)
        )
        undone = 0
        for txn in list(imported.order_by("created_at", "id")):
            try:
                if txn.state == Transaction.State.PENDING:
                    transaction_void(actor=self.context.actor, txn=txn)
                else:
                    transaction_reverse(actor=self.context.actor, txn=txn)
            except LedgerConflict as exc:  # pragma: no cover - a concurrent undo got there first
                if exc.instance_code not in (
                    LedgerErrorCode.ALREADY_REVERSED,
                    LedgerErrorCode.TRANSACTION_NOT_PENDING,
                ):
                    raise
                continue
            undone += 1
        return undone
