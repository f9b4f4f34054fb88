"""Bad input to POST /transactions/: a clear 4xx naming the reason, and nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.ledger.models import Account
from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import JSON, URL, assert_error, ledger_counts, post, transfer
from tenants.models import Organization

pytestmark = pytest.mark.django_db

Body = Callable[[Chart], Any]


def _legs(*legs: tuple[Account, Any]) -> list[dict[str, Any]]:
    return [{"account_id": str(account.id), "amount": amount} for account, amount in legs]


def _body(chart: Chart, *legs: tuple[Account, Any], currency: str = "EUR") -> dict[str, Any]:
    return {"description": "Bad", "currency": currency, "postings": _legs(*legs)}


CASES: dict[str, tuple[Body, int, str, str]] = {
    # name: (body, status, code, a word the reason must contain)
    "unbalanced": (
        lambda c: _body(c, (c.cash, "10.00"), (c.bank, "-9.99")),
        422,
        "unbalanced",
        "sum to zero",
    ),
    "one posting": (lambda c: _body(c, (c.cash, "10.00")), 422, "validation_error", "postings"),
    "mixed currencies": (
        lambda c: _body(c, (c.cash, "10.00"), (c.dollars, "-10.00")),
        422,
        "currency_mismatch",
        "USD",
    ),
    "unknown currency": (
        lambda c: _body(c, (c.cash, "1"), (c.bank, "-1"), currency="EUX"),
        422,
        "currency_unknown",
        "ISO 4217",
    ),
    "lower-case currency": (
        lambda c: _body(c, (c.cash, "1"), (c.bank, "-1"), currency="eur"),
        422,
        "currency_unknown",
        "ISO 4217",
    ),
    "too many decimals": (
        lambda c: _body(c, (c.cash, "10.001"), (c.bank, "-10.001")),
        422,
        "amount_precision",
        "decimals",
    ),
    "decimals on a currency without minor units": (
        lambda c: _body(c, (c.yen, "10.5"), (c.yen, "-10.5"), currency="JPY"),
        422,
        "amount_precision",
        "JPY",
    ),
    "zero amount": (lambda c: _body(c, (c.cash, "0.00"), (c.bank, "0")), 422, "amount_zero", "zero"),
    "float amount": (lambda c: _body(c, (c.cash, 10.5), (c.bank, -10.5)), 422, "validation_error", "string"),
    "integer amount": (lambda c: _body(c, (c.cash, 10), (c.bank, -10)), 422, "validation_error", "string"),
    "null amount": (lambda c: _body(c, (c.cash, None), (c.bank, "1")), 422, "validation_error", "string"),
    "non-numeric amount": (
        lambda c: _body(c, (c.cash, "ten"), (c.bank, "-10")),
        422,
        "amount_invalid",
        "decimal",
    ),
    "exponent amount": (
        lambda c: _body(c, (c.cash, "1e3"), (c.bank, "-1e3")),
        422,
        "amount_invalid",
        "decimal",
    ),
    "NaN amount": (lambda c: _body(c, (c.cash, "NaN"), (c.bank, "NaN")), 422, "amount_invalid", "decimal"),
    "huge amount": (
        lambda c: _body(c, (c.cash, "1" * 16), (c.bank, "-" + "1" * 16)),
        422,
        "amount_invalid",
        "15 digits",
    ),
    "unknown account": (
        lambda c: {
            "description": "Bad",
            "currency": "EUR",
            "postings": [
                {"account_id": str(uuid.uuid4()), "amount": "1"},
                {"account_id": str(c.cash.id), "amount": "-1"},
            ],
        },
        404,
        "account_not_found",
        "postings.0.account_id",
    ),
    "malformed account id": (
        lambda c: {
            "description": "Bad",
            "currency": "EUR",
            "postings": [{"account_id": "1", "amount": "1"}, {"account_id": str(c.cash.id), "amount": "-1"}],
        },
        422,
        "validation_error",
        "account_id",
    ),
    "blank description": (
        lambda c: {**_body(c, (c.cash, "1"), (c.bank, "-1")), "description": "  "},
        422,
        "validation_error",
        "description",
    ),
    "unknown state": (
        lambda c: {**_body(c, (c.cash, "1"), (c.bank, "-1")), "state": "voided"},
        422,
        "validation_error",
        "state",
    ),
    "unknown entity": (
        lambda c: {**_body(c, (c.cash, "1"), (c.bank, "-1")), "entity_id": str(uuid.uuid4())},
        404,
        "entity_not_found",
        "entity",
    ),
    "not an object": (lambda c: ["postings"], 422, "validation_error", "JSON object"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_posting_is_refused_with_its_reason(
    case: str, member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    body, status, code, reason = CASES[case]
    before = ledger_counts(tenant_a)

    error = assert_error(post(member_client, body(chart)), status, code)

    assert reason in str(error), error
    assert ledger_counts(tenant_a) == before


def test_archived_account_is_refused(member_client: Client, chart: Chart, tenant_a: Organization) -> None:
    with tenant_context(tenant_a):
        Account.objects.filter(id=chart.bank.id).update(archived=True)
    before = ledger_counts(tenant_a)

    error = assert_error(
        post(member_client, transfer(chart.cash.id, chart.bank.id, "1")), 422, "account_archived"
    )

    assert "1100" in error["detail"]
    assert ledger_counts(tenant_a) == before


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\tkey"])
def test_missing_or_bad_idempotency_key(
    key: str | None, member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    before = ledger_counts(tenant_a)
    headers = {} if key is None else {"Idempotency-Key": key}

    response = member_client.post(
        URL, transfer(chart.cash.id, chart.bank.id, "1"), content_type=JSON, headers=headers
    )

    error = assert_error(response, 400, "idempotency_key_required")
    assert "Idempotency-Key" in error["detail"]
    assert ledger_counts(tenant_a) == before


@pytest.mark.parametrize("raw", [b'{"description": "x", "currency": "EUR", "postings": [', b"NaN", b""])
def test_malformed_json(raw: bytes, member_client: Client, tenant_a: Organization) -> None:
    before = ledger_counts(tenant_a)
    response = member_client.post(URL, raw, content_type=JSON, headers={"Idempotency-Key": "k"})
    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)
    assert ledger_counts(tenant_a) == before


def test_a_balance_overflow_is_refused(member_client: Client, chart: Chart, tenant_a: Organization) -> None:
    with tenant_context(tenant_a):
        Account.objects.filter(id=chart.bank.id).update(balance="999999999999999999.0000")
    before = ledger_counts(tenant_a)

    error = assert_error(
        post(member_client, transfer(chart.cash.id, chart.bank.id, "1")), 409, "balance_overflow"
    )

    assert "beyond" in error["detail"]
    assert ledger_counts(tenant_a) == before


def test_control_characters_in_a_filter_are_refused(viewer_client: Client) -> None:
    assert_error(viewer_client.get(URL, {"reference": "a\x01b"}), 422)
    # NUL never reaches the filter: the request is refused as malformed first.
    assert_error(viewer_client.get(URL, {"reference": "a\x00b"}), 400, "malformed_request")
