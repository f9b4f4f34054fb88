"""The scheduling module's import types, driven directly: ``resources`` and ``bookings``.

Validation reports exactly the rows, columns and codes expected (the module's own rules: names, kinds,
time zones, capacity, date-times with offsets, lengths, availability, conflicts with live bookings and
with earlier rows of the file), commit writes through the services (one audit entry per object,
``source_import``), undo deletes what the import made (audited) unless a booking refers to it, and
another organization's resources are unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.services import entity_create
from apps.imports.base import ImportContext, IssueCode, RowIssue, SourceRow
from apps.imports.errors import ImportNotUndoable
from apps.imports.importers.scheduling import BookingsImporter, ResourcesImporter
from apps.imports.tests.helpers import E2E_USER, IMPORTS_URL, api_import
from apps.scheduling import services
from apps.scheduling.models import Booking, Resource
from apps.scheduling.tests.helpers import weekdays
from tenants.models import Organization, User

RESOURCE_COLUMNS = ("name", "kind", "timezone", "capacity")
BOOKING_COLUMNS = ("resource", "start", "end", "status", "notes")
# A Monday.
DAY = "2031-03-03"


@pytest.fixture
def actor(db: None) -> User:
    user, _ = User.objects.get_or_create(id=uuid.UUID(int=0x1234), defaults={"email": "someone@example.com"})
    return user


def source(columns: Iterable[str], *lines: tuple[Any, ...]) -> list[SourceRow]:
    """Rows as a CSV file gives them: the header is row 1, empty cells ``None``."""
    names = list(columns)
    return [
        SourceRow(
            number=index + 2, values={n: v for n, v in zip(names, line, strict=True) if v not in ("", None)}
        )
        for index, line in enumerate(lines)
    ]


def found(issues: Iterable[RowIssue]) -> list[tuple[int, str, str]]:
    return [(issue.row, issue.column, issue.code) for issue in issues]


def skip_of(issues: Iterable[RowIssue]) -> set[int]:
    return {issue.row for issue in issues}


def audited(model: type[Any], ids: Iterable[Any], action: int) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            object_type=model._meta.label_lower, action=action, object_pk__in=[str(i) for i in ids]
        )
    )


def test_resources_validate_commit_undo(tenant_a: Organization, tenant_b: Organization, actor: User) -> None:
    with tenant_context(tenant_a):
        services.resource_create(kind="room", name="Room 1", timezone="Europe/Berlin")
        acme = entity_create(actor=actor, kind="customer", name="Acme", reference="ACME")
    with tenant_context(tenant_b):
        services.resource_create(kind="room", name="Beta Room", timezone="America/New_York")
        entity_create(actor=actor, kind="customer", name="Beta", reference="BETA")
    rows = source(
        (*RESOURCE_COLUMNS, "entity"),
        ("Room 1", "room", "Europe/Berlin", "", ""),  # 2: name taken
        ("Lab", "room", "Europe/Berlin", "4", "customer:ACME"),  # 3
        ("Lab", "room", "Europe/Berlin", "", ""),  # 4: twice in the file
        ("Odd", "Bad Kind", "Mars/Base", "0", ""),  # 5
        ("Beta Room", "room", "UTC", 2, ""),  # 6: only organization B has it
        ("", "room", "UTC", "many", "customer:BETA"),  # 7: B's entity
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        issues = list(ResourcesImporter(context).validate(rows))
        assert found(issues) == [
            (2, "name", IssueCode.CONFLICT),
            (4, "name", IssueCode.DUPLICATE_IN_FILE),
            (5, "kind", IssueCode.INVALID),
            (5, "timezone", IssueCode.INVALID),
            (5, "capacity", IssueCode.INVALID),
            (7, "name", IssueCode.REQUIRED),
            (7, "capacity", IssueCode.INVALID),
            (7, "entity", IssueCode.UNKNOWN_REFERENCE),
        ]
        assert not Resource.objects.filter(source_import=context.import_id).exists()

        importer = ResourcesImporter(context)
        assert list(importer.validate(rows)) == issues
        assert list(importer.commit(rows, skip=skip_of(issues))) == [2]  # rows written
        created = Resource.objects.filter(source_import=context.import_id).order_by("name")
        assert [(r.name, r.kind, r.timezone, r.capacity) for r in created] == [
            ("Beta Room", "room", "UTC", 2),
            ("Lab", "room", "Europe/Berlin", 4),
        ]
        assert [r.entity_id for r in created] == [None, acme.id]
        ids = [r.id for r in created]
        entries = audited(Resource, ids, AuditEntry.Action.CREATE)
        assert len(entries) == 2
        assert {entry.changes["source_import"][1] for entry in entries} == {str(context.import_id)}

        # A booking of an imported resource blocks the undo; once cancelled and gone, undo deletes.
        lab = created.get(name="Lab")
        booking = services.booking_create(
            actor=actor,
            resource_id=lab.id,
            start=datetime(2031, 3, 3, 9, tzinfo=UTC),
            end=datetime(2031, 3, 3, 10, tzinfo=UTC),
        )
        with pytest.raises(ImportNotUndoable, match="Lab"):
            ResourcesImporter(context).undo()
        booking.delete()
        assert ResourcesImporter(context).undo() == 2
        assert not Resource.objects.filter(id__in=ids).exists()
        assert len(audited(Resource, ids, AuditEntry.Action.DELETE)) == 2
    with tenant_context(tenant_b):
        assert Resource.objects.get(name="Beta Room").timezone == "America/New_York"  # B's untouched


def test_bookings_validate_commit_undo(tenant_a: Organization, tenant_b: Organization, actor: User) -> None:
    with tenant_context(tenant_a):
        room = services.resource_create(kind="room", name="Room 1", timezone="Europe/Berlin")
        services.resource_create(kind="desk", name="Desks", timezone="Europe/Berlin", capacity=2)
        office = services.resource_create(kind="room", name="Office", timezone="Europe/Berlin")
        services.availability_set(resource=office, weekly=weekdays("09:00", "17:00"), exceptions=[])
        existing = services.booking_create(
            actor=actor,
            resource_id=room.id,
            start=datetime(2031, 3, 3, 10, tzinfo=UTC),
            end=datetime(2031, 3, 3, 11, tzinfo=UTC),
        )
    with tenant_context(tenant_b):
        services.resource_create(kind="room", name="Beta Room", timezone="America/New_York")
    rows = source(
        BOOKING_COLUMNS,
        ("Room 1", f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", "", "First"),  # 2
        ("Room 1", f"{DAY}T10:30:00Z", f"{DAY}T11:30:00Z", "", ""),  # 3: the existing booking
        ("Room 1", f"{DAY}T10:30:00+01:00", f"{DAY}T11:00:00+01:00", "", ""),  # 4: row 2 (09:30Z)
        ("Desks", f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", "tentative", ""),  # 5
        ("Desks", f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", "", ""),  # 6: capacity 2 reached
        ("Desks", f"{DAY}T09:30:00Z", f"{DAY}T10:30:00Z", "", ""),  # 7: a third at 09:30
        ("Beta Room", f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", "", ""),  # 8: organization B's
        ("Room 1", f"{DAY}T12:00:00", f"{DAY}T13:00:00Z", "", ""),  # 9: no offset
        ("Room 1", f"{DAY}T14:00:00Z", f"{DAY}T13:00:00Z", "", ""),  # 10: end before start
        ("Office", "2031-03-02T10:00:00Z", "2031-03-02T11:00:00Z", "", ""),  # 11: a Sunday
        ("Room 1", f"{DAY}T15:00:00Z", f"{DAY}T16:00:00Z", "cancelled", ""),  # 12
        (str(office.id), f"{DAY}T10:00:00Z", f"{DAY}T11:00:00Z", "", "x" * 2001),  # 13: by id, long notes
        (str(office.id), f"{DAY}T10:00:00Z", f"{DAY}T11:00:00Z", "", ""),  # 14: by id
        ("", f"{DAY}T10:00:00Z", "", "", ""),  # 15
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        issues = list(BookingsImporter(context).validate(rows))
        assert found(issues) == [
            (3, "start", IssueCode.CONFLICT),
            (4, "start", IssueCode.CONFLICT),
            (7, "start", IssueCode.CONFLICT),
            (8, "resource", IssueCode.UNKNOWN_REFERENCE),
            (9, "start", IssueCode.INVALID),
            (10, "end", IssueCode.INVALID),
            (11, "start", IssueCode.INVALID),
            (12, "status", IssueCode.INVALID),
            (13, "notes", IssueCode.INVALID),
            (15, "resource", IssueCode.REQUIRED),
            (15, "end", IssueCode.REQUIRED),
        ]
        assert str(existing.id) in issues[0].message
        assert not Booking.objects.filter(source_import=context.import_id).exists()

        importer = BookingsImporter(context)
        assert list(importer.validate(rows)) == issues
        assert list(importer.commit(rows, skip=skip_of(issues))) == [4]  # rows written
        created = Booking.objects.filter(source_import=context.import_id).order_by("start", "resource__name")
        assert [(b.resource.name, b.start.hour, b.status, b.notes) for b in created] == [
            ("Desks", 9, "tentative", ""),
            ("Desks", 9, "confirmed", ""),
            ("Room 1", 9, "confirmed", "First"),
            ("Office", 10, "confirmed", ""),
        ]
        ids = [b.id for b in created]
        entries = audited(Booking, ids, AuditEntry.Action.CREATE)
        assert len(entries) == 4
        assert {entry.changes["source_import"][1] for entry in entries} == {str(context.import_id)}

        # The same file again: every row now conflicts with what it booked.
        again = list(BookingsImporter(context).validate(rows[:1]))
        assert found(again) == [(2, "start", IssueCode.CONFLICT)]

        assert BookingsImporter(context).undo() == 4
        assert not Booking.objects.filter(id__in=ids).exists()
        assert len(audited(Booking, ids, AuditEntry.Action.DELETE)) == 4
        assert Booking.objects.filter(id=existing.id).exists()
    with tenant_context(tenant_b):
        assert not Booking.objects.exists()


def test_bookings_conflicts_across_batches(
    tenant_a: Organization, actor: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of a later batch are checked against the valid rows of earlier ones (the file's state is
    kept across batches), and commit books each batch in one call per resource."""
    monkeypatch.setattr("apps.imports.importers.scheduling.BATCH_ROWS", 2)
    rows = source(
        BOOKING_COLUMNS,
        ("Room 1", f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", "", ""),  # 2
        ("Room 1", f"{DAY}T10:00:00Z", f"{DAY}T11:00:00Z", "", ""),  # 3
        ("Room 1", f"{DAY}T09:59:00Z", f"{DAY}T10:30:00Z", "", ""),  # 4: second batch, overlaps 3
        ("Room 1", f"{DAY}T11:00:00Z", f"{DAY}T12:00:00Z", "", ""),  # 5
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        services.resource_create(kind="room", name="Room 1", timezone="UTC")
        importer = BookingsImporter(context)
        issues = list(importer.validate(rows))
        assert found(issues) == [(4, "start", IssueCode.CONFLICT)]
        assert list(importer.commit(rows, skip=skip_of(issues))) == [2, 3]
        assert Booking.objects.filter(source_import=context.import_id).count() == 3


# --- Through the API and a real worker ------------------------------------------------------------


def test_scheduling_imports_through_the_api_and_a_worker(world: Organization, client_for: Any) -> None:
    admin = client_for(world, ["admin"], sub=str(E2E_USER))
    resources = api_import(
        admin, "resources", "name,kind,timezone,capacity\nRoom A,room,Europe/Berlin,\nDesks,desk,UTC,2\n"
    )
    assert (resources["status"], resources["rows_created"]) == ("committed", 2)

    csv = (
        "resource,start,end,status,notes\n"
        f"Room A,{DAY}T09:00:00+01:00,{DAY}T10:00:00+01:00,,Kick-off\n"
        f"Room A,{DAY}T09:30:00+01:00,{DAY}T10:30:00+01:00,,\n"
        f"Desks,{DAY}T09:00:00Z,{DAY}T10:00:00Z,tentative,\n"
    )
    bookings = api_import(admin, "bookings", csv, mode="valid_rows")
    assert (bookings["status"], bookings["rows_invalid"], bookings["rows_created"]) == ("committed", 1, 2)
    report = admin.get(f"{IMPORTS_URL}{bookings['id']}/issues").json()["items"]
    assert [(item["row"], item["column"], item["code"]) for item in report] == [(3, "start", "conflict")]
    listed = admin.get(f"/api/v1/scheduling/bookings?from={DAY}T00:00:00Z&to={DAY}T23:00:00Z")
    assert listed.status_code == 200, listed.content
    assert sorted(item["notes"] for item in listed.json()["items"]) == ["", "Kick-off"]

    refused = admin.post(f"{IMPORTS_URL}{resources['id']}/undo")
    assert (refused.status_code, refused.json()["code"]) == (409, "import_not_undoable"), refused.content
    for done in (bookings, resources):
        undone = admin.post(f"{IMPORTS_URL}{done['id']}/undo")
        assert (undone.status_code, undone.json()["status"]) == (200, "undone"), undone.content
    with tenant_context(world):
        assert not Booking.objects.exists()
        assert not Resource.objects.exists()


def test_bookings_linked_to_entities(tenant_a: Organization, tenant_b: Organization, actor: User) -> None:
    with tenant_context(tenant_a):
        services.resource_create(kind="room", name="Room 1", timezone="UTC")
        acme = entity_create(actor=actor, kind="customer", name="Acme", reference="ACME")
    with tenant_context(tenant_b):
        entity_create(actor=actor, kind="customer", name="Beta", reference="BETA")
    rows = source(
        (*BOOKING_COLUMNS, "entity"),
        ("Room 1", f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", "", "", "customer:ACME"),  # 2
        ("Room 1", f"{DAY}T10:00:00Z", f"{DAY}T11:00:00Z", "", "", "customer:BETA"),  # 3: B's
        ("Room 1", f"{DAY}T11:00:00Z", f"{DAY}T12:00:00Z", "", "", "ACME"),  # 4: no kind
    )
    context = ImportContext(actor=actor, import_id=uuid.uuid4())
    with tenant_context(tenant_a):
        importer = BookingsImporter(context)
        issues = list(importer.validate(rows))
        assert found(issues) == [(3, "entity", IssueCode.UNKNOWN_REFERENCE), (4, "entity", IssueCode.INVALID)]
        assert list(importer.commit(rows, skip=skip_of(issues))) == [1]
        assert Booking.objects.get(source_import=context.import_id).entity_id == acme.id
