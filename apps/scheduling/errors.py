"""The scheduling module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict, Invalid, NotFound, PermissionDenied


class SchedulingErrorCode(StrEnum):
    """Every code the scheduling module answers (besides those of `HubErrorCode`)."""

    RESOURCE_NOT_FOUND = "resource_not_found"
    BOOKING_NOT_FOUND = "booking_not_found"
    ENTITY_NOT_FOUND = "entity_not_found"  # the entity_id a resource or booking links to
    OUTSIDE_AVAILABILITY = "outside_availability"
    BOOKING_CONFLICT = "booking_conflict"
    RESOURCE_IN_USE = "resource_in_use"
    BOOKING_CANCELLED = "booking_cancelled"
    OVERRIDE_REQUIRES_ADMIN = "override_requires_admin"
    NOT_IN_SERIES = "not_in_series"
    TIMEZONE_UNKNOWN = "timezone_unknown"
    END_BEFORE_START = "end_before_start"
    BOOKING_LENGTH = "booking_length"
    WINDOW_INVALID = "window_invalid"
    WINDOW_TOO_LONG = "window_too_long"
    RRULE_INVALID = "rrule_invalid"
    RRULE_UNSUPPORTED = "rrule_unsupported"
    RRULE_UNBOUNDED = "rrule_unbounded"
    RRULE_EMPTY = "rrule_empty"
    RRULE_TOO_LONG = "rrule_too_long"
    RRULE_BEYOND_HORIZON = "rrule_beyond_horizon"
    RRULE_SELF_OVERLAP = "rrule_self_overlap"


class ResourceNotFound(NotFound):
    code = SchedulingErrorCode.RESOURCE_NOT_FOUND
    default_detail = "No resource has this id."


class BookingNotFound(NotFound):
    code = SchedulingErrorCode.BOOKING_NOT_FOUND
    default_detail = "No booking has this id."


class SchedulingInvalid(Invalid):
    """A rule broken by one field. The contract's 422 body lists the field in ``errors``."""


class OutsideAvailability(SchedulingInvalid):
    code = SchedulingErrorCode.OUTSIDE_AVAILABILITY
    default_detail = "The resource is not available for this whole time."


class BookingConflict(Conflict):
    """The time is taken: ``conflicts`` names the bookings in the way (every booking of the caller's
    organization is visible to every role that may book, so they are always named)."""

    code = SchedulingErrorCode.BOOKING_CONFLICT


class ResourceInUse(Conflict):
    code = SchedulingErrorCode.RESOURCE_IN_USE


class BookingCancelled(Conflict):
    """A cancelled booking stays cancelled: a change to it (even one racing the cancel) is refused."""

    code = SchedulingErrorCode.BOOKING_CANCELLED
    default_detail = "This booking is cancelled; it cannot change."


class OverrideRequired(PermissionDenied):
    code = SchedulingErrorCode.OVERRIDE_REQUIRES_ADMIN
    default_detail = "Only an admin may book outside the resource's availability."
