"""Typed access to the tenant-aware connections (the only way code should reach their state), and what a
lost database looks like to the rest of the Hub."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError

from hub.errors import HubErrorCode, ServiceUnavailable

if TYPE_CHECKING:
    from tenants.db.backend.base import DatabaseWrapper

# SQLSTATEs of a server that is gone or not serving: connection exceptions (class 08), the server
# shutting down or restarting (57P01-57P03), no connection slot left (53300). A refused statement
# (integrity, lock timeout, serialization) has its own SQLSTATE and is not among them.
_UNREACHABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


class DatabaseUnavailable(ServiceUnavailable):
    code = HubErrorCode.DATABASE_UNAVAILABLE
    default_detail = "The database is unavailable; try again shortly."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, retry_after=1)


def tenant_connection(alias: str = DEFAULT_DB_ALIAS) -> DatabaseWrapper:
    """The connection ``alias`` as the tenant-aware wrapper it is (``set_tenant``, ``schema_name``...)."""
    return cast("DatabaseWrapper", connections[alias])


def database_unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot be reached (down, restarting, the connection dropped,
    no pooled connection in time): a 503 for the caller, unlike an error about the statement itself.

    Django raises its own ``OperationalError``/``InterfaceError`` from psycopg's; errors raised on
    the client side (a closed socket, a pool timeout) carry no SQLSTATE.
    """
    if not isinstance(
        exc, DjangoOperationalError | DjangoInterfaceError | psycopg.OperationalError | psycopg.InterfaceError
    ):
        return False
    cause = exc.__cause__ if isinstance(exc.__cause__, psycopg.Error) else exc
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_UNREACHABLE_SQLSTATES)
