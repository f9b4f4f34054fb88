"""The ledger's references to entities follow the entities module's one visibility rule: a restricted
entity the caller may not see is, in every filter and link, exactly an id no entity has (issue 10,
item 3: ``GET /transactions/?entity=`` listed a restricted entity's transactions to anyone)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.entities import services as entity_services
from apps.entities.models import Entity
from apps.ledger import services
from apps.ledger.models import Account
from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import (
    ACCOUNTS_URL,
    DEFAULT_SUB,
    JSON,
    URL,
    account_url,
    ledger_counts,
    post,
    transfer,
)
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def hidden(tenant_a: Organization, actor: User, chart: Chart) -> Entity:
    """A restricted entity of A with an account and a transaction linked to it (linked by code acting
    for no caller, which sees everything)."""
    with tenant_context(tenant_a):
        entity = entity_services.entity_create(actor=actor, kind="customer", name="Hidden Client")
        entity = entity_services.entity_update(actor=actor, entity=entity, changes={"restricted": True})
        services.account_create(
            actor=actor, code="1400", name="Receivable", type="asset", currency="EUR", entity_id=entity.id
        )
        legs = [
            {"account_id": chart.cash.id, "amount": "5.00"},
            {"account_id": chart.bank.id, "amount": "-5.00"},
        ]
        services.transaction_create(
            actor=actor, description="Fee", currency="EUR", postings=legs, entity_id=entity.id
        )
    return entity


def _answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


def test_filtering_by_a_hidden_entity_is_filtering_by_an_unknown_id(
    member_client: Client, hidden: Entity
) -> None:
    hidden_answer = _answer(member_client.get(f"{URL}?entity={hidden.id}"))
    unknown_answer = _answer(member_client.get(f"{URL}?entity={uuid.uuid4()}"))

    assert hidden_answer == unknown_answer
    assert hidden_answer[1]["count"] == 0


def test_those_who_may_see_it_filter_by_it(
    member_client: Client, admin_client: Client, tenant_a: Organization, actor: User, hidden: Entity
) -> None:
    assert admin_client.get(f"{URL}?entity={hidden.id}").json()["count"] == 1
    member_client.get(URL)  # the member is now a user of A, who may be granted
    with tenant_context(tenant_a):
        entity_services.entity_permission_grant(
            actor=actor, entity=hidden, user_id=DEFAULT_SUB, permission="view"
        )

    listed = member_client.get(f"{URL}?entity={hidden.id}").json()
    assert [item["entity_id"] for item in listed["items"]] == [str(hidden.id)]


def test_a_deleted_entity_still_filters_its_transactions(
    admin_client: Client, tenant_a: Organization, actor: User, hidden: Entity
) -> None:
    with tenant_context(tenant_a):
        entity_services.entity_delete(actor=actor, entity=hidden)

    assert admin_client.get(f"{URL}?entity={hidden.id}").json()["count"] == 1


class TestLinking:
    """Linking a row to a hidden entity answers what linking it to an unknown id answers, and writes
    nothing."""

    def _both(self, tenant: Organization, hidden: Entity, request: Any) -> list[tuple[int, Any]]:
        before = ledger_counts(tenant)
        answers = [_answer(request(entity_id)) for entity_id in (str(hidden.id), str(uuid.uuid4()))]
        assert ledger_counts(tenant) == before
        assert answers[0] == answers[1]
        assert answers[0][0] == 404
        return answers

    def test_account_create(self, member_client: Client, tenant_a: Organization, hidden: Entity) -> None:
        def create(entity_id: str) -> Any:
            body = {"code": "1500", "name": "X", "type": "asset", "currency": "EUR", "entity_id": entity_id}
            return member_client.post(ACCOUNTS_URL, body, content_type=JSON)

        self._both(tenant_a, hidden, create)

    def test_account_update(
        self, member_client: Client, tenant_a: Organization, chart: Chart, hidden: Entity
    ) -> None:
        def update(entity_id: str) -> Any:
            return member_client.patch(
                account_url(chart.cash.id), {"entity_id": entity_id}, content_type=JSON
            )

        self._both(tenant_a, hidden, update)
        with tenant_context(tenant_a):
            assert Account.objects.get(id=chart.cash.id).entity_id is None

    def test_transaction_create(
        self, member_client: Client, tenant_a: Organization, chart: Chart, hidden: Entity
    ) -> None:
        def create(entity_id: str) -> Any:
            return post(member_client, transfer(chart.cash.id, chart.bank.id, "1.00", entity_id=entity_id))

        self._both(tenant_a, hidden, create)

    def test_admins_link_to_it(self, admin_client: Client, chart: Chart, hidden: Entity) -> None:
        response = post(
            admin_client, transfer(chart.cash.id, chart.bank.id, "1.00", entity_id=str(hidden.id))
        )

        assert response.status_code == 201, response.content
        assert response.json()["entity_id"] == str(hidden.id)


def test_a_replay_naming_a_hidden_entity_is_refused_as_the_first_request_would_be(
    client_for: Any, tenant_a: Organization, actor: User, chart: Chart, hidden: Entity
) -> None:
    granted_sub = uuid.uuid4()
    granted = client_for(tenant_a, ["member"], sub=str(granted_sub))
    granted.get(URL)  # a user of A, who may be granted
    with tenant_context(tenant_a):
        entity_services.entity_permission_grant(
            actor=actor, entity=hidden, user_id=granted_sub, permission="view"
        )
    body = transfer(chart.cash.id, chart.bank.id, "1.00", entity_id=str(hidden.id))
    assert post(granted, body, key="shared-key").status_code == 201
    other = client_for(tenant_a, ["member"], sub=str(uuid.uuid4()))

    replayed = post(other, body, key="shared-key")
    unknown = post(other, {**body, "entity_id": str(uuid.uuid4())}, key="fresh-key")

    assert _answer(replayed) == _answer(unknown)
    assert replayed.status_code == 404
