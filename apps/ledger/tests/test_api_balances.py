"""Balances now and at a date, statements with running balances, and the trial balance."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import (
    TRIAL_BALANCE_URL,
    account_url,
    assert_error,
    post,
    transaction_url,
    transfer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(member_client: Client, chart: Chart) -> Chart:
    """January: 100 in; February: 30 out; March: 5 pending; April: a USD transfer."""
    for body in (
        transfer(chart.revenue.id, chart.bank.id, "100.00", effective_date="2026-01-15"),
        transfer(chart.bank.id, chart.cash.id, "30.00", effective_date="2026-02-15"),
        transfer(chart.bank.id, chart.cash.id, "5.00", effective_date="2026-03-15", state="pending"),
    ):
        assert post(member_client, body).status_code == 201
    usd = transfer(chart.dollars.id, chart.dollars.id, "1.00", currency="USD", effective_date="2026-04-01")
    assert post(member_client, usd).status_code == 201
    return chart


def test_balance_now(viewer_client: Client, booked: Chart) -> None:
    response = viewer_client.get(account_url(booked.bank.id, "/balance"))

    assert response.status_code == 200
    assert response.json() == {
        "account_id": str(booked.bank.id),
        "currency": "EUR",
        "balance": "70.00",
        "pending_balance": "65.00",
        "as_of": None,
    }


@pytest.mark.parametrize(
    ("as_of", "balance", "pending"),
    [("2025-12-31", "0.00", "0.00"), ("2026-01-31", "100.00", "100.00"), ("2026-03-31", "70.00", "65.00")],
)
def test_balance_at_a_date(
    viewer_client: Client, booked: Chart, as_of: str, balance: str, pending: str
) -> None:
    body = viewer_client.get(account_url(booked.bank.id, "/balance"), {"as_of": as_of}).json()
    assert (body["balance"], body["pending_balance"], body["as_of"]) == (balance, pending, as_of)


def test_a_voided_transaction_counts_nowhere(member_client: Client, booked: Chart) -> None:
    pending = member_client.get("/api/v1/transactions/", {"state": "pending"}).json()["items"][0]
    member_client.post(transaction_url(pending["id"], "/void"))
    body = member_client.get(account_url(booked.bank.id, "/balance"), {"as_of": "2026-12-31"}).json()
    assert (body["balance"], body["pending_balance"]) == ("70.00", "70.00")


def test_statement_running_balance_across_pages(
    viewer_client: Client, member_client: Client, booked: Chart
) -> None:
    post(member_client, transfer(booked.cash.id, booked.bank.id, "0.50", effective_date="2026-01-01"))

    first = viewer_client.get(account_url(booked.bank.id, "/statement"), {"limit": 2}).json()
    second = viewer_client.get(account_url(booked.bank.id, "/statement"), {"limit": 2, "offset": 2}).json()

    assert first["count"] == 3  # the pending transaction is not on the statement
    lines = [(line["effective_date"], line["amount"], line["running_balance"]) for line in first["items"]]
    lines += [(line["effective_date"], line["amount"], line["running_balance"]) for line in second["items"]]
    assert lines == [
        ("2026-01-01", "0.50", "0.50"),
        ("2026-01-15", "100.00", "100.50"),
        ("2026-02-15", "-30.00", "70.50"),
    ]
    assert first["items"][0]["description"] == "Transfer"


def test_statement_costs_the_same_queries_for_any_length(
    viewer_client: Client, member_client: Client, chart: Chart
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer_client.get(account_url(chart.bank.id, "/statement")).status_code == 200
        return len(captured)

    post(member_client, transfer(chart.cash.id, chart.bank.id, "1"))
    one = queries()
    for _ in range(9):
        post(member_client, transfer(chart.cash.id, chart.bank.id, "1"))
    assert queries() == one


def test_trial_balance_sums_to_zero_per_currency(viewer_client: Client, booked: Chart) -> None:
    response = viewer_client.get(TRIAL_BALANCE_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["currencies"] == [
        {"currency": "EUR", "debits": "100.00", "credits": "-100.00", "total": "0.00"},
        {"currency": "JPY", "debits": "0", "credits": "0", "total": "0"},
        {"currency": "USD", "debits": "0.00", "credits": "0.00", "total": "0.00"},
    ]
    balances = {line["code"]: line["balance"] for line in body["accounts"]}
    assert balances == {"1000": "30.00", "1100": "70.00", "4000": "-100.00", "1200": "0.00", "1300": "0"}


@pytest.mark.parametrize("suffix", ["/balance", "/statement"])
def test_unknown_account(viewer_client: Client, suffix: str) -> None:
    assert_error(viewer_client.get(account_url(uuid.uuid4(), suffix)), 404, "account_not_found")


def test_bad_as_of(viewer_client: Client, chart: Chart) -> None:
    assert_error(viewer_client.get(account_url(chart.bank.id, "/balance"), {"as_of": "soon"}), 422)


def test_reads_need_a_token(client_for: Any, tenant_a: Any, chart: Chart) -> None:
    assert_error(client_for(tenant_a).get(TRIAL_BALANCE_URL), 401)
