"""HTTP shapes of the exports module."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from api.pagination import Page
from api.schemas import BodyIn, ErrorBody, error_responses
from apps.exports.errors import ExportErrorCode
from hub.errors import HubErrorCode


class ExportError(ErrorBody):
    code: ExportErrorCode | HubErrorCode


EXPORT_ERRORS = error_responses(ExportError)


class ExportIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"resource": "entities", "filters": {"kind": "customer"}, "format": "csv"}]
        }
    )

    resource: str = Field(
        max_length=64, description="The list to export (`entities`, `transactions`, ...: see the README)."
    )
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="The list endpoint's own query filters (not limit, cursor or offset), as JSON.",
    )
    format: Literal["csv", "ndjson", "xlsx"] = Field(
        "csv", description="csv (UTF-8, header row), ndjson (one JSON object a line), xlsx (one sheet)"
    )


class ExportOut(Schema):
    id: uuid.UUID
    resource: str
    filters: dict[str, Any]
    format: str
    status: Literal["queued", "running", "succeeded", "failed", "expired"]
    progress: int = Field(description="Percent done (100 once succeeded).")
    row_count: int
    size: int = Field(description="The file's size in bytes (0 until succeeded).")
    checksum: str = Field(description="`sha256:<hex>` of the file (empty until succeeded).")
    error_code: str | None = Field(description="Why it failed (a code), null unless failed.")
    error_detail: str | None
    requested_by: uuid.UUID | None = Field(validation_alias="requested_by_id")
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    expires_at: datetime.datetime | None = Field(description="When the file is removed.")

    @staticmethod
    def resolve_error_code(export: Any) -> str | None:
        return export.error_code or None

    @staticmethod
    def resolve_error_detail(export: Any) -> str | None:
        return export.error_detail or None


class ExportPage(Page):
    items: list[ExportOut]
