"""The platform archive endpoints' errors: each one a machine code (``TenantErrorCode``, the code enum of
every ``/api/platform/v1/tenants`` path) and an HTTP status."""

from __future__ import annotations

from typing import ClassVar

from hub.errors import Conflict, HubError, Invalid, NotFound
from tenants.errors import TenantErrorCode


class ArchiveNotFound(NotFound):
    code = TenantErrorCode.ARCHIVE_NOT_FOUND
    default_detail = "This organization has no archive with this id."


class ArchiveNotReady(Conflict):
    code = TenantErrorCode.ARCHIVE_NOT_READY
    default_detail = "The archive is not written yet (or its job failed): see its status."


class ArchiveExpired(HubError):
    status: ClassVar[int] = 410
    code = TenantErrorCode.ARCHIVE_EXPIRED
    default_detail = "The archive has expired; its file is deleted. Request a new one."


class ArchiveKeyInvalid(Invalid):
    code = TenantErrorCode.ARCHIVE_KEY_INVALID
