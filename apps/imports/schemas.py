"""HTTP shapes of the imports module."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

from ninja import Schema
from pydantic import Field

from api.pagination import Page
from api.schemas import ErrorBody, InputSchema, error_responses
from apps.imports.errors import ImportErrorCode
from hub.errors import HubErrorCode


class ImportError_(ErrorBody):
    code: ImportErrorCode | HubErrorCode


IMPORT_ERRORS = error_responses(ImportError_)

Status = Literal["validating", "validated", "committing", "committed", "failed", "cancelled", "undone"]


class UploadQuery(Schema):
    type: str = Field(max_length=40, description="The import type: GET /api/v1/imports/templates lists them.")
    dry_run: bool = Field(
        True, description="true: check only (then commit); false: check, then commit all-or-nothing at once."
    )


class UploadForm(InputSchema):
    """The multipart form of an upload: one part, ``file`` (read by ``api.import_upload`` itself, after
    its size limit is installed: ``apps.imports.uploads``)."""

    file: str = Field(description="The file: CSV, JSON, NDJSON or XLSX, told from its content.")


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "title": "UploadForm",
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "examples": [{"file": "kind,name,reference\r\ncustomer,Acme Ltd,C-1001\r\n"}],
                }
            }
        },
    }
}


class CommitQuery(Schema):
    mode: Literal["all", "valid_rows"] = Field(
        "all", description="all: any issue and nothing is written; valid_rows: the rows without an issue."
    )


class ImportOut(Schema):
    id: uuid.UUID
    type: str
    format: Literal["csv", "json", "ndjson", "xlsx"]
    status: Status
    mode: Literal["all", "valid_rows"]
    size: int = Field(description="Bytes.")
    content_hash: str = Field(description="SHA-256 of the file: the same file again is this import.")
    progress: int = Field(description="Percent done of the running step.")
    rows_total: int
    rows_valid: int
    rows_invalid: int
    rows_created: int
    error_code: str = Field(description="Why it failed (or why its commit was refused); empty otherwise.")
    error_detail: str
    created_by: uuid.UUID | None = Field(alias="created_by_id")
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None


class ImportPage(Page):
    items: list[ImportOut]


class IssueOut(Schema):
    row: int = Field(
        description="Spreadsheet row (header = 1) for CSV/XLSX, line for NDJSON, position in a JSON array."
    )
    column: str = Field(description="The column; empty for the row as a whole.")
    code: str = Field(
        description="required, invalid, too_long, unknown_reference, duplicate_in_file, conflict, ..."
    )
    message: str


class IssuePage(Page):
    items: list[IssueOut]


class ColumnOut(Schema):
    name: str
    description: str
    example: str
    required: bool


class TemplateOut(Schema):
    type: str
    label: str
    columns: list[ColumnOut]


class TemplateList(Schema):
    templates: list[TemplateOut]


class TemplateQuery(Schema):
    format: Literal["csv", "xlsx"] = "csv"
