"""Imports of the scheduling module: resources (``resources``) and bookings (``bookings``).

Each row is checked with the module's own rules (``apps.scheduling.validators``, the API's schemas for
lengths and date-times, ``apps.scheduling.services.conflicts`` for overlaps and availability) and
written through its services (audited, events emitted, the no-overlap constraint as the last word).

Resources are named by name in a bookings file (or by id): a resources import refuses a name that a
live resource of the organization already has, or that the file gives twice, so names stay unambiguous.
A booking conflicts with the live bookings of its resource and with the earlier valid rows of the same
file (the resource's capacity at any instant). Undo deletes the import's bookings, or its resources
while no booking refers to them; every deletion is audited. A resource or a booking may name its
entity (``entity``: ``kind:reference``, ``importers.linked``). Bookings are always within the
resource's availability (the API's admin override has no column here).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db.models import Q

from apps.imports.base import BATCH_ROWS, Column, Importer, IssueCode, RowIssue, SourceRow
from apps.imports.errors import ImportNotUndoable
from apps.imports.importers.linked import ENTITY_COLUMN, Key, entities_found, entity_key, entity_viewer
from apps.scheduling import availability, validators
from apps.scheduling.errors import SchedulingInvalid
from apps.scheduling.models import Booking, BookingSeries, Resource
from apps.scheduling.schemas import BookingIn
from apps.scheduling.services.bookings import BookingDraft, bookings_create_many, status_clean
from apps.scheduling.services.conflicts import availability_misses, peak_overlap
from apps.scheduling.services.resources import resource_create


def _limit(schema: type[Any], name: str, attribute: str) -> Any:
    """A bound the API's schema sets on a field (``max_length``, ``ge``, ``le``): read, not copied."""
    return next(getattr(m, attribute) for m in schema.model_fields[name].metadata if hasattr(m, attribute))


NOTES_MAX: int = _limit(BookingIn, "notes", "max_length")


def _text(row: SourceRow, column: str) -> str | None:
    """The cell as text (a whole number as written), ``None`` when empty or absent."""
    value = row.values.get(column)
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip(" ") else None


class _Refused(Exception):
    """One cell refused: the report line it becomes."""

    def __init__(self, column: str, code: str, message: str) -> None:
        super().__init__(message)
        self.column, self.code, self.message = column, code, message


def _required(row: SourceRow, column: str) -> str:
    value = _text(row, column)
    if value is None:
        raise _Refused(column, IssueCode.REQUIRED, f"{column} is required.")
    return value


def _cells(row: SourceRow, cleaners: dict[str, Any]) -> tuple[dict[str, Any], list[RowIssue]]:
    """Each column through its cleaner; the refusals as report lines."""
    values: dict[str, Any] = {}
    issues: list[RowIssue] = []
    for column, clean in cleaners.items():
        try:
            values[column] = clean(row)
        except _Refused as refused:
            issues.append(RowIssue(row.number, refused.column, refused.code, refused.message))
        except SchedulingInvalid as exc:
            issues.append(RowIssue(row.number, column, IssueCode.INVALID, exc.detail))
        except ValueError as exc:  # a schema's before-validator (date-times)
            issues.append(RowIssue(row.number, column, IssueCode.INVALID, f"{column} {exc}"))
    return values, issues


def _batches(rows: Iterable[SourceRow]) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Resources ----------------------------------------------------------------------------------


def _capacity(row: SourceRow) -> int:
    text = _text(row, "capacity")
    if text is None:
        return 1
    try:
        capacity = int(text.strip(" "))
    except ValueError:
        raise SchedulingInvalid("capacity must be a whole number.", field="capacity") from None
    return validators.capacity_clean(capacity)


def _entity(row: SourceRow) -> Key | None:
    try:
        return entity_key(row.values.get("entity"))
    except ValueError as exc:
        raise SchedulingInvalid(str(exc), field="entity") from None


_RESOURCE_CLEANERS: dict[str, Any] = {
    "name": lambda row: validators.name_clean(_required(row, "name")),
    "kind": lambda row: validators.kind_clean(_required(row, "kind").strip(" ")),
    "timezone": lambda row: validators.timezone_clean(_required(row, "timezone").strip(" ")),
    "capacity": _capacity,
    "entity": _entity,
}


