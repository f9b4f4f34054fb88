"""The job queue for platform admins: ``GET /api/platform/v1/jobs`` (filters, pages), a job's detail,
``POST .../retry`` of a failed job (run again by a real worker), the summary, the audit verifications
list, ``/readyz/workers``, the gauges on ``/metrics`` and the Django admin's read-only job pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django_tenants.utils import tenant_context
from procrastinate.contrib.django.models import ProcrastinateJob

from tenants.jobs import HubRetry, tenant_job_defer, tenant_task
from tenants.models import AuditVerification, Organization, PlatformAuditEntry
from tenants.services import tenant_delete, tenant_provision
from tests.jobs import job_rows, jobs_run
from tests.query_counts import assert_list_constant, assert_statements

BASE = "/api/platform/v1/jobs"
PROBE = "tests.platform_jobs_probe"
runs: list[str] = []
fail_next: list[bool] = []


@tenant_task(name=PROBE, queue="tests-platform", retry=HubRetry(max_attempts=1))
def platform_jobs_probe(*, marker: str) -> None:
    """Records that it ran; fails once for each ``True`` in ``fail_next``."""
    if fail_next and fail_next.pop():
        raise RuntimeError("the probe fails as told")
    runs.append(marker)


def _defer(tenant: Organization, count: int = 1, *, marker: str = "m") -> list[int]:
    with tenant_context(tenant), transaction.atomic():
        return [tenant_job_defer(platform_jobs_probe, marker=f"{marker}{n}") for n in range(count)]


def _page(client: Client, **params: Any) -> dict[str, Any]:
    response = client.get(BASE, {"task": PROBE, **params})
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


# --- the list, in the test's transaction (the jobs are rows like any other) -----------------------


@pytest.mark.django_db
def test_the_list_filters_by_organization_state_queue_and_task_and_pages(
    platform_client: Client, tenant_a: Organization, tenant_b: Organization
) -> None:
    a_ids, b_ids = _defer(tenant_a, 3), _defer(tenant_b, 2)
    body = _page(platform_client, organization_id=str(tenant_a.organization_id))
    assert (body["count"], body["count_exact"]) == (3, True)
    assert [item["id"] for item in body["items"]] == sorted(a_ids, reverse=True)  # newest first
    first = body["items"][0]
    assert first["organization_id"] == str(tenant_a.organization_id)
    assert first["args"] == {"organization_id": str(tenant_a.organization_id), "marker": "m2"}
    assert (first["state"], first["queue"], first["task"], first["attempts"]) == (
        "todo", "tests-platform", PROBE, 0,
    )  # fmt: skip
    assert _page(platform_client, organization_id=str(tenant_b.organization_id))["count"] == len(b_ids)
    assert _page(platform_client, state="todo", queue="tests-platform")["count"] == 5
    assert _page(platform_client, state="failed")["count"] == 0
    assert _page(platform_client, queue="elsewhere")["count"] == 0
    first_page = _page(platform_client, limit=2)
    assert len(first_page["items"]) == 2
    rest = _page(platform_client, limit=2, cursor=first_page["next"])
    third = _page(platform_client, limit=2, cursor=rest["next"])
    seen = [item["id"] for page in (first_page, rest, third) for item in page["items"]]
    assert sorted(seen) == sorted(a_ids + b_ids)
    assert third["next"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"state": "stuck"},
        {"organization_id": "not-a-uuid"},
        {"limit": "0"},
        {"queue": "q" * 129},
        {"cursor": "garbled!"},
        {"cursor": "abc", "offset": "1"},
    ],
)
def test_bad_filters_are_422_naming_the_field(platform_client: Client, params: dict[str, str]) -> None:
    response = platform_client.get(BASE, params)
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", BASE),
        ("get", f"{BASE}/summary"),
        ("get", f"{BASE}/1"),
        ("post", f"{BASE}/1/retry"),
        ("get", "/api/platform/v1/audit-verifications"),
    ],
)
def test_only_a_platform_admin_may_see_or_retry_jobs(
    client_for: Any, tenant_a: Organization, method: str, path: str
) -> None:
    _defer(tenant_a)
    assert getattr(client_for(None), method)(path).status_code == 401
    for roles in (["admin"], ["member"], ["viewer"]):
        response = getattr(client_for(None, roles), method)(path)
        assert response.status_code == 403, (roles, response.content)
    # A tenant's own admin, on its host: the platform API is not there at all.
    response = getattr(client_for(tenant_a, ["admin"]), method)(path)
    assert response.status_code == 404
    # Even a platform_admin token is refused on a tenant host (bound to no organization).
    assert getattr(client_for(tenant_a, ["platform_admin"]), method)(path).status_code in (403, 404)


@pytest.mark.django_db
def test_a_job_reads_with_its_events_and_an_unknown_one_is_404(
    platform_client: Client, tenant_a: Organization
) -> None:
    (job_id,) = _defer(tenant_a)
    response = platform_client.get(f"{BASE}/{job_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["organization_id"], body["state"]) == (
        job_id,
        str(tenant_a.organization_id),
        "todo",
    )
    assert [event["type"] for event in body["events"]] == ["deferred"]
    assert body["last_error_at"] is None
    missing = platform_client.get(f"{BASE}/{job_id + 10_000_000}")
    assert (missing.status_code, missing.json()["code"]) == (404, "job_not_found")
    assert platform_client.get(f"{BASE}/not-a-number").status_code == 422
    assert platform_client.post(f"{BASE}/{job_id + 10_000_000}/retry").status_code == 404


@pytest.mark.django_db
def test_only_a_failed_job_can_be_retried(platform_client: Client, tenant_a: Organization) -> None:
    (job_id,) = _defer(tenant_a)
    response = platform_client.post(f"{BASE}/{job_id}/retry")
    assert (response.status_code, response.json()["code"]) == (409, "job_not_retryable")
    assert ProcrastinateJob.objects.get(id=job_id).status == "todo"


@pytest.mark.django_db
def test_the_summary_counts_open_jobs_per_queue_and_state(
    platform_client: Client, tenant_a: Organization
) -> None:
    _defer(tenant_a, 2)
    response = platform_client.get(f"{BASE}/summary")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"queue": "tests-platform", "state": "todo", "jobs": 2} in body["depth"]
    assert body["workers_alive"] >= 0
    assert isinstance(body["audit_verification_failures"], int)


@pytest.mark.django_db
def test_the_list_costs_the_same_statements_whatever_its_length(
    platform_client: Client, tenant_a: Organization
) -> None:
    _defer(tenant_a, 45)
    count = assert_list_constant(lambda params: platform_client.get(BASE, {"task": PROBE, **params}))
    # Authentication (the user mirror), the page and its bounded count.
    assert count <= 6, count
    assert_statements(lambda: platform_client.get(f"{BASE}/summary"), count + 1, status=200)


@pytest.mark.django_db
def test_audit_verifications_list_filters_failures(platform_client: Client, tenant_a: Organization) -> None:
    base = "/api/platform/v1/audit-verifications"
    now = __import__("django.utils.timezone", fromlist=["now"]).now()
    for ok in (True, False, True):
        AuditVerification.objects.create(
            organization_id=tenant_a.organization_id, started_at=now, finished_at=now, ok=ok,
            entries_checked=3, first_broken_sequence=None if ok else 2, reason="" if ok else "hash mismatch",
        )  # fmt: skip
    body = platform_client.get(base, {"ok": "false", "organization_id": str(tenant_a.organization_id)}).json()
    assert body["count"] == 1
    assert (body["items"][0]["first_broken_sequence"], body["items"][0]["ok"]) == (2, False)
    assert platform_client.get(base, {"organization_id": str(tenant_a.organization_id)}).json()["count"] == 3
    assert platform_client.get(base, {"ok": "maybe"}).status_code == 422
    count = assert_list_constant(
        lambda params: platform_client.get(base, params), small=1, large=2,
        params={"organization_id": str(tenant_a.organization_id)},
    )  # fmt: skip
    assert count <= 6, count


# --- retry, with a real worker (committed) --------------------------------------------------------


@pytest.fixture
def own_tenant(job_queue: None) -> Iterator[Organization]:
    tenant = tenant_provision(
        organization_id=uuid.uuid4(),
        slug=f"jobs-plat-{uuid.uuid4().hex[:6]}",
        name="Jobs",
        check_identity=False,
    )
    yield tenant
    tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


def test_a_failed_job_retried_by_a_platform_admin_runs_again(
    platform_client: Client, own_tenant: Organization
) -> None:
    runs.clear()
    fail_next[:] = [True]
    (job_id,) = _defer(own_tenant, marker="retry")
    jobs_run(queues=["tests-platform"])
    assert job_rows(id=job_id)[0]["status"] == "failed"
    assert platform_client.get(BASE, {"state": "failed", "task": PROBE}).json()["count"] == 1
    detail = platform_client.get(f"{BASE}/{job_id}").json()
    assert [event["type"] for event in detail["events"]] == ["deferred", "started", "failed"]
    assert detail["last_error_at"] is not None

    response = assert_statements(lambda: platform_client.post(f"{BASE}/{job_id}/retry"), 8, status=200)
    assert response.json()["state"] == "todo"
    jobs_run(queues=["tests-platform"])
    assert runs == ["retry0"]
    assert job_rows(id=job_id)[0]["status"] == "succeeded"
    entry = PlatformAuditEntry.objects.filter(action="retry_job").order_by("-sequence").first()
    assert entry is not None
    assert entry.organization_id == own_tenant.organization_id
    assert entry.changes == {"job_id": [None, job_id], "status": ["failed", "todo"]}
    again = platform_client.post(f"{BASE}/{job_id}/retry")
    assert (again.status_code, again.json()["code"]) == (409, "job_not_retryable")


# --- liveness and metrics --------------------------------------------------------------------------


def _workers_set(beats: list[int]) -> None:
    """Workers with heartbeats ``beats`` seconds ago (as the owner: the rows are procrastinate's)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM public.procrastinate_workers")
        for seconds in beats:
            cursor.execute(
                "INSERT INTO public.procrastinate_workers (last_heartbeat) "
                "VALUES (now() - make_interval(secs => %s))",
                [seconds],
            )


@pytest.mark.django_db
def test_readyz_workers_counts_live_workers_apart_from_readyz(client: Client) -> None:
    _workers_set([])
    response = client.get("/readyz/workers", HTTP_HOST="localhost")
    assert (response.status_code, response.json()["code"]) == (503, "workers_unavailable")
    assert response["Retry-After"]
    assert client.get("/readyz", HTTP_HOST="localhost").status_code == 200  # web readiness does not wait
    _workers_set([1, 5, 120])  # the third is dead
    response = client.get("/readyz/workers", HTTP_HOST="localhost")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "workers": 2})


