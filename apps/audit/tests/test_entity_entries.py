"""Every entities endpoint writes its audit entries: who, what, which request, which changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.audit.services import MASK
from apps.audit.tests.conftest import EntriesOf
from apps.entities.models import Entity
from apps.entities.tests.helpers import (
    B_SUB,
    DEFAULT_SUB,
    JSON,
    KINDS_URL,
    URL,
    assert_error,
    detail_url,
    relations_url,
)
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _summary(entries: list[Any]) -> list[tuple[str, str, str]]:
    return [(entry.action_name, entry.object_type, entry.object_pk) for entry in entries]


def test_create_records_actor_request_and_fields(
    member_client: Client, tenant_a: Organization, entries_of: EntriesOf
) -> None:
    response = member_client.post(
        URL,
        {"kind": "customer", "name": "Acme", "reference": "C-9"},
        content_type=JSON,
        headers={"X-Request-ID": "req-create", "User-Agent": "pytest-agent"},
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 201
    [entry] = entries_of(tenant_a, "req-create")

    assert _summary([entry]) == [("create", "entities.entity", response.json()["id"])]
    assert entry.actor_id == DEFAULT_SUB
    assert entry.actor_email is None  # the actor by id only: an email is personal data
    # Personal fields are recorded as changed, never with their values (they may be erased later).
    assert entry.changes["name"] == [None, MASK]
    assert entry.changes["reference"] == [None, MASK]
    assert entry.changes["status"] == [None, "active"]
    assert "Acme" not in entry.object_repr
    assert entry.user_agent == "pytest-agent"
    assert entry.remote_addr == "10.1.2.3"
    # Appended unsealed: sealed right after a commit, which this test's transaction never makes.
    assert (entry.sequence, entry.previous_hash, entry.entry_hash) == (None, "", "")


@pytest.mark.parametrize(
    ("remote_addr", "stored"),
    [("not-an-address", None), ("fe80::1%eth0", None), ("2001:db8::1", "2001:db8::1")],
)
def test_client_headers_are_stored_as_text_the_database_holds(
    viewer_client: Client,
    tenant_a: Organization,
    entries_of: EntriesOf,
    remote_addr: str,
    stored: str | None,
) -> None:
    # A NUL in the user agent, or an address ``inet`` refuses, must not cost the request its entry.
    response = viewer_client.get(
        URL, headers={"X-Request-ID": "req-odd-client", "User-Agent": "odd\x00agent"}, REMOTE_ADDR=remote_addr
    )
    assert response.status_code == 200
    [entry] = entries_of(tenant_a, "req-odd-client")
    assert entry.user_agent == "odd\ufffdagent"
    assert entry.remote_addr == stored


def test_update_records_the_read_and_the_changed_fields_only(
    member_client: Client, tenant_a: Organization, entity_a: Entity, entries_of: EntriesOf
) -> None:
    response = member_client.patch(
        detail_url(entity_a.id), {"name": "Acme Two"}, content_type=JSON, headers={"X-Request-ID": "req-up"}
    )
    assert response.status_code == 200
    access, update = entries_of(tenant_a, "req-up")

    assert _summary([access, update]) == [
        ("access", "entities.entity", str(entity_a.id)),
        ("update", "entities.entity", str(entity_a.id)),
    ]
    assert update.changes["name"] == [MASK, MASK]
    assert set(update.changes) <= {"name", "updated_at", "updated_by"}


def test_soft_delete_records_a_delete(
    member_client: Client, tenant_a: Organization, entity_a: Entity, entries_of: EntriesOf
) -> None:
    response = member_client.delete(detail_url(entity_a.id), headers={"X-Request-ID": "req-del"})
    assert response.status_code == 204
    access, delete = entries_of(tenant_a, "req-del")

    assert _summary([access, delete])[1] == ("delete", "entities.entity", str(entity_a.id))
    assert delete.changes["deleted_at"][0] is None
    assert delete.changes["deleted_by"] == [None, str(DEFAULT_SUB)]


def test_hard_delete_records_the_removed_values(
    tenant_a: Organization, entity_a: Entity, in_tenant: Any, entries_of: EntriesOf
) -> None:
    with in_tenant(tenant_a):
        Entity.objects.filter(id=entity_a.id).delete()
    last = entries_of(tenant_a)[-1]

    assert _summary([last]) == [("delete", "entities.entity", str(entity_a.id))]
    assert last.changes["name"] == [MASK, None]
    assert last.changes["kind"] == ["customer", None]


def test_detail_read_records_an_access(
    viewer_client: Client, tenant_a: Organization, entity_a: Entity, entries_of: EntriesOf
) -> None:
    assert viewer_client.get(detail_url(entity_a.id), headers={"X-Request-ID": "req-read"}).status_code == 200

    [entry] = entries_of(tenant_a, "req-read")
    assert _summary([entry]) == [("access", "entities.entity", str(entity_a.id))]
    assert entry.actor_id == DEFAULT_SUB


def test_list_read_is_one_entry_naming_the_returned_ids(
    viewer_client: Client, tenant_a: Organization, entity_a: Entity, other_a: Entity, entries_of: EntriesOf
) -> None:
    response = viewer_client.get(URL, {"limit": 1}, headers={"X-Request-ID": "req-list"})
    assert response.status_code == 200
    returned = [item["id"] for item in response.json()["items"]]

    [entry] = entries_of(tenant_a, "req-list")
    assert entry.action_name == "access"
    assert entry.object_type == "entities.entity"
    assert entry.object_ids == returned
    assert len(returned) == 1


def test_relations_and_kinds_are_audited(
    member_client: Client,
    admin_client: Client,
    tenant_a: Organization,
    entity_a: Entity,
    other_a: Entity,
    entries_of: EntriesOf,
) -> None:
    created = member_client.post(
        relations_url(entity_a.id),
        {"target_id": str(other_a.id), "kind": "supplies"},
        content_type=JSON,
        headers={"X-Request-ID": "req-rel"},
    )
    assert created.status_code == 201
    listed = member_client.get(relations_url(entity_a.id), headers={"X-Request-ID": "req-rels"})
    admin_client.post(
        KINDS_URL, {"key": "vendor", "label": "Vendor"}, content_type=JSON, headers={"X-Request-ID": "req-k"}
    )
    kinds = admin_client.get(KINDS_URL, headers={"X-Request-ID": "req-ks"})

    assert _summary(entries_of(tenant_a, "req-rel"))[-1] == (
        "create",
        "entities.entityrelation",
        created.json()["id"],
    )
    assert entries_of(tenant_a, "req-rels")[-1].object_ids == [item["id"] for item in listed.json()["items"]]
    assert _summary(entries_of(tenant_a, "req-k")) == [("create", "entities.entitykind", "vendor")]
    [kinds_entry] = entries_of(tenant_a, "req-ks")
    assert kinds_entry.object_ids == [item["key"] for item in kinds.json()["items"]]


def test_foreign_id_404_records_nothing_about_it(
    member_client: Client,
    tenant_a: Organization,
    tenant_b: Organization,
    entity_b: Entity,
    entries_of: EntriesOf,
) -> None:
    before_a, before_b = len(entries_of(tenant_a)), len(entries_of(tenant_b))
    for response in (
        member_client.get(detail_url(entity_b.id), headers={"X-Request-ID": "req-foreign"}),
        member_client.patch(
            detail_url(entity_b.id), {"name": "x"}, content_type=JSON, headers={"X-Request-ID": "req-foreign"}
        ),
    ):
        assert_error(response, 404)

    assert len(entries_of(tenant_a)) == before_a
    assert len(entries_of(tenant_b)) == before_b


def test_error_after_a_successful_lookup_still_records_the_read(
    member_client: Client, tenant_a: Organization, entity_a: Entity, entries_of: EntriesOf
) -> None:
    response = member_client.patch(
        detail_url(entity_a.id),
        {"email": "not-an-email"},
        content_type=JSON,
        headers={"X-Request-ID": "req-bad"},
    )
    assert_error(response, 422)

    assert _summary(entries_of(tenant_a, "req-bad")) == [("access", "entities.entity", str(entity_a.id))]


def test_first_request_of_a_new_user_that_fails_still_records_the_read(
    client_for: Any, tenant_a: Organization, entity_a: Entity, entries_of: EntriesOf
) -> None:
    # The rollback also undoes the new caller's mirror row, which the entry points at.
    client = client_for(tenant_a, ["member"], sub=str(B_SUB), email="new@example.com")
    response = client.patch(
        detail_url(entity_a.id), {"name": ""}, content_type=JSON, headers={"X-Request-ID": "req-new"}
    )
    assert_error(response, 422)

    [entry] = entries_of(tenant_a, "req-new")
    assert (entry.actor_id, entry.actor_email) == (B_SUB, None)


def _audit_statements(client: Client, method: str, url: str, **kwargs: Any) -> list[str]:
    getattr(client, method)(url, **kwargs)  # warm-up: content type ids, user mirror
    with CaptureQueriesContext(connection) as captured:
        assert getattr(client, method)(url, **kwargs).status_code == 200
    return [query["sql"] for query in captured.captured_queries if "audit_auditentry" in query["sql"]]


def test_a_list_read_adds_one_insert(viewer_client: Client, entity_a: Entity, other_a: Entity) -> None:
    [statement] = _audit_statements(viewer_client, "get", URL)
    assert statement.startswith("INSERT INTO")


def test_several_entries_of_a_request_are_one_insert(member_client: Client, entity_a: Entity) -> None:
    # A PATCH records two entries (the read and the update) with one statement.
    [statement] = _audit_statements(
        member_client, "patch", detail_url(entity_a.id), data={"name": "Hot"}, content_type=JSON
    )
    assert statement.startswith("INSERT INTO")
