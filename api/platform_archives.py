"""Platform API v1: organization archives, ``platform_admin`` only (``tenants.archive.services``).

Mounted at the end of ``api.platform`` (it shares that module's ``TenantError``, the one error schema of
every ``/tenants`` path): import ``api.platform``, never this module first. ``POST
/tenants/{organization_id}/archive`` queues the archive, wrapped for the caller's RSA public key
(the key that opens it is never stored: see ``tenants.archive.services``); ``GET .../archives/{id}`` is
its status; ``GET .../archives/{id}/download`` streams the file until it expires.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from api.auth import request_actor
from api.platform import TenantError
from api.schemas import BodyIn, error_responses
from tenants import selectors
from tenants.archive import services
from tenants.archive.services import Archive

router: Router = Router(tags=["tenants"])


ARCHIVE_ERRORS = {**error_responses(TenantError), 410: TenantError}


# A documentation example: an RSA-3072 public key whose private key nobody kept.
EXAMPLE_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEAt/NRedVV964Xs5dQS8p+\n"
    "MNIWDCGMD/BJRt2c1PmFK3tlmvdQj60qtkHuIgPsfJ7LJe9jIoiAIXnSf34vnmyc\n"
    "yFC3/3H3/m0TWpABkAgBv5pyYZRrY3XnB3OQXuHwSWkDYVbnmWLTFQ+lu41u9nrv\n"
    "mTi5F7wfuqnV8JdztkRVHNl3HSsh+xGPYYoQItDfsxzaeN6mXvsQZbEa4Fp1PKvi\n"
    "Ddw2HDhctTGDhXPFNA4oNHHm+B/Zr3HvWISoh2xk2RUoebkLGW4iFcM26Lvzkb+F\n"
    "vn7BP5mT9wAwwc9wLdlLxuzOotEojmWDBoXN9YcOJrX0nzO+DP+2uen4X5RtFPGI\n"
    "13UP7AkbnOd1SbG6r8um5W0PnU7rO8wvQLpWe6TmoKYAt+uD1n8dfGyl4DNFNxMz\n"
    "xZBmZTuL1tdTj1Eb3mOj13133oO1ctpNBI4Khm9F4J9x7c/lr1aoC7OtA+eBXALL\n"
    "pOL8fI/mwVMjDFYNUSZbQCelQRXpm3F6ds5hamHbqqB1AgMBAAE=\n"
    "-----END PUBLIC KEY-----\n"
)


class ArchiveIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"public_key": EXAMPLE_PUBLIC_KEY}]})

    public_key: str = Field(
        max_length=16384,
        description="An RSA public key (PEM, at least 3072 bits): the archive's content key is wrapped for "
        "it; `import_tenant --private-key-file` opens the archive with the private key.",
    )


class ArchiveOut(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    status: Literal["pending", "running", "ready", "failed", "expired"]
    requested_at: datetime
    bytes: int | None = Field(description="The file's size once ready.")
    sha256: str | None = Field(description="The SHA-256 of the archive's content (checked by import_tenant).")
    expires_at: datetime | None = Field(description="When the file is deleted.")


@router.post(
    "/tenants/{organization_id}/archive",
    summary="Archive an organization",
    response={202: ArchiveOut, **ARCHIVE_ERRORS},
)
def archive_request(request: HttpRequest, organization_id: uuid.UUID, payload: ArchiveIn) -> Status[Archive]:
    """Queue a portable archive of everything of the organization (a job); poll its status, then download."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    actor = request_actor(request).id
    return Status(202, services.archive_request(tenant=tenant, public_key=payload.public_key, actor=actor))


@router.get(
    "/tenants/{organization_id}/archives/{archive_id}",
    summary="Read an organization archive",
    response={200: ArchiveOut, **ARCHIVE_ERRORS},
)
def archive_read(request: HttpRequest, organization_id: uuid.UUID, archive_id: uuid.UUID) -> Archive:
    """The archive's status: pending, running, ready (with its size, checksum and expiry), failed, expired."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.archive_get(tenant=tenant, archive_id=archive_id)


@router.get(
    "/tenants/{organization_id}/archives/{archive_id}/download",
    summary="Download an organization archive",
    response={200: None, **ARCHIVE_ERRORS},
)
def archive_download(
    request: HttpRequest, organization_id: uuid.UUID, archive_id: uuid.UUID
) -> StreamingHttpResponse:
    """The archive file, streamed; 409 until it is ready, 410 once it has expired."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    archive, chunks = services.archive_download(
        tenant=tenant, archive_id=archive_id, actor=request_actor(request).id
    )
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{tenant.slug}-{archive.id}.hubarchive"'
    response["Content-Length"] = str(archive.bytes)
    return response
