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
from tenants.rls import owner_role, runtime_role

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


_CALL_WRITE = (
    "SELECT outcome FROM ledger_transaction_write(%s, 'raw', 'EUR', CURRENT_DATE, NULL, NULL, 'posted', "
    "NULL, now(), NULL, %s::uuid[], %s::numeric[], false, 1e18, NULL, NULL, NULL, NULL)"
)


def _raw_write(postings: list[tuple[Account, str]]) -> tuple[str]:
    """``ledger_transaction_write`` called with raw SQL in a transaction (a savepoint inside a test's),
    ended with what a commit does first: the deferred constraints fire."""
    with transaction.atomic(), connection.cursor() as cursor:
        accounts, amounts = [account.id for account, _ in postings], [amount for _, amount in postings]
        cursor.execute(_CALL_WRITE, [uuid.uuid4(), accounts, amounts])
        outcome: tuple[str] = cursor.fetchone()
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        return outcome


@pytest.mark.django_db
def test_the_write_function_cannot_commit_what_the_triggers_refuse(
    chart: Chart, tenant_a: Organization
) -> None:
    """``ledger_transaction_write`` (migration 0003) called past every check of Python: the deferred
    triggers of 0002 still refuse an unbalanced transaction at commit."""
    with tenant_context(tenant_a):
        with pytest.raises(DatabaseError, match="unbalanced"):
            _raw_write([(chart.cash, "5.00"), (chart.bank, "-4.00")])
        assert Transaction.objects.count() == 0
        assert Account.objects.get(id=chart.cash.id).balance == 0
        assert _raw_write([(chart.cash, "5.00"), (chart.bank, "-5.00")]) == ("created",)
        assert Account.objects.get(id=chart.cash.id).balance == 5


@pytest.mark.django_db
def test_the_write_function_sees_only_the_organizations_accounts(
    chart: Chart, b_chart: Chart, tenant_a: Organization
) -> None:
    """It runs with the caller's rights: row-level security hides another organization's account."""
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute(_CALL_WRITE, [uuid.uuid4(), [chart.cash.id, b_chart.bank.id], ["1.00", "-1.00"]])
        assert cursor.fetchone() == ("account_not_found",)
        assert Transaction.objects.count() == 0


@pytest.mark.django_db(databases=["default", "owner"])
def test_the_write_functions_belong_to_the_owner_and_keep_their_search_path(tenant_a: Organization) -> None:
    """Owned like 0002's functions (the runtime role cannot replace them), run with the caller's rights
    (``SECURITY INVOKER``: row-level security applies) and pinned to the tenant's schema (they may run
    from any search_path)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, pg_get_userbyid(p.proowner), p.prosecdef, p.proconfig FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s "
            "AND p.proname IN ('ledger_transaction_write', 'ledger_transaction_state_set') ORDER BY 1",
            [tenant_a.schema_name],
        )
        rows = cursor.fetchall()
    assert [row[0] for row in rows] == ["ledger_transaction_state_set", "ledger_transaction_write"]
    for _name, owner, security_definer, config in rows:
        assert owner == owner_role() != runtime_role()
        assert security_definer is False
        assert len(config) == 1
        assert config[0].startswith(f"search_path={tenant_a.schema_name}")
