"""Reads of the public schema: organizations, routing, and the platform's audit trail."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.db.models import QuerySet

from apps.audit.selectors import CHAIN_BATCH, ChainHead, ChainReport, ChainSource, audit_chain_verify
from tenants.errors import TenantNotFound
from tenants.models import Domain, Organization, PlatformAuditEntry

# The platform trail for ``audit_chain_verify``: its table, and the digest its trigger computes
# (tenants migration 0005).
PLATFORM_CHAIN = ChainSource(
    table="public.tenants_platformauditentry", digest="public.platform_audit_entry_digest"
)


def tenant_list() -> QuerySet[Organization]:
    return Organization.objects.order_by("slug")


def tenant_get(*, organization_id: uuid.UUID) -> Organization:
    try:
        return Organization.objects.get(organization_id=organization_id)
    except Organization.DoesNotExist:
        raise TenantNotFound("No organization has this id.") from None


# Host -> organization routing runs on every request, so its answer is cached (issue 12):
#
# * in each process for ROUTE_LOCAL_SECONDS: the bound on how long another process may still serve a
#   host after a suspension, an activation, a rename or a deletion (a suspended tenant answers 403
#   within a second everywhere, with or without a shared cache);
# * in the shared cache (Redis, when REDIS_URL is set) for ROUTE_SHARED_SECONDS, each entry stamped with
#   the routes' version read before the database was: every change sets a new version, so an entry read
#   before a change (even one written after it) is never used again.
#
# The process making a change forgets its own routes at once and again at commit. Only committed rows
# are cached: a lookup made inside a transaction may see that transaction's own uncommitted changes,
# so it is not kept. What is kept is the organization's row only (id, schema, status...), rebuilt into
# a fresh instance per request; nothing in it outlives the bound.
ROUTE_LOCAL_SECONDS = 0.5
ROUTE_SHARED_SECONDS = 30
ROUTE_LOCAL_MAX_HOSTS = 1024
_ROUTE_VERSION_KEY = "hub:tenant-route:version"
_ROUTE_FIELDS = tuple(field.attname for field in Organization._meta.concrete_fields)
_Row = tuple[Any, ...] | None

_routes: dict[str, tuple[float, _Row]] = {}
_routes_generation = 0
_routes_lock = threading.Lock()


def _route_shared() -> bool:
    """Whether the Django cache is shared between processes (a per-process one could not be told of
    another process's changes, so it is not used here)."""
    return not isinstance(caches["default"], (LocMemCache, DummyCache))


def _route_key(host: str) -> str:
    return f"hub:tenant-route:{host}"


def _route_read(host: str) -> _Row:
    return (
        Domain.objects.filter(domain=host).values_list(*(f"tenant__{name}" for name in _ROUTE_FIELDS)).first()
    )


def _route_shared_read(host: str) -> _Row:
    found = cache.get_many([_ROUTE_VERSION_KEY, _route_key(host)])
    version, entry = found.get(_ROUTE_VERSION_KEY), found.get(_route_key(host))
    if version is None:
        cache.add(_ROUTE_VERSION_KEY, uuid.uuid4().hex, None)
        return _route_read(host)
    if entry is not None and entry[0] == version:
        return entry[1]
    row = _route_read(host)
    cache.set(_route_key(host), (version, row), ROUTE_SHARED_SECONDS)
    return row


def tenant_for_host(*, host: str) -> Organization | None:
    """The organization served at ``host`` (already lower-cased, without port), if any."""
    if connection.in_atomic_block:
        row = _route_read(host)
    else:
        cached = _routes.get(host)
        if cached is not None and cached[0] > time.monotonic():
            row = cached[1]
        else:
            generation = _routes_generation
            expires = time.monotonic() + ROUTE_LOCAL_SECONDS
            row = _route_shared_read(host) if _route_shared() else _route_read(host)
            with _routes_lock:
                if generation == _routes_generation:
                    if len(_routes) >= ROUTE_LOCAL_MAX_HOSTS:
                        _routes.clear()
                    _routes[host] = (expires, row)
    return None if row is None else Organization.from_db(connection.alias, _ROUTE_FIELDS, row)


def tenant_routes_forget() -> None:
    """Forget every cached host -> organization route, in this process and in the shared cache: called
    by ``tenants.services`` on each change of an organization (at once, and again at its commit)."""
    global _routes_generation
    with _routes_lock:
        _routes_generation += 1
        _routes.clear()
    if _route_shared():
        cache.set(_ROUTE_VERSION_KEY, uuid.uuid4().hex, None)


def platform_audit_list(
    *, organization_id: uuid.UUID | None = None, action: str | None = None
) -> QuerySet[PlatformAuditEntry]:
    """The platform's audit entries, newest first, optionally of one organization or one action (pages
    are cut by ``api.pagination``'s keyset cursor)."""
    entries = PlatformAuditEntry.objects.all()
    if organization_id is not None:
        entries = entries.filter(organization_id=organization_id)
    if action is not None:
        entries = entries.filter(action=action)
    return entries.order_by("-sequence")


def platform_audit_verify(
    anchor: ChainHead | None = None,
    *,
    batch: int = CHAIN_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Walk the platform's audit chain as the tenant trail's is walked (``audit_chain_verify``: in
    batches of ``batch`` entries, ``on_batch`` after each)."""
    return audit_chain_verify(anchor, chain=PLATFORM_CHAIN, batch=batch, on_batch=on_batch)
