"""A real worker process killed (SIGKILL) while the receiver holds its call: the job is put back by the
stalled-job retry, a new worker sends again with the same Idempotency-Key, the receiver keeps it once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django_tenants.utils import tenant_context

from apps.deliveries.fake_receiver import FakeReceiver
from apps.deliveries.models import Delivery, DeliveryAttempt
from apps.deliveries.tasks import SEND_TASK, stalled_send_jobs_retry
from apps.deliveries.tests.conftest import Enqueue
from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tests.helpers import session_database_url
from tests.jobs import job_rows

pytestmark = pytest.mark.usefixtures("delivery_queue")

PROJECT_DIR = Path(__file__).resolve().parents[3]


def _worker(receiver: FakeReceiver, *extra: str) -> subprocess.Popen[str]:
    """``manage.py procrastinate worker`` on the deliveries queue, on this session's database."""
    inherited = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {
        **inherited,
        "HUB_ENV": "test",
        "DATABASE_URL": session_database_url("default"),
        "DATABASE_OWNER_URL": session_database_url(MIGRATION_ALIAS),
        "COMMUNICATION_SERVICE_URL": receiver.url,
        "HUB_DELIVERY_RETRY_BASE_SECONDS": "0",
    }
    return subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "manage.py", "procrastinate", "worker", "--queues", "deliveries", *extra],
        cwd=PROJECT_DIR,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_killed_mid_delivery_is_retried_and_the_receiver_keeps_it_once(
    org_a: Organization, receiver: FakeReceiver, enqueue: Enqueue
) -> None:
    receiver.hold = threading.Event()
    delivery = enqueue(org_a)
    worker = _worker(receiver)
    try:
        assert receiver.received.wait(120), "the worker never called the receiver"
        # Mid-call: the attempt is committed, and the worker holds no transaction open meanwhile.
        with tenant_context(org_a):
            assert Delivery.objects.get(pk=delivery.pk).status == "sending"
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0
        # The receiver has the delivery; the worker waits for the answer: kill it there.
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    receiver.hold.set()
    receiver.hold = None
    assert [row["status"] for row in job_rows(task_name=SEND_TASK)] == ["doing"]
    with tenant_context(org_a):
        assert Delivery.objects.get(pk=delivery.pk).status == "sending"

    assert stalled_send_jobs_retry(seconds_since_heartbeat=0) == 1
    restarted = _worker(receiver, "--one-shot")
    _, errors = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, errors

    with tenant_context(org_a):
        assert Delivery.objects.get(pk=delivery.pk).status == "delivered"
        attempts = list(DeliveryAttempt.objects.filter(delivery_id=delivery.pk).order_by("number"))
    assert [(a.number, a.outcome) for a in attempts] == [(1, "interrupted"), (2, "delivered")]
    assert attempts[1].http_status == 200  # the receiver's answer to a duplicate
    assert [r.idempotency_key for r in receiver.requests] == [str(delivery.pk)] * 2
    assert receiver.accepted_keys() == [str(delivery.pk)]  # received twice, kept once
    assert [row["status"] for row in job_rows(task_name=SEND_TASK)] == ["succeeded"]


def test_a_live_workers_job_is_not_taken_for_stalled(org_a: Organization, enqueue: Any) -> None:
    enqueue(org_a)
    assert stalled_send_jobs_retry() == 0  # queued, not doing: nothing to put back
