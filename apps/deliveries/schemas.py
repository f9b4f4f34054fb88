"""HTTP shapes of the deliveries (Filter / Out). The address is shown masked; the subject, message and
variables (personal data) are never in an answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from api.pagination import Page, PageParams
from api.schemas import ErrorBody, error_responses
from apps.deliveries.errors import DeliveryErrorCode
from apps.deliveries.models import Delivery, DeliveryAttempt
from apps.deliveries.selectors import address_mask
from hub.errors import HubErrorCode

Status = Literal["pending", "sending", "delivered", "failed"]
Target = Literal["communication", "workflow"]
Channel = Literal["email", "sms", "push", "in_app"]


class DeliveryFilter(PageParams):
    status: Status | None = Field(None, description="`failed`: the dead letters")
    target: Target | None = None
    channel: Channel | None = None


class DeliveryOut(Schema):
    id: uuid.UUID
    target: Target
    channel: Channel | None
    status: Status
    recipient_user_id: uuid.UUID | None
    entity_id: uuid.UUID | None
    to: str = Field(description="The address, masked (`a***@example.com`)")
    template_id: str | None
    rule_id: uuid.UUID | None
    event_id: int | None
    notification_id: uuid.UUID | None
    attempt_count: int = Field(description="Attempts made so far")
    last_error: str | None = Field(description="The last failed attempt's error class (`http_500`, ...)")
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None

    @staticmethod
    def resolve_to(obj: Delivery) -> str:
        return address_mask(obj.content_get().to)

    @staticmethod
    def resolve_attempt_count(obj: Delivery) -> int:
        return obj.attempts

    @staticmethod
    def resolve_template_id(obj: Delivery) -> str | None:
        return obj.template_id or None

    @staticmethod
    def resolve_last_error(obj: Delivery) -> str | None:
        return obj.last_error or None


class DeliveryAttemptOut(Schema):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: Literal["sending", "delivered", "retryable", "permanent", "interrupted"]
    http_status: int | None
    error_class: str | None
    error_text: str | None

    @staticmethod
    def resolve_error_class(obj: DeliveryAttempt) -> str | None:
        return obj.error_class or None

    @staticmethod
    def resolve_error_text(obj: DeliveryAttempt) -> str | None:
        return obj.error_text or None


class DeliveryDetailOut(DeliveryOut):
    attempts: list[DeliveryAttemptOut]

    @staticmethod
    def resolve_attempts(obj: Delivery) -> list[DeliveryAttempt]:
        return list(obj.attempt_set.all())


class DeliveryPage(Page):
    items: list[DeliveryOut]


class DeliveryError(ErrorBody):
    code: DeliveryErrorCode | HubErrorCode


DELIVERY_ERRORS = error_responses(DeliveryError)
