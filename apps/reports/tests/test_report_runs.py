"""Runs through a real worker: 202 then queued, running (seen while the job waits on a lock the test
holds), succeeded with its rows; the files downloaded and opened back (CSV parsed, the XLSX's sheet,
rows and native chart, JSON); a spreadsheet formula in a cell neutralised; and two organizations
holding the same report id and run id with the same entity names, each run counting its own only.

Organizations of this module's own (committed: the worker reads on its own connections), provisioned
once and deleted at the end; each test leaves no report, run or job behind."""

from __future__ import annotations

import csv
import datetime
import io
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from openpyxl.chart import BarChart

from apps.audit.models import AuditEntry
from apps.entities.services import entity_create
from apps.privacy.models import RetentionPolicy
from apps.privacy.services import retention_apply, retention_policy_set
from apps.reports import services
from apps.reports.models import Report, ReportRun
from apps.reports.tasks import report_run_defer
from apps.reports.tests.helpers import run_url, runs_url
from conftest import ClientFactory
from tenants.models import Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.helpers import assert_error
from tests.jobs import job_rows, jobs_clear, jobs_run

USER = uuid.uuid4()
NAMES = ("Acme AG", "Globex", "Initech", "Umbrella", "Hooli")
# Customers made in each organization (the same names in both: the first 3 in X, all 5 in Y).
CUSTOMERS = {"x": 3, "y": 5}
GROUPED = {
    "name": "Customers and a formula",
    "metrics": ["entities.created"],
    # "-cmd" is a valid kind key, and a formula to a spreadsheet: its cells must be neutralised
    "filters": {"kind": ["customer", "-cmd"]},
    "grouping": {"interval": "month", "dimension": "kind"},
    "period": {"relative": "this_year"},
}


@pytest.fixture(scope="module")
def orgs(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Organization]]:
    """X and Y, with 3 and 5 customers of the same names, and USER, committed for the module."""
    with django_db_blocker.unblock():
        connections.close_all()  # an earlier module may have restarted the database under them
        user = User.objects.create(id=USER, email=f"{USER.hex[:8]}@reports.example.com")
        made = {}
        for key, count in CUSTOMERS.items():
            made[key] = tenant_provision(
                organization_id=uuid.uuid4(),
                slug=f"reports-{key}-{uuid.uuid4().hex[:6]}",
                name=key,
                check_identity=False,
            )
            with tenant_context(made[key]), transaction.atomic():
                for name in NAMES[:count]:
                    entity_create(actor=user, kind="customer", name=name)
    yield made
    with django_db_blocker.unblock():
        for tenant in made.values():
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute("DELETE FROM public.tenants_user WHERE id = %s", [USER])


@pytest.fixture
def world(orgs: dict[str, Organization], django_db_blocker: Any) -> Iterator[dict[str, Organization]]:
    """Committed database access, an empty queue, and no report left in the module's organizations."""
    with django_db_blocker.unblock():
        jobs_clear()
        yield orgs
        jobs_clear()
        for tenant in orgs.values():
            with tenant_context(tenant), transaction.atomic():
                Report.objects.all().delete()


def _admin(client_for: ClientFactory, tenant: Organization) -> Client:
    return client_for(tenant, ["admin"], sub=str(USER))


def _report(tenant: Organization, *, report_id: uuid.UUID | None = None, **definition: Any) -> Report:
    with tenant_context(tenant):
        report = services.report_create(actor=User.objects.get(id=USER), **(GROUPED | definition))
        if report_id is not None:
            Report.objects.filter(id=report.id).update(id=report_id)
            report = Report.objects.get(id=report_id)
        return report


def _worker() -> None:
    """The worker, in a thread of its own (its Django connection closed when it is done)."""
    jobs_run(queues=["reports"])
    connection.close()


def _current_month() -> str:
    return timezone.now().date().replace(day=1).isoformat()


def test_a_run_is_queued_then_running_then_succeeded_through_a_real_worker(
    world: dict[str, Organization], client_for: ClientFactory
) -> None:
    x = world["x"]
    report = _report(x, grouping={"interval": "month"}, filters={"kind": "customer"})
    admin = _admin(client_for, x)
    accepted = admin.post(runs_url(report.id))
    assert accepted.status_code == 202, accepted.content
    run_id = accepted.json()["id"]
    assert admin.get(run_url(report.id, run_id)).json()["status"] == "queued"
    assert [job["args"]["run_id"] for job in job_rows(task_name="reports.run")] == [run_id]

    # The job commits "running", then waits on the rollup the test holds locked.
    rollup = f'"{x.schema_name}"."analytics_entityhourly"'
    waiting = threading.Event()
    with transaction.atomic(using=MIGRATION_ALIAS):
        owner = connections[MIGRATION_ALIAS].cursor()
        owner.execute(f"LOCK TABLE {rollup} IN ACCESS EXCLUSIVE MODE")
        worker = threading.Thread(target=_worker)
        worker.start()
        for _ in range(600):  # until the worker's query waits on the lock (at most 30 s)
            owner.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = %s::regclass AND NOT granted)",
                [rollup],
            )
            if owner.fetchone()[0]:
                break
            waiting.wait(0.05)
        running = admin.get(run_url(report.id, run_id)).json()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert (running["status"], running["progress"], running["finished_at"]) == ("running", 0, None)
    done = admin.get(run_url(report.id, run_id)).json()
    assert (done["status"], done["progress"], done["errors"]) == ("succeeded", 100, [])
    assert done["row_count"] == timezone.now().month  # one bucket per month of this year so far
    assert done["period_start"] == f"{timezone.now().year}-01-01"
    assert [job["status"] for job in job_rows(task_name="reports.run")] == ["succeeded"]
    rows = json.loads(admin.get(f"{run_url(report.id, run_id)}/download?format=json").content)["rows"]
    assert {row["bucket"]: row["entities.created"] for row in rows}[_current_month()] == CUSTOMERS["x"]
    assert sum(row["entities.created"] for row in rows) == CUSTOMERS["x"]


