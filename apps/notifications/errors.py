"""The notifications module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Invalid, NotFound


class NotificationErrorCode(StrEnum):
    """Every code the notifications module answers (besides those of `HubErrorCode`)."""

    RULE_NOT_FOUND = "rule_not_found"
    NOTIFICATION_NOT_FOUND = "notification_not_found"
    EVENT_TYPE_UNKNOWN = "event_type_unknown"
    CONDITION_INVALID = "condition_invalid"
    RECIPIENT_INVALID = "recipient_invalid"
    CHANNEL_UNKNOWN = "channel_unknown"
    FAN_OUT_TOO_LARGE = "fan_out_too_large"
    RULE_INVALID = "rule_invalid"


class RuleNotFound(NotFound):
    code = NotificationErrorCode.RULE_NOT_FOUND
    default_detail = "No alert rule has this id."


class NotificationNotFound(NotFound):
    code = NotificationErrorCode.NOTIFICATION_NOT_FOUND
    default_detail = "No notification of yours has this id."


class RuleInvalid(Invalid):
    """A rule broken by one field of an alert rule; the contract's 422 lists the field in ``errors``."""

    code = NotificationErrorCode.RULE_INVALID
