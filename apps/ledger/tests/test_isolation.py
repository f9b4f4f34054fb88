"""Another organization's accounts and transactions look exactly like missing ones, and stay untouched."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import (
    ACCOUNTS_URL,
    JSON,
    TRIAL_BALANCE_URL,
    URL,
    account_url,
    assert_error,
    balances,
    ledger_counts,
    post,
    transaction_url,
    transfer,
)
from tenants.models import Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_posted(member_client: Client, chart: Chart) -> dict[str, str]:
    body: dict[str, str] = post(member_client, transfer(chart.cash.id, chart.bank.id, "8.00")).json()
    return body


def test_b_cannot_post_to_a_accounts(
    b_member_client: Client, chart: Chart, b_chart: Chart, tenant_a: Organization, tenant_b: Organization
) -> None:
    before_a, before_b = ledger_counts(tenant_a), ledger_counts(tenant_b)

    both_foreign = post(b_member_client, transfer(chart.cash.id, chart.bank.id, "1"))
    one_foreign = post(b_member_client, transfer(b_chart.cash.id, chart.bank.id, "1"))

    assert assert_error(both_foreign, 404, "account_not_found")["detail"].startswith("postings.0")
    assert_error(one_foreign, 404, "account_not_found")
    assert (ledger_counts(tenant_a), ledger_counts(tenant_b)) == (before_a, before_b)
    assert balances(tenant_a, chart.bank) == [("0.0000", "0.0000")]


@pytest.mark.parametrize("suffix", ["", "/balance", "/statement"])
def test_b_cannot_read_a_accounts(b_member_client: Client, chart: Chart, suffix: str) -> None:
    error = assert_error(b_member_client.get(account_url(chart.cash.id, suffix)), 404, "account_not_found")
    assert "1000" not in str(error)


def test_b_cannot_change_a_accounts(b_member_client: Client, chart: Chart, tenant_a: Organization) -> None:
    response = b_member_client.patch(account_url(chart.cash.id), {"archived": True}, content_type=JSON)
    assert_error(response, 404, "account_not_found")
    assert ledger_counts(tenant_a)["accounts"] == 5


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("post", "/void"), ("post", "/reverse"), ("post", "/post")]
)
def test_b_cannot_see_or_touch_a_transactions(
    b_member_client: Client, a_posted: dict[str, str], tenant_a: Organization, method: str, suffix: str
) -> None:
    before = ledger_counts(tenant_a)
    response = getattr(b_member_client, method)(transaction_url(a_posted["id"], suffix))
    assert_error(response, 404, "transaction_not_found")
    assert ledger_counts(tenant_a) == before


def test_b_lists_show_nothing_of_a(b_member_client: Client, a_posted: dict[str, str], chart: Chart) -> None:
    assert b_member_client.get(URL).json() == {"items": [], "count": 0, "count_exact": True, "next": None}
    assert b_member_client.get(URL, {"account": str(chart.cash.id)}).json()["count"] == 0
    assert b_member_client.get(ACCOUNTS_URL).json() == {
        "items": [],
        "count": 0,
        "count_exact": True,
        "next": None,
    }
    assert b_member_client.get(TRIAL_BALANCE_URL).json() == {"currencies": [], "accounts": []}


def test_a_token_on_b_host_is_refused(
    make_token: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    token = make_token(tenant_a, ["member"])
    client = Client(headers={"Host": tenant_b.primary_domain, "Authorization": f"Bearer {token}"})
    assert_error(client.get(URL), 403, "tenant_mismatch")
