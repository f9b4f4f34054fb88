"""verify_ledger: recomputes every balance from the postings; exit 1 naming each mismatch."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from apps.ledger import services
from apps.ledger.tests.conftest import Chart
from tenants.models import Organization, User
from tests.helpers import owner_cursor


def _as_owner(tenant: Organization, sql: str) -> None:
    """Run ``sql`` as the owner role with the ledger's user triggers off (what only the owner can do)."""
    with owner_cursor(tenant) as cursor:
        cursor.execute("ALTER TABLE ledger_posting DISABLE TRIGGER USER")
        cursor.execute(sql)
        cursor.execute("ALTER TABLE ledger_posting ENABLE TRIGGER USER")


def _verify(tenant: Organization) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_ledger", "--tenant", tenant.slug, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


@pytest.fixture
def booked(gamma: Organization, gamma_chart: Chart, gamma_actor: User) -> Chart:
    """Two posted transfers and a pending one, committed."""
    with tenant_context(gamma):
        for amount, state in (("10.00", "posted"), ("2.50", "posted"), ("1.00", "pending")):
            services.transaction_create(
                actor=gamma_actor,
                description="Booked",
                currency="EUR",
                state=state,
                postings=[
                    {"account_id": gamma_chart.bank.id, "amount": amount},
                    {"account_id": gamma_chart.cash.id, "amount": f"-{amount}"},
                ],
            )
    return gamma_chart


def test_a_sound_ledger_verifies(gamma: Organization, booked: Chart) -> None:
    code, output = _verify(gamma)
    assert code == 0, output
    assert f"[1/1 100%] {gamma.slug}: 5 accounts, 3 transactions ok" in output


def test_a_corrupted_balance_is_named(gamma: Organization, booked: Chart) -> None:
    _as_owner(gamma, "UPDATE ledger_account SET balance = balance + 0.01 WHERE code = '1100'")

    code, output = _verify(gamma)

    assert code == 1
    assert f"{gamma.slug}: MISMATCH" in output
    assert (
        "account 1100: balance 12.5100 / pending 13.5000 stored, 12.5000 / 13.5000 from its postings"
        in output
    )
    assert "1000" not in output.split("MISMATCH")[1]


def test_an_unbalanced_transaction_is_named(gamma: Organization, booked: Chart) -> None:
    _as_owner(gamma, "UPDATE ledger_posting SET amount = 11 WHERE amount = 10")

    code, output = _verify(gamma)

    assert code == 1
    assert "postings summing to 1.0000, 0 in another currency" in output
    assert "account 1100" in output  # its balance no longer matches either


def test_every_tenant_is_walked_with_progress(gamma: Organization, booked: Chart) -> None:
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    total = Organization.objects.count()
    assert f"[{total}/{total} 100%]" in out.getvalue()
    assert "ledgers balanced" in out.getvalue()


def test_unknown_tenant_is_an_error(committed_db: None) -> None:
    with pytest.raises(CommandError, match="No organization"):
        call_command("verify_ledger", "--tenant", "nope")
