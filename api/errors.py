"""Every error the APIs answer has the contract's shape: ``{"detail", "code"}`` (+ ``errors`` on 422)."""

from __future__ import annotations

import json
import logging
import math
import sys
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.parser import Parser

from hub.errors import HubError, HubErrorCode
from tenants.db import DatabaseUnavailable, database_unreachable

logger = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: HubErrorCode.BAD_REQUEST,
    401: HubErrorCode.NOT_AUTHENTICATED,
    403: HubErrorCode.PERMISSION_DENIED,
    404: HubErrorCode.NOT_FOUND,
    405: HubErrorCode.METHOD_NOT_ALLOWED,
    409: HubErrorCode.CONFLICT,
    413: HubErrorCode.PAYLOAD_TOO_LARGE,
    422: HubErrorCode.VALIDATION_ERROR,
    429: HubErrorCode.RATE_LIMITED,
    503: HubErrorCode.SERVICE_UNAVAILABLE,
}


def error_payload(status: int, detail: str, code: StrEnum | None = None, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code or _CODES_BY_STATUS.get(status, HubErrorCode.ERROR), **extra}


def error_response(status: int, detail: str, code: StrEnum | None = None, **extra: Any) -> JsonResponse:
    return JsonResponse(error_payload(status, detail, code, **extra), status=status)


class StrictJSONParser(Parser):
    """JSON bodies only; ``NaN``/``Infinity`` are not JSON and are refused."""

    def parse_body(self, request: HttpRequest) -> Any:
        return json.loads(request.body, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 overflows to infinity, which no column can store
        raise ValueError(f"{text} is out of range")
    return value


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors:
        location = [
            part
            for part in error.get("loc", ())
            if part not in ("body", "payload", "filters", "query", "path", "page", "params")
        ]
        errors.append(
            {
                # An error about the whole body (a JSON array where an object belongs) is at ["body"].
                "loc": [_loc_part(part) for part in location or error.get("loc", ())[:1]],
                "msg": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "invalid")),
            }
        )
    return errors


def _loc_part(part: Any) -> str | int:
    """A list index stays an integer (``["postings", 0, "amount"]``), as ``hub.errors.loc_parts`` gives it."""
    return part if isinstance(part, int) and not isinstance(part, bool) else str(part)


def install_error_handlers(api: NinjaAPI) -> None:
    """Replace Ninja's default handlers with ones that speak the contract's error shape."""

    def hub_error(request: HttpRequest, exc: HubError) -> HttpResponse:
        response = api.create_response(request, exc.payload(), status=exc.status)
        for header, value in exc.headers.items():
            response[header] = value
        return response

    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(map(str, first["loc"])) or "request"
        detail = f"Invalid {where}: {first['msg']}" + (
            f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        )
        payload = error_payload(422, detail, HubErrorCode.VALIDATION_ERROR, errors=errors)
        return api.create_response(request, payload, status=422)

    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        payload = error_payload(
            401, "A valid bearer access token is required.", HubErrorCode.NOT_AUTHENTICATED
        )
        response = api.create_response(request, payload, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response

    def authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
        return api.create_response(request, error_payload(403, "You are not allowed to do this."), status=403)

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        status = exc.status_code
        code = HubErrorCode.MALFORMED_BODY if status == 400 else None
        detail = str(exc) or "The request failed."
        if code == HubErrorCode.MALFORMED_BODY:
            detail = "The request body is not valid JSON."
        return api.create_response(request, error_payload(status, detail, code), status=status)

    def not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(request, error_payload(404, "Not found."), status=404)

    def forbidden(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(request, error_payload(403, "You are not allowed to do this."), status=403)

    def suspicious(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc, RequestDataTooBig):
            payload = error_payload(413, "The request body is too large.", HubErrorCode.PAYLOAD_TOO_LARGE)
            return api.create_response(request, payload, status=413)
        return api.create_response(
            request, error_payload(400, "The request was refused as malformed."), status=400
        )

    def unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
        if database_unreachable(exc):  # the database is down or restarting: try again, not a bug
            logger.warning("database unreachable on %s %s: %s", request.method, request.path, exc)
            return hub_error(request, DatabaseUnavailable())
        logger.exception("unhandled error on %s %s", request.method, request.path)
        payload = error_payload(500, "Internal error; it has been logged.", HubErrorCode.INTERNAL_ERROR)
        return api.create_response(request, payload, status=500)

    api.add_exception_handler(Exception, unexpected)
    api.add_exception_handler(HubError, hub_error)  # type: ignore[arg-type]
    api.add_exception_handler(ValidationError, validation_error)  # type: ignore[arg-type]
    api.add_exception_handler(HttpError, http_error)  # type: ignore[arg-type]
    api.add_exception_handler(AuthenticationError, authentication_error)  # type: ignore[arg-type]
    api.add_exception_handler(AuthorizationError, authorization_error)  # type: ignore[arg-type]
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(DjangoPermissionDenied, forbidden)
    api.add_exception_handler(SuspiciousOperation, suspicious)


# Django-level handlers, for what never reaches a Ninja API (unknown paths and the like).
def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(400, "The request was refused as malformed.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(403, "You are not allowed to do this.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(404, "Not found.")


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception (a middleware's, say): a lost database is a 503.
    if database_unreachable(sys.exception()):
        return DatabaseUnavailable().response()
    return error_response(500, "Internal error; it has been logged.", HubErrorCode.INTERNAL_ERROR)