def test_same_report_and_run_ids_in_two_organizations_each_counts_its_own(
    world: dict[str, Organization], client_for: ClientFactory
) -> None:
    x, y = world["x"], world["y"]
    shared = uuid.uuid4()
    for tenant in (x, y):
        _report(tenant, report_id=shared)
    x_run = _admin(client_for, x).post(runs_url(shared)).json()["id"]
    with tenant_context(y), transaction.atomic():  # Y's run gets X's run id
        run = ReportRun.objects.create(
            id=x_run,
            report_id=shared,
            definition=Report.objects.values("metrics", "filters", "grouping", "period").get(),
            requested_by_id=USER,
        )
        report_run_defer(run_id=run.id)
    only_x = _admin(client_for, x).post(runs_url(shared)).json()["id"]
    jobs_run(queues=["reports"])

    for key, tenant in (("x", x), ("y", y)):
        admin = _admin(client_for, tenant)
        body = admin.get(f"{run_url(shared, x_run)}/download?format=csv")
        assert body.status_code == 200, body.content
        assert body["Content-Type"] == "text/csv; charset=utf-8"
        table = list(csv.reader(io.StringIO(body.content.decode("utf-8"), newline="")))
        assert table[0] == ["bucket", "kind", "entities.created"]
        counts = {(row[0], row[1]): int(row[2]) for row in table[1:]}
        assert counts[(_current_month(), "customer")] == CUSTOMERS[key]
        assert counts[(_current_month(), "'-cmd")] == 0  # neutralised: a text, not a formula
        assert sum(counts.values()) == CUSTOMERS[key]
        assert body.content.count(b"\r\n") == len(table)  # RFC 4180 line ends

    y_admin = _admin(client_for, y)
    assert y_admin.get(run_url(shared, only_x)).status_code == 404
    assert y_admin.get(f"{run_url(shared, only_x)}/download?format=xlsx").status_code == 404
    assert _admin(client_for, x).get(f"{run_url(shared, only_x)}/download").status_code == 200


def test_the_xlsx_opens_with_its_rows_and_a_native_chart(
    world: dict[str, Organization], client_for: ClientFactory
) -> None:
    x = world["x"]
    report = _report(x)
    admin = _admin(client_for, x)
    run_id = admin.post(runs_url(report.id)).json()["id"]
    jobs_run(queues=["reports"])
    response = admin.get(f"{run_url(report.id, run_id)}/download?format=xlsx")
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == f'attachment; filename="report-run-{run_id}.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Data"]
    sheet: Any = book["Data"]
    rows: list[Any] = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("bucket", "kind", "entities.created")
    assert len(rows) == 1 + 2 * timezone.now().month
    current = timezone.now().date().replace(day=1)
    by_key = {(row[0].date() if hasattr(row[0], "date") else row[0], row[1]): row[2] for row in rows[1:]}
    assert by_key[(current, "customer")] == CUSTOMERS["x"]
    assert by_key[(current, "'-cmd")] == 0
    assert sheet["B2"].data_type == "s"  # text, never a formula
    (chart,) = sheet._charts
    assert isinstance(chart, BarChart)
    with tenant_context(x):  # the download is audited: the run's id and the format, nothing else
        (entry,) = AuditEntry.objects.filter(object_pk=run_id, changes__has_key="download")
    assert (entry.action, entry.changes, entry.actor_id) == (
        AuditEntry.Action.ACCESS,
        {"download": [None, "xlsx"]},
        USER,
    )


def test_retention_purges_runs_finished_before_its_policy(
    world: dict[str, Organization], client_for: ClientFactory
) -> None:
    x = world["x"]
    report = _report(x)
    admin = _admin(client_for, x)
    old, recent = (admin.post(runs_url(report.id)).json()["id"] for _ in range(2))
    jobs_run(queues=["reports"])
    with tenant_context(x):
        ReportRun.objects.filter(id=old).update(finished_at=timezone.now() - datetime.timedelta(days=40))
        retention_policy_set(actor=User.objects.get(id=USER), model="reports.reportrun", days=30)
        (result,) = retention_apply()
        assert (result.model, result.purged) == ("reports.reportrun", 1)
        assert list(ReportRun.objects.values_list("id", flat=True)) == [uuid.UUID(recent)]
        RetentionPolicy.objects.all().delete()
    assert_error(admin.get(f"{run_url(report.id, old)}/download"), 404, "run_not_found")