class ResourcesImporter(Importer):
    """Resources, as ``POST /api/v1/scheduling/resources`` takes them."""

    type = "resources"
    label = "Resources"
    columns = (
        Column(
            "name",
            "The resource's name (1 to 200 characters): bookings files name it, so it must be new to the "
            "organization and to the file.",
            "Meeting room 1",
            True,
        ),
        Column(
            "kind",
            "Lowercase letters, digits, - or _, starting with a letter (room, desk, ...).",
            "room",
            True,
        ),
        Column("timezone", "IANA time zone of its availability (Europe/Berlin).", "Europe/Berlin", True),
        Column("capacity", "Bookings it takes at once, 1 to 10000; empty: 1.", "8"),
        ENTITY_COLUMN,
    )

    def validate(self, rows: Iterable[SourceRow]) -> Iterator[RowIssue]:
        seen: set[str] = set()
        for batch in _batches(rows):
            checked = [(row, *_cells(row, _RESOURCE_CLEANERS)) for row in batch]
            names = {values["name"] for _, values, _ in checked if "name" in values}
            taken = set(
                Resource.objects.filter(name__in=names, deleted_at__isnull=True).values_list(
                    "name", flat=True
                )
            )
            linked = entities_found(
                {values["entity"] for _, values, _ in checked if values.get("entity")}, context=self.context
            )
            for row, values, issues in checked:
                yield from issues
                key = values.get("entity")
                if key is not None and key not in linked:
                    yield RowIssue(
                        row.number,
                        "entity",
                        IssueCode.UNKNOWN_REFERENCE,
                        f"No live entity {key[0]}:{key[1][:100]} is visible to you.",
                    )
                name = values.get("name")
                if name is None:
                    continue
                if name in seen:
                    yield RowIssue(
                        row.number,
                        "name",
                        IssueCode.DUPLICATE_IN_FILE,
                        f"Name {name!r} is already in the file.",
                    )
                elif name in taken:
                    yield RowIssue(
                        row.number, "name", IssueCode.CONFLICT, f"A resource is already named {name!r}."
                    )
                seen.add(name)

    def commit(self, rows: Iterable[SourceRow], *, skip: Container[int]) -> Iterator[int]:
        handled = 0
        for batch in _batches(rows):
            checked = [(row, *_cells(row, _RESOURCE_CLEANERS)) for row in batch if row.number not in skip]
            linked = entities_found(
                {values["entity"] for _, values, _ in checked if values.get("entity")}, context=self.context
            )
            for _, values, issues in checked:
                if issues:  # pragma: no cover - validate reported it, the framework skips it
                    raise SchedulingInvalid(issues[0].message, field=issues[0].column)
                key = values.pop("entity")
                resource_create(
                    **values,
                    entity_id=None if key is None else linked[key],
                    viewer=entity_viewer(self.context),
                    source_import=self.context.import_id,
                )
                handled += 1
            yield handled

    def undo(self) -> int:
        """Delete the import's resources (their availability with them), each audited; refused while
        any booking or series refers to one of them."""
        resources = Resource.objects.filter(source_import=self.context.import_id)
        used = list(
            resources.filter(
                Q(bookings__isnull=False)
                | Q(
                    id__in=BookingSeries.objects.filter(
                        resource__source_import=self.context.import_id
                    ).values("resource")
                )
            )
            .distinct()
            .order_by("name")
            .values_list("name", flat=True)
        )
        if used:
            shown = ", ".join(repr(name) for name in used[:10]) + (" ..." if len(used) > 10 else "")
            raise ImportNotUndoable(f"{len(used)} resources of this import have bookings ({shown}).")
        deleted = 0
        for resource in resources.order_by("name", "id"):  # one by one: each deletion audited (apps.audit)
            resource.delete()
            deleted += 1
        return deleted


# --- Bookings -----------------------------------------------------------------------------------


def _instant(column: str) -> Any:
    return lambda row: validators.aware_datetime_parse(_required(row, column).strip(" "))


def _notes(row: SourceRow) -> str | None:
    notes = _text(row, "notes")
    if notes is not None and len(notes) > NOTES_MAX:
        raise SchedulingInvalid(f"notes must be at most {NOTES_MAX} characters.", field="notes")
    return notes


