"""PostgreSQL backend that scopes every transaction to the current organization.

django-tenants sets ``search_path`` once per *session*, which leaks across clients behind a
transaction-pooling PgBouncer. This backend instead sets, with ``set_config(..., is_local => true)``:

* ``search_path``: the tenant's schema, then ``public``;
* ``hub.organization_id``: the organization the row-level-security policies admit (empty outside a
  tenant, which admits nothing);

at the start of every transaction, and again whenever the tenant changes inside one. A statement run
in autocommit mode is wrapped in a short transaction of its own so it carries the settings too: no
statement ever reaches a tenant table without them. Nothing is left in the session for the next
client of a pooled server connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.postgresql_backend.base import original_backend
from django_tenants.utils import quote_schema_name

ORGANIZATION_SETTING = "hub.organization_id"
_SET_CONTEXT_SQL = (
    f"SELECT set_config('search_path', %s, true), set_config('{ORGANIZATION_SETTING}', %s, true)"
)
# Statements that must run as they are in an aborted transaction (the settings cannot be set there).
_TRANSACTION_CONTROL = ("ROLLBACK", "RELEASE")


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._applied_context: tuple[str, str] | None = None
        super().__init__(*args, **kwargs)
        self.execute_wrappers.insert(0, self._scope_to_tenant)

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
        if self._applied_context == wanted:
            return
        with self.wrap_database_errors:
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
