"""Request ids, access logs and health probes: cross-cutting HTTP concerns that touch no tenant."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

from hub.client_address import client_address
from hub.errors import BadRequest, HubErrorCode
from tenants.db import tenant_connection

REQUEST_ID_HEADER = "X-Request-ID"
# Matched with ``fullmatch``: ``$`` would also accept a trailing newline (a 500 when echoed as a header,
# and a forged line in the text log).
_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

access_logger = logging.getLogger("hub.access")


class RequestIdLogFilter(logging.Filter):
    """Puts the current request id on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class ClientErrorLogFilter(logging.Filter):
    """Drops ``django.request``'s warning for a 4xx ("Not Found: /path"): the access line of the same
    request already says its status and its error ``code``. 5xx lines (with their traceback) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not 400 <= getattr(record, "status_code", 0) < 500


# Attributes every LogRecord has: what is left on a record is the ``extra`` its caller gave.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}
# The access line's message says these already ("GET /api/v1/entities/ 200").
_IN_ACCESS_MESSAGE = frozenset({"method", "path", "status"})


class TextFormatter(logging.Formatter):
    """The text log (``HUB_LOG_FORMAT=text``): the usual line, then the record's ``extra`` fields as
    ``name=value``, so that a dev line tells what a prod JSON line does (duration, tenant, client)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={'-' if value is None else value}"
            for name, value in vars(record).items()
            if name not in _RECORD_ATTRIBUTES
            and not (record.name == access_logger.name and name in _IN_ACCESS_MESSAGE)
            and (value is None or isinstance(value, str | int | float))
        ]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the fields
        return f"{head} {' '.join(fields)}{newline}{rest}"


class RequestIdMiddleware:
    """Takes a sane incoming ``X-Request-ID`` or makes one; echoes it and logs one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        # Not reset on the way out: Django logs failed requests after the middleware returns, and
        # those lines must carry the id too. The next request on this thread sets its own.
        request_id_var.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.perf_counter()
        response = _as_json_error(self.get_response(request))
        response[REQUEST_ID_HEADER] = request_id
        tenant = getattr(request, "tenant", None)
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "tenant": getattr(tenant, "slug", None),
                "client": client_address(request),
                **_error_code(response),
            },
        )
        return response


def _error_code(response: HttpResponse) -> dict[str, str]:
    """``{"code": ...}`` of an error response in the contract's shape (nothing for a success)."""
    if response.status_code < 400 or response.streaming or len(response.content) > 65_536:
        return {}
    try:
        code = json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        return {}
    return {"code": code} if isinstance(code, str) else {}


class HealthCheckMiddleware:
    """``/healthz`` (the process answers, no database), ``/readyz`` (database and migrations) and
    ``/readyz/workers`` (background workers alive), any host."""

    _migrations_applied = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            return self._ready()
        if request.path == "/readyz/workers":
            return _workers_ready()
        return self.get_response(request)

    def _ready(self) -> HttpResponse:
        try:
            connection = tenant_connection()
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            if not HealthCheckMiddleware._migrations_applied:
                executor = MigrationExecutor(connection)
                plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
                if plan:
                    pending = f"{len(plan)} migrations are not applied"
                    return _unready(pending, HubErrorCode.MIGRATIONS_PENDING)
                # The code's migrations cannot change while this process runs: check once.
                HealthCheckMiddleware._migrations_applied = True
        except DatabaseError:
            return _unready("The database is unreachable.", HubErrorCode.DATABASE_UNAVAILABLE)
        return JsonResponse({"status": "ready"})


class NulGuardMiddleware:
    """A NUL character in the path or the query string is a 400 before anything reads it.

    PostgreSQL cannot hold NUL in text, so such a value could only ever fail, deep inside a query
    (a 500). Request bodies are checked field by field by the schemas, with each field's reason.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            return JsonResponse(
                {
                    "detail": "The path or query string contains a NUL character.",
                    "code": HubErrorCode.MALFORMED_REQUEST,
                },
                status=400,
            )
        return self.get_response(request)


# The longest path and query string served, percent-encoded as sent. Room for the longest list a query
# parameter may hold (100 UUIDs, ~4,700 characters) so that it is refused by its ``maxItems``, not here;
# below gunicorn's longest request line (8,190 bytes, ``platform/gunicorn.conf.py``), so that this
# guard answers first.
MAX_URI_LENGTH = 8000


class UriLengthGuardMiddleware:
    """A URI longer than ``MAX_URI_LENGTH`` is the contract's JSON 414 before anything parses it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if len(request.get_full_path()) > MAX_URI_LENGTH:
            return JsonResponse(
                {
                    "detail": f"The URI is longer than {MAX_URI_LENGTH} characters.",
                    "code": HubErrorCode.URI_TOO_LONG,
                },
                status=414,
            )
        return self.get_response(request)


class ServedHostMiddleware:
    """A Host outside ``ALLOWED_HOSTS`` (the base domain and its subdomains) is a 400 ``bad_host`` here,
    before what answers without looking up a tenant (static files, CORS preflights) answers it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            # Imported here: this module is loaded by the logging configuration, before the apps are.
            from tenants.middleware import served_hosts_detail

            return BadRequest(served_hosts_detail(), code=HubErrorCode.BAD_HOST).response()
        return self.get_response(request)


def _as_json_error(response: HttpResponse) -> HttpResponse:
    """Errors answered by the framework itself (Ninja's 405, say) get the contract's JSON shape too."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    detail = _FRAMEWORK_ERRORS.get(response.status_code, ("The request failed.", HubErrorCode.ERROR))
    replacement = JsonResponse({"detail": detail[0], "code": detail[1]}, status=response.status_code)
    for header in ("Allow", "Retry-After", "WWW-Authenticate", "Vary"):
        if header in response:
            replacement[header] = response[header]
    # CORS headers (corsheaders, inside): without them a browser app cannot read why it was refused.
    for header, value in response.items():
        if header.lower().startswith("access-control-"):
            replacement[header] = value
    return replacement


_FRAMEWORK_ERRORS = {
    400: ("The request was refused as malformed.", HubErrorCode.BAD_REQUEST),
    404: ("Not found.", HubErrorCode.NOT_FOUND),
    405: ("This method is not allowed here.", HubErrorCode.METHOD_NOT_ALLOWED),
    413: ("The request body is too large.", HubErrorCode.PAYLOAD_TOO_LARGE),
    500: ("Internal error; it has been logged.", HubErrorCode.INTERNAL_ERROR),
}


def _workers_ready() -> HttpResponse:
    """``/readyz/workers``: 200 with the number of background workers alive (a heartbeat in the last
    30 s), 503 ``workers_unavailable`` when none is. Apart from ``/readyz``: web readiness never waits
    for the workers (a deploy restarts them separately)."""
    # Imported here: this module is loaded by the logging configuration, before the apps are.
    from tenants.job_selectors import WORKER_STALLED_SECONDS, workers_alive_count

    try:
        connection = tenant_connection()
        connection.set_schema_to_public()
        alive = workers_alive_count()
    except DatabaseError:
        return _unready("The database is unreachable.", HubErrorCode.DATABASE_UNAVAILABLE)
    if not alive:
        detail = f"No background worker has sent a heartbeat in the last {WORKER_STALLED_SECONDS:g} s."
        return _unready(detail, HubErrorCode.WORKERS_UNAVAILABLE)
    return JsonResponse({"status": "ready", "workers": alive})


def _unready(detail: str, code: HubErrorCode) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=503)
    response["Retry-After"] = "5"
    return response
