"""HTTP shapes of the analytics module. Money is a decimal string with the currency's minor units;
hours and ratios are decimal strings too (a float would round them)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from api.schemas import ErrorBody, InputSchema, error_responses
from api.types import IsoDate
from apps.analytics.errors import AnalyticsErrorCode
from apps.ledger.validators import money_format
from hub.errors import HubErrorCode


class WindowQuery(Schema):
    start: IsoDate | None = Field(
        None, alias="from", description="First local date; default: this month's first"
    )
    end: IsoDate | None = Field(
        None, alias="to", description="Last local date (included); default: this month's last"
    )


class TimeseriesQuery(WindowQuery):
    metric: str = Field(max_length=100, description="A metric of GET /api/v1/analytics/metrics")
    interval: str = Field("day", max_length=10, description="day, week or month")


class MetricOut(Schema):
    name: str
    description: str
    unit: str = Field(description="count, money, hours or ratio")
    dimensions: list[str] = Field(description="Query parameters that filter the metric")
    required_one_of: list[str] = Field(description="At least one of these filters is required")


class MetricList(Schema):
    """The catalogue (a document of the code, not a paged collection of the organization's rows)."""

    metrics: list[MetricOut]


class PointOut(Schema):
    bucket_start: date
    value: str | int


class TimeseriesOut(Schema):
    metric: str
    unit: str
    interval: str
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    time_zone: str
    filters: dict[str, str]
    points: list[PointOut]


class EntityCountOut(Schema):
    kind: str
    status: str
    count: int


class EntityCreatedOut(Schema):
    kind: str
    count: int


class LedgerTotalOut(Schema):
    account_type: str
    currency: str
    amount: str = Field(description="Sum of the period's posted postings, debit positive")


class IncomeExpenseOut(Schema):
    currency: str
    income: str
    expense: str
    net: str


class CashOut(Schema):
    currency: str
    balance: str = Field(description="Posted balance of the asset accounts at the end of `to`")


class ResourceUseOut(Schema):
    resource_id: uuid.UUID
    bookings: int
    booked_hours: str
    available_hours: str
    utilisation: str


class DeliveryCountOut(Schema):
    channel: str = Field(description="email, sms, push, in_app, or workflow (a workflow start)")
    status: str = Field(description="pending, sending, delivered or failed")
    count: int


class DashboardOut(Schema):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    time_zone: str
    entities_by_kind_status: list[EntityCountOut]
    entities_created: list[EntityCreatedOut]
    ledger_totals: list[LedgerTotalOut]
    ledger_income_expense: list[IncomeExpenseOut]
    cash_position: list[CashOut]
    bookings: list[ResourceUseOut]
    deliveries: list[DeliveryCountOut] = Field(
        description="Notification deliveries made in the window, by channel and status."
    )


class SettingOut(Schema):
    time_zone: str


class SettingPatch(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"time_zone": "Europe/Berlin"}]})

    time_zone: str = Field(max_length=64, description="An IANA time zone name, such as Europe/Berlin")


class AnalyticsError(ErrorBody):
    code: AnalyticsErrorCode | HubErrorCode


ANALYTICS_ERRORS = error_responses(AnalyticsError)


def money_text(row: dict[str, Any], *fields: str) -> dict[str, Any]:
    """``row`` with its money ``fields`` written with the currency's minor units."""
    return {**row, **{f: money_format(Decimal(row[f]), row["currency"]) for f in fields}}


def dashboard_out(board: Any) -> dict[str, Any]:
    """The dashboard as the API writes it: decimals as strings."""
    return {
        "start": board.start,
        "end": board.end,
        "time_zone": board.time_zone,
        "entities_by_kind_status": board.entities_by_kind_status,
        "entities_created": board.entities_created,
        "ledger_totals": [money_text(r, "amount") for r in board.ledger_totals],
        "ledger_income_expense": [
            money_text(r, "income", "expense", "net") for r in board.ledger_income_expense
        ],
        "cash_position": [money_text(r, "balance") for r in board.cash_position],
        "bookings": [
            {**r, **{f: str(r[f]) for f in ("booked_hours", "available_hours", "utilisation")}}
            for r in board.bookings
        ],
        "deliveries": board.deliveries,
    }
