"""Two organizations' transactions interleaved on ONE server connection behind a real PgBouncer in
transaction mode (pool of one): nothing of one transaction (``search_path``, the organization setting,
a prepared statement) reaches the next client of that connection, and the row-level-security wall holds
through it. ``make test-pgbouncer`` runs the isolation suite with the runtime connection through one."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connections, transaction

from apps.entities.models import EntityKind
from tenants.db import tenant_connection
from tenants.db.backend.base import DatabaseWrapper
from tenants.models import Organization
from tests.helpers import wait_until
from tests.pgbouncer import PgBouncer, pgbouncer_binary, pgbouncer_running, upstream_of

pytestmark = pytest.mark.django_db

ALIAS = "through_pgbouncer"
# A query run more often than psycopg's prepare threshold (5): were it prepared, the statement would
# stay in the server session for the next client.
REPEATS = 8
_SESSION_STATE_SQL = (
    "SELECT pg_backend_pid(), current_setting('search_path'), "
    "coalesce(current_setting('hub.organization_id', true), ''), "
    "(SELECT count(*) FROM pg_prepared_statements)"
)


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    """A PgBouncer with ONE server connection (pool and database limit) for the runtime role, in front
    of the server the owner connection reaches directly (PostgreSQL itself, also in the pooled run)."""
    if pgbouncer_binary() is None:
        reason = "pgbouncer is not installed (`make pgbouncer` as root installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the PgBouncer tests")
        pytest.skip(reason)
    runtime = settings.DATABASES["default"]
    upstream = upstream_of({**settings.DATABASES["owner"], "NAME": runtime["NAME"]})
    users = {runtime["USER"]: runtime["PASSWORD"] or ""}
    with pgbouncer_running(upstream=upstream, users=users, pool_size=1, max_db_connections=1) as running:
        yield running


@pytest.fixture
def bounced(bouncer: PgBouncer) -> Callable[[], str]:
    """``bounced()`` gives the calling thread its own Hub (tenant-aware) connection through ``bouncer``,
    as the alias it returns (a connection made at run time, outside the test's database set)."""
    config: dict[str, Any] = deepcopy(settings.DATABASES["default"])
    config.update(HOST="127.0.0.1", PORT=str(bouncer.port))
    options = config["OPTIONS"].items()
    config["OPTIONS"] = {key: value for key, value in options if key not in ("host", "pool")}

    def attach() -> str:
        connections[ALIAS] = DatabaseWrapper(deepcopy(config), ALIAS)
        return ALIAS

    return attach


def _raw(bouncer: PgBouncer) -> psycopg.Connection[Any]:
    """A plain client of ``bouncer`` (autocommit): the next client a server connection is handed to."""
    return psycopg.connect(bouncer.conninfo(settings.DATABASES["default"]["USER"]), autocommit=True)


def _clients_waiting(bouncer: PgBouncer) -> int:
    admin = psycopg.connect(bouncer.admin_conninfo(settings.DATABASES["default"]["USER"]), autocommit=True)
    with admin, psycopg.ClientCursor(admin) as cursor:
        cursor.execute("SHOW POOLS")
        columns = [column.name for column in cursor.description or []]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return sum(int(row["cl_waiting"]) for row in rows if row["database"] == bouncer.dbname)


def _in_tenant_transaction(alias: str, tenant: Organization, other: Organization) -> dict[str, Any]:
    """In one Hub transaction of ``tenant`` on ``alias``: its context, its server backend, its own
    kinds (the same ORM query ``REPEATS`` times) and what it sees of ``other``'s schema."""
    tenant_connection(alias).set_tenant(tenant)
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(_SESSION_STATE_SQL)
        pid, search_path, organization, prepared = cursor.fetchone()
        counts = {EntityKind.objects.using(alias).count() for _ in range(REPEATS)}
        cursor.execute(f'SELECT count(*) FROM "{other.schema_name}".entities_entitykind')
        others = cursor.fetchone()[0]
    return {
        "pid": pid,
        "search_path": search_path,
        "organization": organization,
        "prepared": prepared,
        "counts": counts,
        "others": others,
    }


def test_two_tenants_on_one_server_connection_leak_nothing(
    bouncer: PgBouncer, bounced: Callable[[], str], tenant_a: Organization, tenant_b: Organization
) -> None:
    a_open, release_a, a_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def tenant_a_client() -> None:
        alias = bounced()
        try:
            tenant_connection(alias).set_tenant(tenant_a)
            with transaction.atomic(using=alias):
                outcome["a"] = _in_tenant_transaction(alias, tenant_a, tenant_b)
                a_open.set()  # A holds the only server connection, its context set, until released
                release_a.wait(10)
            a_done.set()
            # A's next transaction, after B's, on the same server connection.
            outcome["a_again"] = _in_tenant_transaction(alias, tenant_a, tenant_b)
        except Exception as exc:
            outcome["a_error"] = exc
        finally:
            a_open.set()
            a_done.set()
            connections[alias].close()

    def tenant_b_client() -> None:
        alias = bounced()
        try:
            a_open.wait(10)
            outcome["b"] = _in_tenant_transaction(alias, tenant_b, tenant_a)  # waits for A's commit
            outcome["b_after_a"] = a_done.is_set()
        except Exception as exc:
            outcome["b_error"] = exc
        finally:
            connections[alias].close()

    a_thread = threading.Thread(target=tenant_a_client)
    b_thread = threading.Thread(target=tenant_b_client)
    a_thread.start()
    assert a_open.wait(10)
    b_thread.start()
    # B's transaction is queued in PgBouncer: the one server connection is A's until A commits.
    outcome["b_queued"] = wait_until(lambda: _clients_waiting(bouncer) == 1)
    release_a.set()
    b_thread.join(20)
    a_thread.join(20)

    assert "a_error" not in outcome, outcome
    assert "b_error" not in outcome, outcome
    assert outcome["b_queued"]
    assert outcome["b_after_a"]
    a, b, a_again = outcome["a"], outcome["b"], outcome["a_again"]
    assert a["pid"] == b["pid"] == a_again["pid"]  # one server connection, handed from A to B to A
    assert (a["organization"], a["search_path"]) == (
        str(tenant_a.organization_id),
        f'"{tenant_a.schema_name}","public"',
    )
    assert (b["organization"], b["search_path"]) == (
        str(tenant_b.organization_id),
        f'"{tenant_b.schema_name}","public"',
    )
    assert a_again["organization"] == str(tenant_a.organization_id)
    # No prepared statement left behind by the other tenant's repeated queries.
    assert a["prepared"] == b["prepared"] == a_again["prepared"] == 0
    # Each sees its own built-in kinds, none of the other's: the wall holds through PgBouncer.
    assert all(len(seen["counts"]) == 1 and min(seen["counts"]) > 0 for seen in (a, b, a_again))
    assert a["others"] == b["others"] == a_again["others"] == 0

    # The next plain client of that server connection finds the session as new.
    with _raw(bouncer) as raw:
        state = raw.execute(_SESSION_STATE_SQL).fetchone()
    assert state == (a["pid"], '"$user", public', "", 0)


def test_the_wall_holds_for_a_plain_client_through_pgbouncer(
    bouncer: PgBouncer, tenant_a: Organization, tenant_b: Organization
) -> None:
    """Raw SQL through PgBouncer: aimed at B's schema, A's organization (or none) sees nothing of it,
    and a setting made with ``set_config(..., true)`` ends with its transaction."""
    b_kinds = f'"{tenant_b.schema_name}".entities_entitykind'
    with _raw(bouncer) as raw:
        assert raw.execute(f"SELECT count(*) FROM {b_kinds}").fetchone() == (0,)
        with raw.transaction():
            raw.execute("SELECT set_config('hub.organization_id', %s, true)", [str(tenant_a.organization_id)])
            assert raw.execute(f"SELECT count(*) FROM {b_kinds}").fetchone() == (0,)
        with raw.transaction():
            raw.execute("SELECT set_config('hub.organization_id', %s, true)", [str(tenant_b.organization_id)])
            assert raw.execute(f"SELECT count(*) > 0 FROM {b_kinds}").fetchone() == (True,)
        organization = raw.execute("SELECT current_setting('hub.organization_id', true)").fetchone()
        assert organization in (("",), (None,))
        assert raw.execute(f"SELECT count(*) FROM {b_kinds}").fetchone() == (0,)


POOLED_RUN = bool(os.environ.get("HUB_TEST_PGBOUNCER"))  # set by tests/pgbouncer.py


@pytest.mark.skipif(not POOLED_RUN, reason="in the pooled run only (make test-pgbouncer)")
def test_the_pooled_run_reaches_postgresql_through_pgbouncer() -> None:
    runtime, owner = settings.DATABASES["default"], settings.DATABASES["owner"]
    assert runtime["HOST"] == "127.0.0.1"
    where = ("HOST", "PORT", "OPTIONS")
    assert [runtime[key] for key in where] != [owner[key] for key in where]
    with (
        psycopg.connect(
            host="127.0.0.1", port=runtime["PORT"], dbname="pgbouncer", user=runtime["USER"], autocommit=True
        ) as admin,
        psycopg.ClientCursor(admin) as cursor,
    ):
        cursor.execute("SHOW VERSION")
        assert "PgBouncer" in str(cursor.fetchone())
