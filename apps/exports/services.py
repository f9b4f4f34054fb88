"""Writes of the exports module: an export requested (any role that may read the list), written by
its job, downloaded, deleted, and expired. Every write is atomic and audited (ids and codes only).

The job reads the list with the requester's sight fixed at request time (``Export.viewer_is_admin``
and the requester's id), through the list's own selector, a page of ``MAX_LIMIT`` rows at a time on
the list's own keyset (``api.pagination.paginate``, each page its own short transaction): the memory
it holds is one page and the file being written on disk, whatever the number of rows.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from pydantic import ValidationError

from api.pagination import MAX_LIMIT, PageParams, paginate
from api.rows import json_datetime
from apps.audit.models import AuditEntry
from apps.audit.services import audit_access_list, audit_change, audit_record, audit_snapshot
from apps.entities.selectors import EntityViewer
from apps.exports import registry, writers
from apps.exports.errors import (
    ExportErrorCode,
    ExportExpired,
    ExportInvalid,
    ExportNotReady,
    ExportRoleRequired,
    ExportsBusy,
    ExportTooLarge,
)
from apps.exports.models import Export, ExportStatus
from apps.exports.selectors import export_get
from apps.exports.tasks import export_write_defer
from hub.errors import HubError
from hub.files import file_delete, file_name, file_store
from tenants.jobs import current_organization_id
from tenants.models import User

logger = logging.getLogger(__name__)

# An export's audit entry names every id it wrote up to this many; beyond, the count, the first and
# the last id, and the filters.
AUDIT_IDS_MAX = 1_000
HASH_CHUNK = 1 << 20


# --- Request --------------------------------------------------------------------------------------


def export_resource(name: str) -> registry.Exportable:
    resource = registry.RESOURCES.get(name)
    if resource is None:
        raise ExportInvalid(
            f"resource is one of {', '.join(sorted(registry.RESOURCES))}.",
            field="resource",
            code=ExportErrorCode.RESOURCE_UNKNOWN,
        )
    return resource


def export_filters_parse(resource: registry.Exportable, filters: dict[str, Any]) -> PageParams:
    """``filters`` read by the list's own filter schema: an unknown name (paging parameters
    included) or a value the list would refuse is a 422 naming it."""
    unknown = sorted(set(filters) - resource.filter_keys())
    if unknown:
        known = ", ".join(sorted(resource.filter_keys())) or "none"
        raise ExportInvalid(
            f"{unknown[0]} is not a filter of {resource.name} (its filters: {known}).",
            field=f"filters.{unknown[0]}",
        )
    try:
        return resource.filters.model_validate(filters)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        raise ExportInvalid(f"Invalid filters.{where}: {error.get('msg')}", field=f"filters.{where}") from exc


def _running_lock() -> None:
    """Serialise the requests of one organization while they count its running exports."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"hub.exports:{current_organization_id()}"],
        )


@transaction.atomic
def export_request(
    *,
    actor: User,
    viewer: EntityViewer,
    roles: frozenset[str],
    resource: str,
    filters: dict[str, Any],
    file_format: str,
) -> Export:
    """Queue an export of the list ``resource`` with its ``filters``: the caller must hold the role
    the list needs (403), the filters must be the list's (422), a parent it is scoped to must be
    visible (404), and fewer than ``HUB_EXPORT_MAX_RUNNING`` exports may be queued or running in the
    organization (429). The export row and its job are written in this transaction."""
    exportable = export_resource(resource)
    if exportable.role not in roles:
        raise ExportRoleRequired(f"Exporting {resource} needs the {exportable.role} role.")
    parsed = export_filters_parse(exportable, filters)
    exportable.rows(parsed, viewer)  # a parent the caller may not see is a 404 now, not a failed job
    _running_lock()
    running = _unfinished(since=timezone.now() - _ttl()).count()
    if running >= settings.HUB_EXPORT_MAX_RUNNING:
        raise ExportsBusy()
    export = Export(
        resource=resource,
        filters=filters,
        format=file_format,
        requested_by=actor,
        viewer_is_admin=viewer.is_admin,
    )
    export.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=export, actor=actor)
    export_write_defer(export_id=export.id)
    return export


