"""The statement pages by cursor: the running balance rides in the cursor (issue 12, lists)."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import account_url, post, transfer

pytestmark = pytest.mark.django_db


def test_statement_running_balance_carries_across_cursor_pages(
    viewer_client: Client, member_client: Client, chart: Chart
) -> None:
    for day, amount in ((1, "1.00"), (2, "2.00"), (2, "4.00"), (3, "8.00"), (4, "16.00")):
        body = transfer(chart.revenue.id, chart.bank.id, amount, effective_date=f"2026-01-0{day}")
        assert post(member_client, body).status_code == 201
    url = account_url(chart.bank.id, "/statement")
    lines: list[str] = []
    cursor = None
    for _ in range(5):
        page = viewer_client.get(url, {"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        lines += [line["running_balance"] for line in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert lines == ["1.00", "3.00", "7.00", "15.00", "31.00"]
