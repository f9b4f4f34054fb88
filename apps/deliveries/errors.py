"""The deliveries' errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict, Invalid, NotFound


class DeliveryErrorCode(StrEnum):
    """Every code the deliveries answer (besides those of `HubErrorCode`)."""

    DELIVERY_NOT_FOUND = "delivery_not_found"
    DELIVERY_NOT_FAILED = "delivery_not_failed"
    DELIVERY_INVALID = "delivery_invalid"


class DeliveryNotFound(NotFound):
    code = DeliveryErrorCode.DELIVERY_NOT_FOUND
    default_detail = "No delivery has this id."


class DeliveryNotFailed(Conflict):
    code = DeliveryErrorCode.DELIVERY_NOT_FAILED
    default_detail = "Only a dead-lettered (failed) delivery can be retried."


class DeliveryInvalid(Invalid):
    """A delivery asked of ``delivery_enqueue`` that cannot be sent (a workflow with a channel, ...)."""

    code = DeliveryErrorCode.DELIVERY_INVALID
