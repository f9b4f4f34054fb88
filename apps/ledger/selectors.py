"""Reads of the ledger: a constant number of queries whatever the list length, every read audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum, Value, Window

from apps.audit.services import audit_access, audit_access_list
from apps.entities.selectors import EntityViewer, entity_linked_filter
from apps.ledger.errors import AccountNotFound, TransactionNotFound
from apps.ledger.models import Account, Posting, Transaction

ZERO = Decimal(0)


def account_list(
    *,
    archived: bool | None = None,
    currency: str | None = None,
    type: str | None = None,
    with_balance: bool = False,
) -> QuerySet[Account]:
    """The organization's accounts by code, optionally filtered. ``with_balance``: each carries its
    maintained balances as ``listed_balance`` and ``listed_pending_balance``, read by the same query as
    the page (no query per account)."""
    accounts = Account.objects.all()
    if with_balance:
        accounts = accounts.annotate(listed_balance=F("balance"), listed_pending_balance=F("pending_balance"))
    if archived is not None:
        accounts = accounts.filter(archived=archived)
    if currency:
        accounts = accounts.filter(currency=currency)
    if type:
        accounts = accounts.filter(type=type)
    return accounts.order_by("code", "id")


def account_get(*, account_id: uuid.UUID) -> Account:
    """An account of the current organization (audited as a read); anything else is not found."""
    account = Account.objects.filter(id=account_id).first()
    if account is None:
        raise AccountNotFound()
    audit_access(instance=account)
    return account


def transaction_list(
    *,
    account_id: uuid.UUID | None = None,
    entity_id: uuid.UUID | None = None,
    state: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    reference: str | None = None,
    viewer: EntityViewer | None = None,
) -> QuerySet[Transaction]:
    """Transactions, newest effective date first, with their postings (one more query per page).

    ``entity_id`` keeps those linked to that entity when ``viewer`` may see it: a restricted entity
    without a grant filters to nothing, exactly like an id no entity has."""
    transactions = Transaction.objects.prefetch_related("postings")
    if account_id is not None:
        on_account = Posting.objects.filter(transaction_id=OuterRef("pk"), account_id=account_id)
        transactions = transactions.filter(Exists(on_account))
    if entity_id is not None:
        transactions = transactions.filter(entity_linked_filter(entity_id, viewer=viewer))
    if state:
        transactions = transactions.filter(state=state)
    if date_from is not None:
        transactions = transactions.filter(effective_date__gte=date_from)
    if date_to is not None:
        transactions = transactions.filter(effective_date__lte=date_to)
    if reference:
        transactions = transactions.filter(reference=reference)
    return transactions.order_by("-effective_date", "-created_at", "-id")


def transaction_get(*, transaction_id: uuid.UUID) -> Transaction:
    """A transaction of the current organization with its postings (audited as a read)."""
    transaction = Transaction.objects.prefetch_related("postings").filter(id=transaction_id).first()
    if transaction is None:
        raise TransactionNotFound()
    audit_access(instance=transaction)
    return transaction


@dataclass(frozen=True)
class Balance:
    """An account's posted balance and its balance with pending transactions too, at ``as_of`` (or now)."""

    account_id: uuid.UUID
    currency: str
    balance: Decimal
    pending_balance: Decimal
    as_of: date | None


def account_balance(*, account: Account, as_of: date | None = None) -> Balance:
    """Now: the maintained columns (no query). At a date: summed from the postings up to that date."""
    if as_of is None:
        posted, pending = account.balance, account.pending_balance
    else:
        sums = Posting.objects.filter(account=account, transaction__effective_date__lte=as_of).aggregate(
            posted=Sum("amount", filter=Q(transaction__state=Transaction.State.POSTED)),
            pending=Sum("amount", filter=~Q(transaction__state=Transaction.State.VOIDED)),
        )
        posted, pending = sums["posted"] or ZERO, sums["pending"] or ZERO
    return Balance(
        account_id=account.id,
        currency=account.currency,
        balance=posted,
        pending_balance=pending,
        as_of=as_of,
    )