@pytest.mark.django_db
def test_metrics_show_queue_depth_failed_jobs_and_workers(
    client: Client, settings: Any, tenant_a: Organization
) -> None:
    settings.HUB_METRICS_TOKEN = "metrics-token-for-tests-0123456789"
    _defer(tenant_a, 3)
    _workers_set([1])
    text = client.get(
        "/metrics", HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {settings.HUB_METRICS_TOKEN}"
    )
    body = text.content.decode()
    assert 'hub_jobs_queue_depth{queue="tests-platform"} 3.0' in body
    assert "hub_jobs_failed " in body
    assert "hub_jobs_workers_alive 1.0" in body
    assert "hub_audit_verification_failures " in body


# --- the Django admin ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_jobs_read_only(tenant_a: Organization) -> None:
    from tenants.models import User

    (job_id,) = _defer(tenant_a)
    admin_user = User.objects.create_superuser(
        id=uuid.uuid4(), email="jobs-admin@example.com", password="x" * 16
    )
    client = Client(headers={"Host": "localhost"})
    client.force_login(admin_user)
    listing = client.get("/admin/procrastinate/procrastinatejob/")
    assert listing.status_code == 200
    assert PROBE.rsplit(".", 1)[-1] in listing.content.decode()
    page = client.get(f"/admin/procrastinate/procrastinatejob/{job_id}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get("/admin/procrastinate/procrastinatejob/add/").status_code == 403
    assert client.get("/admin/procrastinate/procrastinateworker/").status_code == 200
    assert client.get("/admin/tenants/auditverification/").status_code == 200
