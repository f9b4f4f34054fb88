"""Saved reports over HTTP: who may do what, every bad definition a 422 naming its problem with nothing
written, another organization's report a 404 on every endpoint, and the statements each costs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.reports.models import Report, ReportRun
from apps.reports.tests.helpers import DEFINITION, JSON, URL, report_url, run_url, runs_url
from conftest import ClientFactory
from tenants.models import Organization
from tests.helpers import assert_error
from tests.query_counts import assert_list_constant, assert_statements

pytestmark = pytest.mark.django_db

# Route, savepoint, user mirror, membership, release: what every request of these tests sends.
MACHINERY = 5
ACCOUNT = str(uuid.UUID(int=0xACC))


def _create(client: Client, **changes: Any) -> Any:
    return client.post(URL, DEFINITION | changes, content_type=JSON)


def test_admin_saves_reads_updates_and_deletes_a_report(admin_client: Client, tenant_a: Organization) -> None:
    created = _create(admin_client)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["metrics"] == ["entities.created"]
    assert body["grouping"] == {"interval": "month", "dimension": None}
    assert body["period"] == {"relative": "this_year"}
    url = report_url(body["id"])
    assert admin_client.get(url).json()["name"] == DEFINITION["name"]
    patched = admin_client.patch(
        url, {"period": {"from": "2026-01-01", "to": "2026-03-31"}}, content_type=JSON
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    listed = admin_client.get(URL).json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert (listed["count"], listed["count_exact"], listed["next"]) == (1, True, None)
    assert admin_client.delete(url).status_code == 204
    assert_error(admin_client.get(url), 404, "report_not_found")
    with tenant_context(tenant_a):
        actions = list(
            AuditEntry.objects.filter(object_pk=body["id"]).order_by("id").values_list("action", flat=True)
        )
    A = AuditEntry.Action
    assert actions == [A.CREATE, A.ACCESS, A.UPDATE, A.DELETE]


def test_members_and_viewers_read_but_do_not_define(
    admin_client: Client, member_client: Client, viewer_client: Client
) -> None:
    report_id = _create(admin_client).json()["id"]
    for client in (member_client, viewer_client):
        assert client.get(report_url(report_id)).status_code == 200
        assert client.get(URL).status_code == 200
        assert_error(_create(client), 403)
        assert_error(client.patch(report_url(report_id), {"name": "x"}, content_type=JSON), 403)
        assert_error(client.delete(report_url(report_id)), 403)
    assert_error(viewer_client.post(runs_url(report_id)), 403)


BAD_DEFINITIONS = [
    ({"metrics": ["entities.colour"]}, "metric_unknown", ["metrics", 0]),
    ({"metrics": []}, "validation_error", ["metrics"]),
    ({"metrics": ["entities.created", "entities.created"]}, "report_invalid", ["metrics"]),
    ({"filters": {"colour": "red"}}, "dimension_unknown", ["filters", "colour"]),
    # a dimension of another module's metric: entities have no account
    ({"filters": {"account_id": ACCOUNT}}, "dimension_unknown", ["filters", "account_id"]),
    ({"filters": {"kind": "no spaces allowed"}}, "filter_invalid", ["filters", "kind"]),
    ({"filters": {"kind": ["customer"]}}, "filter_invalid", ["filters", "kind"]),
    ({"metrics": ["ledger.income"], "filters": {}}, "filter_required", ["metrics", 0]),
    (
        {"metrics": ["ledger.income"], "filters": {"account_id": "nope"}},
        "filter_invalid",
        ["filters", "account_id"],
    ),
    (
        {"metrics": ["ledger.income", "bookings.count"], "filters": {"currency": "EUR"}},
        "dimension_unknown",
        ["filters", "currency"],
    ),
    ({"grouping": {"interval": "hour"}}, "interval_unknown", ["grouping", "interval"]),
    (
        {"grouping": {"interval": "day", "dimension": "resource_id"}},
        "dimension_unknown",
        ["grouping", "dimension"],
    ),
    ({"grouping": {"interval": "day", "dimension": "kind"}}, "filter_invalid", ["filters", "kind"]),
    (
        {"filters": {}, "grouping": {"interval": "day", "dimension": "kind"}},
        "report_invalid",
        ["grouping", "dimension"],
    ),
    (
        {"grouping": {"interval": "day", "colour": "red"}},
        "validation_error",
        ["grouping", "colour"],
    ),
    ({"period": {"relative": "last_decade"}}, "period_invalid", ["period", "relative"]),
    ({"period": {"from": "2026-02-01", "to": "2026-01-01"}}, "period_invalid", ["period", "from"]),
    ({"period": {"from": "2026-02-30", "to": "2026-03-01"}}, "period_invalid", ["period", "from"]),
    ({"period": {"relative": "this_year", "from": "2026-01-01"}}, "period_invalid", ["period"]),
    ({"period": {"from": "2010-01-01", "to": "2026-01-01"}}, "period_invalid", ["period", "to"]),
    (
        {"grouping": {"interval": "day"}, "period": {"from": "2024-01-01", "to": "2026-12-31"}},
        "too_many_points",
        ["period"],
    ),
    ({"name": "   "}, "report_invalid", ["name"]),
    ({"colour": "red"}, "validation_error", ["colour"]),
]


@pytest.mark.parametrize(("changes", "code", "loc"), BAD_DEFINITIONS)
def test_a_bad_definition_is_a_422_naming_it_and_nothing_is_written(
    admin_client: Client, tenant_a: Organization, changes: dict[str, Any], code: str, loc: list[Any]
) -> None:
    body = assert_error(_create(admin_client, **changes), 422, code)
    assert body["errors"][0]["loc"] == loc, body
    with tenant_context(tenant_a):
        assert not Report.objects.exists()
        assert not AuditEntry.objects.filter(object_type="reports.report").exists()


def test_a_bad_patch_is_a_422_and_the_report_is_unchanged(
    admin_client: Client, tenant_a: Organization
) -> None:
    report_id = _create(admin_client).json()["id"]
    # metrics that lack the report's filtered dimension: the definition is checked as a whole
    body = assert_error(
        admin_client.patch(report_url(report_id), {"metrics": ["bookings.count"]}, content_type=JSON),
        422,
        "dimension_unknown",
    )
    assert body["errors"][0]["loc"] == ["filters", "kind"]
    assert_error(admin_client.patch(report_url(report_id), {"name": None}, content_type=JSON), 422)
    with tenant_context(tenant_a):
        report = Report.objects.get()
        assert (report.metrics, report.name) == (["entities.created"], DEFINITION["name"])


def test_another_organizations_report_is_a_404_on_every_endpoint(
    admin_client: Client, client_for: ClientFactory, tenant_b: Organization
) -> None:
    report_id = _create(admin_client).json()["id"]
    run_id = admin_client.post(runs_url(report_id)).json()["id"]
    b_admin = client_for(tenant_b, ["admin"], sub=str(uuid.UUID(int=0xB0B)))
    assert b_admin.get(URL).json()["items"] == []
    assert_error(b_admin.get(report_url(report_id)), 404, "report_not_found")
    assert_error(
        b_admin.patch(report_url(report_id), {"name": "Mine"}, content_type=JSON), 404, "report_not_found"
    )
    assert_error(b_admin.delete(report_url(report_id)), 404, "report_not_found")
    assert_error(b_admin.post(runs_url(report_id)), 404, "report_not_found")
    assert_error(b_admin.get(runs_url(report_id)), 404, "report_not_found")
    assert_error(b_admin.get(run_url(report_id, run_id)), 404, "run_not_found")
    assert_error(b_admin.get(f"{run_url(report_id, run_id)}/download?format=csv"), 404, "report_not_found")
    assert admin_client.get(report_url(report_id)).json()["name"] == DEFINITION["name"]


def test_a_run_is_accepted_queued_and_audited(
    admin_client: Client, member_client: Client, tenant_a: Organization
) -> None:
    report_id = _create(admin_client).json()["id"]
    accepted = member_client.post(runs_url(report_id))
    assert accepted.status_code == 202, accepted.content
    run = accepted.json()
    assert (run["status"], run["progress"], run["row_count"], run["errors"]) == ("queued", 0, 0, [])
    assert member_client.get(run_url(report_id, run["id"])).json()["status"] == "queued"
    # not succeeded yet: nothing to download
    assert_error(member_client.get(f"{run_url(report_id, run['id'])}/download"), 409, "run_not_ready")
    assert_error(member_client.get(f"{run_url(report_id, run['id'])}/download?format=pdf"), 422)
    assert_error(member_client.get(run_url(report_id, uuid.uuid4())), 404, "run_not_found")
    with tenant_context(tenant_a):
        assert ReportRun.objects.get().definition["metrics"] == ["entities.created"]
        actions = set(AuditEntry.objects.filter(object_pk=run["id"]).values_list("action", flat=True))
    assert actions == {AuditEntry.Action.CREATE, AuditEntry.Action.ACCESS}


def test_report_list_and_run_list_cost_the_same_for_any_page(admin_client: Client) -> None:
    report_id = None
    for index in range(42):
        report_id = _create(admin_client, name=f"Report {index}").json()["id"]
    assert assert_list_constant(lambda query: admin_client.get(URL, query)) == MACHINERY + 3
    for _ in range(42):
        admin_client.post(runs_url(report_id))
    # the report's existence, page, count, audit entry
    assert assert_list_constant(lambda query: admin_client.get(runs_url(report_id), query)) == MACHINERY + 4


def test_report_writes_cost_a_fixed_number_of_statements(admin_client: Client) -> None:
    _create(admin_client)  # warm
    # insert, audit entry, savepoints
    created = assert_statements(lambda: _create(admin_client), MACHINERY + 4, status=201)
    url = report_url(created.json()["id"])
    # locked read, update, audit entry, savepoints
    assert_statements(
        lambda: admin_client.patch(url, {"name": "Renamed"}, content_type=JSON), MACHINERY + 5, status=200
    )
    # report read, run insert, audit entry, job insert, savepoints
    assert_statements(lambda: admin_client.post(f"{url}/runs"), MACHINERY + 6, status=202)
    # locked read, its runs, their delete, its delete, savepoints, the audit entries (one insert)
    assert_statements(lambda: admin_client.delete(url), MACHINERY + 7, status=204)
