"""``GET /transactions/accounts?include=balance`` and ``Idempotent-Replayed`` (issue 13 item 4)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.ledger import services
from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import ACCOUNTS_URL, account_url, assert_error, post, transfer
from tenants.models import Organization, User
from tests.query_counts import assert_statements

MACHINERY = 5  # routing, the user mirror and membership, and the request's savepoint (tests.query_counts)


def _listed(client: Client, **query: str) -> dict[str, dict[str, Any]]:
    response = client.get(ACCOUNTS_URL, {"limit": "500", **query})
    assert response.status_code == 200, response.content
    return {item["code"]: item for item in response.json()["items"]}


class TestIncludeBalance:
    def test_each_account_carries_the_balances_its_balance_endpoint_answers(
        self, member_client: Client, chart: Chart
    ) -> None:
        assert post(member_client, transfer(chart.cash.id, chart.bank.id, "12.50")).status_code == 201
        pending = transfer(chart.cash.id, chart.revenue.id, "0.75", state="pending")
        assert post(member_client, pending).status_code == 201

        listed = _listed(member_client, include="balance")

        for account in (chart.cash, chart.bank, chart.revenue, chart.yen):
            balance = member_client.get(account_url(account.id, "/balance")).json()
            assert listed[account.code]["balance"] == balance["balance"], account.code
            assert listed[account.code]["pending_balance"] == balance["pending_balance"], account.code
        assert listed["1000"]["balance"] == "-12.50"
        assert listed["1000"]["pending_balance"] == "-13.25"
        assert listed["1300"]["balance"] == "0"  # JPY: no minor units

    def test_without_include_the_balances_are_null(self, member_client: Client, chart: Chart) -> None:
        listed = _listed(member_client)
        assert {(item["balance"], item["pending_balance"]) for item in listed.values()} == {(None, None)}

    @pytest.mark.parametrize("value", ["balances", "balance,owner", "", "BALANCE"])
    def test_an_unknown_include_is_422_naming_it(
        self, member_client: Client, chart: Chart, value: str
    ) -> None:
        body = assert_error(member_client.get(ACCOUNTS_URL, {"include": value}), 422, "validation_error")
        assert body["errors"][0]["loc"] == ["include"]
        assert "unknown include" in body["errors"][0]["msg"]

    def test_one_query_reads_the_page_with_its_balances(
        self, member_client: Client, tenant_a: Organization, actor: User, chart: Chart
    ) -> None:
        member_client.get(ACCOUNTS_URL)  # warm the route and role caches
        with CaptureQueriesContext(connection) as plain:
            assert member_client.get(ACCOUNTS_URL).status_code == 200
        with CaptureQueriesContext(connection) as few:
            assert member_client.get(ACCOUNTS_URL, {"include": "balance"}).status_code == 200
        with tenant_context(tenant_a):
            for index in range(20):
                services.account_create(
                    actor=actor, code=f"9{index:03}", name="More", type="asset", currency="EUR"
                )
        with CaptureQueriesContext(connection) as many:
            response = member_client.get(ACCOUNTS_URL, {"include": "balance"})
        assert len(response.json()["items"]) == 25

        assert len(few.captured_queries) == len(plain.captured_queries)  # no query for the balances
        assert len(many.captured_queries) == len(few.captured_queries)  # and none per account
        pages = [
            q["sql"]
            for q in many.captured_queries
            if 'FROM "ledger_account"' in q["sql"] and not q["sql"].startswith("SELECT COUNT")
        ]
        assert len(pages) == 1, pages  # the page and its balances, in one statement (the count apart)

    def test_statements_of_the_request(self, member_client: Client, chart: Chart) -> None:
        member_client.get(ACCOUNTS_URL, {"include": "balance"})  # warm
        # The request's machinery (tests.query_counts), then the page with its balances, the bounded
        # count and the list's audit entry: the same as without the balances.
        assert_statements(lambda: member_client.get(ACCOUNTS_URL), MACHINERY + 3, status=200)
        assert_statements(
            lambda: member_client.get(ACCOUNTS_URL, {"include": "balance"}), MACHINERY + 3, status=200
        )

    def test_another_organization_lists_only_its_own(
        self, member_client: Client, b_member_client: Client, chart: Chart, b_chart: Chart
    ) -> None:
        assert post(member_client, transfer(chart.cash.id, chart.bank.id, "5.00")).status_code == 201
        theirs = b_member_client.get(ACCOUNTS_URL, {"include": "balance"}).json()["items"]
        assert {item["id"] for item in theirs} == {
            str(account.id)
            for account in (b_chart.cash, b_chart.bank, b_chart.revenue, b_chart.dollars, b_chart.yen)
        }
        assert {item["balance"] for item in theirs} == {"0.00", "0"}


class TestReplayed:
    def test_a_replay_answers_the_first_body_byte_for_byte_and_says_so(
        self, member_client: Client, chart: Chart
    ) -> None:
        key = uuid.uuid4().hex
        body = transfer(chart.cash.id, chart.bank.id, "10.00", reference="INV-1")

        first = post(member_client, body, key=key)
        replay = post(member_client, body, key=key)
        again = post(member_client, body, key=key)

        assert first.status_code == replay.status_code == again.status_code == 201
        assert "Idempotent-Replayed" not in first
        assert replay["Idempotent-Replayed"] == again["Idempotent-Replayed"] == "true"
        assert replay.content == first.content  # the same bytes, not merely equal JSON
        assert again.content == first.content
        assert replay["Content-Type"] == first["Content-Type"] == "application/json"

    def test_a_new_key_is_not_a_replay(self, member_client: Client, chart: Chart) -> None:
        response = post(member_client, transfer(chart.cash.id, chart.bank.id, "1.00"))
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response

    def test_another_organization_using_the_same_key_is_no_replay(
        self, member_client: Client, b_member_client: Client, chart: Chart, b_chart: Chart
    ) -> None:
        key = uuid.uuid4().hex
        assert post(member_client, transfer(chart.cash.id, chart.bank.id, "1.00"), key=key).status_code == 201
        theirs = post(b_member_client, transfer(b_chart.cash.id, b_chart.bank.id, "1.00"), key=key)
        assert theirs.status_code == 201
        assert "Idempotent-Replayed" not in theirs
