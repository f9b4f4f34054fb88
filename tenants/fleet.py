"""Fleet migrations: migrate only the tenant schemas behind the code, in parallel, resumably.

Each tenant's ``TenantMigrationState`` row holds the fingerprint of the migration files
(``tenants.template.template_fingerprint_expected``: names and contents of every migration on disk)
its schema was last migrated or cloned to. One query (``tenants_behind``) finds every tenant whose
recorded fingerprint differs from the code's; a run with nothing to do costs that query, not one
``migrate`` per schema. Each tenant is migrated in its own owner transaction that also writes its
row, so the record commits with the migration: a run killed half-way is resumed by running it again
(the tenants already done are no longer behind). A tenant whose migration fails is rolled back,
reported and skipped; the others go on. ``--workers N`` runs N processes (forked, each with its own
connections, each migrating one tenant at a time, so memory is bounded by N); ``--canary N`` migrates
the first N tenants and stops unless every one of them succeeded.

Expand/contract: migrations run while the old code still serves, tenant after tenant, for minutes.
A migration must therefore be correct for both the old and the new code, and cheap per tenant:

- no lock held across tenants (each tenant is its own transaction; never ``LOCK`` a shared table in a
  tenant migration), and no table rewrite in one transaction across the fleet (no ``ALTER COLUMN TYPE``
  or ``ADD COLUMN ... DEFAULT volatile()`` on a big table: add a new column and copy instead);
- *expand* first: add tables and nullable (or constant-defaulted) columns, new indexes; the old code
  ignores them;
- *backfill* in batches (a job per tenant, or ``RunPython`` over bounded pages), never one statement
  over a large table;
- *switch* the code to the new columns (deploy), and only when every tenant is migrated
  (``migrate_schemas`` reports none behind);
- *contract* in a later release: drop the old columns or tables, make the new ones ``NOT NULL``.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from tenants.ddl import tenant_schema_migrate
from tenants.models import Organization, TenantMigrationState
from tenants.routers import MIGRATION_ALIAS
from tenants.template import template_fingerprint_expected


def fleet_fingerprint() -> str:
    """The migration state the code expects every tenant schema to be at."""
    return template_fingerprint_expected()


_BEHIND_SQL = f"""
SELECT o.organization_id, o.slug, o.name, o.schema_name
  FROM {Organization._meta.db_table} o
  LEFT JOIN {TenantMigrationState._meta.db_table} s ON s.organization_id = o.organization_id
 WHERE s.fingerprint IS DISTINCT FROM %s
 ORDER BY o.slug
"""  # noqa: S608 - the models' own table names


def tenants_behind(*, fingerprint: str, using: str = MIGRATION_ALIAS) -> list[Organization]:
    """Every organization whose schema is not recorded at ``fingerprint``, by slug: one query."""
    with connections[using].cursor() as cursor:
        cursor.execute(_BEHIND_SQL, [fingerprint])
        return [
            Organization(organization_id=row[0], slug=row[1], name=row[2], schema_name=row[3])
            for row in cursor.fetchall()
        ]


_RECORD_SQL = f"""
INSERT INTO {TenantMigrationState._meta.db_table} (organization_id, fingerprint, migrated_at)
VALUES (%s, %s, %s)
    ON CONFLICT (organization_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
                                                migrated_at = EXCLUDED.migrated_at
"""  # noqa: S608 - the model's own table name


def tenant_state_record(*, tenant: Organization, fingerprint: str, using: str = MIGRATION_ALIAS) -> None:
    """Record that ``tenant``'s schema is at ``fingerprint`` (in the caller's transaction)."""
    with connections[using].cursor() as cursor:
        cursor.execute(_RECORD_SQL, [tenant.organization_id, fingerprint, timezone.now()])


@dataclass(frozen=True)
class TenantOutcome:
    slug: str
    ok: bool
    seconds: float
    tables: int = 0
    error: str = ""


def tenant_migrate_recorded(
    *, tenant: Organization, fingerprint: str, verbosity: int = 0, stdout: Any = None
) -> TenantOutcome:
    """Migrate one tenant schema and record its state in one owner transaction; a failure is rolled
    back and returned, never raised."""
    started = time.monotonic()
    try:
        with transaction.atomic(using=MIGRATION_ALIAS):
            tables = tenant_schema_migrate(tenant=tenant, verbosity=verbosity, stdout=stdout)
            tenant_state_record(tenant=tenant, fingerprint=fingerprint)
    except Exception as exc:  # any failure of one tenant is reported, the others go on
        connections[MIGRATION_ALIAS].close()  # whatever state it was left in
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return TenantOutcome(tenant.slug, False, time.monotonic() - started, error=error)
    return TenantOutcome(tenant.slug, True, time.monotonic() - started, tables=tables)


def _worker_start() -> None:
    """In a forked worker: the parent's connections are not ours to use."""
    for connection in connections.all(initialized_only=True):
        connection.connection = None  # never close the parent's sockets from here
        connection.close()


def _worker_migrate(fields: tuple[str, str, str, str], fingerprint: str) -> TenantOutcome:
    organization_id, slug, name, schema_name = fields
    tenant = Organization(
        organization_id=uuid.UUID(organization_id), slug=slug, name=name, schema_name=schema_name
    )
    try:
        return tenant_migrate_recorded(tenant=tenant, fingerprint=fingerprint)
    except BaseException:  # never lose a worker's failure to pickling
        return TenantOutcome(slug, False, 0.0, error=traceback.format_exc(limit=1).strip().splitlines()[-1])


def _fields(tenant: Organization) -> tuple[str, str, str, str]:
    return (str(tenant.organization_id), tenant.slug, tenant.name, tenant.schema_name)


def fleet_migrate(
    tenants: list[Organization],
    *,
    fingerprint: str,
    workers: int = 1,
    verbosity: int = 0,
    stdout: Any = None,
) -> Iterator[TenantOutcome]:
    """Migrate ``tenants`` (each recorded as it commits), yielding each outcome as it completes.

    One worker runs in this process; more run in forked processes, at most ``2 * workers`` tenants
    queued at a time.
    """
    if workers <= 1:
        for tenant in tenants:
            yield tenant_migrate_recorded(
                tenant=tenant, fingerprint=fingerprint, verbosity=verbosity, stdout=stdout
            )
        return
    connections.close_all()  # a forked worker must not share a socket with this process
    context = multiprocessing.get_context("fork")
    pending: set[Future[TenantOutcome]] = set()
    queue = iter(tenants)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start) as pool:
        while True:
            for tenant in queue:
                pending.add(pool.submit(_worker_migrate, _fields(tenant), fingerprint))
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


def eta_text(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{round(seconds / 60)}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def fleet_progress(
    outcomes: Iterable[TenantOutcome], *, total: int, write: Callable[[str], None]
) -> list[TenantOutcome]:
    """Print ``[i/N p%] slug ok 0.8s, ETA 3m`` per outcome; return them all."""
    started = time.monotonic()
    seen: list[TenantOutcome] = []
    for index, outcome in enumerate(outcomes, start=1):
        seen.append(outcome)
        elapsed = time.monotonic() - started
        eta = eta_text(elapsed / index * (total - index))
        status = "ok" if outcome.ok else f"FAILED ({outcome.error})"
        prefix = f"[{index}/{total} {100 * index // max(total, 1)}%]"
        write(f"{prefix} {outcome.slug} {status} {outcome.seconds:.1f}s, ETA {eta}")
    return seen