def account_statement(*, account: Account, opening: Decimal = ZERO) -> QuerySet[Posting]:
    """The account's posted postings in effective order, each with the balance after it.

    The running balance is a window function over the postings the query reads, computed before the
    page is cut, plus ``opening``: the balance before the first of them (the previous page's last
    running balance, carried by the cursor), so every page's figures are right and a page costs one
    query that starts where the previous page ended.
    """
    order = [F("transaction__effective_date").asc(), F("transaction__created_at").asc(), F("id").asc()]
    return (
        Posting.objects.filter(account=account, transaction__state=Transaction.State.POSTED)
        .select_related("transaction")
        .annotate(running_balance=Window(Sum("amount"), order_by=order) + Value(opening))
        .order_by(*order)
    )


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    debits: Decimal
    credits: Decimal
    total: Decimal


@dataclass(frozen=True)
class TrialBalance:
    """Every account's posted balance, and per currency the debits, credits and their sum (zero)."""

    accounts: list[Account]
    currencies: list[CurrencyTotal]


def trial_balance() -> TrialBalance:
    """One query over the maintained balances; audited as a read of every account listed."""
    accounts = list(Account.objects.order_by("currency", "code", "id"))
    totals: dict[str, list[Decimal]] = {}
    for account in accounts:
        debits_credits = totals.setdefault(account.currency, [ZERO, ZERO])
        debits_credits[0 if account.balance > 0 else 1] += account.balance
    audit_access_list(model=Account, objects=accounts)
    return TrialBalance(
        accounts=accounts,
        currencies=[
            CurrencyTotal(currency=currency, debits=debits, credits=credits, total=debits + credits)
            for currency, (debits, credits) in sorted(totals.items())
        ],
    )


@dataclass(frozen=True)
class LedgerReport:
    """What ``verify_ledger`` found in one organization: empty lists mean the ledger is sound."""

    accounts: int
    transactions: int
    balance_mismatches: list[str]
    unbalanced_transactions: list[str]

    @property
    def ok(self) -> bool:
        return not self.balance_mismatches and not self.unbalanced_transactions


_BALANCES_RECOMPUTED = """
SELECT a.code, a.balance, a.pending_balance,
       COALESCE(sum(p.amount) FILTER (WHERE t.state = 'posted'), 0) AS posted,
       COALESCE(sum(p.amount) FILTER (WHERE t.state IN ('posted', 'pending')), 0) AS pending
FROM ledger_account a
LEFT JOIN ledger_posting p ON p.account_id = a.id
LEFT JOIN ledger_transaction t ON t.id = p.transaction_id
GROUP BY a.id
ORDER BY a.code
"""
_TRANSACTIONS_CHECKED = """
SELECT t.id, count(p.id), COALESCE(sum(p.amount), 0), count(*) FILTER (WHERE a.currency <> t.currency)
FROM ledger_transaction t
LEFT JOIN ledger_posting p ON p.transaction_id = t.id
LEFT JOIN ledger_account a ON a.id = p.account_id
GROUP BY t.id
ORDER BY t.created_at, t.id
"""


def ledger_verify() -> LedgerReport:
    """Recompute every account's balances from its postings and check every transaction balances in
    its own currency: the full recomputation the maintained balances are held to (two queries)."""
    mismatches, unbalanced = [], []
    with connection.cursor() as cursor:
        cursor.execute(_BALANCES_RECOMPUTED)
        accounts = cursor.fetchall()
        cursor.execute(_TRANSACTIONS_CHECKED)
        transactions = cursor.fetchall()
    for code, balance, pending_balance, posted, pending in accounts:
        if (balance, pending_balance) != (posted, pending):
            mismatches.append(
                f"account {code}: balance {balance} / pending {pending_balance} stored, "
                f"{posted} / {pending} from its postings"
            )
    for txn_id, legs, total, foreign_legs in transactions:
        if legs < 2 or total != 0 or foreign_legs:
            unbalanced.append(
                f"transaction {txn_id}: {legs} postings summing to {total}, "
                f"{foreign_legs} in another currency"
            )
    return LedgerReport(
        accounts=len(accounts),
        transactions=len(transactions),
        balance_mismatches=mismatches,
        unbalanced_transactions=unbalanced,
    )
