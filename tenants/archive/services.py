"""Archives made by the platform API: requested as a job, kept for ``HUB_ARCHIVE_TTL_SECONDS``, then deleted.

**The key is never stored.** The caller sends an RSA public key (PEM, at least 3072 bits); the job draws
a random content key, encrypts the archive under it and wraps it for that public key (RSA-OAEP-SHA256,
in the archive's header). The job's arguments hold the public key only, the file only the wrapped key:
neither the queue, the file store nor a backup of them can open the archive; the holder of the private
key can (``import_tenant --private-key-file``).

An archive is the job that writes it (``public.procrastinate_jobs``, its ``archive_id`` argument) and, once
written, its file and a small description beside it in the file store (``hub.files``, area
``archives``): no table of its own. A deleted organization's archives go with its files.
"""

from __future__ import annotations

import datetime
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import DEFAULT_DB_ALIAS, transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from hub.files import file_chunks, file_delete, file_name, file_store
from tenants.archive.container import ArchiveRefused, rsa_public_key_load
from tenants.archive.errors import ArchiveExpired, ArchiveKeyInvalid, ArchiveNotFound, ArchiveNotReady
from tenants.archive.export import tenant_archive_write
from tenants.models import Organization, PlatformAuditEntry
from tenants.services import platform_audit_record

TASK = "tenants.archive_write"
AREA = "archives"
SUFFIX = ".hubarchive"
DESCRIPTION_SUFFIX = ".json"

# The job's state -> the archive's status (a written archive is "ready" until it expires).
_STATUSES = {
    "todo": "pending",
    "doing": "running",
    "failed": "failed",
    "cancelled": "failed",
    "aborted": "failed",
}


@dataclass(frozen=True)
class Archive:
    """An archive's status and, once written, what it holds."""

    id: uuid.UUID
    organization_id: uuid.UUID
    status: str  # pending, running, ready, failed, expired
    requested_at: datetime.datetime
    bytes: int | None = None
    sha256: str | None = None
    expires_at: datetime.datetime | None = None


def _names(organization_id: uuid.UUID, archive_id: uuid.UUID) -> tuple[str, str]:
    def name(suffix: str) -> str:
        return file_name(organization_id=organization_id, area=AREA, file_id=archive_id, suffix=suffix)

    return name(SUFFIX), name(DESCRIPTION_SUFFIX)


def archive_request(*, tenant: Organization, public_key: str, actor: uuid.UUID | None) -> Archive:
    """Queue the organization's archive, wrapped for ``public_key``; nothing secret is stored. Recorded
    in the platform's trail (``actor`` asked for the organization's whole data)."""
    try:
        rsa_public_key_load(public_key)
    except ArchiveRefused as exc:
        raise ArchiveKeyInvalid(exc.detail, field="public_key") from None
    from tenants.archive.tasks import archive_write_job

    archive_id = uuid.uuid4()
    with transaction.atomic():
        archive_write_job.defer(
            organization_id=str(tenant.organization_id),
            archive_id=str(archive_id),
            public_key=public_key,
            requested_at=datetime.datetime.now(tz=datetime.UTC).isoformat(),
        )
        platform_audit_record(
            action=PlatformAuditEntry.Action.ARCHIVE,
            organization_id=tenant.organization_id,
            actor=actor,
            changes={"archive_id": [None, str(archive_id)]},
            using=DEFAULT_DB_ALIAS,
        )
    return archive_get(tenant=tenant, archive_id=archive_id)


def archive_write(*, organization_id: uuid.UUID, archive_id: uuid.UUID, public_key: str) -> None:
    """Write the archive to the file store (through a temporary file: the store may be remote), then its
    description; the file is deleted ``HUB_ARCHIVE_TTL_SECONDS`` later (``archive_expire``)."""
    tenant = Organization.objects.filter(organization_id=organization_id).first()
    if tenant is None:
        return  # deleted meanwhile: nothing to archive
    archive_name, description_name = _names(organization_id, archive_id)
    with tempfile.TemporaryFile() as scratch:
        summary = tenant_archive_write(tenant=tenant, stream=scratch, public_key=public_key)
        scratch.seek(0)
        file_store().save(archive_name, File(scratch))
    expires_at = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(
        seconds=settings.HUB_ARCHIVE_TTL_SECONDS
    )
    description = {
        "bytes": summary.bytes,
        "sha256": summary.sha256,
        "tables": summary.tables,
        "rows": summary.rows,
        "expires_at": expires_at.isoformat(),
    }
    file_store().save(description_name, ContentFile(json.dumps(description).encode()))


def archive_expire(*, organization_id: uuid.UUID, archive_id: uuid.UUID) -> None:
    """Delete the archive's file and its description."""
    for name in _names(organization_id, archive_id):
        file_delete(name)


def _job(*, tenant: Organization, archive_id: uuid.UUID) -> ProcrastinateJob:
    job = (
        ProcrastinateJob.objects.filter(
            task_name=TASK,
            args__organization_id=str(tenant.organization_id),
            args__archive_id=str(archive_id),
        )
        .order_by("-id")
        .first()
    )
    if job is None:
        raise ArchiveNotFound()
    return job


def _description(name: str) -> dict[str, Any] | None:
    store = file_store()
    if not store.exists(name):
        return None
    with store.open(name, "rb") as handle:
        description: dict[str, Any] = json.loads(handle.read())
    return description


def archive_get(*, tenant: Organization, archive_id: uuid.UUID) -> Archive:
    """The archive's status; an expired one's files are deleted on the way (the job does it too)."""
    job = _job(tenant=tenant, archive_id=archive_id)
    requested_at = datetime.datetime.fromisoformat(job.args["requested_at"])
    base = {"id": archive_id, "organization_id": tenant.organization_id, "requested_at": requested_at}
    if job.status != "succeeded":
        return Archive(status=_STATUSES.get(job.status, "pending"), **base)
    archive_name, description_name = _names(tenant.organization_id, archive_id)
    description = _description(description_name)
    if description is None or not file_store().exists(archive_name):
        return Archive(status="expired", **base)
    expires_at = datetime.datetime.fromisoformat(description["expires_at"])
    if expires_at <= datetime.datetime.now(tz=datetime.UTC):
        archive_expire(organization_id=tenant.organization_id, archive_id=archive_id)
        return Archive(status="expired", expires_at=expires_at, **base)
    return Archive(
        status="ready",
        bytes=description["bytes"],
        sha256=description["sha256"],
        expires_at=expires_at,
        **base,
    )


def archive_download(
    *, tenant: Organization, archive_id: uuid.UUID, actor: uuid.UUID | None
) -> tuple[Archive, Iterator[bytes]]:
    """A ready archive and its bytes, a chunk at a time; each download recorded in the platform's trail."""
    archive = archive_get(tenant=tenant, archive_id=archive_id)
    if archive.status == "expired":
        raise ArchiveExpired()
    if archive.status != "ready":
        raise ArchiveNotReady()
    platform_audit_record(
        action=PlatformAuditEntry.Action.ARCHIVE_DOWNLOAD,
        organization_id=tenant.organization_id,
        actor=actor,
        changes={"archive_id": [None, str(archive_id)]},
        using=DEFAULT_DB_ALIAS,
    )
    return archive, file_chunks(_names(tenant.organization_id, archive_id)[0])
