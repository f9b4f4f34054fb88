"""The exports module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from hub.errors import Conflict, HubError, HubErrorCode, Invalid, NotFound, PermissionDenied


class ExportErrorCode(StrEnum):
    """Every code the exports module answers (besides those of `HubErrorCode`)."""

    EXPORT_NOT_FOUND = "export_not_found"
    EXPORT_NOT_READY = "export_not_ready"
    EXPORT_EXPIRED = "export_expired"
    RESOURCE_UNKNOWN = "resource_unknown"
    FILTER_INVALID = "filter_invalid"
    EXPORTS_BUSY = "exports_busy"
    EXPORT_TOO_LARGE = "export_too_large"
    EXPORT_ERROR = "export_error"  # a job's failure other than a refusal (retried)


class ExportNotFound(NotFound):
    code = ExportErrorCode.EXPORT_NOT_FOUND
    default_detail = "No export has this id."


class ExportNotReady(Conflict):
    code = ExportErrorCode.EXPORT_NOT_READY
    default_detail = "This export has not succeeded: there is no file to download (see its status)."


class ExportExpired(Conflict):
    code = ExportErrorCode.EXPORT_EXPIRED
    default_detail = "This export's file has expired and was removed; request a new export."


class ExportInvalid(Invalid):
    code = ExportErrorCode.FILTER_INVALID


class ExportRoleRequired(PermissionDenied):
    code: ClassVar[StrEnum] = HubErrorCode.ROLE_REQUIRED


class ExportsBusy(HubError):
    """As many exports as allowed are already queued or running in the organization."""

    status = 429
    code: ClassVar[StrEnum] = ExportErrorCode.EXPORTS_BUSY
    default_detail = "Too many exports are running in this organization; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 30, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)


class ExportTooLarge(HubError):
    """Raised inside the job: the list has more rows than ``HUB_EXPORT_MAX_ROWS`` (the export fails)."""

    status = 422
    code: ClassVar[StrEnum] = ExportErrorCode.EXPORT_TOO_LARGE
