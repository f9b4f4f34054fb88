"""Exports end to end in the test's transaction (the job run as the worker runs it): each format read
back, the same rows as the list endpoint with the same filters, personal columns and restricted
entities left out for members, bad input refused with nothing queued, limits, expiry, the audit entry,
and another organization's exports and rows never reached."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities import services as entity_services
from apps.entities.models import Entity
from apps.exports import services
from apps.exports.models import Export
from apps.exports.tests.helpers import URL, download, export_post, export_run, rows_read
from conftest import ClientFactory
from tenants.models import Organization, User
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://evil")'


@pytest.fixture
def entities(tenant_a: Organization, actor: User) -> list[Entity]:
    """Five customers and a supplier of A, one customer restricted, one named like a formula."""
    with tenant_context(tenant_a):
        made = [
            entity_services.entity_create(
                actor=actor,
                kind="customer",
                name=FORMULA if index == 0 else f"Customer {index}",
                email=f"c{index}@example.com",
                tags=["vip"] if index % 2 else [],
            )
            for index in range(5)
        ]
        made.append(entity_services.entity_create(actor=actor, kind="supplier", name="Supplier"))
        Entity.objects.filter(id=made[1].id).update(restricted=True)
    return made


def _exported(client: Client, tenant: Organization, resource: str, filters: dict[str, Any], fmt: str) -> Any:
    accepted = export_post(client, resource, filters, fmt)
    assert accepted.status_code == 202, accepted.content
    body = accepted.json()
    assert (body["status"], body["resource"], body["format"]) == ("queued", resource, fmt)
    export_run(tenant, body["id"])
    return body["id"]


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "xlsx"])
def test_each_format_reads_back_with_the_list_endpoints_rows(
    fmt: str, admin_client: Client, tenant_a: Organization, entities: list[Entity]
) -> None:
    export_id = _exported(admin_client, tenant_a, "entities", {"kind": "customer"}, fmt)
    done = admin_client.get(f"{URL}{export_id}").json()
    assert (done["status"], done["progress"], done["row_count"]) == ("succeeded", 100, 5)
    response = download(admin_client, export_id)
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == f'attachment; filename="entities-{export_id}.{fmt}"'
    assert response["Content-Type"].startswith(
        {"csv": "text/csv", "ndjson": "application/x-ndjson", "xlsx": "application/vnd.openxml"}[fmt]
    )
    assert done["size"] == len(response.body)
    assert done["checksum"] == f"sha256:{hashlib.sha256(response.body).hexdigest()}"

    header, rows = rows_read(response.body, fmt)
    listed = admin_client.get("/api/v1/entities/", {"kind": "customer", "limit": "500"}).json()["items"]
    assert header == list(listed[0])  # the list's columns, in its order
    assert [str(row["id"]) for row in rows] == [item["id"] for item in listed]  # same rows, same order
    by_id = {str(row["id"]): row for row in rows}
    for item in listed:
        assert str(by_id[item["id"]]["email"]) == item["email"]
    names = {str(row["name"]) for row in rows}
    if fmt == "ndjson":
        assert FORMULA in names  # data for programs: as it is
        assert rows[0]["tags"] == listed[0]["tags"]
        assert rows[0]["restricted"] is listed[0]["restricted"]
    else:
        assert f"'{FORMULA}" in names
        assert FORMULA not in names


def test_filters_equal_the_list_endpoints_for_other_resources(
    admin_client: Client, tenant_a: Organization, entities: list[Entity]
) -> None:
    cases: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("entities", "/api/v1/entities/", {"tag": "vip", "ordering": "name"}),
        ("entity_kinds", "/api/v1/entities/kinds", {}),
        ("audit_entries", "/api/v1/audit/", {"action": "create", "object_type": "entities.entity"}),
    )
    for resource, path, filters in cases:
        export_id = _exported(admin_client, tenant_a, resource, filters, "ndjson")
        _, rows = rows_read(download(admin_client, export_id).body, "ndjson")
        listed = admin_client.get(path, {**filters, "limit": "500"}).json()["items"]
        key = "key" if resource == "entity_kinds" else "id"
        assert [row[key] for row in rows] == [item[key] for item in listed], resource
        assert rows, resource


def test_a_member_gets_no_personal_column_and_no_restricted_entity(
    member_client: Client, admin_client: Client, tenant_a: Organization, entities: list[Entity]
) -> None:
    export_id = _exported(member_client, tenant_a, "entities", {"kind": "customer"}, "csv")
    header, rows = rows_read(download(member_client, export_id).body, "csv")
    assert "name" in header
    assert "id" in header
    assert not {"email", "phone", "reference", "attributes", "tags"} & set(header)
    ids = {row["id"] for row in rows}
    assert str(entities[1].id) not in ids  # restricted, no grant
    assert ids == {str(e.id) for e in entities[:5]} - {str(entities[1].id)}
    listed = member_client.get("/api/v1/entities/", {"kind": "customer"}).json()["items"]
    assert {item["id"] for item in listed} == ids  # what the member's list shows

    admin_header, admin_rows = rows_read(
        download(
            admin_client, _exported(admin_client, tenant_a, "entities", {"kind": "customer"}, "csv")
        ).body,
        "csv",
    )
    assert {"email", "phone", "tags"} <= set(admin_header)
    assert str(entities[1].id) in {row["id"] for row in admin_rows}


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        ({"resource": "entities", "filters": {"colour": "red"}}, "filter_invalid", "filters.colour"),
        ({"resource": "entities", "filters": {"limit": 5}}, "filter_invalid", "filters.limit"),
        ({"resource": "entities", "filters": {"status": "sleeping"}}, "filter_invalid", "filters.status"),
        ({"resource": "entities", "filters": {"ordering": "DROP"}}, "filter_invalid", "filters.ordering"),
        ({"resource": "transactions", "filters": {"account": "nope"}}, "filter_invalid", "filters.account"),
        ({"resource": "bookings", "filters": {"from": "yesterday"}}, "filter_invalid", "filters.from"),
        ({"resource": "secrets"}, "resource_unknown", "resource"),
        ({"resource": "entities", "format": "pdf"}, "validation_error", "format"),
        # (api.errors drops "filters" from a location, as it does a query's parameter group)
        ({"resource": "entities", "filters": ["kind"]}, "validation_error", "body"),
        ({"resource": "entities", "extra": 1}, "validation_error", "extra"),
    ],
)
def test_bad_input_is_422_naming_it_and_nothing_is_queued(
    body: dict[str, Any], code: str, where: str, admin_client: Client, tenant_a: Organization
) -> None:
    error = assert_error(admin_client.post(URL, json.dumps(body), content_type="application/json"), 422, code)
    assert ".".join(map(str, error["errors"][0]["loc"])) == where
    with tenant_context(tenant_a):
        assert not Export.objects.exists()


def test_a_list_the_caller_may_not_read_is_403_and_a_hidden_parent_404(
    member_client: Client, viewer_client: Client, tenant_a: Organization, entities: list[Entity]
) -> None:
    for resource in ("members", "audit_entries", "deliveries", "alert_rules", "retention_policies"):
        assert_error(export_post(member_client, resource), 403, "role_required")
    assert_error(export_post(viewer_client, "entity_relations", {"entity_id": str(entities[1].id)}), 404)
    assert_error(export_post(viewer_client, "entity_relations", {"entity_id": str(uuid.uuid4())}), 404)
    assert (
        export_post(viewer_client, "entity_relations", {"entity_id": str(entities[0].id)}).status_code == 202
    )


def test_another_organizations_export_is_404_and_its_rows_never_exported(
    admin_client: Client,
    b_member_client: Client,
    client_for: ClientFactory,
    tenant_a: Organization,
    tenant_b: Organization,
    entities: list[Entity],
    actor: User,
) -> None:
    with tenant_context(tenant_b):
        b_rows = {
            entity_services.entity_create(actor=actor, kind="customer", name=f"B {i}").id for i in range(3)
        }
    a_export = _exported(admin_client, tenant_a, "entities", {"kind": "customer"}, "ndjson")
    b_export = _exported(b_member_client, tenant_b, "entities", {"kind": "customer"}, "ndjson")
    _, a_rows = rows_read(download(admin_client, a_export).body, "ndjson")
    assert {row["id"] for row in a_rows} == {str(e.id) for e in entities[:5]}
    assert not {str(pk) for pk in b_rows} & {row["id"] for row in a_rows}
    _, b_got = rows_read(download(b_member_client, b_export).body, "ndjson")
    assert {row["id"] for row in b_got} == {str(pk) for pk in b_rows}

    b_admin = client_for(tenant_b, ["admin"])
    for client, other in ((b_admin, a_export), (admin_client, b_export)):
        assert_error(client.get(f"{URL}{other}"), 404, "export_not_found")
        assert_error(client.get(f"{URL}{other}/download"), 404, "export_not_found")
        assert_error(client.delete(f"{URL}{other}"), 404, "export_not_found")
        assert other not in {item["id"] for item in client.get(URL).json()["items"]}
    # A job of A given B's export id finds nothing (its schema and RLS): B's export stays untouched.
    with tenant_context(tenant_a):
        services.export_write(export_id=uuid.UUID(b_export))
    with tenant_context(tenant_b):
        assert Export.objects.get(id=b_export).status == "succeeded"
    assert download(b_member_client, b_export).status_code == 200

    # Another member of A sees neither the first member's exports nor their files.
    other_member = client_for(tenant_a, ["member"], sub=str(uuid.UUID(int=0x5678)))
    mine = _exported(client_for(tenant_a, ["member"]), tenant_a, "entities", {}, "csv")
    assert_error(other_member.get(f"{URL}{mine}"), 404)
    assert_error(other_member.get(f"{URL}{mine}/download"), 404)
    assert other_member.get(URL).json()["items"] == []


def test_delete_removes_the_file_and_expiry_purges_it(
    admin_client: Client,
    tenant_a: Organization,
    entities: list[Entity],
    files_dir: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = _exported(admin_client, tenant_a, "entities", {}, "csv")
    second = _exported(admin_client, tenant_a, "entities", {}, "xlsx")
    files = sorted(path.name for path in files_dir.rglob("*.*"))
    assert files == sorted([f"{first}.csv", f"{second}.xlsx"])
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(f"{URL}{first}").status_code == 204
    assert_error(admin_client.get(f"{URL}{first}"), 404)
    assert [path.name for path in files_dir.rglob("*.*")] == [f"{second}.xlsx"]

    with tenant_context(tenant_a), django_capture_on_commit_callbacks(execute=True):
        assert services.exports_expire() == 0  # not yet
        assert services.exports_expire(now=timezone.now() + datetime.timedelta(hours=25)) == 1
    assert admin_client.get(f"{URL}{second}").json()["status"] == "expired"
    assert list(files_dir.rglob("*.*")) == []
    assert_error(download(admin_client, second), 409, "export_expired")


def test_not_ready_is_409_and_limits_answer_429_and_a_clear_failure(
    admin_client: Client, tenant_a: Organization, entities: list[Entity], settings: Any
) -> None:
    settings.HUB_EXPORT_MAX_RUNNING = 2
    queued = [export_post(admin_client, "entities").json()["id"] for _ in range(2)]
    assert_error(download(admin_client, queued[0]), 409, "export_not_ready")
    busy = assert_error(export_post(admin_client, "entities"), 429, "exports_busy")
    assert busy
    assert export_post(admin_client, "entities")["Retry-After"].isdigit()

    settings.HUB_EXPORT_MAX_ROWS = 3
    export_run(tenant_a, queued[0])
    failed = admin_client.get(f"{URL}{queued[0]}").json()
    assert (failed["status"], failed["error_code"]) == ("failed", "export_too_large")
    assert "HUB_EXPORT_MAX_ROWS" in failed["error_detail"]
    assert export_post(admin_client, "entities").status_code == 202  # one slot free again


def test_an_export_whose_job_never_finished_stops_counting_and_is_failed_by_the_purge(
    admin_client: Client, tenant_a: Organization, entities: list[Entity], settings: Any
) -> None:
    settings.HUB_EXPORT_MAX_RUNNING = 1
    stalled = export_post(admin_client, "entities").json()["id"]
    assert_error(export_post(admin_client, "entities"), 429, "exports_busy")
    with tenant_context(tenant_a):
        Export.objects.filter(id=stalled).update(created_at=timezone.now() - datetime.timedelta(hours=25))
    fresh = export_post(admin_client, "entities")
    assert fresh.status_code == 202, fresh.content
    with tenant_context(tenant_a):
        services.exports_expire()
    assert admin_client.get(f"{URL}{stalled}").json()["status"] == "failed"
    assert admin_client.get(f"{URL}{fresh.json()['id']}").json()["status"] == "queued"


def test_one_audit_entry_names_the_ids_or_the_range(
    admin_client: Client, tenant_a: Organization, entities: list[Entity], monkeypatch: Any
) -> None:
    def exports_read() -> list[AuditEntry]:
        with tenant_context(tenant_a):
            return list(AuditEntry.objects.filter(action=AuditEntry.Action.ACCESS).order_by("id"))

    before = len(exports_read())
    export_id = _exported(admin_client, tenant_a, "entities", {"kind": "customer"}, "csv")
    new = exports_read()[before:]
    listing = [entry for entry in new if entry.object_type == "entities.entity"]
    assert len(listing) == 1
    assert set(listing[0].object_ids) == {str(e.id) for e in entities[:5]}
    assert str(listing[0].actor_id) == "00000000-0000-0000-0000-000000001234"

    monkeypatch.setattr(services, "AUDIT_IDS_MAX", 2)
    before = len(exports_read())
    export_id = _exported(admin_client, tenant_a, "entities", {"kind": "customer"}, "csv")
    (entry,) = [e for e in exports_read()[before:] if e.object_type == "exports.export"]
    assert entry.object_pk == export_id
    assert entry.changes["export_rows"] == [None, 5]
    assert entry.changes["export_resource"] == [None, "entities"]
    assert {entry.changes["export_first_id"][1], entry.changes["export_last_id"][1]} <= {
        str(e.id) for e in entities
    }
    before = len(exports_read())
    download(admin_client, export_id)
    (downloaded,) = [e for e in exports_read()[before:] if e.object_type == "exports.export"]
    assert downloaded.changes == {"download": [None, "csv"]}


def test_every_registered_resource_exports(
    admin_client: Client, tenant_a: Organization, entities: list[Entity]
) -> None:
    from apps.exports.registry import RESOURCES

    for name in RESOURCES:
        filters: dict[str, Any] = {}
        if name == "entity_relations":
            filters = {"entity_id": str(entities[0].id)}
        if name == "report_runs":
            continue  # needs a report: covered by the registry walk's shape check
        export_id = _exported(admin_client, tenant_a, name, filters, "xlsx")
        done = admin_client.get(f"{URL}{export_id}").json()
        assert done["status"] == "succeeded", (name, done)
        header, _ = rows_read(download(admin_client, export_id).body, "xlsx")
        assert header == RESOURCES[name].columns, name


def test_list_and_detail_cost_a_fixed_number_of_statements(
    admin_client: Client, tenant_a: Organization, entities: list[Entity]
) -> None:
    from tests.query_counts import assert_list_constant, assert_statements

    with tenant_context(tenant_a):
        Export.objects.bulk_create(
            Export(resource="entities", format="csv", requested_by_id=entities[0].created_by_id)
            for _ in range(45)
        )
        one = Export.objects.first()
    assert one is not None
    assert_list_constant(lambda params: admin_client.get(URL, params))
    assert_statements(lambda: admin_client.get(f"{URL}{one.id}"), DETAIL_STATEMENTS, status=200)


DETAIL_STATEMENTS = 7


def test_transactions_of_a_restricted_entity_are_exported_as_the_list_shows_them(
    admin_client: Client,
    member_client: Client,
    tenant_a: Organization,
    entities: list[Entity],
) -> None:
    """The viewer-aware selector decides: a member filtering on a restricted entity gets no row (as
    the list answers him), an admin gets its transaction, with its postings as JSON text in the CSV."""
    accounts = [
        admin_client.post(
            "/api/v1/transactions/accounts",
            json.dumps({"code": code, "name": code, "type": "asset", "currency": "EUR"}),
            content_type="application/json",
        ).json()["id"]
        for code in ("1000", "1100")
    ]
    body = {
        "description": "Invoice",
        "currency": "EUR",
        "effective_date": "2026-03-01",
        "entity_id": str(entities[1].id),
        "postings": [
            {"account_id": accounts[0], "amount": "10.00"},
            {"account_id": accounts[1], "amount": "-10.00"},
        ],
    }
    posted = admin_client.post(
        "/api/v1/transactions/",
        json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": "k1"},
    )
    assert posted.status_code == 201, posted.content
    filters = {"entity": str(entities[1].id)}
    for client, expected in ((member_client, []), (admin_client, [posted.json()["id"]])):
        listed = client.get("/api/v1/transactions/", filters).json()["items"]
        _, rows = rows_read(
            download(client, _exported(client, tenant_a, "transactions", filters, "csv")).body, "csv"
        )
        assert [row["id"] for row in rows] == [item["id"] for item in listed] == expected
    postings = json.loads(rows[0]["postings"])
    assert sorted(p["amount"] for p in postings) == ["-10.00", "10.00"]
