"""HTTP of the scheduling module: each function translates one request into one service or selector call.

Roles: a ``viewer`` reads everything here; a ``member`` books (create, move, cancel, series); an
``admin`` also manages resources and their availability, and may book outside availability
(``override_availability``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from api.auth import admin_auth, member_auth, request_actor, request_viewer
from api.etags import IfMatchHeader, etag_set, if_match
from api.pagination import paginate_audited
from api.rows import rows_response
from apps.scheduling import availability, selectors, services
from apps.scheduling.errors import OverrideRequired
from apps.scheduling.models import Booking, Resource
from apps.scheduling.schemas import (
    BOOKING_ROWS,
    RESOURCE_ROWS,
    SCHEDULING_ERRORS,
    SCHEDULING_IF_MATCH_ERRORS,
    AvailabilityIn,
    AvailabilityOut,
    BookingFilter,
    BookingIn,
    BookingOut,
    BookingPage,
    BookingPatch,
    CalendarOut,
    CalendarQuery,
    FreeSlotsOut,
    ResourceFilter,
    ResourceIn,
    ResourceOut,
    ResourcePage,
    ResourcePatch,
    ScopeQuery,
    SeriesIn,
    SeriesOut,
    SlotQuery,
    series_out,
)

router = Router()


def _iso(value: datetime) -> str:
    """A UTC date-time as ``DjangoJSONEncoder`` renders every other one of the API (milliseconds at
    most, ``Z``), without its per-value overhead: a free-slot answer may hold thousands."""
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _override(request: HttpRequest, wanted: bool) -> bool:
    """``override_availability`` is an admin's call; anyone else asking for it gets a 403."""
    if wanted and not request_viewer(request).is_admin:
        raise OverrideRequired()
    return wanted


@router.get("resources", summary="List resources", response={200: ResourcePage, **SCHEDULING_ERRORS})
def resource_list(
    request: HttpRequest, response: HttpResponse, filters: Query[ResourceFilter]
) -> HttpResponse:
    """The bookable resources (rooms, people, equipment), optionally of one `kind`, a page at a time."""
    resources = selectors.resource_list(kind=filters.kind)
    return rows_response(response, paginate_audited(resources, page=filters, shape=RESOURCE_ROWS))


@router.post(
    "resources",
    summary="Create a resource",
    response={201: ResourceOut, **SCHEDULING_ERRORS},
    auth=admin_auth,
)
def resource_create(request: HttpRequest, response: HttpResponse, payload: ResourceIn) -> Status[Resource]:
    """Create a bookable resource in its `timezone` (an IANA name); its opening hours are set apart, with
    `PUT /scheduling/resources/{id}/availability`. Admins only."""
    resource = services.resource_create(**payload.dict(), viewer=request_viewer(request))
    etag_set(response, resource)
    return Status(201, resource)


@router.get(
    "resources/{uuid:resource_id}",
    summary="Read a resource",
    response={200: ResourceOut, **SCHEDULING_ERRORS},
)
def resource_read(request: HttpRequest, response: HttpResponse, resource_id: uuid.UUID) -> Resource:
    """The resource, with its version in the `ETag` header (for `If-Match` on a later write)."""
    resource = selectors.resource_get(resource_id=resource_id)
    etag_set(response, resource)
    return resource


@router.patch(
    "resources/{uuid:resource_id}",
    summary="Update a resource",
    response={200: ResourceOut, **SCHEDULING_IF_MATCH_ERRORS},
    auth=admin_auth,
)
def resource_update(
    request: HttpRequest,
    response: HttpResponse,
    resource_id: uuid.UUID,
    payload: ResourcePatch,
    if_match_header: IfMatchHeader = None,
) -> Resource:
    """Partial update; with `If-Match`, applied only to that version (else 412)."""
    resource = selectors.resource_get(resource_id=resource_id)
    changes = payload.dict(exclude_unset=True)
    resource = services.resource_update(
        resource=resource, changes=changes, viewer=request_viewer(request), if_match=if_match(if_match_header)
    )
    etag_set(response, resource)
    return resource


