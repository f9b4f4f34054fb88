"""HTTP shapes of the scheduling module (In / Patch / Out / Filter, as Ninja's docs recommend).

Date-times are ISO 8601 text with a UTC offset: a naive one, a date alone or a number is a 422.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from api.pagination import Page, PageParams
from api.rows import RowShape
from api.schemas import BodyIn, ErrorBody, InputSchema, error_responses
from api.types import IsoDate, IsoTime
from apps.scheduling.errors import SchedulingErrorCode
from apps.scheduling.models import Booking, Resource
from apps.scheduling.validators import aware_datetime_parse, local_time_check
from hub.errors import HubErrorCode

AwareDatetime = Annotated[datetime, BeforeValidator(aware_datetime_parse)]
LocalTime = Annotated[IsoTime, AfterValidator(local_time_check)]
BookableStatus = Literal["tentative", "confirmed"]
Status = Literal["tentative", "confirmed", "cancelled"]
Timezone = Annotated[str, Field(max_length=64, examples=["Europe/Berlin"])]


class ResourceIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "room", "name": "Meeting room 1", "timezone": "Europe/Berlin", "capacity": 8}
            ]
        }
    )

    kind: str = Field(max_length=40, examples=["room"])
    name: str = Field(max_length=200)
    timezone: Timezone
    capacity: int = Field(1, ge=1, le=10_000)
    entity_id: uuid.UUID | None = None


class ResourcePatch(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Meeting room 1 (2nd floor)", "capacity": 10}]}
    )

    kind: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=200)
    timezone: Timezone | None = None
    capacity: int | None = Field(None, ge=1, le=10_000)
    entity_id: uuid.UUID | None = None


class ResourceOut(Schema):
    id: uuid.UUID
    kind: str
    name: str
    timezone: str
    capacity: int
    entity_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


# ResourceOut read from rows (api.rows): the list, without per-item validation.
RESOURCE_ROWS = RowShape(ResourceOut, model=Resource)


class ResourceFilter(PageParams):
    kind: str | None = Field(None, max_length=40)


class ResourcePage(Page):
    items: list[ResourceOut]


class WeeklyHoursIn(InputSchema):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    start: LocalTime
    end: LocalTime = Field(description="local time; 00:00 means midnight at the end of the day")


class DateExceptionIn(InputSchema):
    date: IsoDate
    closed: bool = True
    start: LocalTime | None = None
    end: LocalTime | None = None


class AvailabilityIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "weekly": [
                        {"weekday": 0, "start": "09:00", "end": "17:00"},
                        {"weekday": 1, "start": "09:00", "end": "17:00"},
                    ],
                    "exceptions": [{"date": "2026-12-24", "closed": True}],
                }
            ]
        }
    )

    weekly: list[WeeklyHoursIn] = Field(default_factory=list, max_length=200)
    exceptions: list[DateExceptionIn] = Field(default_factory=list, max_length=1000)


class AvailabilityOut(Schema):
    resource_id: uuid.UUID
    timezone: str
    weekly: list[WeeklyHoursIn]
    exceptions: list[DateExceptionIn]


class SlotQuery(Schema):
    resource: uuid.UUID
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    duration: int = Field(ge=1, le=24 * 60, description="minutes a booking needs")


class Slot(BaseModel):
    """A free interval, from `start` to `end`."""

    # Plain pydantic with preformatted text: an answer may hold thousands, and Ninja's Schema
    # (attribute access per field) and per-datetime JSON encoding made them the slowest part of the request.

    start: str = Field(json_schema_extra={"format": "date-time"})
    end: str = Field(json_schema_extra={"format": "date-time"})


class FreeSlotsOut(Schema):
    resource_id: uuid.UUID
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    duration: int
    slots: list[Slot]


class BookingIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "start": "2026-03-02T09:00:00Z",
                    "end": "2026-03-02T10:00:00Z",
                    "notes": "Quarterly review",
                }
            ]
        }
    )

    resource_id: uuid.UUID
    start: AwareDatetime
    end: AwareDatetime
    status: BookableStatus = "confirmed"
    entity_id: uuid.UUID | None = None
    notes: str | None = Field(None, max_length=2000)
    override_availability: bool = Field(False, description="admin only: book outside availability")


class BookingPatch(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z"}]}
    )

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    status: BookableStatus | None = None
    entity_id: uuid.UUID | None = None
    notes: str | None = Field(None, max_length=2000)
    override_availability: bool = Field(False, description="admin only: move outside availability")


class BookingOut(Schema):
    id: uuid.UUID
    resource_id: uuid.UUID
    start: datetime
    end: datetime
    status: str
    entity_id: uuid.UUID | None
    notes: str
    series_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None = Field(validation_alias="created_by_id")
    updated_by: uuid.UUID | None = Field(validation_alias="updated_by_id")


# BookingOut read from rows (api.rows): the list, without per-item validation.
BOOKING_ROWS = RowShape(BookingOut, model=Booking)


class BookingFilter(PageParams):
    resource: uuid.UUID | None = None
    start: AwareDatetime | None = Field(None, alias="from")
    end: AwareDatetime | None = Field(None, alias="to")
    status: Status | None = None
    series: uuid.UUID | None = None


class BookingPage(Page):
    items: list[BookingOut]


class ScopeQuery(Schema):
    scope: Literal["this", "following"] = Field(
        "this", description="this booking, or it and the later occurrences of its series"
    )


class SeriesIn(BookingIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "start": "2026-03-02T09:00:00Z",
                    "end": "2026-03-02T10:00:00Z",
                    "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10",
                    "skip_conflicts": True,
                }
            ]
        }
    )

    rrule: str = Field(max_length=500, examples=["FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10"])
    skip_conflicts: bool = False


class SkippedOut(Schema):
    start: datetime
    end: datetime
    reason: str
    conflicts: list[uuid.UUID]


class SeriesOut(Schema):
    id: uuid.UUID
    resource_id: uuid.UUID
    rrule: str
    bookings: list[BookingOut]
    skipped: list[SkippedOut]


class CalendarQuery(Schema):
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    resource: list[uuid.UUID] | None = Field(None, max_length=100, description="repeat for several")


class CalendarResource(Schema):
    id: uuid.UUID
    kind: str
    name: str
    timezone: str
    capacity: int
    bookings: list[BookingOut] = Field(validation_alias="window_bookings")


class CalendarOut(Schema):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    resources: list[CalendarResource]


def series_out(result: Any) -> dict[str, Any]:
    """A ``services.SeriesResult`` as ``SeriesOut`` reads it."""
    return {
        "id": result.series.id,
        "resource_id": result.series.resource_id,
        "rrule": result.series.rrule,
        "bookings": result.bookings,
        "skipped": result.skipped,
    }


class ConflictOut(Schema):
    """A booking in the way of the one asked for."""

    id: uuid.UUID
    start: datetime
    end: datetime
    status: str


class SchedulingError(ErrorBody):
    code: SchedulingErrorCode | HubErrorCode
    conflicts: list[ConflictOut] | None = Field(None, description="booking_conflict: the bookings in the way")
    skipped: list[SkippedOut] | None = Field(
        None, description="A refused series: its occurrences that do not fit, and why"
    )


SCHEDULING_ERRORS = error_responses(SchedulingError)
# Writes that honour If-Match (api.etags): also 412 precondition_failed and 428 precondition_required.
SCHEDULING_IF_MATCH_ERRORS = error_responses(SchedulingError, preconditions=True)
