"""HTTP shapes of the reports module: saved reports and their runs."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from api.pagination import Page
from api.schemas import BodyIn, ErrorBody, InputSchema, error_responses
from apps.reports.errors import ReportErrorCode
from hub.errors import HubErrorCode


class ReportError(ErrorBody):
    code: ReportErrorCode | HubErrorCode


REPORT_ERRORS = error_responses(ReportError)


class GroupingIn(InputSchema):
    interval: str = Field(
        "day", max_length=16, description="day, week or month (the organization's time zone)"
    )
    dimension: str | None = Field(
        None,
        max_length=64,
        description="A dimension of every metric; its values to group are listed in filters.",
    )


class PeriodIn(InputSchema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    relative: str | None = Field(
        None, max_length=16, description="this_month, last_month, last_30_days or this_year"
    )
    from_: str | None = Field(None, alias="from", max_length=10, description="YYYY-MM-DD (with `to`)")
    to: str | None = Field(None, max_length=10, description="YYYY-MM-DD, inclusive")


_REPORT_EXAMPLE: dict[str, Any] = {
    "name": "Income by month",
    "metrics": ["ledger.income", "ledger.expense"],
    "filters": {},
    "grouping": {"interval": "month"},
    "period": {"relative": "this_year"},
}


class ReportIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [_REPORT_EXAMPLE]})

    name: str = Field(max_length=200)
    metrics: list[str] = Field(min_length=1, max_length=10, description="Names of the metric catalogue.")
    filters: dict[str, Any] = Field(
        default_factory=dict,
        description="dimension: value (or a list of values); dimensions of every metric.",
    )
    grouping: GroupingIn | None = Field(None, description="Default: by day, no dimension.")
    period: PeriodIn


class ReportPatch(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Income by month (EUR)"}]})

    name: str | None = Field(None, max_length=200)
    metrics: list[str] | None = Field(None, min_length=1, max_length=10)
    filters: dict[str, Any] | None = None
    grouping: GroupingIn | None = None
    period: PeriodIn | None = None


def period_plain(period: PeriodIn | dict[str, Any] | None) -> dict[str, Any] | None:
    """The period as the service takes it: only the keys the client sent (``from`` by its name)."""
    if period is None or isinstance(period, dict):
        return period
    return period.model_dump(by_alias=True, exclude_none=True)


class ReportOut(Schema):
    id: uuid.UUID
    name: str
    metrics: list[str]
    filters: dict[str, Any]
    grouping: dict[str, Any]
    period: dict[str, Any]
    created_at: datetime.datetime
    updated_at: datetime.datetime


class ReportPage(Page):
    items: list[ReportOut]


class RunErrorOut(Schema):
    code: str
    detail: str


class RunOut(Schema):
    id: uuid.UUID
    report_id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: int = Field(description="Percent done (100 once succeeded).")
    row_count: int
    errors: list[RunErrorOut]
    period_start: datetime.date | None
    period_end: datetime.date | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None


class RunPage(Page):
    items: list[RunOut]


class DownloadQuery(Schema):
    format: Literal["csv", "xlsx", "json"] = Field(
        "csv", description="csv (RFC 4180), xlsx (data and chart), json"
    )
