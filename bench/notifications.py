"""Events through alert rules to inboxes (and email), with real workers: throughput, latency, emit cost.

``.venv/bin/python bench/notifications.py --help``. Not part of the test suite.

1. prepare a database of its own (embedded ``hub_notif_bench`` unless ``DATABASE_URL`` is set):
   migrate, provision ``--organizations`` organizations (``notifbench-0`` ...) when missing; in each,
   one member and one rule (``transaction.posted`` with ``amount >= 10`` -> ``in_app`` and, when the
   fake communication service is available, ``email``); earlier runs' rows are deleted first;
2. the CPU an emitting request pays (``time.process_time`` around 1,000 ``event_emit`` calls in one
   transaction, rolled back): for a type a rule wants (the event and its job) and one no rule wants;
3. start ``--workers`` worker processes (``manage.py run_worker``), then emit ``--events`` events,
   round-robin over the organizations, each in its own transaction as a request would; wait until every
   event is processed and every delivery delivered to the fake receiver (``apps.deliveries.fake_receiver``);
4. check each inbox holds its own organization's notifications only (and each email went to its own
   organization's member), print the figures and write ``bench/results/notifications.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entities_list import PYTHON, RESULTS_DIR, ROOT, latency_summary, log, run

BENCH_DATABASE = "hub_notif_bench"
SLUG_PREFIX = "notifbench"
RESULTS_FILE = RESULTS_DIR / "notifications.json"
NAMESPACE = uuid.UUID("6e07ee00-0000-4000-8000-000000000000")


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HUB_ENV"] = "dev"
    if not env.get("DATABASE_URL"):
        env["HUB_EMBEDDED_DATABASE"] = BENCH_DATABASE
    env.setdefault("HUB_LOG_LEVEL", "WARNING")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def prepare(env: dict[str, str], slugs: list[str]) -> None:
    log("preparing the bench database: migrate_schemas ...")
    run([PYTHON, "manage.py", "migrate_schemas"], env, what="migrate_schemas", timeout=1800)
    existing = json.loads(run([PYTHON, "-m", "bench.prepare", "tenants", *slugs], env, what="tenants"))
    for slug in slugs:
        if existing.get(slug) is None:
            organization_id = str(uuid.uuid5(NAMESPACE, slug))
            command = [PYTHON, "manage.py", "provision_tenant", "--skip-identity-check"]
            command += ["--organization-id", organization_id, "--slug", slug, "--name", slug]
            run(command, env, what=f"provision_tenant {slug}")


def fake_receiver_start() -> Any:
    """deliv's fake communication service, if this tree has it (else the run is in-app only)."""
    try:
        from apps.deliveries.fake_receiver import FakeReceiver
    except ImportError:
        return None
    return FakeReceiver().start()


def organizations_set_up(slugs: list[str], channels: list[str]) -> list[tuple[Any, Any]]:
    """Each organization emptied of earlier runs' rows, with its member and its rule."""
    from django.db import connections, transaction
    from django_tenants.utils import tenant_context

    from apps.deliveries.models import Delivery, DeliveryAttempt
    from apps.members.models import MemberRole
    from apps.members.services import member_role_set
    from apps.notifications.models import AlertRule, Dispatch, Event, Notification
    from apps.notifications.services import rule_create
    from tenants.models import Organization, User
    from tenants.routers import MIGRATION_ALIAS

    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute("DELETE FROM public.procrastinate_jobs")
    set_up = []
    for slug in slugs:
        tenant = Organization.objects.get(slug=slug)
        user_id = uuid.uuid5(NAMESPACE, f"user-{slug}")
        user, _ = User.objects.get_or_create(id=user_id, defaults={"email": f"{slug}@bench.example.com"})
        with tenant_context(tenant), transaction.atomic():
            for model in (Notification, Dispatch, DeliveryAttempt, Delivery, Event, AlertRule):
                model.objects.all()._raw_delete(model.objects.db)
            member_role_set(actor=None, user_id=user.id, role=MemberRole.ADMIN, email=user.email)
            rule_create(
                actor=user,
                name="Payments",
                event_type="transaction.posted",
                conditions=[{"field": "amount", "op": "gte", "value": "10"}],
                recipients={"user_ids": [str(user.id)]},
                channels=channels,
            )
        set_up.append((tenant, user))
    return set_up


def _payment(index: int) -> dict[str, Any]:
    return {"transaction_id": str(uuid.uuid4()), "amount": f"{10 + index % 990}.00", "currency": "EUR"}


def emit_cost(tenant: Any, count: int = 1000) -> dict[str, float]:
    """CPU (this process) and wall time per ``event_emit`` in one transaction, rolled back."""
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from apps.notifications.events import event_emit

    figures = {}
    for label, event_type in (("with_rule", "transaction.posted"), ("no_rule", "transaction.voided")):
        with tenant_context(tenant), transaction.atomic():
            event_emit(event_type=event_type, payload=_payment(0))  # warm
            cpu, wall = time.process_time(), time.perf_counter()
            for index in range(count):
                event_emit(event_type=event_type, payload=_payment(index))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            transaction.set_rollback(True)
        figures[f"{label}_cpu_us"] = round(cpu / count * 1e6, 1)
        figures[f"{label}_wall_us"] = round(wall / count * 1e6, 1)
    return figures


