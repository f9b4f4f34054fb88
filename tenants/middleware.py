"""Host -> organization routing, the caller, and one database transaction per request.

A tenant request runs in one transaction, so the organization and schema are set once (by
``tenants.db.backend``) and an error response (status 400 or more) rolls back everything the request
did: bad input changes nothing. The caller is authenticated before that transaction opens
(``api.auth.request_authenticate``): verifying a token may wait on the identity service, and no
connection may sit "idle in transaction" meanwhile.

A database that cannot be reached (down, restarting) answers 503 ``database_unavailable`` with
``Retry-After``, never 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.utils.deprecation import MiddlewareMixin
from django_tenants.utils import tenant_context

from api.auth import request_authenticate
from hub.errors import BadRequest, HubErrorCode
from tenants.db import DatabaseUnavailable, database_unreachable, tenant_connection
from tenants.errors import TenantNotFound, TenantSuspended
from tenants.models import Organization
from tenants.selectors import tenant_for_host

logger = logging.getLogger(__name__)


def request_host(request: HttpRequest) -> str:
    """The request's host, validated against ``ALLOWED_HOSTS``, lower-cased and without port."""
    domain, _port = split_domain_port(request.get_host())
    return domain


def served_hosts_detail() -> str:
    """Why a host outside ``ALLOWED_HOSTS`` (an IP address, another domain) is refused, naming the hosts
    that are served: the pattern only, never which organizations exist."""
    base = settings.HUB_BASE_DOMAIN
    return (
        f"The Host header is not served here. This server answers the platform API at {base} "
        f"(/api/platform/v1/) and each organization at <slug>.{base} (/api/v1/), after "
        f"HUB_BASE_DOMAIN={base}. Call one of those names, or send one as the Host header "
        f"(curl -H 'Host: <slug>.{base}' ...)."
    )


def after_rollback(request: HttpRequest, func: Callable[[], None]) -> None:
    """Run ``func`` after the request's transaction is rolled back, in a fresh transaction of the
    request's organization (for records that must survive the rollback: the audit of reads made)."""
    request.__dict__.setdefault("_hub_after_rollback", []).append(func)


class TenantRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            host = request_host(request)
        except DisallowedHost:
            return BadRequest(served_hosts_detail(), code=HubErrorCode.BAD_HOST).response()
        try:
            return self._serve(request, host)
        except DatabaseError as exc:
            if not database_unreachable(exc):
                raise
            logger.warning("database unreachable on %s %s: %s", request.method, request.path, exc)
            return DatabaseUnavailable().response()

    def _serve(self, request: HttpRequest, host: str) -> HttpResponse:
        tenant_connection().set_schema_to_public()
        request.tenant = None  # type: ignore[attr-defined]
        if host == settings.HUB_BASE_DOMAIN:
            return self._serve_platform(request)
        tenant = tenant_for_host(host=host)
        if tenant is None:
            return TenantNotFound().response()
        if not tenant.is_active:
            return TenantSuspended().response()
        return self._serve_tenant(request, tenant)

    def _serve_platform(self, request: HttpRequest) -> HttpResponse:
        # The platform API touches only public tables and runs DDL on the owner connection
        # (provisioning). A request-wide transaction here would hold locks (the user mirror's row)
        # that the owner's DDL waits for: a deadlock between two connections of one thread.
        # Each platform service is atomic on its own instead.
        request.urlconf = settings.PUBLIC_SCHEMA_URLCONF  # type: ignore[attr-defined]
        request_authenticate(request, organization_id=None)
        return self.get_response(request)

    def _serve_tenant(self, request: HttpRequest, tenant: Organization) -> HttpResponse:
        request_authenticate(request, organization_id=tenant.organization_id, tenant=tenant)
        with transaction.atomic():
            try:
                tenant_connection().set_tenant(tenant)
                request.tenant = tenant  # type: ignore[attr-defined]
                request.urlconf = settings.ROOT_URLCONF  # type: ignore[attr-defined]
                response = self.get_response(request)
            finally:
                tenant_connection().set_schema_to_public()
            if response.status_code >= 400:
                transaction.set_rollback(True)
        callbacks = request.__dict__.get("_hub_after_rollback")
        if response.status_code >= 400 and callbacks:
            with tenant_context(tenant), transaction.atomic():
                for callback in callbacks:
                    callback()
        return response


class _PlatformOnly(MiddlewareMixin):
    """Runs the Django middleware it is mixed into on the bare domain only (the platform admin): a
    tenant host (``request.tenant`` set by ``TenantRoutingMiddleware``, which runs first) never reads a
    session, a user or messages, so no cookie can make a tenant request act as a platform admin."""

    sync_capable = True
    async_capable = False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if getattr(request, "tenant", None) is not None:
            return cast(HttpResponse, self.get_response(request))
        return cast(HttpResponse, super().__call__(request))


class PlatformSessionMiddleware(_PlatformOnly, SessionMiddleware):
    pass


class PlatformAuthenticationMiddleware(_PlatformOnly, AuthenticationMiddleware):
    pass


class PlatformMessageMiddleware(_PlatformOnly, MessageMiddleware):
    pass
