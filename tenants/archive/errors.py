"""The platform archive endpoints' errors: each one a machine code and an HTTP status."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from hub.errors import Conflict, HubError, Invalid, NotFound


class ArchiveErrorCode(StrEnum):
    ARCHIVE_NOT_FOUND = "archive_not_found"
    ARCHIVE_NOT_READY = "archive_not_ready"
    ARCHIVE_EXPIRED = "archive_expired"
    ARCHIVE_KEY_INVALID = "archive_key_invalid"


class ArchiveNotFound(NotFound):
    code = ArchiveErrorCode.ARCHIVE_NOT_FOUND
    default_detail = "This organization has no archive with this id."


class ArchiveNotReady(Conflict):
    code = ArchiveErrorCode.ARCHIVE_NOT_READY
    default_detail = "The archive is not written yet (or its job failed): see its status."


class ArchiveExpired(HubError):
    status: ClassVar[int] = 410
    code = ArchiveErrorCode.ARCHIVE_EXPIRED
    default_detail = "The archive has expired; its file is deleted. Request a new one."


class ArchiveKeyInvalid(Invalid):
    code = ArchiveErrorCode.ARCHIVE_KEY_INVALID
