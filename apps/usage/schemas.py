"""HTTP shapes of the platform's usage list."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from api.pagination import Page, PageParams
from api.schemas import ErrorBody, error_responses
from api.types import IsoDate
from apps.usage.errors import UsageErrorCode
from hub.errors import HubErrorCode

# The tables shown one by one (the rest count in ``rows_total``): each module's main records.
MAIN_TABLES = (
    "entities_entity",
    "ledger_account",
    "ledger_transaction",
    "ledger_posting",
    "scheduling_resource",
    "scheduling_booking",
    "notifications_notification",
    "audit_auditentry",
)


class UsageError(ErrorBody):
    code: UsageErrorCode | HubErrorCode


USAGE_ERRORS = error_responses(UsageError)


class UsageQuery(PageParams):
    model_config = ConfigDict(populate_by_name=True)

    from_: IsoDate | None = Field(
        None, alias="from", description="First day (UTC); default 29 days before `to`."
    )
    to: IsoDate | None = Field(None, description="Last day (UTC), inclusive; default today.")


class UsageOut(Schema):
    organization_id: uuid.UUID
    slug: str
    rows: dict[str, int] = Field(description="Rows of each main table, as last collected in the period.")
    rows_total: int = Field(description="Rows of every table of the organization's schema.")
    storage_bytes: int = Field(description="Bytes of its tables, indexes included.")
    requests: int = Field(description="Audited operations (API reads and writes) over the period.")
    active_users: int = Field(description="Distinct users behind them over the period.")
    collected_at: datetime.datetime | None = Field(
        description="When the figures were collected; null: never."
    )

    @staticmethod
    def resolve_rows(organization: Any) -> dict[str, int]:
        found = organization.usage_rows or {}
        return {table: int(found.get(table, 0)) for table in MAIN_TABLES}


class UsagePage(Page):
    items: list[UsageOut]
