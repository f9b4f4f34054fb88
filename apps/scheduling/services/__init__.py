"""Writes of the scheduling module. Every function is atomic and validates before it touches a row.

Conflicts: a capacity-1 resource relies on the exclusion constraint (``models``): the service checks
first only to name the booking in the way, and maps the constraint's error (SQLSTATE 23P01) to the same
409 when a concurrent booking wins the race. A resource of larger capacity has no constraint to lean
on, so its bookings lock its row (``SELECT ... FOR UPDATE``) and count the overlap while holding it;
capacity changes take the same lock.
"""

from apps.scheduling.services.bookings import (
    BookingDraft,
    booking_cancel,
    booking_create,
    booking_update,
    bookings_create_many,
)
from apps.scheduling.services.resources import (
    availability_set,
    resource_create,
    resource_delete,
    resource_update,
)
from apps.scheduling.services.series import SeriesResult, Skipped, series_create

__all__ = [
    "BookingDraft",
    "SeriesResult",
    "Skipped",
    "availability_set",
    "booking_cancel",
    "booking_create",
    "booking_update",
    "bookings_create_many",
    "resource_create",
    "resource_delete",
    "resource_update",
    "series_create",
]
