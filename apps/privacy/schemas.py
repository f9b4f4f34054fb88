"""JSON shapes of the privacy module."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, StrictInt

from api.pagination import Page
from api.schemas import BodyIn, ErrorBody, error_responses
from apps.privacy.errors import PrivacyErrorCode
from apps.privacy.models import RETENTION_DAYS_MAX
from hub.errors import HubErrorCode


class Record(Schema):
    type: str = Field(examples=["entities.entity"])
    id: Any
    fields: dict[str, Any]


class HistoryEntry(Schema):
    sequence: int | None  # the entry's place in the audit chain: null until it is sealed (after commit)
    action: str
    timestamp: datetime
    actor_id: uuid.UUID | None
    changes: dict[str, Any] | None


class SubjectExport(Schema):
    subject: Record
    related: list[Record] = Field(description="Every row of any module that refers to the entity.")
    history: list[HistoryEntry] = Field(
        description="The audit trail about the entity (personal values masked)."
    )
    exported_at: datetime


class ErasureOut(Schema):
    entity_id: uuid.UUID
    erased: bool = Field(description="Always true: the entity holds no personal data any more.")
    erased_at: datetime
    erased_now: bool = Field(description="False when it had already been erased (nothing changed).")
    related_rows: int


class RetentionIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"days": 365}]})

    days: StrictInt = Field(ge=1, le=RETENTION_DAYS_MAX, description="Whole days, a JSON integer.")


class RetentionOut(Schema):
    id: int
    model: str
    days: int
    updated_at: datetime


class RetentionPage(Page):
    items: list[RetentionOut]


class PrivacyError(ErrorBody):
    code: PrivacyErrorCode | HubErrorCode


PRIVACY_ERRORS = error_responses(PrivacyError)
