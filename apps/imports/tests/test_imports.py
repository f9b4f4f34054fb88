"""Bulk imports of entities: formats, the dry run's report, commits, idempotency, cancel, undo, isolation
and bad input. The jobs' work (``services.import_validate_run`` / ``import_commit_run``) runs here in the
test's transaction; ``test_import_worker`` runs them through a real worker."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.services import entity_create, entity_kind_create
from apps.imports import services
from apps.imports.models import Import, ImportIssue, ImportStatus
from apps.notifications.models import Event
from hub.files import file_store
from tenants.models import Organization, User
from tests.helpers import assert_error

URL = "/api/v1/imports/"
HEADER = "kind,name,reference,email,phone,status,tags,attributes,relation_kind,relation_target"


@pytest.fixture
def admin_actor(db: None) -> User:
    return User.objects.create(id=uuid.uuid4(), email="imports-admin@example.com")


def csv_bytes(*rows: str, header: str = HEADER, bom: bool = False) -> bytes:
    text = "\r\n".join([header, *rows]) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def upload(client: Client, content: bytes, *, name: str = "f.csv", dry_run: bool = True, **extra: Any) -> Any:
    return client.post(
        f"{URL}?type=entities&dry_run={str(dry_run).lower()}",
        {"file": SimpleUploadedFile(name, content)},
        **extra,
    )


def run(tenant: Organization, import_id: str | uuid.UUID) -> Import:
    """The queued job's work, as the worker would do it (in the test's transaction)."""
    with tenant_context(tenant):
        record = Import.objects.get(id=import_id)
        if record.status == ImportStatus.VALIDATING:
            services.import_validate_run(import_id=record.id, commit=False)
        elif record.status == ImportStatus.COMMITTING:
            services.import_commit_run(import_id=record.id)
        return Import.objects.get(id=import_id)


def issues(client: Client, import_id: str) -> list[tuple[int, str, str]]:
    response = client.get(f"{URL}{import_id}/issues?limit=500")
    assert response.status_code == 200, response.content
    return [(item["row"], item["column"], item["code"]) for item in response.json()["items"]]


def dry(client: Client, tenant: Organization, content: bytes, **kwargs: Any) -> Import:
    response = upload(client, content, **kwargs)
    assert response.status_code == 202, response.content
    return run(tenant, response.json()["id"])


def refs(tenant: Organization, source_import: uuid.UUID | None = None) -> set[str]:
    with tenant_context(tenant):
        live = Entity.objects.filter(deleted_at__isnull=True, reference__startswith="IMP-")
        if source_import:
            live = live.filter(source_import=source_import)
        return {str(reference) for reference in live.values_list("reference", flat=True)}


GOOD = (
    'customer,Acme Ltd,IMP-1,billing@acme.example,+41 44 668 18 00,active,"vip,eu","{""a"": 1}",,',
    "supplier,Globex,IMP-2,,,inactive,,,supplies,customer:IMP-1",
    "customer,Initech,IMP-3,,,,,,partner,customer:IMP-4",  # a target later in the file
    "customer,Hooli,IMP-4,,,,,,,",
)


def test_csv_dry_run_then_commit_creates_audits_and_emits(
    member_client: Client, tenant_a: Organization
) -> None:
    record = dry(member_client, tenant_a, csv_bytes(*GOOD))
    assert (record.status, record.rows_total, record.rows_valid, record.rows_invalid) == (
        "validated",
        4,
        4,
        0,
    )
    assert record.format == "csv"
    assert record.progress == 100
    assert refs(tenant_a) == set()  # a dry run writes nothing
    response = member_client.post(f"{URL}{record.id}/commit")
    assert response.status_code == 202
    assert response.json()["status"] == "committing"
    record = run(tenant_a, record.id)
    assert (record.status, record.rows_created) == ("committed", 4)
    assert refs(tenant_a, record.id) == {"IMP-1", "IMP-2", "IMP-3", "IMP-4"}
    with tenant_context(tenant_a):
        acme = Entity.objects.get(reference="IMP-1")
        assert (acme.email, acme.phone, acme.tags, acme.attributes) == (
            "billing@acme.example",
            "+41446681800",
            ["vip", "eu"],
            {"a": 1},
        )
        ids = [str(pk) for pk in Entity.objects.filter(source_import=record.id).values_list("id", flat=True)]
        created = AuditEntry.objects.filter(object_type="entities.entity", object_pk__in=ids, action=0)
        assert created.count() == 4
        assert "billing@acme.example" not in json.dumps(list(created.values_list("changes", flat=True)))
        relations = EntityRelation.objects.filter(source__source_import=record.id)
        assert {(r.source.reference, r.kind, r.target.reference) for r in relations} == {
            ("IMP-2", "supplies", "IMP-1"),
            ("IMP-3", "partner", "IMP-4"),
        }
        assert Event.objects.filter(event_type="entity.created", subject_id__in=ids).count() == 4
        assert Event.objects.filter(event_type="import.finished", subject_id=str(record.id)).exists()
    listed = member_client.get(f"/api/v1/entities/?source_import={record.id}")
    assert listed.status_code == 200
    assert listed.json()["count"] == 4


def test_semicolon_and_bom(member_client: Client, tenant_a: Organization) -> None:
    content = csv_bytes("customer;Acme;IMP-9", header="kind;name;reference", bom=True)
    record = dry(member_client, tenant_a, content)
    assert (record.status, record.rows_valid, record.rows_invalid) == ("validated", 1, 0)


def test_json_array_ndjson_and_xlsx(member_client: Client, tenant_a: Organization) -> None:
    records = [
        {"kind": "customer", "name": "A", "reference": "IMP-J1", "tags": ["x"], "attributes": {"k": 1}}
    ]
    record = dry(member_client, tenant_a, json.dumps(records).encode())
    assert (record.format, record.rows_valid, record.rows_invalid) == ("json", 1, 0)
    ndjson = b'{"kind": "customer", "name": "B"}\n\n{"kind": "nope", "name": "C"}\n'
    record = dry(member_client, tenant_a, ndjson)
    assert (record.format, record.rows_total, record.rows_invalid) == ("ndjson", 2, 1)
    assert issues(member_client, str(record.id)) == [(3, "kind", "invalid")]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["kind", "name", "reference"])
    sheet.append(["customer", "X", "IMP-X1"])
    sheet.append(["customer", "=1+1", "IMP-X2"])  # a formula: refused, never evaluated
    buffer = io.BytesIO()
    workbook.save(buffer)
    record = dry(member_client, tenant_a, buffer.getvalue(), name="f.xlsx")
    assert (record.format, record.rows_total, record.rows_invalid) == ("xlsx", 2, 1)
    assert issues(member_client, str(record.id)) == [(3, "name", "invalid")]


def test_report_names_row_column_code(
    member_client: Client, tenant_a: Organization, admin_actor: User
) -> None:
    with tenant_context(tenant_a):
        entity_create(actor=admin_actor, kind="customer", name="Taken", reference="IMP-T")
    content = csv_bytes(
        "customer,Ok,IMP-A",
        ",No kind,IMP-B",
        "customer,Bad mail,IMP-C,not-an-address",
        "customer,Dup,IMP-A",
        "customer,Taken,IMP-T",
        "customer,Rel,IMP-D,,,,,,knows,customer:IMP-NOWHERE",
        "customer,Tags,IMP-E,,,,BAD TAG!,{oops",
    )
    record = dry(member_client, tenant_a, content)
    assert (record.rows_total, record.rows_valid, record.rows_invalid) == (7, 1, 6)
    assert issues(member_client, str(record.id)) == [
        (3, "kind", "required"),
        (4, "email", "invalid"),
        (5, "reference", "duplicate_in_file"),
        (6, "reference", "conflict"),
        (7, "relation_target", "unknown_reference"),
        (8, "attributes", "invalid"),
        (8, "tags", "invalid"),
    ]
    # all-or-nothing: refused with the report; valid_rows: the one good row
    assert_error(member_client.post(f"{URL}{record.id}/commit"), 409, "import_has_issues")
    assert member_client.post(f"{URL}{record.id}/commit?mode=valid_rows").status_code == 202
    record = run(tenant_a, record.id)
    assert (record.status, record.rows_created) == ("committed", 1)
    assert refs(tenant_a, record.id) == {"IMP-A"}


def test_same_file_again_is_the_first_import(member_client: Client, tenant_a: Organization) -> None:
    content = csv_bytes("customer,Once,IMP-O")
    first = upload(member_client, content)
    assert first.status_code == 202
    again = upload(member_client, content)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert member_client.post(f"{URL}{first.json()['id']}/cancel").json()["status"] == "cancelled"
    third = upload(member_client, content)  # cancelled: the same file may come again
    assert third.status_code == 202
    assert third.json()["id"] != first.json()["id"]


def test_dry_run_false_commits_at_once(member_client: Client, tenant_a: Organization) -> None:
    response = upload(member_client, csv_bytes("customer,Quick,IMP-Q"), dry_run=False)
    with tenant_context(tenant_a):
        services.import_validate_run(import_id=uuid.UUID(response.json()["id"]), commit=True)
        record = Import.objects.get(id=response.json()["id"])
    assert (record.status, record.rows_created) == ("committed", 1)
    assert refs(tenant_a) == {"IMP-Q"}


def test_cancel_then_commit_refused(member_client: Client, tenant_a: Organization) -> None:
    record = dry(member_client, tenant_a, csv_bytes("customer,C,IMP-CC"))
    assert member_client.post(f"{URL}{record.id}/cancel").status_code == 200
    assert_error(member_client.post(f"{URL}{record.id}/commit"), 409, "import_state")
    assert refs(tenant_a) == set()


def _committed(client: Client, tenant: Organization, *rows: str) -> Import:
    record = dry(client, tenant, csv_bytes(*rows))
    assert client.post(f"{URL}{record.id}/commit").status_code == 202
    record = run(tenant, record.id)
    assert record.status == "committed", record.error_detail
    return record


def test_undo_removes_and_audits(member_client: Client, admin_client: Client, tenant_a: Organization) -> None:
    record = _committed(member_client, tenant_a, *GOOD)
    assert_error(member_client.post(f"{URL}{record.id}/undo"), 403)
    response = admin_client.post(f"{URL}{record.id}/undo")
    assert response.status_code == 200
    assert response.json()["status"] == "undone"
    assert refs(tenant_a) == set()
    with tenant_context(tenant_a):
        assert not EntityRelation.objects.filter(source__source_import=record.id).exists()
        deleted = AuditEntry.objects.filter(object_type="entities.entity", action=2)
        assert deleted.count() >= 4


def test_undo_refused_while_something_refers(
    member_client: Client, admin_client: Client, tenant_a: Organization, admin_actor: User
) -> None:
    record = _committed(member_client, tenant_a, "customer,Target,IMP-R")
    with tenant_context(tenant_a):
        other = entity_create(actor=admin_actor, kind="customer", name="Other")
        EntityRelation.objects.create(
            source=other, target=Entity.objects.get(reference="IMP-R"), kind="knows"
        )
    assert_error(admin_client.post(f"{URL}{record.id}/undo"), 409, "import_not_undoable")
    assert refs(tenant_a) == {"IMP-R"}


def test_templates(member_client: Client) -> None:
    listed = member_client.get(f"{URL}templates").json()["templates"]
    entities = next(t for t in listed if t["type"] == "entities")
    assert [c["name"] for c in entities["columns"]][:2] == ["kind", "name"]
    response = member_client.get(f"{URL}templates/entities?format=csv")
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 2
    response = member_client.get(f"{URL}templates/entities?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADER.split(",")
    assert sheet.max_row == 2
    assert_error(member_client.get(f"{URL}templates/nope"), 422, "import_type_unknown")


def test_roles(viewer_client: Client, member_client: Client, tenant_a: Organization) -> None:
    assert_error(upload(viewer_client, csv_bytes("customer,V,IMP-V")), 403)
    record = dry(member_client, tenant_a, csv_bytes("customer,V,IMP-V"))
    assert viewer_client.get(f"{URL}{record.id}").status_code == 200
    assert_error(viewer_client.post(f"{URL}{record.id}/commit"), 403)


def test_another_organization_sees_nothing(
    member_client: Client,
    b_member_client: Client,
    tenant_a: Organization,
    tenant_b: Organization,
    client_for: Callable[..., Client],
) -> None:
    record = dry(member_client, tenant_a, csv_bytes("customer,Mine,IMP-M"))
    for method, path in (
        ("get", f"{URL}{record.id}"),
        ("get", f"{URL}{record.id}/issues"),
        ("post", f"{URL}{record.id}/commit"),
        ("post", f"{URL}{record.id}/cancel"),
    ):
        assert_error(getattr(b_member_client, method)(path), 404, "import_not_found")
    assert_error(client_for(tenant_b, ["admin"]).post(f"{URL}{record.id}/undo"), 404, "import_not_found")
    assert record.id not in [item["id"] for item in b_member_client.get(URL).json()["items"]]
    # B's references are unknown in A, and B may import the very same file for itself
    b_record = dry(b_member_client, tenant_b, csv_bytes("customer,Mine,IMP-M"))
    assert b_record.id != record.id
    content = csv_bytes("customer,Link,IMP-L,,,,,,knows,customer:IMP-BONLY")
    b_record = dry(b_member_client, tenant_b, csv_bytes("customer,B only,IMP-BONLY"))
    assert b_member_client.post(f"{URL}{b_record.id}/commit").status_code == 202
    run(tenant_b, b_record.id)
    record = dry(member_client, tenant_a, content)
    assert issues(member_client, str(record.id)) == [(2, "relation_target", "unknown_reference")]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("kind,name\r\ncustomer,Caf\xe9\r\n".encode("latin-1"), "import_encoding_invalid"),
        (b"kind,name;reference\r\ncustomer,A;B\r\n", "import_delimiter_mixed"),
        (b"kind,reference\r\ncustomer,R\r\n", "import_columns_missing"),
        (b"", "import_file_invalid"),
    ],
)
def test_bad_files_are_refused_and_nothing_kept(
    member_client: Client, tenant_a: Organization, content: bytes, code: str
) -> None:
    body = assert_error(upload(member_client, content), 422, code)
    if code == "import_columns_missing":
        assert body["missing"] == ["name"]
    with tenant_context(tenant_a):
        assert not Import.objects.exists()


def test_too_large_by_content_length_is_refused_unread(
    member_client: Client, tenant_a: Organization, settings: Any
) -> None:
    response = upload(member_client, csv_bytes("customer,Big"), CONTENT_LENGTH=str(2 * 1024**3))
    assert_error(response, 413, "import_too_large")
    settings.HUB_IMPORT_MAX_BYTES = 100
    many = csv_bytes(*[f"customer,Row {n}" for n in range(50)])
    assert_error(upload(member_client, many), 413, "import_too_large")
    with tenant_context(tenant_a):
        assert not Import.objects.exists()


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/sharedStrings.xml", "<sst>" + "a" * (80 * 1024 * 1024) + "</sst>")
    return buffer.getvalue()


def test_xlsx_bomb_is_refused_before_parsing(member_client: Client, tenant_a: Organization) -> None:
    assert_error(upload(member_client, _bomb(), name="b.xlsx"), 422, "import_xlsx_refused")
    with tenant_context(tenant_a):
        assert not Import.objects.exists()


def test_too_many_rows_and_long_cells(member_client: Client, tenant_a: Organization, settings: Any) -> None:
    settings.HUB_IMPORT_MAX_CELL_CHARS = 10
    record = dry(
        member_client, tenant_a, csv_bytes("customer,A very long name,IMP-LC", "customer,Short,IMP-S")
    )
    assert issues(member_client, str(record.id)) == [(2, "name", "too_long")]
    settings.HUB_IMPORT_MAX_ROWS = 1
    record = dry(member_client, tenant_a, csv_bytes("customer,One,IMP-1R", "customer,Two,IMP-2R"))
    assert (record.status, record.error_code) == ("failed", "import_too_many_rows")


def test_unknown_columns_and_broken_rows_are_reported(member_client: Client, tenant_a: Organization) -> None:
    content = b"kind,name,colour\r\ncustomer,A,red\r\ncustomer,B,x,extra\r\n"
    record = dry(member_client, tenant_a, content)
    assert issues(member_client, str(record.id)) == [(1, "colour", "unknown_column"), (3, "", "invalid")]


def test_reads_are_audited(member_client: Client, tenant_a: Organization) -> None:
    record = dry(member_client, tenant_a, csv_bytes("customer,Read,IMP-RD"))
    member_client.get(f"{URL}{record.id}")
    with tenant_context(tenant_a):
        assert AuditEntry.objects.filter(
            object_type="imports.import", object_pk=str(record.id), action=3
        ).exists()
        assert ImportIssue.objects.count() == 0


def test_commit_checks_again_and_writes_nothing_when_the_organization_changed(
    member_client: Client, tenant_a: Organization, admin_actor: User
) -> None:
    record = dry(member_client, tenant_a, csv_bytes("customer,First,IMP-F1", "customer,Second,IMP-F2"))
    assert record.rows_invalid == 0
    with tenant_context(tenant_a):  # taken after the dry run
        entity_create(actor=admin_actor, kind="customer", name="Meanwhile", reference="IMP-F2")
    assert member_client.post(f"{URL}{record.id}/commit").status_code == 202
    record = run(tenant_a, record.id)
    assert (record.status, record.error_code, record.rows_created) == ("validated", "import_has_issues", 0)
    assert issues(member_client, str(record.id)) == [(3, "reference", "conflict")]
    assert refs(tenant_a) == {"IMP-F2"}  # nothing of the file written
    assert member_client.post(f"{URL}{record.id}/commit?mode=valid_rows").status_code == 202
    record = run(tenant_a, record.id)
    assert (record.status, record.rows_created) == ("committed", 1)
    assert refs(tenant_a, record.id) == {"IMP-F1"}


def _kept_exists(tenant: Organization, record: Import) -> bool:
    with tenant_context(tenant):
        return file_store().exists(services._kept_name(record))


def test_the_commit_writes_what_the_dry_run_cleaned_and_removes_it(
    member_client: Client, tenant_a: Organization, django_capture_on_commit_callbacks: Any
) -> None:
    record = dry(
        member_client, tenant_a, csv_bytes("customer,First,IMP-K1,Billing@Acme.example,+41 44 668 18 00")
    )
    assert _kept_exists(tenant_a, record)
    with tenant_context(tenant_a):  # the upload changed under the import: the commit never reads it
        file_store().delete(record.file_name)
        file_store().save(record.file_name, io.BytesIO(csv_bytes("customer,Changed,IMP-K9")))
    assert member_client.post(f"{URL}{record.id}/commit").status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        record = run(tenant_a, record.id)
    assert (record.status, record.rows_created) == ("committed", 1)
    with tenant_context(tenant_a):
        entity = Entity.objects.get(source_import=record.id)
        assert (entity.name, entity.reference, entity.email, entity.phone) == (
            "First",
            "IMP-K1",
            "Billing@acme.example",
            "+41446681800",
        )
        assert not file_store().exists(record.file_name)
    assert not _kept_exists(tenant_a, record)  # personal data: gone with the upload


def test_a_dry_run_that_kept_nothing_is_committed_from_the_file(
    member_client: Client, tenant_a: Organization
) -> None:
    record = dry(member_client, tenant_a, csv_bytes(*GOOD))
    with tenant_context(tenant_a):  # as a dry run from before rows were kept
        file_store().delete(services._kept_name(record))
    assert member_client.post(f"{URL}{record.id}/commit").status_code == 202
    record = run(tenant_a, record.id)
    assert (record.status, record.rows_created, record.rows_total) == ("committed", 4, 4)
    assert refs(tenant_a, record.id) == {"IMP-1", "IMP-2", "IMP-3", "IMP-4"}
    with tenant_context(tenant_a):
        assert Entity.objects.get(reference="IMP-1").phone == "+41446681800"


def test_kept_rows_are_checked_again_against_the_organization(
    member_client: Client, tenant_a: Organization, admin_actor: User
) -> None:
    with tenant_context(tenant_a):
        entity_kind_create(key="gadget", label="Gadget")
    record = dry(
        member_client,
        tenant_a,
        csv_bytes(
            "gadget,Widget,IMP-G1",
            "customer,Kept,IMP-G2",
            "customer,Target,IMP-G3,,,,,,knows,customer:IMP-G4",
        ),
    )
    assert (record.rows_invalid, _kept_exists(tenant_a, record)) == (1, True)  # IMP-G4: unknown target
    with tenant_context(tenant_a):  # since the dry run: the kind removed, a reference taken
        EntityKind.objects.filter(key="gadget").delete()
        entity_create(actor=admin_actor, kind="customer", name="Meanwhile", reference="IMP-G2")
    assert member_client.post(f"{URL}{record.id}/commit?mode=valid_rows").status_code == 202
    record = run(tenant_a, record.id)
    assert (record.status, record.rows_created) == ("committed", 0)
    assert set(issues(member_client, str(record.id))) == {
        (2, "kind", "invalid"),
        (3, "reference", "conflict"),
        (4, "relation_target", "unknown_reference"),
    }
    assert refs(tenant_a, record.id) == set()
