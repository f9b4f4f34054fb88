"""Typed access to the tenant-aware connections (the only way code should reach their state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.db import DEFAULT_DB_ALIAS, connections

if TYPE_CHECKING:
    from tenants.db.backend.base import DatabaseWrapper


def tenant_connection(alias: str = DEFAULT_DB_ALIAS) -> DatabaseWrapper:
    """The connection ``alias`` as the tenant-aware wrapper it is (``set_tenant``, ``schema_name``...)."""
    return cast("DatabaseWrapper", connections[alias])
