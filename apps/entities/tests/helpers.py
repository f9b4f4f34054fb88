"""Constants and helpers shared by the entities tests."""

from __future__ import annotations

import uuid
from typing import Any

from django_tenants.utils import tenant_context

from apps.entities.models import Entity, EntityKind, EntityRelation
from tenants.models import Organization
from tests.helpers import assert_error  # noqa: F401 - re-exported for the module's tests

URL = "/api/v1/entities/"
KINDS_URL = "/api/v1/entities/kinds"
JSON = "application/json"

# The ``sub`` conftest.make_token puts in every token unless told otherwise, and b_member_client's.
DEFAULT_SUB = uuid.UUID(int=0x1234)
B_SUB = uuid.UUID(int=0xB0B)

Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def tenant_state(tenant: Organization) -> Snapshot:
    """Every row of the tenant's entity tables, every column: equal snapshots mean nothing changed."""
    with tenant_context(tenant):
        return (
            [dict(row) for row in Entity.objects.order_by("id").values()],
            [dict(row) for row in EntityRelation.objects.order_by("id").values()],
            [dict(row) for row in EntityKind.objects.order_by("key").values()],
        )


def detail_url(entity_id: Any) -> str:
    return f"{URL}{entity_id}"


def relations_url(entity_id: Any) -> str:
    return f"{URL}{entity_id}/relations"
