"""Assertions and helpers shared by every test suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction

from tenants.db import tenant_connection
from tenants.routers import MIGRATION_ALIAS

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

    from tenants.models import Organization


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape: JSON ``{"detail", "code"}``, plus ``errors`` on every 422."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    if code is not None:
        assert body["code"] == code, body
    if status == 422:
        assert isinstance(body["errors"], list)
        assert body["errors"]
    return body


@contextmanager
def owner_cursor(tenant: Organization) -> Iterator[CursorWrapper]:
    """A cursor of the owner role in ``tenant``'s schema, in a transaction committed on exit: what only
    the owner can do (tampering with the audit trail, adding a table), as an attacker with it would."""
    owner = tenant_connection(MIGRATION_ALIAS)
    owner.set_tenant(tenant)
    try:
        with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
            yield cursor
    finally:
        owner.set_schema_to_public()