def workers_start(env: dict[str, str], count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    if (ROOT / "tenants/management/commands/run_worker.py").exists():
        command = [PYTHON, "manage.py", "run_worker", "--concurrency", str(concurrency), "--no-periodic"]
    else:
        command = [PYTHON, "manage.py", "procrastinate", "worker", "--concurrency", str(concurrency)]
    return [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]


def workers_stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def emit_all(set_up: list[tuple[Any, Any]], events: int) -> float:
    """``events`` events, round-robin, one transaction each; how long it took."""
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from apps.notifications.events import event_emit

    began = time.perf_counter()
    for index in range(events):
        tenant, user = set_up[index % len(set_up)]
        with tenant_context(tenant), transaction.atomic():
            event_emit(event_type="transaction.posted", payload=_payment(index), actor_id=user.id)
    return time.perf_counter() - began


def _pending(set_up: list[tuple[Any, Any]], email: bool) -> int:
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from apps.deliveries.models import Delivery
    from apps.notifications.models import Event

    left = 0
    for tenant, _ in set_up:
        with tenant_context(tenant), transaction.atomic():
            left += Event.objects.filter(processed_at__isnull=True).count()
            if email:
                left += Delivery.objects.exclude(status="delivered").count()
    return left


def wait_done(set_up: list[tuple[Any, Any]], email: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = _pending(set_up, email)
        if left == 0:
            return True
        log(f"  ... {left} events or deliveries still pending")
        time.sleep(2)
    return False


def measure(set_up: list[tuple[Any, Any]], events: int, receiver: Any) -> dict[str, Any]:
    """Throughput, latencies and the isolation check, from the rows the run left."""
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from apps.deliveries.models import Delivery
    from apps.notifications.models import Event, Notification

    first: datetime.datetime | None = None
    last: datetime.datetime | None = None
    in_app_ms: list[float] = []
    email_ms: list[float] = []
    problems: list[str] = []
    for tenant, user in set_up:
        with tenant_context(tenant), transaction.atomic():
            occurred = dict(Event.objects.values_list("id", "occurred_at"))
            processed = [at for at in Event.objects.values_list("processed_at", flat=True) if at is not None]
            first = min([first, *occurred.values()] if first else occurred.values())
            last = max([last, *processed] if last else processed)
            rows = list(Notification.objects.values_list("event_id", "user_id", "created_at"))
            if len(rows) != len(occurred) or {row[1] for row in rows} != {user.id}:
                problems.append(f"{tenant.slug}: {len(rows)} notifications for {len(occurred)} events")
            if {row[0] for row in rows} - set(occurred):
                problems.append(f"{tenant.slug}: a notification of an event not its own")
            in_app_ms += [(at - occurred[event_id]).total_seconds() * 1000 for event_id, _, at in rows]
            for event_id, delivered_at in Delivery.objects.values_list("event_id", "delivered_at"):
                if event_id is not None and delivered_at is not None:
                    email_ms.append((delivered_at - occurred[event_id]).total_seconds() * 1000)
    if receiver is not None:
        sent = [request.body for request in receiver.accepted.values()]
        if len(sent) != events:
            problems.append(f"the receiver accepted {len(sent)} emails for {events} events")
        addresses = {body.get("to") for body in sent}
        expected = {user.email for _, user in set_up}
        if addresses != expected:
            problems.append("emails went to addresses outside the organizations' members")
    assert first is not None
    assert last is not None
    seconds = (last - first).total_seconds()
    in_app_ms.sort()
    email_ms.sort()
    return {
        "events": events,
        "seconds_first_event_to_last_processed": round(seconds, 2),
        "events_per_second": round(events / seconds, 1),
        "in_app_latency_ms": {k: round(v, 1) for k, v in latency_summary(in_app_ms).items()},
        "email_latency_ms": (
            {k: round(v, 1) for k, v in latency_summary(email_ms).items()} if email_ms else None
        ),
        "isolation_problems": problems,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--organizations", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs at once per worker")
    parser.add_argument("--in-app-only", action="store_true", help="no email (no fake receiver)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)

    env = bench_env()
    slugs = [f"{SLUG_PREFIX}-{index}" for index in range(args.organizations)]
    prepare(env, slugs)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    import django

    django.setup()
    receiver = None if args.in_app_only else fake_receiver_start()
    if receiver is not None:
        env["COMMUNICATION_SERVICE_URL"] = receiver.url
    channels = ["in_app", "email"] if receiver is not None else ["in_app"]
    log(f"channels: {', '.join(channels)}")
    set_up = organizations_set_up(slugs, channels)
    cost = emit_cost(set_up[0][0])
    log(f"emit cost: {cost}")
    workers = workers_start(env, args.workers, args.concurrency)
    try:
        emitting = emit_all(set_up, args.events)
        log(f"emitted {args.events} events in {emitting:.1f} s; waiting for the workers ...")
        done = wait_done(set_up, receiver is not None, args.timeout)
    finally:
        workers_stop(workers)
        if receiver is not None:
            receiver.stop()
    result = {
        "when": datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds"),
        "organizations": args.organizations,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "channels": channels,
        "all_done": done,
        "emit_seconds": round(emitting, 2),
        "emit_cost_per_event": cost,
        **measure(set_up, args.events, receiver),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if done and not result["isolation_problems"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
