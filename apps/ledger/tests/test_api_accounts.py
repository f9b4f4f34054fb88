"""Accounts: open, list, read, change, archive (never delete)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import ACCOUNTS_URL, JSON, account_url, assert_error, ledger_counts
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _create(client: Client, **fields: Any) -> Any:
    body = {"code": "2000", "name": "Payables", "type": "liability", "currency": "EUR", **fields}
    return client.post(ACCOUNTS_URL, body, content_type=JSON)


def test_open_an_account(member_client: Client, entity_a: Any) -> None:
    response = _create(member_client, entity_id=str(entity_a.id), name="  Payables  ")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {key: body[key] for key in ("code", "name", "type", "currency", "entity_id", "archived")} == {
        "code": "2000",
        "name": "Payables",
        "type": "liability",
        "currency": "EUR",
        "entity_id": str(entity_a.id),
        "archived": False,
    }
    assert member_client.get(account_url(body["id"])).json() == body


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"currency": "XYZ"}, "currency_unknown"),
        ({"type": "revenue"}, "validation_error"),
        ({"code": " "}, "validation_error"),
        ({"name": "a\x00b"}, "validation_error"),
        ({"entity_id": str(uuid.UUID(int=7))}, "entity_not_found"),
    ],
)
def test_bad_account_is_refused(
    fields: dict[str, Any], code: str, member_client: Client, tenant_a: Organization
) -> None:
    before = ledger_counts(tenant_a)
    response = _create(member_client, **fields)
    assert_error(response, 404 if code == "entity_not_found" else 422, code)
    assert ledger_counts(tenant_a) == before


def test_codes_are_unique(member_client: Client, chart: Chart) -> None:
    assert_error(_create(member_client, code="1000"), 409, "code_taken")
    assert_error(member_client.patch(account_url(chart.bank.id), {"code": "1000"}, content_type=JSON), 409)


def test_viewer_cannot_open_or_change(viewer_client: Client, chart: Chart) -> None:
    assert_error(_create(viewer_client), 403, "role_required")
    assert_error(viewer_client.patch(account_url(chart.cash.id), {"name": "x"}, content_type=JSON), 403)


def test_change_and_archive(member_client: Client, chart: Chart, entity_a: Any) -> None:
    response = member_client.patch(
        account_url(chart.cash.id),
        {"name": "Petty cash", "type": "asset", "archived": True, "entity_id": str(entity_a.id)},
        content_type=JSON,
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["archived"], body["entity_id"]) == ("Petty cash", True, str(entity_a.id))
    unlinked = member_client.patch(account_url(chart.cash.id), {"entity_id": None}, content_type=JSON)
    assert unlinked.json()["entity_id"] is None
    assert member_client.delete(account_url(chart.cash.id)).status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"archived": None},
        {"code": ""},
        {"type": "revenue"},
        {"currency": "USD"},
        {"balance": "1"},
    ],
)
def test_bad_change_is_refused(body: dict[str, Any], member_client: Client, chart: Chart) -> None:
    assert_error(member_client.patch(account_url(chart.cash.id), body, content_type=JSON), 422)
    assert member_client.get(account_url(chart.cash.id)).json()["name"] == "Cash"


def test_list_and_filters(viewer_client: Client, chart: Chart, member_client: Client) -> None:
    member_client.patch(account_url(chart.yen.id), {"archived": True}, content_type=JSON)

    def codes(query: dict[str, Any]) -> list[str]:
        response = viewer_client.get(ACCOUNTS_URL, query)
        assert response.status_code == 200, response.content
        return [item["code"] for item in response.json()["items"]]

    assert codes({}) == ["1000", "1100", "1200", "1300", "4000"]
    assert codes({"archived": "true"}) == ["1300"]
    assert codes({"currency": "USD"}) == ["1200"]
    assert codes({"type": "income"}) == ["4000"]
    assert codes({"limit": 2, "offset": 1}) == ["1100", "1200"]


def test_unknown_account_is_not_found(viewer_client: Client) -> None:
    assert_error(viewer_client.get(account_url(uuid.uuid4())), 404, "account_not_found")
