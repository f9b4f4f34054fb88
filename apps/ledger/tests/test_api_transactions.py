"""Posting, reading, posting pending, voiding and reversing transactions through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import (
    URL,
    assert_error,
    balances,
    ledger_counts,
    post,
    transaction_url,
    transfer,
)
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def test_post_a_transfer_moves_both_balances(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    response = post(member_client, transfer(chart.cash.id, chart.bank.id, "10.50", reference="INV-1"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "posted"
    assert body["currency"] == "EUR"
    assert body["reference"] == "INV-1"
    assert body["effective_date"] == timezone.localdate().isoformat()
    assert body["postings"] == [
        {"account_id": str(chart.bank.id), "amount": "10.50"},
        {"account_id": str(chart.cash.id), "amount": "-10.50"},
    ]
    assert balances(tenant_a, chart.cash, chart.bank) == [("-10.5000", "-10.5000"), ("10.5000", "10.5000")]


def test_pending_moves_only_the_pending_balance_until_posted(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    body = post(member_client, transfer(chart.cash.id, chart.bank.id, "7", state="pending")).json()
    assert body["state"] == "pending"
    assert balances(tenant_a, chart.bank) == [("0.0000", "7.0000")]

    response = member_client.post(transaction_url(body["id"], "/post"))

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "posted"
    assert balances(tenant_a, chart.bank) == [("7.0000", "7.0000")]
    assert_error(member_client.post(transaction_url(body["id"], "/post")), 409, "transaction_not_pending")


def test_void_a_pending_transaction(member_client: Client, chart: Chart, tenant_a: Organization) -> None:
    body = post(member_client, transfer(chart.cash.id, chart.bank.id, "3.25", state="pending")).json()

    response = member_client.post(transaction_url(body["id"], "/void"))

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "voided"
    assert balances(tenant_a, chart.cash, chart.bank) == [("0.0000", "0.0000"), ("0.0000", "0.0000")]


def test_voiding_a_posted_transaction_is_refused(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    body = post(member_client, transfer(chart.cash.id, chart.bank.id, "5")).json()
    before = ledger_counts(tenant_a)

    error = assert_error(
        member_client.post(transaction_url(body["id"], "/void")), 409, "transaction_not_pending"
    )

    assert "posted" in error["detail"]
    assert ledger_counts(tenant_a) == before
    assert balances(tenant_a, chart.bank) == [("5.0000", "5.0000")]


def test_reverse_once(member_client: Client, chart: Chart, tenant_a: Organization) -> None:
    original = post(member_client, transfer(chart.cash.id, chart.bank.id, "12.34", reference="R-1")).json()

    response = member_client.post(transaction_url(original["id"], "/reverse") + "?effective_date=2026-01-31")

    assert response.status_code == 201, response.content
    reversal = response.json()
    assert reversal["reverses_id"] == original["id"]
    assert reversal["effective_date"] == "2026-01-31"
    assert reversal["reference"] == "R-1"
    assert sorted(p["amount"] for p in reversal["postings"]) == ["-12.34", "12.34"]
    assert balances(tenant_a, chart.cash, chart.bank) == [("0.0000", "0.0000"), ("0.0000", "0.0000")]
    before = ledger_counts(tenant_a)
    assert_error(member_client.post(transaction_url(original["id"], "/reverse")), 409, "already_reversed")
    assert ledger_counts(tenant_a) == before


def test_reversing_a_pending_or_voided_transaction_is_refused(member_client: Client, chart: Chart) -> None:
    pending = post(member_client, transfer(chart.cash.id, chart.bank.id, "1", state="pending")).json()
    assert_error(member_client.post(transaction_url(pending["id"], "/reverse")), 409, "not_posted")


def test_a_reversal_reaches_an_archived_account(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    original = post(member_client, transfer(chart.cash.id, chart.bank.id, "2")).json()
    member_client.patch(f"{URL}accounts/{chart.bank.id}", {"archived": True}, content_type="application/json")

    assert member_client.post(transaction_url(original["id"], "/reverse")).status_code == 201
    assert balances(tenant_a, chart.bank) == [("0.0000", "0.0000")]


def test_read_one(viewer_client: Client, member_client: Client, chart: Chart) -> None:
    created = post(member_client, transfer(chart.cash.id, chart.bank.id, "1.00")).json()

    response = viewer_client.get(transaction_url(created["id"]))

    assert response.status_code == 200
    assert response.json() == created


def test_viewer_reads_but_does_not_post(viewer_client: Client, chart: Chart, tenant_a: Organization) -> None:
    before = ledger_counts(tenant_a)
    assert_error(post(viewer_client, transfer(chart.cash.id, chart.bank.id, "1")), 403, "role_required")
    assert ledger_counts(tenant_a) == before
    assert viewer_client.get(URL).status_code == 200


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_list_filters(member_client: Client, chart: Chart, entity_a: Any) -> None:
    first = post(
        member_client, transfer(chart.cash.id, chart.bank.id, "1", effective_date="2026-01-10", reference="A")
    ).json()
    second = post(
        member_client,
        transfer(
            chart.bank.id, chart.revenue.id, "2", effective_date="2026-02-10", entity_id=str(entity_a.id)
        ),
    ).json()
    third = post(
        member_client,
        transfer(chart.cash.id, chart.revenue.id, "3", effective_date="2026-03-10", state="pending"),
    ).json()

    assert _ids(member_client.get(URL)) == [third["id"], second["id"], first["id"]]
    assert _ids(member_client.get(URL, {"account": str(chart.cash.id)})) == [third["id"], first["id"]]
    assert _ids(member_client.get(URL, {"entity": str(entity_a.id)})) == [second["id"]]
    assert _ids(member_client.get(URL, {"state": "pending"})) == [third["id"]]
    assert _ids(member_client.get(URL, {"date_from": "2026-02-01", "date_to": "2026-02-28"})) == [
        second["id"]
    ]
    assert _ids(member_client.get(URL, {"reference": "A"})) == [first["id"]]
    page = member_client.get(URL, {"limit": 1, "offset": 1}).json()
    assert (page["count"], [item["id"] for item in page["items"]]) == (3, [second["id"]])


@pytest.mark.parametrize("query", [{"state": "open"}, {"date_from": "yesterday"}, {"account": "x"}])
def test_list_refuses_bad_filters(viewer_client: Client, query: dict[str, str]) -> None:
    assert_error(viewer_client.get(URL, query), 422)


def test_list_costs_the_same_queries_for_1_and_20_transactions(member_client: Client, chart: Chart) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get(URL, {"limit": 100}).status_code == 200
        return len(captured)

    post(member_client, transfer(chart.cash.id, chart.bank.id, "1"))
    one = queries()
    for _ in range(19):
        post(member_client, transfer(chart.cash.id, chart.bank.id, "1"))
    assert len(member_client.get(URL, {"limit": 100}).json()["items"]) == 20
    assert queries() == one
