"""Shapes of the audit API."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, model_validator

from api.pagination import Page, PageParams
from api.types import AwareDatetime
from apps.audit.models import AuditEntry


class AuditFilter(PageParams):
    actor: uuid.UUID | None = None
    action: Literal["create", "update", "delete", "access"] | None = None
    object_type: str | None = Field(None, max_length=100, pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    object_id: str | None = Field(None, min_length=1, max_length=255)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class AuditActor(Schema):
    id: uuid.UUID | None
    email: str | None


class AuditEntryOut(Schema):
    id: int = Field(description="The entry's id: its order of writing (the list is newest first by id).")
    sequence: int | None = Field(
        description="Its position in the organization's hash chain; null until it is sealed, right after "
        "the transaction that wrote it commits."
    )
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
        # The trail holds the actor's id only; the email is the mirror's, as it is now, and only for a
        # user of this organization (``audit_entry_list`` annotates it).
        return {"id": obj.actor_id, "email": getattr(obj, "actor_member_email", None)}

    @staticmethod
    def resolve_object_id(obj: AuditEntry) -> str | None:
        return obj.object_pk or None

    @staticmethod
    def resolve_changes(obj: AuditEntry) -> dict[str, Any]:
        return obj.changes or {}


class AuditPage(Page):
    items: list[AuditEntryOut]


class AuditHead(Schema):
    sequence: int
    hash: str


VERIFY_LIMIT_DEFAULT = 1000
VERIFY_LIMIT_MAX = 5000


class AuditVerifyQuery(Schema):
    """A window of the chain (the entries after `after_sequence`, at most `limit`), and an anchor:
    the head a previous check answered, kept outside the database (both or neither)."""

    after_sequence: int = Field(
        0, ge=0, le=2**62, description="Verify the entries after this one (0: from the start)."
    )
    limit: int = Field(VERIFY_LIMIT_DEFAULT, ge=1, le=VERIFY_LIMIT_MAX, description="Entries to verify.")
    sequence: int | None = Field(None, ge=1, le=2**62)
    hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _both_or_neither(self) -> AuditVerifyQuery:
        if (self.sequence is None) != (self.hash is None):
            raise ValueError("an anchor needs both sequence and hash")
        return self


class AuditVerifyOut(Schema):
    ok: bool
    after_sequence: int
    entries: int = Field(description="Entries verified in this window.")
    first_broken: int | None
    reason: str
    head: AuditHead | None = Field(
        description="The last entry verified: with more=false the chain's last, record it to check against "
        "later; with more=true continue with after_sequence=head.sequence."
    )
    more: bool = Field(description="Entries remain after this window.")
    unsealed: int = Field(
        description="Entries not sealed into the chain yet (counted up to 1000): written in the last "
        "HUB_AUDIT_SEAL_BOUND_SECONDS, they are in flight."
    )
    unsealed_overdue_ids: list[int] = Field(
        description="Ids of the first entries still unsealed longer than HUB_AUDIT_SEAL_BOUND_SECONDS "
        "(at most 10): any makes ok false (their sealer died; manage.py seal_audit seals them)."
    )