@router.delete(
    "resources/{uuid:resource_id}",
    summary="Delete a resource",
    response={204: None, **SCHEDULING_IF_MATCH_ERRORS},
    auth=admin_auth,
)
def resource_delete(
    request: HttpRequest, resource_id: uuid.UUID, if_match_header: IfMatchHeader = None
) -> Status[None]:
    """Soft delete; with `If-Match`, only of that version (else 412)."""
    resource = selectors.resource_get(resource_id=resource_id)
    services.resource_delete(resource=resource, if_match=if_match(if_match_header))
    return Status(204, None)


def _availability_out(resource: Resource) -> dict[str, Any]:
    weekly, exceptions = selectors.availability_rules(resource=resource)
    return {
        "resource_id": resource.id,
        "timezone": resource.timezone,
        "weekly": weekly,
        "exceptions": exceptions,
    }


@router.get(
    "resources/{uuid:resource_id}/availability",
    summary="Read a resource's availability",
    response={200: AvailabilityOut, **SCHEDULING_ERRORS},
)
def availability_read(request: HttpRequest, resource_id: uuid.UUID) -> dict[str, Any]:
    """The resource's weekly hours (local time of its zone) and its date exceptions."""
    return _availability_out(selectors.resource_get(resource_id=resource_id))


@router.put(
    "resources/{uuid:resource_id}/availability",
    summary="Set a resource's availability",
    response={200: AvailabilityOut, **SCHEDULING_ERRORS},
    auth=admin_auth,
)
def availability_set(request: HttpRequest, resource_id: uuid.UUID, payload: AvailabilityIn) -> dict[str, Any]:
    """Replace the weekly hours (local time of the resource's zone) and the date exceptions."""
    resource = services.availability_set(
        resource=selectors.resource_get(resource_id=resource_id),
        weekly=[availability.WeeklyHours(**hours.dict()) for hours in payload.weekly],
        exceptions=[availability.DateException(**day.dict()) for day in payload.exceptions],
    )
    return _availability_out(resource)


@router.get(
    "availability",
    summary="Find free slots",
    response={200: FreeSlotsOut, **SCHEDULING_ERRORS},
    by_alias=True,
)
def free_slots(request: HttpRequest, query: Query[SlotQuery]) -> dict[str, Any]:
    """The free intervals of `resource` between `from` and `to` (at most a year) long enough for
    `duration` minutes: inside its availability, outside its bookings."""
    found = selectors.free_slots(
        resource_id=query.resource,
        start=query.start,
        end=query.end,
        duration=timedelta(minutes=query.duration),
    )
    slots = [{"start": _iso(start), "end": _iso(end)} for start, end in found.slots]
    return {
        "resource_id": found.resource.id,
        "start": found.start,
        "end": found.end,
        "duration": query.duration,
        "slots": slots,
    }


@router.get(
    "calendar", summary="Read the calendar", response={200: CalendarOut, **SCHEDULING_ERRORS}, by_alias=True
)
def calendar(request: HttpRequest, query: Query[CalendarQuery]) -> dict[str, Any]:
    """Live bookings between `from` and `to` (at most a year), grouped by resource: the resources
    named by `resource` (repeat it for several), or all."""
    resources = selectors.calendar(resource_ids=query.resource, start=query.start, end=query.end)
    return {"start": query.start, "end": query.end, "resources": resources}


@router.get("bookings", summary="List bookings", response={200: BookingPage, **SCHEDULING_ERRORS})
def booking_list(request: HttpRequest, response: HttpResponse, filters: Query[BookingFilter]) -> HttpResponse:
    """The bookings, filtered by resource, time range, status or series, a page at a time."""
    bookings = selectors.booking_list(
        resource_id=filters.resource,
        start=filters.start,
        end=filters.end,
        status=filters.status,
        series_id=filters.series,
    )
    return rows_response(response, paginate_audited(bookings, page=filters, shape=BOOKING_ROWS))


