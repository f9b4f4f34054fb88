"""The services called directly (commands, other modules): the same rules as through HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.ledger import services, validators
from apps.ledger.errors import IdempotencyKeyReused, LedgerConflict, LedgerInvalid
from apps.ledger.models import Account, IdempotencyKey, Posting, Transaction
from apps.ledger.services.transactions import PostingLine
from apps.ledger.tests.conftest import Chart
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "kind"),
    [
        (10.5, "number"),
        (10, "number"),
        (True, "boolean"),
        (None, "null"),
        ([1], "array"),
        ({"a": 1}, "object"),
    ],
)
def test_amounts_must_be_strings(amount: Any, kind: str) -> None:
    with pytest.raises(LedgerInvalid, match=f"not a JSON {kind}") as raised:
        validators.amount_clean(amount, currency="EUR")
    assert raised.value.instance_code == "amount_not_string"


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("10", "EUR", "10"),
        ("-0.05", "EUR", "-0.05"),
        ("10.000", "EUR", "10.000"),
        ("1.2345", "CLF", "1.2345"),
    ],
)
def test_amounts_within_the_minor_units(text: str, currency: str, expected: str) -> None:
    assert validators.amount_clean(text, currency=currency) == Decimal(expected)


@pytest.mark.parametrize(
    ("amount", "currency", "text"), [(Decimal("1.5"), "EUR", "1.50"), (Decimal(3), "BHD", "3.000")]
)
def test_money_format_uses_the_minor_units(amount: Decimal, currency: str, text: str) -> None:
    assert validators.money_format(amount, currency) == text


def _legs(chart: Chart, count: int = 2) -> list[dict[str, Any]]:
    legs = [{"account_id": chart.cash.id, "amount": "1"} for _ in range(count - 1)]
    return [*legs, {"account_id": chart.bank.id, "amount": f"-{count - 1}"}]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"state": "voided"}, "validation_error"),
        ({"postings_count": 1}, "postings_count"),
        ({"postings_count": services.POSTINGS_MAX + 1}, "postings_count"),
        ({"description": "\x07"}, "validation_error"),
        ({"reference": "x" * 101}, "validation_error"),
    ],
)
def test_transaction_rules(
    fields: dict[str, Any], code: str, chart: Chart, tenant_a: Organization, actor: User
) -> None:
    legs = _legs(chart, fields.pop("postings_count", 2))
    request = {"description": "Direct", "currency": "EUR", "postings": legs, **fields}
    with tenant_context(tenant_a), pytest.raises(LedgerInvalid) as raised:
        services.transaction_create(actor=actor, **request)
    assert raised.value.instance_code == code
    with tenant_context(tenant_a):
        assert Transaction.objects.count() == 0


def test_blank_reference_is_none_and_many_postings_on_one_account_add_up(
    chart: Chart, tenant_a: Organization, actor: User
) -> None:
    with tenant_context(tenant_a):
        txn = services.transaction_create(
            actor=actor, description="Split", currency="EUR", reference="  ", postings=_legs(chart, 5)
        )
        assert txn.reference is None
        assert str(txn).endswith("Split")
        assert {str(posting) for posting in Posting.objects.filter(account=chart.cash)} == {
            f"{chart.cash.id} 1.0000"
        }
        chart.cash.refresh_from_db()
        assert chart.cash.balance == Decimal(4)


@pytest.mark.parametrize(
    ("changes", "message"), [({"currency": "USD"}, "cannot be changed"), ({"type": "x"}, "type")]
)
def test_account_rules(
    changes: dict[str, Any], message: str, chart: Chart, tenant_a: Organization, actor: User
) -> None:
    with tenant_context(tenant_a), pytest.raises(LedgerInvalid, match=message):
        services.account_update(actor=actor, account=chart.cash, changes=changes)
    with tenant_context(tenant_a), pytest.raises(LedgerInvalid, match="type"):
        services.account_create(actor=actor, code="9", name="x", type="revenue", currency="EUR")
    assert str(chart.cash) == "1000 (EUR)"


def test_idempotent_service_replays(chart: Chart, tenant_a: Organization, actor: User) -> None:
    request = {"description": "Once", "currency": "EUR", "postings": _legs(chart)}

    def render(txn: Transaction, postings: Sequence[PostingLine]) -> dict[str, Any]:
        return {"id": str(txn.id), "postings": len(postings)}

    with tenant_context(tenant_a):
        first = services.transaction_create_idempotent(actor=actor, key="svc", request=request, render=render)
        again = services.transaction_create_idempotent(actor=actor, key="svc", request=request, render=render)
        assert (first.replayed, again.replayed) == (False, True)
        assert again.body == first.body
        assert (again.status, Transaction.objects.count()) == (201, 1)
        assert str(IdempotencyKey.objects.get()) == "svc"
        with pytest.raises(IdempotencyKeyReused):
            services.transaction_create_idempotent(
                actor=actor, key="svc", request={**request, "description": "Twice"}, render=render
            )


@pytest.mark.parametrize("refusal", ["archived", "unbalanced", "overflow"])
def test_a_refused_transfer_leaves_the_callers_transaction_usable_and_its_key_free(
    refusal: str, chart: Chart, tenant_a: Organization, actor: User
) -> None:
    """No savepoint inside a caller's transaction: a refusal must have written nothing, the key
    included, whether Python (the amounts) or the write function (the accounts, the balances) refuses."""
    request = {"description": "Once", "currency": "EUR", "postings": _legs(chart)}

    def render(txn: Transaction, postings: Sequence[PostingLine]) -> dict[str, Any]:
        return {"id": str(txn.id)}

    with tenant_context(tenant_a), transaction.atomic():
        refused = request
        if refusal == "archived":
            services.account_update(actor=actor, account=chart.bank, changes={"archived": True})
        elif refusal == "unbalanced":
            refused = {**request, "postings": [*_legs(chart), {"account_id": chart.bank.id, "amount": "1"}]}
        else:
            Account.objects.filter(id=chart.cash.id).update(balance=Decimal("999999999999999999.9999"))
        with pytest.raises((LedgerInvalid, LedgerConflict)):
            services.transaction_create_idempotent(actor=actor, key="k", request=refused, render=render)
        assert not IdempotencyKey.objects.filter(key="k").exists()
        assert Transaction.objects.count() == 0
        services.account_update(actor=actor, account=chart.bank, changes={"archived": False})
        Account.objects.filter(id=chart.cash.id).update(balance=0)
        result = services.transaction_create_idempotent(actor=actor, key="k", request=request, render=render)
        assert (result.replayed, Transaction.objects.count()) == (False, 1)
