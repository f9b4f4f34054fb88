"""Shapes of the audit API."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from api.pagination import PageParams
from apps.audit.models import AuditEntry


class AuditFilter(PageParams):
    actor: uuid.UUID | None = None
    action: Literal["create", "update", "delete", "access"] | None = None
    object_type: str | None = Field(None, max_length=100, pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    object_id: str | None = Field(None, min_length=1, max_length=255)
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None


class AuditActor(Schema):
    id: uuid.UUID | None
    email: str | None


class AuditEntryOut(Schema):
    sequence: int
    action: str
    actor: AuditActor
    object_type: str
    object_id: str | None
    object_ids: list[str] | None
    changes: dict[str, Any]
    request_id: str
    remote_addr: str | None
    user_agent: str
    timestamp: datetime.datetime
    entry_hash: str
    previous_hash: str

    @staticmethod
    def resolve_action(obj: AuditEntry) -> str:
        return obj.action_name

    @staticmethod
    def resolve_actor(obj: AuditEntry) -> dict[str, Any]:
        return {"id": obj.actor_id, "email": obj.actor_email}

    @staticmethod
    def resolve_object_id(obj: AuditEntry) -> str | None:
        return obj.object_pk or None

    @staticmethod
    def resolve_changes(obj: AuditEntry) -> dict[str, Any]:
        return obj.changes or {}


class AuditPage(Schema):
    items: list[AuditEntryOut]
    count: int


class AuditVerifyOut(Schema):
    ok: bool
    entries: int
    first_broken: int | None
    reason: str