def _ttl() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.HUB_EXPORT_TTL_HOURS)


def _unfinished(*, since: datetime.datetime | None = None, before: datetime.datetime | None = None) -> Any:
    """Exports queued or running, requested after ``since`` or before ``before``: one older than
    ``HUB_EXPORT_TTL_HOURS`` lost its worker (the purge fails it) and no longer counts as running."""
    exports = Export.objects.filter(status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])
    if since is not None:
        exports = exports.filter(created_at__gte=since)
    if before is not None:
        exports = exports.filter(created_at__lt=before)
    return exports


# --- The job --------------------------------------------------------------------------------------


class _Pk(NamedTuple):
    pk: Any


def _plain(value: Any) -> Any:
    """A value as the API's JSON writes it (ids and decimals as text, date-times in milliseconds)."""
    if isinstance(value, datetime.datetime):
        return json_datetime(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _viewer(export: Export) -> EntityViewer:
    """The requester as they could see when asking (their id, whether they were an admin)."""
    return EntityViewer(user_id=uuid.UUID(str(export.requested_by_id)), is_admin=export.viewer_is_admin)


def export_queryset(export: Export) -> QuerySet[Any]:
    """The export's list, as the list's selector gives it to the requester (a parent it is scoped to
    looked up, and its read audited, once)."""
    resource = registry.RESOURCES[export.resource]
    with transaction.atomic():
        return resource.rows(export_filters_parse(resource, export.filters), _viewer(export))


def export_rows(export: Export, queryset: QuerySet[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Every row of ``queryset``: ``(pk, the list item's JSON)``, a page at a time on the list's
    keyset, each page read in its own transaction."""
    resource = registry.RESOURCES[export.resource]
    cursor: str | None = None
    while True:
        with transaction.atomic():
            page = paginate(
                queryset, page=PageParams(limit=MAX_LIMIT, cursor=cursor, offset=None), shape=resource.shape
            )
        for item in page["items"]:
            if resource.shape is not None:
                yield item["id"], item
            else:
                yield item.pk, _plain(resource.item.model_validate(item).model_dump())
        cursor = page["next"]
        del page  # one page held at a time, not two while the next is read
        if cursor is None:
            return


def _row_count(queryset: QuerySet[Any]) -> int:
    """How many rows the export will hold, counted up to one past ``HUB_EXPORT_MAX_ROWS``."""
    with transaction.atomic():
        return queryset.order_by()[: settings.HUB_EXPORT_MAX_ROWS + 1].count()


def _export_started(export_id: uuid.UUID) -> Export | None:
    """Mark the export running (committed, so its status can be read); ``None`` when there is nothing
    to do (gone, succeeded, expired, or refused for a reason a retry does not change: a job run twice
    writes once). A failure by an unexpected error is retried by the queue and starts over here."""
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(id=export_id).first()
        retried = export is not None and export.error_code == ExportErrorCode.EXPORT_ERROR
        if export is None or not (
            export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
            or (export.status == ExportStatus.FAILED and retried)
        ):
            return None
        export.status, export.progress, export.started_at = ExportStatus.RUNNING, 0, timezone.now()
        export.error_code = export.error_detail = ""
        export.save(update_fields=["status", "progress", "started_at", "error_code", "error_detail"])
        return export


def _progress(export_id: uuid.UUID, done: int, total: int) -> None:
    with transaction.atomic():
        Export.objects.filter(id=export_id).update(progress=min(99, done * 100 // max(total, 1)))


class _Written(NamedTuple):
    rows: int
    first: Any
    last: Any
    ids: list[Any]


def _rows_write(export: Export, queryset: QuerySet[Any], handle: IO[bytes], total: int) -> _Written:
    """Write the file onto ``handle``; what the audit entry names."""
    resource = registry.RESOURCES[export.resource]
    writer = writers.writer_open(export.format, handle, resource.columns_for(is_admin=export.viewer_is_admin))
    count, first, last = 0, None, None
    ids: list[Any] = []
    for pk, row in export_rows(export, queryset):
        count += 1
        if count > settings.HUB_EXPORT_MAX_ROWS:
            raise ExportTooLarge(_too_large_detail())
        writer.row(row)
        first = pk if first is None else first
        last = pk
        if len(ids) < AUDIT_IDS_MAX:
            ids.append(pk)
        if count % MAX_LIMIT == 0:
            _progress(export.id, count, total)
    writer.close()
    return _Written(count, first, last, ids)


def _too_large_detail() -> str:
    return (
        f"This list holds more than {settings.HUB_EXPORT_MAX_ROWS} rows (HUB_EXPORT_MAX_ROWS); "
        "narrow the filters."
    )


def _checksum(handle: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    handle.seek(0)
    while chunk := handle.read(HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return f"sha256:{digest.hexdigest()}", size


def _export_audit(export: Export, written: _Written) -> None:
    """One read entry per export: the ids it wrote, or beyond ``AUDIT_IDS_MAX`` its range and count."""
    actor = User(id=export.requested_by_id) if export.requested_by_id else None
    if written.rows <= AUDIT_IDS_MAX:
        model = registry.RESOURCES[export.resource].model
        audit_access_list(model=model, objects=[_Pk(pk) for pk in written.ids], actor=actor)
        return
    changes: dict[str, list[Any]] = {
        "export_rows": [None, written.rows],
        "export_first_id": [None, str(written.first)],
        "export_last_id": [None, str(written.last)],
        "export_resource": [None, export.resource],
        "export_filters": [None, export.filters],
    }
    audit_record(action=AuditEntry.Action.ACCESS, instance=export, changes=changes, actor=actor)


def _export_finished(export: Export, *, name: str, written: _Written, checksum: str, size: int) -> None:
    """Succeeded, with the file's facts and its audit entry; a file whose export was deleted meanwhile
    is removed."""
    with transaction.atomic():
        current = Export.objects.select_for_update().filter(id=export.id).first()
        if current is None:
            transaction.on_commit(lambda: file_delete(name))
            return
        before = audit_snapshot(current)
        now = timezone.now()
        current.status, current.progress, current.file = ExportStatus.SUCCEEDED, 100, name
        current.row_count, current.size, current.checksum = written.rows, size, checksum
        current.finished_at = now
        current.expires_at = now + datetime.timedelta(hours=settings.HUB_EXPORT_TTL_HOURS)
        fields = ["status", "progress", "file", "row_count", "size", "checksum", "finished_at", "expires_at"]
        current.save(update_fields=fields)
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=current, before=before, fields=["status", "row_count"]
        )
        _export_audit(current, written)


def _export_failed(export_id: uuid.UUID, *, code: str, detail: str) -> None:
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(id=export_id).first()
        if export is None or export.status in (ExportStatus.SUCCEEDED, ExportStatus.EXPIRED):
            return  # a failure never overwrites a file written meanwhile
        before = audit_snapshot(export)
        export.status, export.error_code, export.error_detail = ExportStatus.FAILED, code, detail[:500]
        export.finished_at = timezone.now()
        export.save(update_fields=["status", "error_code", "error_detail", "finished_at"])
        audit_change(action=AuditEntry.Action.UPDATE, instance=export, before=before, fields=["status"])


def export_write(*, export_id: uuid.UUID) -> None:
    """Write an export's file (the job): running, the rows streamed to a temporary file a page at a
    time, the file stored, then succeeded with its row count, size and checksum; or failed naming why
    (too many rows, a parent no longer visible). An unexpected error marks it failed and is raised
    again, so the queue retries the job (a retry starts over)."""
    export = _export_started(export_id)
    if export is None:
        return
    try:
        queryset = export_queryset(export)
        total = _row_count(queryset)
        if total > settings.HUB_EXPORT_MAX_ROWS:
            raise ExportTooLarge(_too_large_detail())
        name = file_name(
            organization_id=current_organization_id(),
            area="exports",
            file_id=export.id,
            suffix=writers.SUFFIXES[export.format],
        )
        with tempfile.TemporaryFile() as handle:
            written = _rows_write(export, queryset, handle, total)
            checksum, size = _checksum(handle)
            file_delete(name)  # a retry's earlier file
            name = file_store().save(name, File(handle, name=name))
    except HubError as exc:
        _export_failed(export.id, code=str(exc.instance_code), detail=exc.detail)
        return
    except Exception:
        logger.exception("export %s failed", export.id)
        _export_failed(export.id, code=ExportErrorCode.EXPORT_ERROR, detail="An unexpected error; retried.")
        raise
    _export_finished(export, name=name, written=written, checksum=checksum, size=size)


# --- Download, delete, expiry ---------------------------------------------------------------------


def export_download(*, actor: User, viewer: EntityViewer, export_id: uuid.UUID) -> tuple[Export, str]:
    """The export and its file's content type, once it has succeeded and its file is still kept
    (409 otherwise); the download is audited (the export's id and format)."""
    export = export_get(export_id=export_id, viewer=viewer, audit=False)
    if export.status == ExportStatus.EXPIRED or (
        export.status == ExportStatus.SUCCEEDED
        and (
            (export.expires_at is not None and export.expires_at <= timezone.now())
            or not file_store().exists(export.file)
        )
    ):
        raise ExportExpired()
    if export.status != ExportStatus.SUCCEEDED:
        raise ExportNotReady()
    audit_record(
        action=AuditEntry.Action.ACCESS,
        instance=export,
        changes={"download": [None, export.format]},
        actor=actor,
    )
    return export, writers.CONTENT_TYPES[export.format]


@transaction.atomic
def export_delete(*, viewer: EntityViewer, export_id: uuid.UUID) -> None:
    """Remove an export and its file (the file once the delete commits; the hard-delete receiver
    audits the row). A job still writing it finds it gone and removes what it wrote."""
    export = export_get(export_id=export_id, viewer=viewer, audit=False)
    export = Export.objects.select_for_update().get(id=export.id)
    name = export.file
    export.delete()
    if name:
        transaction.on_commit(lambda: file_delete(name))


EXPIRE_BATCH = 100


def exports_expire(*, now: datetime.datetime | None = None) -> int:
    """Remove the files of the organization's exports past ``expires_at`` and mark them expired, a
    batch at a time (each its own transaction, its files removed once it commits); how many. Exports
    still queued or running ``HUB_EXPORT_TTL_HOURS`` after they were asked for are marked failed."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            batch = list(
                Export.objects.select_for_update(skip_locked=True)
                .filter(status=ExportStatus.SUCCEEDED, expires_at__lte=now)
                .order_by("expires_at", "id")[:EXPIRE_BATCH]
            )
            for export in batch:
                before = audit_snapshot(export)
                name, export.status, export.file = export.file, ExportStatus.EXPIRED, ""
                export.save(update_fields=["status", "file"])
                audit_change(
                    action=AuditEntry.Action.UPDATE, instance=export, before=before, fields=["status"]
                )
                transaction.on_commit(lambda name=name: file_delete(name))  # type: ignore[misc]
        expired += len(batch)
        if len(batch) < EXPIRE_BATCH:
            break
    for export_id in _unfinished(before=now - _ttl()).values_list("id", flat=True)[:EXPIRE_BATCH]:
        _export_failed(
            export_id, code=ExportErrorCode.EXPORT_ERROR, detail="Its job never finished (stalled)."
        )
    return expired
