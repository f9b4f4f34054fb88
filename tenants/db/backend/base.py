"""PostgreSQL backend that scopes every transaction to the current organization.

django-tenants sets ``search_path`` once per *session*, which leaks across clients behind a
transaction-pooling PgBouncer. This backend instead sets, with ``set_config(..., is_local => true)``:

* ``search_path``: the tenant's schema, then ``public``;
* ``hub.organization_id``: the organization the row-level-security policies admit (empty outside a
  tenant, which admits nothing);

at the start of every transaction (in one round trip with its ``BEGIN``), and again
whenever the tenant changes inside one. A statement run
in autocommit mode is wrapped in a short transaction of its own so it carries the settings too: no
statement ever reaches a tenant table without them. Nothing is left in the session for the next
client of a pooled server connection.

With ``OPTIONS["pool"]`` (``HUB_DB_POOL``) the connections come from ``HubConnectionPool``: each one
answers a round trip before a request gets it, so a restart of the server never hands a request a
dead connection, and the pool reconnects promptly once the server is back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from django.db import transaction
from django.db.backends.base.base import NO_DB_ALIAS
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.postgresql_backend.base import original_backend
from django_tenants.utils import quote_schema_name
from psycopg import sql
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout
from psycopg_pool.pool import AddConnection, MaintenanceTask

from tenants.db.backend.introspection import HubSchemaIntrospection

ORGANIZATION_SETTING = "hub.organization_id"
_SET_CONTEXT_SQL = (
    f"SELECT set_config('search_path', %s, true), set_config('{ORGANIZATION_SETTING}', %s, true)"
)
_BEGIN_WITH_CONTEXT_SQL = sql.SQL(
    "BEGIN; SELECT set_config('search_path', {}, true), set_config('" + ORGANIZATION_SETTING + "', {}, true)"
)
# Statements that must run as they are in an aborted transaction (the settings cannot be set there).
_TRANSACTION_CONTROL = ("ROLLBACK", "RELEASE")


# psycopg_pool retries a failed connection attempt after 1 s, then 2, 4...: after a restart of a few
# seconds the pool would stay empty that much longer than the server is down. Retries are capped.
RECONNECT_DELAY_MAX_SECONDS = 0.25


class HubConnectionPool(ConnectionPool[psycopg.Connection[Any]]):
    """psycopg's pool, handing out only connections that answered a round trip just now.

    psycopg's own ``check`` sleeps 1 s, 2 s... between failed checks: after a restart of the server
    every idle connection is dead, and the first request would sleep past its timeout on them. Here
    a dead connection is dropped (the pool connects a replacement) and the next one tried at once.
    """

    def getconn(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        for _attempt in range(self.max_size + 1):
            conn = super().getconn(timeout)
            try:
                self.check_connection(conn)
            except psycopg.Error:
                conn.close()
                self.putconn(conn)
                continue
            return conn
        raise PoolTimeout("no connection of the pool answered")

    def schedule_task(self, task: MaintenanceTask, delay: float) -> None:
        if isinstance(task, AddConnection):
            delay = min(delay, RECONNECT_DELAY_MAX_SECONDS)
        super().schedule_task(task, delay)


def _begin_with_context(raw: psycopg.Connection[Any], wanted: tuple[str, str]) -> bool:
    """Open the transaction and set its context in one round trip, when ``raw`` is about to open one.

    psycopg sends its own ``BEGIN`` before the first statement of a transaction, a round trip of its
    own; here ``BEGIN; SELECT set_config(...)`` goes as one simple query instead (the values quoted by
    psycopg), and psycopg, finding the transaction open, sends no ``BEGIN``. Only for a plain ``BEGIN``
    (no isolation level, read-only or deferrable option on the connection); False when not done.
    """
    if (
        raw.autocommit
        or raw.info.transaction_status != TransactionStatus.IDLE
        or (raw.isolation_level, raw.read_only, raw.deferrable) != (None, None, None)
    ):
        return False
    query = _BEGIN_WITH_CONTEXT_SQL.format(*map(sql.Literal, wanted))
    result = raw.pgconn.exec_(query.as_bytes(raw))
    if result.status != ExecStatus.TUPLES_OK:
        if raw.pgconn.status != ConnStatus.OK:  # the connection is lost: as psycopg itself says it
            raise psycopg.OperationalError(raw.pgconn.get_error_message(raw.info.encoding))
        raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)
    return True


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._applied_context: tuple[str, str] | None = None
        super().__init__(*args, **kwargs)
        self.introspection = HubSchemaIntrospection(self)
        self.execute_wrappers.insert(0, self._scope_to_tenant)

    @property
    def pool(self) -> ConnectionPool[Any] | None:
        # Django builds a plain ConnectionPool on first use; the same, as a HubConnectionPool.
        options = self.settings_dict["OPTIONS"].get("pool")
        if options and self.alias not in (NO_DB_ALIAS, *self._connection_pools):
            pool = HubConnectionPool(
                kwargs={**self.get_connection_params(), "autocommit": True},
                open=False,
                configure=self._configure_connection,
                **({} if options is True else options),
            )
            self._connection_pools.setdefault(self.alias, pool)
        return super().pool

    def tenant_context_values(self) -> tuple[str, str]:
        """The ``(search_path, organization_id)`` the next statement must run under."""
        search_path = ",".join(quote_schema_name(name) for name in self._get_cursor_search_paths())
        organization_id = getattr(self.tenant, "organization_id", None)
        return search_path, str(organization_id) if organization_id else ""

    def _cursor(self, name: str | None = None) -> Any:
        # Skip django-tenants' session-level ``SET search_path``: the settings are per transaction.
        return original_backend.DatabaseWrapper._cursor(self, name)

    def _scope_to_tenant(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
    ) -> Any:
        if isinstance(sql, str) and sql.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            return execute(sql, params, many, context)
        if self.get_autocommit():
            with transaction.atomic(using=self.alias):
                self._apply_context(context["cursor"].cursor)
                return execute(sql, params, many, context)
        self._apply_context(context["cursor"].cursor)
        return execute(sql, params, many, context)

    def _apply_context(self, raw_cursor: Any) -> None:
        wanted = self.tenant_context_values()
        # No transaction open on the server (one ended past Django's bookkeeping): nothing is applied.
        opened = raw_cursor.connection.info.transaction_status != TransactionStatus.IDLE
        if opened and self._applied_context == wanted:
            return
        with self.wrap_database_errors:
            if not _begin_with_context(raw_cursor.connection, wanted):
                raw_cursor.execute(_SET_CONTEXT_SQL, wanted)
        self._applied_context = wanted

    # Whatever ends or undoes the transaction also undoes the local settings.
    def _commit(self) -> None:
        self._applied_context = None
        super()._commit()

    def _rollback(self) -> None:
        self._applied_context = None
        super()._rollback()

    def _set_autocommit(self, autocommit: bool) -> None:
        self._applied_context = None
        super()._set_autocommit(autocommit)

    def savepoint_rollback(self, sid: str) -> None:
        try:
            super().savepoint_rollback(sid)
        finally:
            self._applied_context = None

    def close(self) -> None:
        self._applied_context = None
        super().close()
