"""HTTP shapes of the notifications module: alert rules (admins) and the caller's inbox."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, StrictBool, StrictInt

from api.pagination import Page, PageParams
from api.schemas import BodyIn, ErrorBody, InputSchema, error_responses
from apps.notifications.errors import NotificationErrorCode
from hub.errors import HubErrorCode


class NotificationError(ErrorBody):
    code: NotificationErrorCode | HubErrorCode


NOTIFICATION_ERRORS = error_responses(NotificationError)


class ConditionIn(InputSchema):
    field: str = Field(max_length=64, description="A field of the event type (see the catalogue).")
    op: str = Field(max_length=8, description="eq, ne, gt, gte, lt, lte or in (as the field's type allows).")
    value: Any = Field(description="A value of the field's type; a list of them for `in`.")


class RecipientsIn(InputSchema):
    user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    roles: list[str] = Field(default_factory=list, max_length=3, description="admin, member, viewer")
    entity_contact: StrictBool = Field(False, description="Also the event's entity's own email / phone.")


_RULE_EXAMPLE: dict[str, Any] = {
    "name": "Large payments",
    "event_type": "transaction.posted",
    "conditions": [{"field": "amount", "op": "gte", "value": "10000"}],
    "recipients": {"roles": ["admin"], "user_ids": [], "entity_contact": False},
    "channels": ["in_app", "email"],
    "quiet_minutes": 0,
}


class RuleIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [_RULE_EXAMPLE]})

    name: str = Field(max_length=200)
    event_type: str = Field(max_length=64, description="An event type of the catalogue.")
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=20)
    recipients: RecipientsIn | None = None
    channels: list[str] = Field(default_factory=list, max_length=4, description="in_app, email, sms, push")
    action: str = Field("notify", max_length=16, description="notify, or workflow (starts a workflow)")
    enabled: StrictBool = True
    quiet_minutes: StrictInt = Field(
        0, description="At most one firing per this many minutes (0: no limit); a JSON integer."
    )


class RulePatch(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})

    name: str | None = Field(None, max_length=200)
    event_type: str | None = Field(None, max_length=64)
    conditions: list[ConditionIn] | None = Field(None, max_length=20)
    recipients: RecipientsIn | None = None
    channels: list[str] | None = Field(None, max_length=4)
    action: str | None = Field(None, max_length=16)
    enabled: StrictBool | None = None
    quiet_minutes: StrictInt | None = None


class ConditionOut(Schema):
    field: str
    op: str
    value: Any


class RecipientsOut(Schema):
    user_ids: list[uuid.UUID]
    roles: list[str]
    entity_contact: bool


class RuleOut(Schema):
    id: uuid.UUID
    name: str
    event_type: str
    conditions: list[ConditionOut]
    recipients: RecipientsOut
    channels: list[str]
    action: str
    enabled: bool
    quiet_minutes: int
    last_fired_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class RuleFilter(PageParams):
    event_type: str | None = Field(None, max_length=64)
    enabled: bool | None = None


class RulePage(Page):
    items: list[RuleOut]


class NotificationOut(Schema):
    id: uuid.UUID
    event_type: str
    subject_id: str | None
    title: str
    body: str
    created_at: datetime.datetime
    read_at: datetime.datetime | None

    @staticmethod
    def resolve_subject_id(notification: Any) -> str | None:
        return notification.subject_id or None


class InboxFilter(PageParams):
    unread: bool | None = Field(None, description="true: unread only; false: read only.")


class NotificationPage(Page):
    items: list[NotificationOut]


class UnreadCountOut(Schema):
    count: int
    count_exact: bool


class ReadAllOut(Schema):
    marked: int = Field(description="How many notifications were marked read.")
