"""Latency of the free-slot search: one resource, a 90-day window, 2,000 existing bookings.

``make bench-scheduling`` (or ``.venv/bin/python bench/scheduling_availability.py [--runs N]``):

1. prepare a database of its own (embedded ``hub_bench_sched`` unless ``DATABASE_URL`` is set):
   migrate, provision the ``bench-sched`` organization when missing, and give it one resource (Berlin,
   open every day 07:00-22:00) holding exactly 2,000 confirmed 30-minute bookings spread over the
   90 days (idempotent: reseeded only when they differ);
2. measure ``apps.scheduling.selectors.free_slots`` directly (its queries, the interval arithmetic
   and its audit entry); ``GET /api/v1/scheduling/availability`` through Django's full request stack
   (middleware, token check, tenant routing, transaction, audit flush, JSON) with the in-process test
   client; and the same request over HTTP to gunicorn started as ``make run`` starts it
   (``bench.entities_list.gunicorn_server``), one keep-alive client, requests one after another;
3. print p50/p95/max per path and write ``bench/results/scheduling_availability.json``.

Each in-process call runs in a transaction that is rolled back, so the audit table does not grow with
the run; the gunicorn requests commit their audit entries, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.django_setup import ROOT, django_setup

RESULTS_FILE = ROOT / "bench" / "results" / "scheduling_availability.json"
BENCH_DATABASE = "hub_bench_sched"
ORGANIZATION_ID = uuid.UUID("00000000-0000-4000-8000-0000005c4ed1")
SLUG = "bench-sched"
BOOKINGS = 2_000
DAYS = 90
FIRST_DAY = datetime(2027, 1, 4, tzinfo=UTC)
ZONE = "Europe/Berlin"
OPENS, CLOSES = 7, 22  # local hours, every day
SLOT_MINUTES, GAP_MINUTES = 30, 8


def _booking_starts() -> list[datetime]:
    """2,000 starts: 30 minutes each, 8 minutes apart, from 07:00 local each day, day after day."""
    zone, starts = ZoneInfo(ZONE), []
    for day in range(DAYS):
        local_day = (FIRST_DAY + timedelta(days=day)).date()
        first = datetime(local_day.year, local_day.month, local_day.day, OPENS, tzinfo=zone)
        for index in range(23):
            starts.append((first + timedelta(minutes=index * (SLOT_MINUTES + GAP_MINUTES))).astimezone(UTC))
    return starts[:BOOKINGS]


def prepare() -> Any:
    """The bench organization and its seeded resource (created or reseeded when needed)."""
    from datetime import time as clock

    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from apps.scheduling import services
    from apps.scheduling.availability import WeeklyHours
    from apps.scheduling.models import Booking, Resource
    from tenants.models import Organization
    from tenants.services import tenant_provision

    call_command("migrate_schemas", verbosity=0)
    tenant = Organization.objects.filter(organization_id=ORGANIZATION_ID).first()
    if tenant is None:
        tenant = tenant_provision(
            organization_id=ORGANIZATION_ID, slug=SLUG, name="Bench", check_identity=False
        )
    with tenant_context(tenant):
        resource = Resource.objects.filter(name="Bench room", deleted_at__isnull=True).first()
        if resource is None:
            resource = services.resource_create(kind="room", name="Bench room", timezone=ZONE)
            weekly = [WeeklyHours(day, clock(OPENS), clock(CLOSES)) for day in range(7)]
            services.availability_set(resource=resource, weekly=weekly, exceptions=[])
        starts = _booking_starts()
        seeded = Booking.objects.filter(resource=resource).order_by("start").values_list("start", flat=True)
        if list(seeded) != starts:
            Booking.objects.filter(resource=resource).delete()
            length = timedelta(minutes=SLOT_MINUTES)
            Booking.objects.bulk_create(
                Booking(
                    resource=resource,
                    resource_key=resource.key,
                    exclusive=True,
                    start=start,
                    end=start + length,
                )
                for start in starts
            )
    return tenant, resource


def _timed(call: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    from django.db import transaction

    samples = []
    for index in range(warmup + runs):
        began = time.perf_counter()
        with transaction.atomic():
            call()
            transaction.set_rollback(True)
        if index >= warmup:
            samples.append((time.perf_counter() - began) * 1000)
    return sorted(samples)


def _summary(samples: list[float]) -> dict[str, float]:
    def pick(percent: float) -> float:
        return samples[min(len(samples) - 1, round(percent / 100 * (len(samples) - 1)))]

    return {
        "runs": len(samples),
        "p50_ms": round(pick(50), 2),
        "p95_ms": round(pick(95), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "max_ms": round(samples[-1], 2),
    }


def _gunicorn_samples(host: str, token: str, query: dict[str, str], runs: int, warmup: int) -> list[float]:
    """The request over a socket to gunicorn (``make run``'s configuration), one client."""
    import httpx

    from bench.entities_list import Variant, gunicorn_server

    env = {**os.environ, "HUB_LOG_FORMAT": "json"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    samples = []
    with gunicorn_server(Variant("scheduling", "the Hub", "hub.settings"), env) as server:
        headers = {"Host": host, "Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            for index in range(warmup + runs):
                began = time.perf_counter()
                response = client.get("/api/v1/scheduling/availability", params=query)
                elapsed = (time.perf_counter() - began) * 1000
                assert response.status_code == 200, response.text
                if index >= warmup:
                    samples.append(elapsed)
    return sorted(samples)


def measure(tenant: Any, resource: Any, runs: int, warmup: int, minutes: int) -> dict[str, Any]:
    import jwt
    from django.conf import settings
    from django.test import Client
    from django_tenants.utils import tenant_context

    from apps.scheduling import selectors

    window_start, window_end = FIRST_DAY, FIRST_DAY + timedelta(days=DAYS)
    duration = timedelta(minutes=minutes)

    def direct() -> None:
        with tenant_context(tenant):
            found = selectors.free_slots(
                resource_id=resource.id, start=window_start, end=window_end, duration=duration
            )
        assert found.slots

    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(uuid.UUID(int=0x5C4ED)),
        "email": "bench@example.com",
        "tenant_id": str(ORGANIZATION_ID),
    }
    claims |= {"type": "access", "iat": now, "exp": now + 3600, "roles": ["viewer"]}
    token = jwt.encode(claims, settings.IDENTITY_JWT_SECRET, algorithm="HS256")
    client = Client(headers={"Host": tenant.primary_domain, "Authorization": f"Bearer {token}"})
    query = {
        "resource": str(resource.id),
        "from": window_start.isoformat(),
        "to": window_end.isoformat(),
        "duration": str(minutes),
    }

    def http() -> None:
        response = client.get("/api/v1/scheduling/availability", query)
        assert response.status_code == 200, response.content

    return {
        "selector": _summary(_timed(direct, runs, warmup)),
        "http_in_process": _summary(_timed(http, runs, warmup)),
        "http_gunicorn": _summary(_gunicorn_samples(tenant.primary_domain, token, query, runs, warmup)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--duration",
        type=int,
        default=30,
        help="minutes (default 30: about 90 slots per answer; 5 makes every 8-minute gap one, about 2,000)",
    )
    options = parser.parse_args(argv)
    django_setup(BENCH_DATABASE)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    tenant, resource = prepare()
    results = measure(tenant, resource, options.runs, options.warmup, options.duration)
    report = {
        "what": f"free slots, 1 resource, {DAYS}-day window, {BOOKINGS} bookings, {options.duration} min",
        "database": os.environ.get("DATABASE_URL", f"embedded {BENCH_DATABASE}").rsplit("@", 1)[-1],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **results,
    }
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n")
    for path, figures in results.items():
        print(
            f"{path:>16}: p50 {figures['p50_ms']:7.2f} ms   p95 {figures['p95_ms']:7.2f} ms   "
            f"max {figures['max_ms']:7.2f} ms   ({figures['runs']} runs)"
        )
    print(f"written: {RESULTS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