@router.post(
    "bookings", summary="Book a resource", response={201: BookingOut, **SCHEDULING_ERRORS}, auth=member_auth
)
def booking_create(request: HttpRequest, response: HttpResponse, payload: BookingIn) -> Status[Booking]:
    """Book a resource from `start` to `end`: inside its availability and overlapping no live booking,
    else 409 `booking_conflict` listing the bookings in the way. Admins may book outside availability with
    `override_availability`."""
    fields = payload.dict()
    fields["override_availability"] = _override(request, payload.override_availability)
    booking = services.booking_create(actor=request_actor(request), viewer=request_viewer(request), **fields)
    etag_set(response, booking)
    return Status(201, booking)


@router.get(
    "bookings/{uuid:booking_id}", summary="Read a booking", response={200: BookingOut, **SCHEDULING_ERRORS}
)
def booking_read(request: HttpRequest, response: HttpResponse, booking_id: uuid.UUID) -> Booking:
    """The booking, with its version in the `ETag` header (for `If-Match` on a later write)."""
    booking = selectors.booking_get(booking_id=booking_id)
    etag_set(response, booking)
    return booking


@router.patch(
    "bookings/{uuid:booking_id}",
    summary="Move or edit a booking",
    response={200: BookingOut, **SCHEDULING_IF_MATCH_ERRORS},
    auth=member_auth,
)
def booking_update(
    request: HttpRequest,
    response: HttpResponse,
    booking_id: uuid.UUID,
    payload: BookingPatch,
    scope: Query[ScopeQuery],
    if_match_header: IfMatchHeader = None,
) -> Booking:
    """Move or edit the booking; `?scope=following` applies the same shift and edits to the later
    occurrences of its series too. Answers with the booking asked for. With `If-Match`, only while
    that booking is that version (else 412)."""
    changes = payload.dict(exclude_unset=True)
    override = _override(request, changes.pop("override_availability", False))
    changed = services.booking_update(
        actor=request_actor(request),
        booking=selectors.booking_get(booking_id=booking_id),
        changes=changes,
        scope=scope.scope,
        override_availability=override,
        viewer=request_viewer(request),
        if_match=if_match(if_match_header),
    )
    etag_set(response, changed[0])
    return changed[0]


@router.post(
    "bookings/{uuid:booking_id}/cancel",
    summary="Cancel a booking",
    response={200: BookingOut, **SCHEDULING_IF_MATCH_ERRORS},
    auth=member_auth,
)
def booking_cancel(
    request: HttpRequest,
    response: HttpResponse,
    booking_id: uuid.UUID,
    scope: Query[ScopeQuery],
    if_match_header: IfMatchHeader = None,
) -> Booking:
    """Cancel the booking (`?scope=following`: and the later occurrences of its series); with
    `If-Match`, only while it is that version (else 412)."""
    booking = selectors.booking_get(booking_id=booking_id)
    cancelled = services.booking_cancel(
        actor=request_actor(request), booking=booking, scope=scope.scope, if_match=if_match(if_match_header)
    )[0]
    etag_set(response, cancelled)
    return cancelled


@router.post(
    "series",
    summary="Book a recurring series",
    response={201: SeriesOut, **SCHEDULING_ERRORS},
    auth=member_auth,
)
def series_create(request: HttpRequest, payload: SeriesIn) -> Status[dict[str, Any]]:
    """Book every occurrence of an RRULE (COUNT or UNTIL required, at most 500 occurrences within a
    year). All or nothing, unless `skip_conflicts`: then the rest is booked and the others listed."""
    fields = payload.dict()
    fields["override_availability"] = _override(request, payload.override_availability)
    result = services.series_create(actor=request_actor(request), viewer=request_viewer(request), **fields)
    return Status(201, series_out(result))