_BOOKING_CLEANERS: dict[str, Any] = {
    "resource": lambda row: _required(row, "resource").strip(" "),
    "start": _instant("start"),
    "end": _instant("end"),
    "status": lambda row: status_clean((_text(row, "status") or Booking.Status.CONFIRMED).strip(" ")),
    "notes": _notes,
    "entity": _entity,
}


@dataclass(frozen=True)
class _Row:
    """A booking row whose cells passed: its resource still to find."""

    row: SourceRow
    resource: str
    start: datetime
    end: datetime
    status: str
    notes: str | None
    entity: Key | None
    entity_id: uuid.UUID | None = None


def _resources_named(references: set[str]) -> dict[str, list[Resource]]:
    """Live resources by id or by name, for one batch's references (one query)."""
    ids = set()
    for reference in references:
        try:
            ids.add(uuid.UUID(reference))
        except ValueError:
            continue
    found: dict[str, list[Resource]] = defaultdict(list)
    for resource in Resource.objects.filter(Q(id__in=ids) | Q(name__in=references), deleted_at__isnull=True):
        if str(resource.id) in references:
            found[str(resource.id)].append(resource)
        if resource.name in references:
            found[resource.name].append(resource)
    return found


class BookingsImporter(Importer):
    """Bookings, as ``POST /api/v1/scheduling/bookings`` takes them (within the resource's availability)."""

    type = "bookings"
    label = "Bookings"
    columns = (
        Column(
            "resource", "The name of a live resource of the organization, or its id.", "Meeting room 1", True
        ),
        Column("start", "ISO 8601 date and time with a UTC offset.", "2026-03-02T09:00:00+01:00", True),
        Column(
            "end", "ISO 8601 date and time with a UTC offset, after start.", "2026-03-02T10:00:00+01:00", True
        ),
        Column("status", "tentative or confirmed; empty: confirmed.", "confirmed"),
        Column("notes", f"Free text, at most {NOTES_MAX} characters.", "Quarterly review"),
        ENTITY_COLUMN,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The valid rows so far, per resource: later rows must fit beside them.
        self._taken: dict[uuid.UUID, list[availability.Interval]] = defaultdict(list)

    def _batch_check(self, batch: list[SourceRow]) -> tuple[list[RowIssue], dict[int, tuple[Resource, _Row]]]:
        """The issues of a batch's rows, and its valid rows (by number) with their resource."""
        issues: list[RowIssue] = []
        parsed: list[_Row] = []
        for row in batch:
            values, row_issues = _cells(row, _BOOKING_CLEANERS)
            if not row_issues:
                try:
                    values["start"], values["end"] = validators.booking_times_clean(
                        values["start"], values["end"]
                    )
                except SchedulingInvalid as exc:
                    row_issues.append(RowIssue(row.number, exc.field or "end", IssueCode.INVALID, exc.detail))
            issues += row_issues
            if not row_issues:
                parsed.append(_Row(row=row, **values))
        parsed = self._entities_link(parsed, issues)
        named = _resources_named({item.resource for item in parsed})
        located: list[tuple[Resource, _Row]] = []
        for item in parsed:
            candidates = named.get(item.resource, [])
            if len(candidates) == 1:
                located.append((candidates[0], item))
            elif not candidates:
                issues.append(
                    RowIssue(
                        item.row.number,
                        "resource",
                        IssueCode.UNKNOWN_REFERENCE,
                        f"No live resource is named {item.resource[:200]!r} or has this id.",
                    )
                )
            else:
                issues.append(
                    RowIssue(
                        item.row.number,
                        "resource",
                        IssueCode.INVALID,
                        f"{len(candidates)} resources are named {item.resource[:200]!r}; name it by its id.",
                    )
                )
        valid: dict[int, tuple[Resource, _Row]] = {}
        by_resource: dict[uuid.UUID, list[tuple[Resource, _Row]]] = defaultdict(list)
        for resource, item in located:
            by_resource[resource.id].append((resource, item))
        live = self._live_bookings(located)
        for resource_id, items in by_resource.items():
            resource = items[0][0]
            outside = set(availability_misses(resource, [(item.start, item.end) for _, item in items]))
            for index, (_, item) in enumerate(items):
                if index in outside:
                    issues.append(
                        RowIssue(
                            item.row.number,
                            "start",
                            IssueCode.INVALID,
                            "The resource is not available for this whole time.",
                        )
                    )
                    continue
                issue = self._conflict(resource, item, live.get(resource_id, []))
                if issue is not None:
                    issues.append(issue)
                    continue
                self._taken[resource_id].append((item.start, item.end))
                valid[item.row.number] = (resource, item)
        return issues, valid

    def _entities_link(self, parsed: list[_Row], issues: list[RowIssue]) -> list[_Row]:
        """The rows with their entity's id (one query); those naming none the importer may see go to
        ``issues``."""
        linked = entities_found({item.entity for item in parsed if item.entity}, context=self.context)
        kept = []
        for item in parsed:
            if item.entity is None:
                kept.append(item)
            elif item.entity in linked:
                kept.append(replace(item, entity_id=linked[item.entity]))
            else:
                kind, reference = item.entity
                issues.append(
                    RowIssue(
                        item.row.number,
                        "entity",
                        IssueCode.UNKNOWN_REFERENCE,
                        f"No live entity {kind}:{reference[:100]} is visible to you.",
                    )
                )
        return kept

    @staticmethod
    def _live_bookings(located: list[tuple[Resource, _Row]]) -> dict[uuid.UUID, list[Booking]]:
        """The live bookings of the batch's resources within its time span (one query)."""
        if not located:
            return {}
        start = min(item.start for _, item in located)
        end = max(item.end for _, item in located)
        live: dict[uuid.UUID, list[Booking]] = defaultdict(list)
        bookings = (
            Booking.objects.filter(
                resource_id__in={resource.id for resource, _ in located}, start__lt=end, end__gt=start
            )
            .exclude(status=Booking.Status.CANCELLED)
            .order_by("start", "id")
        )
        for booking in bookings:
            live[booking.resource_id].append(booking)
        return live

    def _conflict(self, resource: Resource, item: _Row, live: list[Booking]) -> RowIssue | None:
        """A conflict with the live bookings or the file's earlier rows, as the booking service counts
        them: full when as many as the capacity overlap at some instant of the booking."""
        booked = [b for b in live if b.start < item.end and b.end > item.start]
        in_file = [(s, e) for s, e in self._taken[resource.id] if s < item.end and e > item.start]
        clipped = [
            (max(s, item.start), min(e, item.end)) for s, e in [*((b.start, b.end) for b in booked), *in_file]
        ]
        if peak_overlap(clipped) < resource.capacity:
            return None
        if booked:
            named = ", ".join(str(b.id) for b in booked[:5])
            message = f"The resource is already booked at this time (bookings {named})."
        else:
            message = "An earlier row of this file books the resource at this time."
        return RowIssue(item.row.number, "start", IssueCode.CONFLICT, message)

    def validate(self, rows: Iterable[SourceRow]) -> Iterator[RowIssue]:
        self._taken.clear()
        for batch in _batches(rows):
            issues, _ = self._batch_check(batch)
            yield from sorted(issues, key=lambda issue: issue.row)

    def commit(self, rows: Iterable[SourceRow], *, skip: Container[int]) -> Iterator[int]:
        self._taken.clear()
        handled = 0
        for batch in _batches(rows):
            _, valid = self._batch_check([row for row in batch if row.number not in skip])
            drafts: dict[uuid.UUID, tuple[Resource, list[BookingDraft]]] = {}
            for resource, item in valid.values():
                drafts.setdefault(resource.id, (resource, []))[1].append(
                    BookingDraft(
                        start=item.start,
                        end=item.end,
                        status=item.status,
                        notes=item.notes,
                        entity_id=item.entity_id,
                    )
                )
            for resource, resource_drafts in drafts.values():
                bookings_create_many(
                    actor=self.context.actor,
                    resource=resource,
                    drafts=resource_drafts,
                    viewer=entity_viewer(self.context),
                    source_import=self.context.import_id,
                )
            handled += len(valid)
            yield handled

    def undo(self) -> int:
        """Delete the import's bookings (each audited as a deletion): nothing refers to a booking."""
        deleted = 0
        for booking in Booking.objects.filter(source_import=self.context.import_id).order_by("start", "id"):
            booking.delete()
            deleted += 1
        return deleted
