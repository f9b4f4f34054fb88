"""What PostgreSQL itself refuses, whatever code or raw SQL tries: the last line of defence."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import tenant_context

from apps.ledger import services
from apps.ledger.models import Account, Posting, Transaction
from apps.ledger.tests.conftest import Chart
from tenants.models import Organization, User

INSERT_TRANSACTION = (
    "INSERT INTO ledger_transaction "
    "(id, description, currency, effective_date, state, created_at, updated_at) "
    "VALUES (%s, 'raw', %s, CURRENT_DATE, 'posted', now(), now())"
)
INSERT_POSTING = "INSERT INTO ledger_posting (transaction_id, account_id, amount) VALUES (%s, %s, %s)"


def _raw_transaction(legs: list[tuple[Account, str]], *, check_now: bool = False) -> None:
    """Insert a transaction and its postings with raw SQL, in a transaction (a savepoint inside a test's)
    that ``check_now`` ends with what a commit does first: the deferred constraints fire."""
    txn_id = uuid.uuid4()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(INSERT_TRANSACTION, [txn_id, "EUR"])
        for account, amount in legs:
            cursor.execute(INSERT_POSTING, [txn_id, account.id, amount])
        if check_now:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([("cash", "10.00"), ("bank", "-9.00")], "unbalanced"),
        ([("cash", "10.00")], "at least 2"),
        ([], "at least 2"),
        ([("cash", "10.00"), ("dollars", "-10.00")], "mixes currencies"),
    ],
)
def test_raw_sql_cannot_commit_a_broken_transaction(
    legs: list[tuple[str, str]], message: str, chart: Chart, tenant_a: Organization
) -> None:
    """The deferred trigger fires at commit; ``SET CONSTRAINTS ALL IMMEDIATE`` is that moment inside the
    test's own (never committed) transaction. ``test_a_real_commit_...`` below commits for real."""
    with tenant_context(tenant_a):
        with pytest.raises(DatabaseError, match=message):
            _raw_transaction([(getattr(chart, name), amount) for name, amount in legs], check_now=True)
        assert Transaction.objects.count() == 0


def test_a_real_commit_of_an_unbalanced_transaction_is_refused(
    gamma: Organization, gamma_chart: Chart
) -> None:
    with tenant_context(gamma):
        with pytest.raises(DatabaseError, match="unbalanced"):
            _raw_transaction([(gamma_chart.cash, "5.00"), (gamma_chart.bank, "-4.99")])
        assert Transaction.objects.count() == 0
        assert Posting.objects.count() == 0
        _raw_transaction([(gamma_chart.cash, "5.00"), (gamma_chart.bank, "-5.00")])  # balanced: commits
        assert Transaction.objects.count() == 1


@pytest.fixture
def posted(chart: Chart, tenant_a: Organization, actor: User) -> Transaction:
    with tenant_context(tenant_a):
        return services.transaction_create(
            actor=actor,
            description="Posted",
            currency="EUR",
            postings=[
                {"account_id": chart.cash.id, "amount": "3.00"},
                {"account_id": chart.bank.id, "amount": "-3.00"},
            ],
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE ledger_posting SET amount = amount * 2", "immutable"),
        ("DELETE FROM ledger_posting", "immutable"),
        ("TRUNCATE ledger_posting CASCADE", "immutable|permission denied"),
        ("UPDATE ledger_transaction SET description = 'changed'", "cannot be edited"),
        ("UPDATE ledger_transaction SET state = 'voided'", "posted and cannot become voided"),
        ("DELETE FROM ledger_transaction", "never deleted"),
    ],
)
def test_posted_transactions_and_postings_are_immutable(
    statement: str, message: str, posted: Transaction, tenant_a: Organization
) -> None:
    with tenant_context(tenant_a):
        with pytest.raises(DatabaseError, match=message), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
        assert Transaction.objects.get().description == "Posted"
        assert sorted(str(p.amount) for p in Posting.objects.all()) == ["-3.0000", "3.0000"]


@pytest.mark.django_db
def test_a_voided_transaction_stays_voided(chart: Chart, tenant_a: Organization, actor: User) -> None:
    with tenant_context(tenant_a):
        pending = services.transaction_create(
            actor=actor,
            description="Pending",
            currency="EUR",
            state="pending",
            postings=[
                {"account_id": chart.cash.id, "amount": "1"},
                {"account_id": chart.bank.id, "amount": "-1"},
            ],
        )
        services.transaction_void(actor=actor, txn=pending)
        with pytest.raises(DatabaseError, match="voided and cannot become posted"), transaction.atomic():
            Transaction.objects.filter(id=pending.id).update(state="posted")


@pytest.mark.django_db
def test_amount_zero_is_refused_by_a_check_constraint(
    posted: Transaction, chart: Chart, tenant_a: Organization
) -> None:
    with (
        tenant_context(tenant_a),
        pytest.raises(DatabaseError, match="ledger_posting_amount_not_zero"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(INSERT_POSTING, [posted.id, chart.cash.id, "0"])
