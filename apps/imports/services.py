"""Writes of the imports module: upload, dry run, commit, cancel, undo.

An upload is hashed and checked (size, encoding, header) while it is copied into the file store, then
its dry run runs as a job (``tasks``). The job is not atomic: its progress and the report's issues are
committed a batch at a time, so a status read sees them move. A commit is one transaction (re-check,
then write through the importer, batch after batch, then the import's status): a crash leaves nothing
half-written and the import ``committing``, which the job's retry (or a new commit) takes up again; a
crash after it (the trail's seal follows) finds the import committed. That transaction cannot show
its own progress, so its progress is written by a thread of its own (its own connection, its own short
transactions: ``_ProgressWriter``); the commit touches the import's row only once that thread is done.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import queue
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.services import AuditBuffer, audit_buffering, audit_change, audit_flush
from apps.imports import readers
from apps.imports.base import ImportContext, Importer, IssueCode, KeptRow, RowIssue, SourceRow
from apps.imports.errors import (
    ImportErrorCode,
    ImportFileInvalid,
    ImportHasIssues,
    ImportNotFound,
    ImportStateConflict,
    ImportTooLarge,
    ImportTypeUnknown,
)
from apps.imports.importers import IMPORTERS
from apps.imports.models import Import, ImportIssue, ImportMode, ImportStatus
from apps.notifications.events import event_emit
from hub.errors import HubError, violated_constraint
from hub.files import file_delete, file_name, file_store
from tenants.models import User

logger = logging.getLogger(__name__)

SUFFIXES = {"csv": ".csv", "json": ".json", "ndjson": ".ndjson", "xlsx": ".xlsx"}
ISSUES_BATCH = 1000
HASH_CHUNK = 1 << 20


def importer_class(import_type: str) -> type[Importer]:
    importer = IMPORTERS.get(import_type)
    if importer is None:
        raise ImportTypeUnknown(f"Unknown import type; one of {', '.join(sorted(IMPORTERS))}.")
    return importer


def _upload_scan(upload: UploadedFile) -> tuple[str, str, int]:
    """The file's format, SHA-256 and size, read once: too large (413) or not UTF-8 text (422) is
    refused here, before anything is written."""
    digest, size, check = hashlib.sha256(), 0, readers.Utf8Check()
    head = b""
    for chunk in upload.chunks(HASH_CHUNK):
        if not head:
            head = chunk[:64]
        size += len(chunk)
        if size > settings.HUB_IMPORT_MAX_BYTES:
            raise ImportTooLarge(f"The file is larger than {settings.HUB_IMPORT_MAX_BYTES} bytes.")
        digest.update(chunk)
        if not head.startswith(b"PK"):
            check.feed(chunk)
    file_format = readers.file_format_sniff(head)
    if file_format != "xlsx":
        check.feed(b"", final=True)
    if size == 0:
        raise ImportFileInvalid("The file is empty.")
    return file_format, digest.hexdigest(), size


def _header_check(importer: type[Importer], upload: UploadedFile, file_format: str) -> None:
    """Required columns absent from a CSV or XLSX header: 422 naming them."""
    handle: IO[bytes] = upload.open("rb")
    header = readers.header_read(handle, file_format=file_format)
    if header is None:
        return
    missing = [column.name for column in importer.columns if column.required and column.name not in header]
    if missing:
        raise ImportFileInvalid(
            f"Required columns missing: {', '.join(missing)}.",
            code=ImportErrorCode.IMPORT_COLUMNS_MISSING,
            missing=missing,
        )


def _same_content(import_type: str, content_hash: str) -> Import | None:
    live = Import.objects.exclude(status__in=[ImportStatus.CANCELLED, ImportStatus.FAILED])
    return live.filter(type=import_type, content_hash=content_hash).first()


def import_upload(
    *, actor: User, actor_is_admin: bool, import_type: str, upload: UploadedFile | None, dry_run: bool
) -> tuple[Import, bool]:
    """Keep the file and queue its dry run (and, unless ``dry_run``, its all-or-nothing commit right
    after). Returns the import and whether it is new: the same content of the same type again is the
    first import, unless that one was cancelled or failed."""
    importer = importer_class(import_type)
    if upload is None:
        raise ImportFileInvalid(
            "Send the file as the multipart field 'file'.", code=ImportErrorCode.IMPORT_FILE_MISSING
        )
    file_format, content_hash, size = _upload_scan(upload)
    existing = _same_content(import_type, content_hash)
    if existing is not None:
        return existing, False
    if file_format == "xlsx":
        readers.xlsx_check(upload.open("rb"))
    _header_check(importer, upload, file_format)
    return _import_create(
        actor=actor,
        actor_is_admin=actor_is_admin,
        import_type=import_type,
        upload=upload,
        file_format=file_format,
        content_hash=content_hash,
        size=size,
        dry_run=dry_run,
    )


def _import_create(
    *,
    actor: User,
    actor_is_admin: bool,
    import_type: str,
    upload: UploadedFile,
    file_format: str,
    content_hash: str,
    size: int,
    dry_run: bool,
) -> tuple[Import, bool]:
    from apps.imports.tasks import import_validate_defer

    record = Import(
        id=uuid.uuid4(),
        type=import_type,
        format=file_format,
        content_hash=content_hash,
        size=size,
        created_by=actor,
        created_by_admin=actor_is_admin,
        mode=ImportMode.ALL,
    )
    organization_id = connection.tenant.organization_id  # type: ignore[attr-defined]
    name = file_name(
        organization_id=organization_id, area="imports", file_id=record.id, suffix=SUFFIXES[file_format]
    )
    upload.seek(0)
    record.file_name = file_store().save(name, upload)
    try:
        with transaction.atomic():
            record.save(force_insert=True)
            audit_change(action=AuditEntry.Action.CREATE, instance=record, actor=actor)
            import_validate_defer(import_id=record.id, commit=not dry_run)
    except IntegrityError as exc:  # the same file uploaded at the same moment: the first one wins
        file_delete(record.file_name)
        if violated_constraint(exc) != "imports_import_content_unique":
            raise
        existing = _same_content(import_type, content_hash)
        if existing is None:
            raise
        return existing, False
    return record, True


# --- the jobs -------------------------------------------------------------------------------------


class _Progress:
    """Counts the bytes the reader has taken from the file: the dry run's progress."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle, self.size = handle, max(size, 1)

    def percent(self) -> int:
        try:
            return min(99, self.handle.tell() * 100 // self.size)
        except (OSError, ValueError):
            return 0


def _cell_limit(rows: Iterable[readers.ReadItem]) -> Iterator[readers.ReadItem]:
    """Rows with a cell longer than ``HUB_IMPORT_MAX_CELL_CHARS`` become a ``too_long`` issue."""
    limit = settings.HUB_IMPORT_MAX_CELL_CHARS
    for item in rows:
        if isinstance(item, SourceRow):
            long = [
                name for name, value in item.values.items() if isinstance(value, str) and len(value) > limit
            ]
            if long:
                for name in long:
                    yield RowIssue(
                        item.number, name, IssueCode.TOO_LONG, f"The cell is longer than {limit} characters."
                    )
                continue
        yield item


class _Source:
    """The import's rows, read afresh from the file store each pass, split into the rows an importer
    sees and the issues the file causes by itself (unknown columns, broken rows, too-long cells)."""

    def __init__(self, record: Import, importer: type[Importer]) -> None:
        self.record = record
        self.known = {column.name for column in importer.columns}
        self.file_issues: list[RowIssue] = []
        self.rows_total = 0
        self.progress: _Progress | None = None

    @contextmanager
    def rows(self) -> Iterator[Iterator[SourceRow]]:
        self.file_issues, self.rows_total = [], 0
        with file_store().open(self.record.file_name, "rb") as handle:
            self.progress = _Progress(handle, self.record.size)
            yield self._rows(handle)

    def _rows(self, handle: IO[bytes]) -> Iterator[SourceRow]:
        unknown: set[str] = set()
        dropped: set[int] = set()  # rows the file itself broke: counted, never seen by the importer
        for item in _cell_limit(readers.rows_read(handle, file_format=self.record.format)):
            if isinstance(item, RowIssue):
                self.file_issues.append(item)
                if item.row not in dropped:
                    dropped.add(item.row)
                    self.rows_total += 1
                continue
            self.rows_total += 1
            for name in sorted(item.values.keys() - self.known - unknown):
                unknown.add(name)
                row = 1 if self.record.format in ("csv", "xlsx") else item.number
                self.file_issues.append(
                    RowIssue(row, name, IssueCode.UNKNOWN_COLUMN, "This import type has no such column.")
                )
            yield item


class _Kept:
    """The rows a dry run cleaned (``Importer.keeps_rows``), for its commit: one JSON line a row in the
    file store beside the upload (the same personal data, removed with it: ``_files_delete``).

    Written to a temporary file while the dry run runs and stored only once it has ended, so a kept
    file is always a whole dry run's; a dry run run again replaces it.
    """

    def __init__(self, record: Import) -> None:
        self.name = _kept_name(record)
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> _Kept:
        self.handle = tempfile.TemporaryFile()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def keep(self, number: int, cleaned: dict[str, Any]) -> None:
        assert self.handle is not None  # noqa: S101 - only inside ``with``
        self.handle.write(json.dumps([number, cleaned], separators=(",", ":")).encode() + b"\n")

    def store(self) -> None:
        assert self.handle is not None  # noqa: S101 - only inside ``with``
        self.handle.seek(0)
        file_delete(self.name)
        saved = file_store().save(self.name, File(self.handle))
        if saved != self.name:  # the store chose another name: never read, so never kept
            file_delete(saved)

    @staticmethod
    @contextmanager
    def rows(record: Import) -> Iterator[Iterator[KeptRow] | None]:
        """The kept rows, in file order; None when the dry run kept nothing."""
        name = _kept_name(record)
        if not file_store().exists(name):
            yield None
            return
        with file_store().open(name, "rb") as handle:
            yield ((number, cleaned) for number, cleaned in map(json.loads, handle))


def _kept_name(record: Import) -> str:
    organization_id = connection.tenant.organization_id  # type: ignore[attr-defined]
    return file_name(organization_id=organization_id, area="imports", file_id=record.id, suffix=".kept")


def _files_delete(record: Import) -> None:
    """Once the caller's transaction commits, remove the import's files: the upload and the rows its dry
    run kept (personal data both)."""
    for name in (record.file_name, _kept_name(record)):
        transaction.on_commit(lambda name=name: file_delete(name))  # type: ignore[misc]


def _importer(record: Import) -> Importer:
    actor = record.created_by
    if actor is None:  # users are never removed (PROTECT); an import always has its author
        raise ImportStateConflict("The import has no author.")
    context = ImportContext(actor=actor, import_id=record.id, actor_is_admin=record.created_by_admin)
    return importer_class(record.type)(context)


def _issues_write(record: Import, issues: list[RowIssue]) -> None:
    ImportIssue.objects.bulk_create(
        [
            ImportIssue(
                import_record=record, row=i.row, column=i.column[:100], code=i.code, message=i.message[:500]
            )
            for i in issues
        ]
    )


IssueWriter = Callable[[list[RowIssue], "_Source"], None]


def _check(record: Import, importer: Importer, write: IssueWriter) -> tuple[set[int], int]:
    """One validation pass: the issues handed to ``write`` a batch at a time; returns the numbers of
    the rows with an issue and the count of rows."""
    source = _Source(record, type(importer))
    invalid: set[int] = set()
    pending: list[RowIssue] = []
    with source.rows() as rows:
        for issue in importer.validate(rows):
            pending.append(issue)
            if len(pending) >= ISSUES_BATCH:
                invalid.update(issue.row for issue in pending)
                write(pending, source)
                pending = []
        pending.extend(source.file_issues)
        invalid.update(issue.row for issue in pending)
        write(pending, source)
    return invalid, source.rows_total


class _Cancelled(Exception):
    """The import was cancelled while its dry run ran."""


def _validate_writer(record: Import) -> IssueWriter:
    """The dry run's issues and progress, committed a batch at a time (the job is not atomic)."""

    def write(issues: list[RowIssue], source: _Source) -> None:
        with transaction.atomic():
            _issues_write(record, issues)
            percent = source.progress.percent() if source.progress else 0
            running = Import.objects.filter(id=record.id, status=ImportStatus.VALIDATING)
            if not running.update(progress=percent):
                raise _Cancelled()

    return write


def import_validate_run(*, import_id: uuid.UUID, commit: bool) -> None:
    """The dry run (the job): every row checked, the report written, status ``validated`` (or
    ``failed`` when the file itself cannot be read); then, when asked, the all-or-nothing commit."""
    record = Import.objects.filter(id=import_id, status=ImportStatus.VALIDATING).first()
    if record is None:
        return  # cancelled meanwhile, or done by an earlier attempt
    with transaction.atomic():
        ImportIssue.objects.filter(import_record=record).delete()  # an earlier attempt's
        Import.objects.filter(id=record.id).update(started_at=timezone.now(), progress=0)
    importer = _importer(record)
    try:
        # Only an importer that keeps rows gets a temporary file for them.
        with _Kept(record) if importer.keeps_rows else nullcontext() as kept:
            importer.keeper = kept
            invalid, total = _check(record, importer, _validate_writer(record))
            if kept is not None:
                kept.store()
    except _Cancelled:
        return
    except HubError as exc:
        _finish(record, status=ImportStatus.FAILED, error=exc)
        return
    changed = {"rows_total": total, "rows_invalid": len(invalid), "rows_valid": max(total - len(invalid), 0)}
    with transaction.atomic():
        done = Import.objects.filter(id=record.id, status=ImportStatus.VALIDATING).update(
            status=ImportStatus.VALIDATED, progress=100, **changed
        )
    if done and commit:
        if invalid:
            with transaction.atomic():
                Import.objects.filter(id=record.id).update(
                    error_code=ImportErrorCode.IMPORT_HAS_ISSUES, error_detail=ImportHasIssues.default_detail
                )
            return
        Import.objects.filter(id=record.id).update(status=ImportStatus.COMMITTING, mode=ImportMode.ALL)
        import_commit_run(import_id=record.id)


def _finish(record: Import, *, status: str, error: HubError | None = None, **changed: Any) -> None:
    """The import's end (committed or failed): its status, the ``import.finished`` event, and its file
    removed once that commits (the file holds personal data, and nothing reads it again: an undo works
    from ``source_import``, a failed import is uploaded again)."""
    with transaction.atomic():
        _files_delete(record)
        Import.objects.filter(id=record.id).update(
            status=status,
            finished_at=timezone.now(),
            error_code=str(error.instance_code) if error else "",
            error_detail=error.detail[:500] if error else "",
            **changed,
        )
        event_emit(
            event_type="import.finished",
            payload={
                "import_id": record.id,
                "status": status,
                "rows": changed.get("rows_created", 0),
                "failed": changed.get("rows_invalid", record.rows_invalid),
            },
            subject_id=str(record.id),
            actor_id=record.created_by_id,
        )


class _ProgressWriter:
    """Writes a commit's progress from a thread of its own: its own connection, one short transaction
    an update, so it is seen while the commit's transaction is still open."""

    def __init__(self, import_id: uuid.UUID) -> None:
        self.import_id = import_id
        self.tenant = connection.tenant  # type: ignore[attr-defined]
        self.updates: queue.Queue[int | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with tenant_context(self.tenant):
                while (percent := self.updates.get()) is not None:
                    with transaction.atomic():
                        Import.objects.filter(id=self.import_id).update(progress=percent)
        except Exception:  # progress is a courtesy: never the commit's failure
            logger.exception("import %s: progress not written", self.import_id)
        finally:
            connection.close()

    def __enter__(self) -> _ProgressWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.updates.put(None)
        self.thread.join()


def import_commit_run(*, import_id: uuid.UUID) -> None:
    """The commit (the job): in one transaction, check every row again, then write the rows (all, or
    those without an issue in ``valid_rows`` mode) through the importer, audited and with their events,
    a batch at a time, and the import's end (``committed``). The rows and that status commit together:
    a job that dies before has written nothing and is run again, one that dies after (while sealing the
    trail, which follows the commit) finds the import committed and writes nothing twice."""
    record = Import.objects.filter(id=import_id, status=ImportStatus.COMMITTING).first()
    if record is None:
        return
    Import.objects.filter(id=record.id).update(started_at=timezone.now(), progress=0)
    try:
        with transaction.atomic():
            # The progress thread is done before the import's row is written here (it writes that row).
            with _ProgressWriter(record.id) as progress:
                created, invalid, total = _commit(record, progress)
            _finish(
                record,
                status=ImportStatus.COMMITTED,
                rows_created=created,
                rows_total=total,
                rows_invalid=len(invalid),
                rows_valid=total - len(invalid),
                progress=100,
            )
    except _NewIssues as exc:
        with transaction.atomic():
            ImportIssue.objects.filter(import_record=record).delete()
            _issues_write(record, exc.issues)
            Import.objects.filter(id=record.id).update(
                status=ImportStatus.VALIDATED,
                progress=100,
                rows_invalid=len(exc.invalid),
                error_code=exc.instance_code,
                error_detail=exc.detail,
            )
        return
    except HubError as exc:
        _finish(record, status=ImportStatus.FAILED, error=exc)


class _NewIssues(ImportHasIssues):
    """The commit's check found issues (the organization changed since the dry run): the new report."""

    def __init__(self, issues: list[RowIssue], invalid: set[int]) -> None:
        super().__init__("The import has issues now (the organization changed since its dry run): see them.")
        self.issues, self.invalid = issues, invalid


def _commit(record: Import, progress: _ProgressWriter) -> tuple[int, set[int], int]:
    buffer = AuditBuffer(request_id=f"import:{record.id}", actor=record.created_by)
    with transaction.atomic(), audit_buffering(buffer):
        importer = _importer(record)
        if importer.checks_on_commit:
            return _commit_checked(record, importer, buffer, progress)
        issues: list[RowIssue] = []
        invalid, total = _check(record, importer, lambda batch, source: issues.extend(batch))
        if invalid and record.mode == ImportMode.ALL:
            raise _NewIssues(issues, invalid)
        ImportIssue.objects.filter(import_record=record).delete()
        _issues_write(record, issues)
        created = 0
        source = _Source(record, type(importer))
        with source.rows() as rows:
            for handled in importer.commit(rows, skip=invalid):
                audit_flush(entries=buffer.entries)
                buffer.entries.clear()
                created = handled
                progress.updates.put(min(99, handled * 100 // max(total - len(invalid), 1)))
        audit_flush(entries=buffer.entries)
        buffer.entries.clear()
        return created, invalid, total


def _commit_checked(
    record: Import, importer: Importer, buffer: AuditBuffer, progress: _ProgressWriter
) -> tuple[int, set[int], int]:
    """One pass for an importer that checks while it commits: the rows of the dry run's report are
    skipped (``valid_rows``; an all-or-nothing commit has none), what the commit finds besides is added
    to the report, and refuses an all-or-nothing commit."""
    reported = ImportIssue.objects.filter(import_record=record)
    skip = set(reported.values_list("row", flat=True))
    source = _Source(record, type(importer))
    handled = 0
    with ExitStack() as stack:
        kept = stack.enter_context(_Kept.rows(record)) if importer.keeps_rows else None
        if kept is not None:  # the file's own issues (unknown columns...) are the dry run's report's
            handling = importer.commit_kept(kept, skip=skip)
        else:
            handling = importer.commit(stack.enter_context(source.rows()), skip=skip)
        for handled in handling:
            audit_flush(entries=buffer.entries)
            buffer.entries.clear()
            progress.updates.put(min(99, handled * 100 // max(record.rows_valid, 1)))
    audit_flush(entries=buffer.entries)
    buffer.entries.clear()
    found = [issue for issue in [*source.file_issues, *importer.commit_issues] if issue.row not in skip]
    invalid = skip | {issue.row for issue in found}
    if found and record.mode == ImportMode.ALL:
        raise _NewIssues(found, invalid)
    _issues_write(record, found)
    created = handled - len({issue.row for issue in importer.commit_issues} - skip)
    return created, invalid, source.rows_total if kept is None else record.rows_total


# --- the requests ---------------------------------------------------------------------------------


def _locked(import_id: uuid.UUID) -> Import:
    record = Import.objects.select_for_update().filter(id=import_id).first()
    if record is None:
        raise ImportNotFound()
    return record


@transaction.atomic
def import_commit(*, actor: User, import_id: uuid.UUID, mode: str) -> Import:
    """Queue the commit of a validated import. ``all``: refused (409 ``import_has_issues``) while its
    report has an issue; ``valid_rows``: the rows without one are written."""
    from apps.imports.tasks import import_commit_defer

    record = _locked(import_id)
    if record.status != ImportStatus.VALIDATED:
        raise ImportStateConflict(f"Only a validated import can be committed; this one is {record.status}.")
    if mode == ImportMode.ALL and record.rows_invalid:
        raise ImportHasIssues()
    record.status, record.mode, record.progress = ImportStatus.COMMITTING, mode, 0
    record.error_code = record.error_detail = ""
    record.save(update_fields=["status", "mode", "progress", "error_code", "error_detail"])
    audit_change(action=AuditEntry.Action.UPDATE, instance=record, actor=actor, fields=["status", "mode"])
    import_commit_defer(import_id=record.id)
    return record


@transaction.atomic
def import_cancel(*, actor: User, import_id: uuid.UUID) -> Import:
    """Cancel an import before its commit: nothing is written, its file is removed."""
    record = _locked(import_id)
    if record.status not in (ImportStatus.VALIDATING, ImportStatus.VALIDATED):
        raise ImportStateConflict(
            f"Only an import not committed can be cancelled; this one is {record.status}."
        )
    record.status, record.finished_at = ImportStatus.CANCELLED, timezone.now()
    record.save(update_fields=["status", "finished_at"])
    audit_change(action=AuditEntry.Action.UPDATE, instance=record, actor=actor, fields=["status"])
    _files_delete(record)
    return record


@transaction.atomic
def import_undo(*, actor: User, import_id: uuid.UUID) -> Import:
    """Remove what a committed import created (audited), or 409 ``import_not_undoable`` when something
    else refers to it."""
    record = _locked(import_id)
    if record.status != ImportStatus.COMMITTED:
        raise ImportStateConflict(f"Only a committed import can be undone; this one is {record.status}.")
    context = ImportContext(actor=actor, import_id=record.id, actor_is_admin=True)
    importer_class(record.type)(context).undo()
    record.status = ImportStatus.UNDONE
    record.save(update_fields=["status"])
    audit_change(action=AuditEntry.Action.UPDATE, instance=record, actor=actor, fields=["status"])
    return record


def imports_expire(*, now: datetime.datetime | None = None) -> int:
    """Cancel the imports left uncommitted (validated, or a dry run that never ended) longer than
    ``HUB_IMPORT_TTL_HOURS`` and remove their files; how many. Each import is its own short
    transaction (the job is resumable)."""
    cutoff = (now or timezone.now()) - datetime.timedelta(hours=settings.HUB_IMPORT_TTL_HOURS)
    stale = Import.objects.filter(
        status__in=[ImportStatus.VALIDATING, ImportStatus.VALIDATED], created_at__lt=cutoff
    ).values_list("id", flat=True)
    expired = 0
    for import_id in list(stale):
        with transaction.atomic():
            record = Import.objects.select_for_update().filter(id=import_id).first()
            if record is None or record.status not in (ImportStatus.VALIDATING, ImportStatus.VALIDATED):
                continue
            record.status, record.finished_at = ImportStatus.CANCELLED, timezone.now()
            record.error_code, record.error_detail = "import_expired", "Not committed in time: cancelled."
            record.save(update_fields=["status", "finished_at", "error_code", "error_detail"])
            audit_change(action=AuditEntry.Action.UPDATE, instance=record, actor=None, fields=["status"])
            _files_delete(record)
        expired += 1
    return expired
