"""The one exception family of the Hub: each error carries its HTTP status and machine code.

Services and selectors raise these; ``api.errors`` turns any of them into the contract's error shape
``{"detail": ..., "code": ...}``. Another organization's object raises the same ``NotFound`` as a
missing one, so an error never confirms that something exists elsewhere.

Error codes are data: each module lists its own in one ``StrEnum`` (``EntityErrorCode``, ...) next to
its errors, and ``HubErrorCode`` lists those any request may answer whatever its module. Every raise
names a member, never a bare string, and the OpenAPI documents type ``code`` with these enums.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from django.http import JsonResponse


class HubErrorCode(StrEnum):
    """The codes any request may answer, whatever its module: the framework's, authentication's, the
    host routing's and the dependencies'."""

    BAD_REQUEST = "bad_request"
    MALFORMED_BODY = "malformed_body"
    MALFORMED_REQUEST = "malformed_request"
    URI_TOO_LONG = "uri_too_long"
    BAD_HOST = "bad_host"
    NOT_AUTHENTICATED = "not_authenticated"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - a code, not a secret
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a code, not a secret
    TOKEN_TYPE = "token_type"  # noqa: S105 - a code, not a secret
    PERMISSION_DENIED = "permission_denied"
    TENANT_MISMATCH = "tenant_mismatch"
    ROLE_REQUIRED = "role_required"
    NOT_A_MEMBER = "not_a_member"
    TENANT_NOT_FOUND = "tenant_not_found"
    TENANT_SUSPENDED = "tenant_suspended"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PRECONDITION_FAILED = "precondition_failed"
    PRECONDITION_REQUIRED = "precondition_required"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    VALIDATION_ERROR = "validation_error"
    RATE_LIMITED = "rate_limited"
    SERVICE_UNAVAILABLE = "service_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    MIGRATIONS_PENDING = "migrations_pending"
    WORKERS_UNAVAILABLE = "workers_unavailable"
    IDENTITY_UNAVAILABLE = "identity_unavailable"
    IDENTITY_MISCONFIGURED = "identity_misconfigured"
    INTERNAL_ERROR = "internal_error"
    ERROR = "error"


class HubError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[StrEnum] = HubErrorCode.BAD_REQUEST
    default_detail: ClassVar[str] = "The request is malformed."

    def __init__(self, detail: str | None = None, *, code: StrEnum | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.instance_code = code or self.code
        self.extra = extra
        self.headers: dict[str, str] = {}
        super().__init__(self.detail)

    def payload(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.instance_code, **self.extra}

    def response(self) -> JsonResponse:
        """The contract's error shape, for code that answers outside the Ninja APIs (middleware)."""
        response = JsonResponse(self.payload(), status=self.status)
        for header, value in self.headers.items():
            response[header] = value
        return response


# SQLSTATEs of the integrity errors a service maps to an answer (PostgreSQL, appendix A).
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
EXCLUSION_VIOLATION = "23P01"


def violated_constraint(exc: Exception) -> str | None:
    """The name of the constraint an ``IntegrityError`` broke, from the driver's diagnostics.

    Integrity errors are told apart by constraint name or SQLSTATE (``violated_sqlstate``), never by
    searching the message: its ``DETAIL`` holds the row's values, which may hold any text.
    """
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def violated_sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE of an ``IntegrityError`` (``UNIQUE_VIOLATION``, ...), from the driver's error."""
    return getattr(exc.__cause__, "sqlstate", None)


class BadRequest(HubError):
    pass


class NotAuthenticated(HubError):
    status = 401
    code: ClassVar[StrEnum] = HubErrorCode.NOT_AUTHENTICATED
    default_detail = "Authentication credentials were missing or invalid."

    def __init__(self, detail: str | None = None, *, code: StrEnum | None = None, **extra: Any) -> None:
        super().__init__(detail, code=code, **extra)
        self.headers["WWW-Authenticate"] = "Bearer"


class PermissionDenied(HubError):
    status = 403
    code: ClassVar[StrEnum] = HubErrorCode.PERMISSION_DENIED
    default_detail = "You are not allowed to do this."


class NotFound(HubError):
    status = 404
    code: ClassVar[StrEnum] = HubErrorCode.NOT_FOUND
    default_detail = "Not found."


class Conflict(HubError):
    status = 409
    code: ClassVar[StrEnum] = HubErrorCode.CONFLICT
    default_detail = "The request conflicts with the current state."


class PreconditionFailed(HubError):
    """An ``If-Match`` that names none of the object's current ETags: it changed since it was read."""

    status = 412
    code: ClassVar[StrEnum] = HubErrorCode.PRECONDITION_FAILED
    default_detail = "The object was changed since you read it; read it again and retry."


class PreconditionRequired(HubError):
    """A conditional write without ``If-Match`` while ``HUB_REQUIRE_IF_MATCH`` is on."""

    status = 428
    code: ClassVar[StrEnum] = HubErrorCode.PRECONDITION_REQUIRED
    default_detail = (
        "This write needs an If-Match header with the object's ETag (from reading it), or If-Match: *."
    )


class Invalid(HubError):
    """A well-formed request whose values break a rule (422)."""

    status = 422
    code: ClassVar[StrEnum] = HubErrorCode.VALIDATION_ERROR
    default_detail = "The request is invalid."

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        code: StrEnum | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, code=code, **extra)
        self.field = field

    def payload(self) -> dict[str, Any]:
        """The contract's 422 body: ``errors`` lists the broken rule and its field's path."""
        error = {"loc": loc_parts(self.field), "msg": self.detail, "type": self.instance_code}
        return {**super().payload(), "errors": [error]}


def loc_parts(field: str | None) -> list[str | int]:
    """``"postings.1.amount"`` -> ``["postings", 1, "amount"]``: the path parts of a field, list indexes
    as integers, as the schemas' own validation errors give them (one ``loc`` shape everywhere)."""
    if not field:
        return []
    return [int(part) if part.isdecimal() else part for part in field.split(".")]


class ServiceUnavailable(HubError):
    status = 503
    code: ClassVar[StrEnum] = HubErrorCode.SERVICE_UNAVAILABLE
    default_detail = "A service the Hub depends on is unavailable; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)
