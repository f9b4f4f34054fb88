"""Prometheus metrics of the Hub: per-route request rate, latency and errors, the database pool, and
scrape-time gauges that other modules register (job queue depth, audit-sealer lag).

``GET /metrics`` (any host, like ``/healthz``) answers the text exposition format to a caller that
sends ``Authorization: Bearer <HUB_METRICS_TOKEN>``; with no token configured it is a 404, so nothing
is exposed by default.

Labels are bounded: ``route`` is the URL pattern that served the request (``api/v1/entities/<uuid:
entity_id>``), never the raw path nor the tenant; ``/healthz``, ``/readyz`` and ``/metrics`` are their
own routes and anything no pattern matched is ``unmatched``. ``method`` is one of the HTTP methods
(``other`` for anything else) and ``status`` the response code.

Under gunicorn every worker is a process of its own: ``platform/gunicorn.conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers load the Hub, so each worker writes its values to a
memory-mapped file there and a scrape (answered by any one worker) sums them all. Without it (``manage.py
runserver``, tests) the values live in the process.

Gauges computed when scraped rather than per request (a count in the database, say) are registered
with ``gauge_hook_register``; the names reserved for the background jobs and the audit sealer are
``hub_jobs_queue_depth`` (label ``queue``) and ``hub_audit_seal_lag_seconds``.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.errors import HubErrorCode

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# Answered by middleware before any URL pattern is resolved: each is a route of its own.
_PROBE_ROUTES = {
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/readyz/workers": "readyz_workers",
    METRICS_PATH: "metrics",
}
_UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; from a cached read (a few ms) to past gunicorn's 30 s timeout.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The pool's state is copied into the gauges at most this often per process (and at every scrape).
POOL_SAMPLE_SECONDS = 1.0

REQUESTS = Counter(
    "hub_http_requests", "HTTP requests answered, by route, method and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "hub_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and method.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
# ``livesum``: the sum over the workers alive now (a gauge of a dead worker is dropped by child_exit).
POOL_CONNECTIONS = Gauge(
    "hub_db_pool_connections",
    "Runtime connections of the database pools: open, idle (open and not lent) and max, all workers.",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "hub_db_pool_waiting_requests",
    "Requests waiting for a pooled database connection now, all workers.",
    multiprocess_mode="livesum",
)
POOL_WAIT = Counter("hub_db_pool_wait_seconds", "Time requests spent waiting for a pooled connection.")
POOL_TIMEOUTS = Counter(
    "hub_db_pool_timeouts", "Requests that got no pooled connection in time (503 database_unavailable)."
)


@dataclass(frozen=True)
class GaugeHook:
    name: str
    documentation: str
    labelnames: tuple[str, ...]
    read: Callable[[], float | Mapping[tuple[str, ...], float]]


_gauge_hooks: dict[str, GaugeHook] = {}


def gauge_hook_register(
    *,
    name: str,
    documentation: str,
    read: Callable[[], float | Mapping[tuple[str, ...], float]],
    labelnames: Sequence[str] = (),
) -> None:
    """Add a gauge whose value ``read()`` gives when ``/metrics`` is scraped: a number, or a mapping
    from label values (in ``labelnames`` order) to numbers. Registering a name again replaces it.

    ``read`` runs in the worker that answers the scrape, outside any tenant context: it must give the
    value of the whole deployment (a count in the database), not of its process. One that raises is
    left out of that scrape and logged; the rest of the page is served.
    """
    _gauge_hooks[name] = GaugeHook(name, documentation, tuple(labelnames), read)


def gauge_hook_unregister(*, name: str) -> None:
    """Remove a gauge added by ``gauge_hook_register`` (nothing when there is none)."""
    _gauge_hooks.pop(name, None)


class _GaugeHooksCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        for hook in list(_gauge_hooks.values()):
            try:
                value = hook.read()
            except Exception:
                logger.exception("metrics: the gauge %s could not be read", hook.name)
                continue
            family = GaugeMetricFamily(hook.name, hook.documentation, labels=hook.labelnames)
            if isinstance(value, Mapping):
                for labels, sample in value.items():
                    family.add_metric(list(labels), float(sample))
            else:
                family.add_metric([], float(value))
            yield family


def metrics_exposition() -> bytes:
    """The text exposition of every metric: summed over gunicorn's workers in multiprocess mode."""
    pool_sample()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scrape = CollectorRegistry()
    scrape.register(_RegistryCollector(registry))
    scrape.register(_GaugeHooksCollector())
    return generate_latest(scrape)


class _RegistryCollector(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        return iter(self.registry.collect())


_last_pool_sample = -math.inf  # the first request of a process samples


def pool_sample() -> None:
    """Copy this process's pool state into the pool gauges and counters."""
    global _last_pool_sample
    _last_pool_sample = time.perf_counter()
    wrapper = connections["default"]
    # Django keeps a process's pools in this class-level dict; ``wrapper.pool`` would create one.
    pool = getattr(wrapper, "_connection_pools", {}).get(wrapper.alias)
    if pool is None:
        return
    stats = pool.pop_stats()  # the counters since the last call, and the pool's state now
    POOL_CONNECTIONS.labels("open").set(stats.get("pool_size", 0))
    POOL_CONNECTIONS.labels("idle").set(stats.get("pool_available", 0))
    POOL_CONNECTIONS.labels("max").set(stats.get("pool_max", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))
    POOL_WAIT.inc(stats.get("requests_wait_ms", 0) / 1000)
    POOL_TIMEOUTS.inc(stats.get("requests_errors", 0))


def request_route(request: HttpRequest) -> str:
    """The bounded ``route`` label of a request: its URL pattern, a probe's name, or ``unmatched``."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return str(match.route)
    return _PROBE_ROUTES.get(request.path, _UNMATCHED_ROUTE)


class MetricsMiddleware:
    """Counts and times every request by route; serves ``/metrics`` to the holder of the token."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = _metrics_serve(request) if request.path == METRICS_PATH else self.get_response(request)
        route = request_route(request)
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
        if started - _last_pool_sample >= POOL_SAMPLE_SECONDS:
            pool_sample()
        return response


def _metrics_serve(request: HttpRequest) -> HttpResponse:
    token: str = settings.HUB_METRICS_TOKEN or ""
    if not token:
        return _error("Not found.", HubErrorCode.NOT_FOUND, 404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = _error(
            "The metrics need the bearer token HUB_METRICS_TOKEN.", HubErrorCode.NOT_AUTHENTICATED, 401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)


def _error(detail: str, code: HubErrorCode, status: int) -> HttpResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)
