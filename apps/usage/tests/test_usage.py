"""Platform usage: the hourly periodic job (through a real worker) fans the collection out to every
organization and the list answers, per organization, its rows, storage, requests and active users
as independent reads of the database give them; platform admins only; bad periods a 422; a page
costs the same statements whatever its size.

Organizations of this module's own (committed), provisioned once and deleted at the end (their usage
rows with them); the rows collected for the session organizations are deleted after each test."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.db import connections, transaction
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.services import entity_create
from apps.usage.models import UsageDay
from apps.usage.tasks import usage_collect_fan_out
from conftest import ClientFactory
from tenants.models import Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.helpers import assert_error
from tests.jobs import job_rows, jobs_clear, jobs_run
from tests.query_counts import statements

URL = "/api/platform/v1/usage"
USERS = [uuid.uuid4(), uuid.uuid4()]
# Entities made in each organization, and by which of USERS.
MADE = {"p": [0, 1], "q": [0, 0, 0, 0]}


@pytest.fixture(scope="module")
def orgs(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Organization]]:
    with django_db_blocker.unblock():
        connections.close_all()  # an earlier module may have restarted the database under them
        users = [
            User.objects.create(id=user_id, email=f"{user_id.hex[:8]}@usage.example.com") for user_id in USERS
        ]
        made = {}
        for key, authors in MADE.items():
            made[key] = tenant_provision(
                organization_id=uuid.uuid4(),
                slug=f"usage-{key}-{uuid.uuid4().hex[:6]}",
                name=key,
                check_identity=False,
            )
            with tenant_context(made[key]), transaction.atomic():
                for index, author in enumerate(authors):
                    entity_create(actor=users[author], kind="customer", name=f"Customer {index}")
    yield made
    with django_db_blocker.unblock():
        for tenant in made.values():
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute("DELETE FROM public.tenants_user WHERE id = ANY(%s)", [USERS])


@pytest.fixture
def collected(orgs: dict[str, Organization], django_db_blocker: Any) -> Iterator[dict[str, Organization]]:
    """The periodic job run through a real worker (after an ANALYZE, so the statistics are exact)."""
    with django_db_blocker.unblock():
        jobs_clear()
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            for tenant in orgs.values():
                cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [tenant.schema_name])
                for (table,) in cursor.fetchall():
                    cursor.execute(f'ANALYZE "{tenant.schema_name}"."{table}"')
        cast(Any, usage_collect_fan_out).defer(timestamp=0)  # the periodic deferrer's argument
        jobs_run(queues=["maintenance"])
        yield orgs
        jobs_clear()
        UsageDay.objects.all().delete()


def _storage(schema: str) -> int:
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_total_relation_size(format('%%I.%%I', schemaname, tablename)::regclass)) "
            "FROM pg_tables WHERE schemaname = %s AND tablename <> 'django_migrations'",
            [schema],
        )
        return int(cursor.fetchone()[0])


def _activity(tenant: Organization) -> tuple[int, int]:
    since = datetime.datetime.now(tz=datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with tenant_context(tenant):
        entries = AuditEntry.objects.filter(timestamp__gte=since - datetime.timedelta(days=1))
        return entries.count(), entries.exclude(actor_id=None).values("actor_id").distinct().count()


def test_the_periodic_job_collects_every_organization_and_the_list_shows_it(
    collected: dict[str, Organization], platform_client: Client
) -> None:
    statuses = {job["args"]["organization_id"]: job["status"] for job in job_rows(task_name="usage.collect")}
    assert {str(tenant.organization_id) for tenant in collected.values()} <= set(statuses)
    assert set(statuses.values()) == {"succeeded"}
    assert [job["status"] for job in job_rows(task_name="usage.collect_all")] == ["succeeded"]
    page = platform_client.get(URL, {"limit": 500})
    assert page.status_code == 200, page.content
    items = {item["slug"]: item for item in page.json()["items"]}
    for key, tenant in collected.items():
        item = items[tenant.slug]
        requests, users = _activity(tenant)
        assert item["organization_id"] == str(tenant.organization_id)
        assert item["rows"]["entities_entity"] == len(MADE[key])
        assert item["rows_total"] >= len(MADE[key])
        assert item["storage_bytes"] == _storage(tenant.schema_name)
        assert (item["requests"], item["active_users"]) == (requests, users)
        assert item["active_users"] == len(set(MADE[key]))
        assert item["requests"] >= len(MADE[key])
        assert item["collected_at"] is not None
    # a period with nothing collected: zeros, never collected
    empty = platform_client.get(URL, {"from": "2020-01-01", "to": "2020-01-31", "limit": "500"}).json()
    item = next(item for item in empty["items"] if item["slug"] == collected["p"].slug)
    assert (item["rows_total"], item["requests"], item["active_users"], item["collected_at"]) == (
        0,
        0,
        0,
        None,
    )


def test_only_platform_admins_see_usage(
    orgs: dict[str, Organization], client_for: ClientFactory, tenant_a: Organization
) -> None:
    assert_error(client_for(None, ["admin"]).get(URL), 403)
    assert_error(client_for(None, ["member", "viewer"]).get(URL), 403)
    assert_error(client_for(None).get(URL), 401)
    # a tenant admin's token on the tenant's own host: no such route there
    assert client_for(tenant_a, ["admin"]).get(URL).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "period_invalid"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "period_invalid"),
        ({"from": "2026-02-30"}, "validation_error"),
        ({"to": "yesterday"}, "validation_error"),
    ],
)
def test_a_bad_period_is_a_422(
    orgs: dict[str, Organization], platform_client: Client, query: dict[str, Any], code: str
) -> None:
    assert_error(platform_client.get(URL, query), 422, code)


def test_a_page_costs_the_same_statements_whatever_its_size(
    collected: dict[str, Organization], platform_client: Client
) -> None:
    platform_client.get(URL, {"limit": 1})  # warm
    small, few = statements(lambda: platform_client.get(URL, {"limit": 1}))
    large, many = statements(lambda: platform_client.get(URL, {"limit": 4}))
    assert len(small.json()["items"]) == 1
    assert len(large.json()["items"]) == 4
    assert len(few) == len(many)
