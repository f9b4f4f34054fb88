"""The ledger's import types, driven directly: ``ledger_accounts`` and ``ledger_transactions``.

Validation reports exactly the rows, columns and codes expected (the ledger's own rules), commit writes
through the ledger's services (balances, one audit entry per object, ``source_import``), ``verify_ledger``
passes, undo deletes accounts or reverses transactions, and another organization's accounts are unknown.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.services import entity_create
from apps.imports.base import ImportContext, IssueCode, RowIssue, SourceRow
from apps.imports.errors import ImportNotUndoable
from apps.imports.importers.ledger import LedgerAccountsImporter, LedgerTransactionsImporter
from apps.imports.tests.helpers import E2E_USER, IMPORTS_URL, api_import
from apps.ledger import services
from apps.ledger.models import Account, Transaction
from apps.ledger.tests.conftest import Chart, chart_create
from apps.ledger.tests.helpers import B_SUB, DEFAULT_SUB
from tenants.models import Organization, User


@pytest.fixture
def actor(db: None) -> User:
    user, _ = User.objects.get_or_create(id=DEFAULT_SUB, defaults={"email": "someone@example.com"})
    return user


@pytest.fixture
def b_actor(db: None) -> User:
    user, _ = User.objects.get_or_create(id=B_SUB, defaults={"email": "bob@beta.example.com"})
    return user


@pytest.fixture
def chart(tenant_a: Organization, actor: User) -> Chart:
    """Organization A's accounts (apps.ledger.tests): 1000 cash, 1100 bank, 4000 revenue (EUR), 1200 (USD),
    1300 (JPY)."""
    return chart_create(tenant_a, actor)


ACCOUNT_COLUMNS = ("code", "name", "type", "currency")
TRANSACTION_COLUMNS = ("reference", "description", "currency", "effective_date", "account", "amount")


def source(columns: Iterable[str], *lines: tuple[Any, ...]) -> list[SourceRow]:
    """Rows as a CSV file gives them: the header is row 1, empty cells ``None``."""
    names = list(columns)
    return [
        SourceRow(
            number=index + 2, values={n: v for n, v in zip(names, line, strict=True) if v not in ("", None)}
        )
        for index, line in enumerate(lines)
    ]


def found(issues: Iterable[RowIssue]) -> list[tuple[int, str, str]]:
    return [(issue.row, issue.column, issue.code) for issue in issues]


def skip_of(issues: Iterable[RowIssue]) -> set[int]:
    return {issue.row for issue in issues}


def verify(tenant: Organization) -> str:
    out = io.StringIO()
    call_command("verify_ledger", "--tenant", tenant.slug, stdout=out)
    return out.getvalue()


def audited(model: type[Any], ids: Iterable[Any], action: int) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(object_type=model._meta.label_lower, action=action).filter(
            object_pk__in=[str(pk) for pk in ids]
        )
    )


def test_accounts_validate_commit_undo(
    tenant_a: Organization, tenant_b: Organization, actor: User, b_actor: User, chart: Chart
) -> None:
    with tenant_context(tenant_a):
        acme = entity_create(actor=actor, kind="customer", name="Acme", reference="ACME")
    with tenant_context(tenant_b):
        services.account_create(actor=b_actor, code="7777", name="B only", type="asset", currency="EUR")
        entity_create(actor=b_actor, kind="customer", name="Beta", reference="BETA")
    rows = source(
        (*ACCOUNT_COLUMNS, "entity"),
        ("1000", "Cash again", "asset", "EUR", ""),  # 2: taken
        ("5000", "Rent", "expense", "EUR", ""),  # 3
        ("5000", "Rent twice", "expense", "EUR", ""),  # 4: twice in the file
        ("5100", "", "expense", "EUR", ""),  # 5: no name
        ("5200", "Odd", "bogus", "EUX", ""),  # 6: type and currency
        ("7777", "Only B has it", "asset", "USD", "Customer: ACME"),  # 7: B's code is free here
        ("x" * 41, "Long code", "asset", "EUR", ""),  # 8
        ("5300", "Beta's", "asset", "EUR", "customer:BETA"),  # 9: only organization B has it
        ("5400", "Odd link", "asset", "EUR", "ACME"),  # 10: no kind
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        issues = list(LedgerAccountsImporter(context).validate(rows))
        assert found(issues) == [
            (2, "code", IssueCode.CONFLICT),
            (4, "code", IssueCode.DUPLICATE_IN_FILE),
            (5, "name", IssueCode.REQUIRED),
            (6, "type", IssueCode.INVALID),
            (6, "currency", IssueCode.INVALID),
            (8, "code", IssueCode.INVALID),
            (9, "entity", IssueCode.UNKNOWN_REFERENCE),
            (10, "entity", IssueCode.INVALID),
        ]
        assert (
            Account.objects.filter(source_import=context.import_id).count() == 0
        )  # validation writes nothing

        importer = LedgerAccountsImporter(context)
        assert list(importer.validate(rows)) == issues
        assert list(importer.commit(rows, skip=skip_of(issues))) == [2]  # rows written
        created = Account.objects.filter(source_import=context.import_id).order_by("code")
        assert [(a.code, a.name, a.type, a.currency) for a in created] == [
            ("5000", "Rent", "expense", "EUR"),
            ("7777", "Only B has it", "asset", "USD"),
        ]
        assert [a.entity_id for a in created] == [None, acme.id]
        entries = audited(Account, [a.id for a in created], AuditEntry.Action.CREATE)
        assert len(entries) == 2
        assert {entry.changes["source_import"][1] for entry in entries} == {str(context.import_id)}
        assert Account.objects.get(code="1000").name == "Cash"  # the taken code untouched

        # Undo refused while an imported account has postings; then allowed once it has none.
        rent = created.get(code="5000")
        txn = services.transaction_create(
            actor=actor,
            description="Rent",
            currency="EUR",
            postings=[
                {"account_id": rent.id, "amount": "10.00"},
                {"account_id": chart.cash.id, "amount": "-10.00"},
            ],
        )
        with pytest.raises(ImportNotUndoable, match="5000"):
            LedgerAccountsImporter(context).undo()
        assert created.count() == 2
    with tenant_context(tenant_b):
        assert Account.objects.get(code="7777").name == "B only"  # B's account untouched
    assert txn.id


def test_accounts_undo_deletes_audited(tenant_a: Organization, actor: User) -> None:
    rows = source(ACCOUNT_COLUMNS, ("6100", "Travel", "expense", "EUR"), ("6200", "Phone", "expense", "EUR"))
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        importer = LedgerAccountsImporter(context)
        assert list(importer.validate(rows)) == []
        list(importer.commit(rows, skip=set()))
        ids = list(Account.objects.filter(source_import=context.import_id).values_list("id", flat=True))
        assert len(ids) == 2
        assert LedgerAccountsImporter(context).undo() == 2
        assert not Account.objects.filter(id__in=ids).exists()
        assert len(audited(Account, ids, AuditEntry.Action.DELETE)) == 2


def _transactions() -> list[SourceRow]:
    return source(
        TRANSACTION_COLUMNS,
        ("T1", "Sale", "EUR", "2026-03-01", "1000", "100.00"),  # 2
        ("T1", "", "", "", "4000", "-100.00"),  # 3
        ("T2", "Unbalanced", "EUR", "", "1000", "50.00"),  # 4
        ("T2", "", "", "", "4000", "-40.00"),  # 5
        ("T3", "Unknown account", "EUR", "", "1000", "10.00"),  # 6
        ("T3", "", "", "", "9999", "-10.00"),  # 7
        ("T1", "Again", "EUR", "", "1000", "1.00"),  # 8: T1 seen before T2
        ("T1", "", "", "", "4000", "-1.00"),  # 9
        ("T4", "Too precise", "EUR", "", "1000", "10.001"),  # 10
        ("T4", "", "", "", "4000", "-10.00"),  # 11
        ("T5", "B's account", "EUR", "", "1000", "5.00"),  # 12
        ("T5", "", "", "", "8888", "-5.00"),  # 13: only organization B has 8888
        ("T6", "Dollars", "EUR", "", "1200", "5.00"),  # 14: a USD account
        ("T6", "", "", "", "4000", "-5.00"),  # 15
        ("T7", "Numbers from a spreadsheet", "EUR", datetime(2026, 3, 2), "1100", 7.5),  # 16: XLSX cells  # noqa: DTZ001
        ("T7", "", "", "", "1000", -7.5),  # 17
        ("", "No reference", "EUR", "", "1000", "1.00"),  # 18
    )


def test_transactions_validate_commit_verify_undo(
    tenant_a: Organization, tenant_b: Organization, actor: User, b_actor: User, chart: Chart
) -> None:
    with tenant_context(tenant_b):
        services.account_create(actor=b_actor, code="8888", name="B only", type="asset", currency="EUR")
    rows = _transactions()
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        issues = list(LedgerTransactionsImporter(context).validate(rows))
        assert found(issues) == [
            (4, "amount", IssueCode.UNBALANCED),
            (5, "amount", IssueCode.UNBALANCED),
            (6, "", IssueCode.GROUP_INVALID),
            (7, "account", IssueCode.UNKNOWN_REFERENCE),
            (8, "reference", IssueCode.DUPLICATE_IN_FILE),
            (9, "reference", IssueCode.DUPLICATE_IN_FILE),
            (10, "amount", IssueCode.INVALID),
            (11, "", IssueCode.GROUP_INVALID),
            (12, "", IssueCode.GROUP_INVALID),
            (13, "account", IssueCode.UNKNOWN_REFERENCE),
            (14, "account", IssueCode.INVALID),
            (15, "", IssueCode.GROUP_INVALID),
            (18, "reference", IssueCode.REQUIRED),
        ]
        assert not Transaction.objects.filter(source_import=context.import_id).exists()

        importer = LedgerTransactionsImporter(context)
        assert list(importer.validate(rows)) == issues
        assert list(importer.commit(rows, skip=skip_of(issues))) == [4]  # the rows of T1 and T7
        imported = Transaction.objects.filter(source_import=context.import_id).order_by("reference")
        assert [(t.reference, t.description, str(t.effective_date), t.state) for t in imported] == [
            ("T1", "Sale", "2026-03-01", "posted"),
            ("T7", "Numbers from a spreadsheet", "2026-03-02", "posted"),
        ]
        for account, balance in ((chart.cash, "92.50"), (chart.revenue, "-100.00"), (chart.bank, "7.50")):
            account.refresh_from_db()
            assert account.balance == Decimal(balance)
        entries = audited(Transaction, [t.id for t in imported], AuditEntry.Action.CREATE)
        assert len(entries) == 2
        assert {entry.changes["source_import"][1] for entry in entries} == {str(context.import_id)}
        assert "ledgers balanced" in verify(tenant_a)

        # The same file again: its references are now the ledger's.
        again = list(LedgerTransactionsImporter(context).validate(rows[:2]))
        assert found(again) == [(2, "reference", IssueCode.CONFLICT), (3, "", IssueCode.GROUP_INVALID)]

        # Undo reverses (the ledger is append-only): balances back, nothing deleted; twice is harmless.
        assert LedgerTransactionsImporter(context).undo() == 2
        assert LedgerTransactionsImporter(context).undo() == 0
        for account in (chart.cash, chart.revenue, chart.bank):
            account.refresh_from_db()
            assert account.balance == 0
        assert imported.count() == 2
        assert Transaction.objects.filter(reverses__source_import=context.import_id).count() == 2
        assert "ledgers balanced" in verify(tenant_a)
        assert list(LedgerTransactionsImporter(context).validate(rows[:2])) == []  # reversed: free again
    with tenant_context(tenant_b):
        assert not Transaction.objects.exists()  # B's ledger untouched


def test_transactions_pending_voided_on_undo(tenant_a: Organization, actor: User, chart: Chart) -> None:
    rows = source(
        (*TRANSACTION_COLUMNS, "state"),
        ("P1", "Pending", "EUR", "", "1000", "3.00", "pending"),
        ("P1", "", "", "", "1100", "-3.00", ""),
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        importer = LedgerTransactionsImporter(context)
        assert list(importer.validate(rows)) == []
        list(importer.commit(rows, skip=set()))
        chart.cash.refresh_from_db()
        assert (chart.cash.balance, chart.cash.pending_balance) == (0, Decimal(3))
        assert LedgerTransactionsImporter(context).undo() == 1
        chart.cash.refresh_from_db()
        assert chart.cash.pending_balance == 0
        assert Transaction.objects.get(source_import=context.import_id).state == "voided"
        assert "ledgers balanced" in verify(tenant_a)


def test_transactions_header_rows_must_agree(tenant_a: Organization, actor: User, chart: Chart) -> None:
    rows = source(
        TRANSACTION_COLUMNS,
        ("H1", "Sale", "EUR", "", "1000", "1.00"),
        ("H1", "", "USD", "", "4000", "-1.00"),  # another currency on a later row
        ("H2", "", "EUR", "", "1000", ""),  # no description, no amount
        ("H2", "", "EUR", "", "", "-1.00"),  # no account
    )
    with tenant_context(tenant_a):
        issues = list(
            LedgerTransactionsImporter(ImportContext(actor=actor, import_id=uuid.uuid4())).validate(rows)
        )
    assert found(issues) == [
        (2, "", IssueCode.GROUP_INVALID),
        (3, "currency", IssueCode.INVALID),
        (4, "description", IssueCode.REQUIRED),
        (4, "amount", IssueCode.REQUIRED),
        (5, "account", IssueCode.REQUIRED),
    ]


# --- Through the API and a real worker ------------------------------------------------------------


def test_ledger_imports_through_the_api_and_a_worker(world: Organization, client_for: Any) -> None:
    admin = client_for(world, ["admin"], sub=str(E2E_USER))
    accounts = api_import(
        admin, "ledger_accounts", "code,name,type,currency\n1000,Cash,asset,EUR\n4000,Sales,income,EUR\n"
    )
    assert (accounts["status"], accounts["rows_created"]) == ("committed", 2)

    csv = (
        "reference,description,currency,effective_date,account,amount\n"
        "S1,Sale,EUR,2026-03-01,1000,10.00\n"
        "S1,,,,4000,-10.00\n"
        "S2,Wrong,EUR,,1000,1.00\n"
        "S2,,,,4000,-2.00\n"
    )
    txns = api_import(admin, "ledger_transactions", csv, mode="valid_rows")
    assert (txns["status"], txns["rows_invalid"], txns["rows_created"]) == ("committed", 2, 2)
    report = admin.get(f"{IMPORTS_URL}{txns['id']}/issues").json()["items"]
    assert [(item["row"], item["column"], item["code"]) for item in report] == [
        (4, "amount", "unbalanced"),
        (5, "amount", "unbalanced"),
    ]
    with tenant_context(world):
        assert dict(Account.objects.values_list("code", "balance")) == {
            "1000": Decimal(10),
            "4000": Decimal(-10),
        }
        assert Transaction.objects.get(source_import=txns["id"]).reference == "S1"
    assert "ledgers balanced" in verify(world)

    # Accounts with postings cannot be undone; the transactions are reversed.
    refused = admin.post(f"{IMPORTS_URL}{accounts['id']}/undo")
    assert (refused.status_code, refused.json()["code"]) == (409, "import_not_undoable"), refused.content
    undone = admin.post(f"{IMPORTS_URL}{txns['id']}/undo")
    assert (undone.status_code, undone.json()["status"]) == (200, "undone"), undone.content
    with tenant_context(world):
        assert set(Account.objects.values_list("balance", flat=True)) == {0}
        assert Transaction.objects.count() == 2  # the import's and its reversal: nothing deleted
    assert "ledgers balanced" in verify(world)


def test_transactions_linked_to_entities(
    tenant_a: Organization, tenant_b: Organization, actor: User, b_actor: User, chart: Chart
) -> None:
    with tenant_context(tenant_a):
        acme = entity_create(actor=actor, kind="customer", name="Acme", reference="ACME")
    with tenant_context(tenant_b):
        entity_create(actor=b_actor, kind="customer", name="Beta", reference="BETA")
    rows = source(
        (*TRANSACTION_COLUMNS, "entity"),
        ("E1", "Acme's", "EUR", "", "1000", "2.00", "customer:ACME"),  # 2
        ("E1", "", "", "", "4000", "-2.00", ""),  # 3
        ("E2", "Beta's", "EUR", "", "1000", "2.00", "customer:BETA"),  # 4: organization B's
        ("E2", "", "", "", "4000", "-2.00", ""),  # 5
        ("E3", "No kind", "EUR", "", "1000", "2.00", "ACME"),  # 6
        ("E3", "", "", "", "4000", "-2.00", ""),  # 7
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        importer = LedgerTransactionsImporter(context)
        issues = list(importer.validate(rows))
        assert found(issues) == [
            (4, "entity", IssueCode.UNKNOWN_REFERENCE),
            (5, "", IssueCode.GROUP_INVALID),
            (6, "entity", IssueCode.INVALID),
            (7, "", IssueCode.GROUP_INVALID),
        ]
        assert list(importer.commit(rows, skip=skip_of(issues))) == [2]
        assert Transaction.objects.get(source_import=context.import_id).entity_id == acme.id
