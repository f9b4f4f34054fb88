"""The audit buffer of a tenant request: flushed in one INSERT before the request's transaction commits.

Sits after ``tenants.middleware.TenantRoutingMiddleware``, so it runs inside the request's transaction.
An error response rolls that transaction back, writes and their entries alike; the reads it made
before failing (a PATCH refused after the entity was found, say) happened all the same, so their
``access`` entries are written again after the rollback, in a fresh transaction of their own
(``tenants.middleware.after_rollback``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from api.middleware import request_id_var
from apps.audit.models import AuditEntry
from apps.audit.services import AuditBuffer, audit_buffering, audit_flush
from hub.client_address import client_address
from tenants.middleware import after_rollback
from tenants.models import User


class AuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if getattr(request, "tenant", None) is None:
            return self.get_response(request)
        buffer = AuditBuffer(
            request_id=request_id_var.get(),
            remote_addr=client_address(request),
            # Whatever a client sends, stored as text PostgreSQL can hold (no NUL).
            user_agent=request.headers.get("User-Agent", "").replace("\x00", "\ufffd"),
        )
        with audit_buffering(buffer):
            response = self.get_response(request)
        if response.status_code < 400:
            audit_flush(entries=buffer.entries)
        else:
            reads = [entry for entry in buffer.entries if entry.action == AuditEntry.Action.ACCESS]
            if reads:
                after_rollback(request, lambda: _reads_rewrite(reads))
        return response


def _reads_rewrite(reads: list[AuditEntry]) -> None:
    # The rollback may have undone the caller's first mirror row, which the entries point at.
    actors = {entry.actor_id: entry.actor for entry in reads if entry.actor is not None}
    if actors:
        User.objects.bulk_create(
            [User(id=user.id, email=user.email, password="!") for user in actors.values()],  # noqa: S106
            ignore_conflicts=True,
        )
    for entry in reads:
        entry.pk = None
    audit_flush(entries=reads)
