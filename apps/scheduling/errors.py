"""The scheduling module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from hub.errors import Conflict, Invalid, NotFound, PermissionDenied


class ResourceNotFound(NotFound):
    code = "resource_not_found"
    default_detail = "No resource has this id."


class BookingNotFound(NotFound):
    code = "booking_not_found"
    default_detail = "No booking has this id."


class SchedulingInvalid(Invalid):
    """A rule broken by one field. The contract's 422 body lists the field in ``errors``."""


class OutsideAvailability(SchedulingInvalid):
    code = "outside_availability"
    default_detail = "The resource is not available for this whole time."


class BookingConflict(Conflict):
    """The time is taken: ``conflicts`` names the bookings in the way (every booking of the caller's
    organization is visible to every role that may book, so they are always named)."""

    code = "booking_conflict"


class ResourceInUse(Conflict):
    code = "resource_in_use"


class OverrideRequired(PermissionDenied):
    code = "override_requires_admin"
    default_detail = "Only an admin may book outside the resource's availability."
