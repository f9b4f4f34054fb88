"""The worker as operators run it: ``manage.py run_worker`` as a real process (runs a job a request
deferred, counted by ``/readyz/workers``, stops gracefully on SIGTERM), ``python -m hub.serve`` (what
``make run`` serves with: gunicorn and a worker, stopped together), and the compose ``worker`` services.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from django.db import connections, transaction
from django.test import Client
from django_tenants.utils import tenant_context

from apps.ledger.tasks import idempotency_keys_purge_job
from tenants.job_selectors import workers_alive_count
from tenants.jobs import tenant_job_defer
from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_provision
from tests.helpers import free_port, session_database_url
from tests.jobs import job_rows

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_SECONDS = 60.0


def _environment(**extra: str) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("DATABASE_", "HUB_DB_"))
    }
    environment.update(
        HUB_ENV="test",
        DATABASE_URL=session_database_url("default"),
        DATABASE_OWNER_URL=session_database_url(MIGRATION_ALIAS),
        **extra,
    )
    return environment


def _wait_until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.05)  # polling interval, bounded by the deadline


def _workers_forget() -> None:
    """Drop the registrations a killed worker left (it never unregistered)."""
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute("DELETE FROM public.procrastinate_workers")


@pytest.fixture
def tenant(job_queue: None) -> Organization:
    """A committed organization of this test (deleted by ``committed_db``)."""
    return tenant_provision(
        organization_id=uuid.uuid4(),
        slug=f"worker-{uuid.uuid4().hex[:6]}",
        name="Worker",
        check_identity=False,
    )


def _failed_job(tenant: Organization) -> int:
    """A failed purge job of ``tenant`` (scheduled later first, so that no worker takes it meanwhile)."""
    with tenant_context(tenant), transaction.atomic():
        job_id = tenant_job_defer(idempotency_keys_purge_job, job_options={"schedule_in": {"hours": 1}})
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute("UPDATE public.procrastinate_jobs SET status = 'failed' WHERE id = %s", [job_id])
    return job_id


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own command
        [
            *(sys.executable, "manage.py", "run_worker", "--no-periodic", "--queue", "maintenance"),
            *("--poll-seconds", "0.2", "--name", "test-worker"),
        ],
        cwd=ROOT,
        env=_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()
        _workers_forget()
    log.close()


def test_a_worker_process_runs_the_job_a_request_queued_and_stops_gracefully(
    tenant: Organization, worker_process: subprocess.Popen[bytes], platform_client: Client, tmp_path: Path
) -> None:
    probe = Client(headers={"Host": "localhost"})
    _workers_forget()
    assert probe.get("/readyz/workers").status_code == 503
    _wait_until(lambda: workers_alive_count() >= 1, "the worker never registered")
    response = probe.get("/readyz/workers")
    assert (response.status_code, response.json()["workers"]) == (200, 1)

    job_id = _failed_job(tenant)
    retried = platform_client.post(f"/api/platform/v1/jobs/{job_id}/retry")  # the request queues it again
    assert retried.status_code == 200, retried.content
    _wait_until(lambda: job_rows(id=job_id)[0]["status"] == "succeeded", "the worker never ran the job")

    worker_process.send_signal(signal.SIGTERM)
    assert worker_process.wait(timeout=DEADLINE_SECONDS) == 0
    assert workers_alive_count() == 0  # it unregistered on its way out
    assert probe.get("/readyz/workers").status_code == 503
    log = (tmp_path / "worker.log").read_text()
    assert "Stop requested" in log
    assert "worker test-worker stopped" in log


# --- python -m hub.serve (make run) --------------------------------------------------------------


class Served:
    """``python -m hub.serve`` on a free port, its output in a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.log_path = tmp_path / "serve.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.serve"],
            cwd=ROOT,
            env=_environment(HUB_HOST="127.0.0.1", HUB_PORT=str(self.port), HUB_WORKERS="1"),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def pids(self) -> dict[str, int]:
        """The children's pids, as the launcher printed them."""
        found = {}
        for line in self.log_path.read_text().splitlines():
            if " started (pid " in line:
                name = line.split()[1]
                found[name] = int(line.split("(pid ")[1].split(")")[0])
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.pids().values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.log.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not reaped by its dead parent yet) counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


@pytest.fixture
def served(tmp_path: Path, job_queue: None) -> Iterator[Served]:
    _workers_forget()
    launched = Served(tmp_path)
    yield launched
    launched.stop()
    _workers_forget()


def test_make_run_starts_the_web_server_and_a_worker_and_stops_both(served: Served) -> None:
    _wait_until(served.healthy, "gunicorn never answered")
    _wait_until(lambda: workers_alive_count() >= 1, "the worker never registered")
    pids = served.pids()
    assert set(pids) == {"web", "worker"}
    served.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert served.process.wait(timeout=DEADLINE_SECONDS) == 0
    assert all(_gone(pid) for pid in pids.values())
    assert not served.healthy()
    assert workers_alive_count() == 0


def test_make_run_stops_the_web_server_when_the_worker_dies(served: Served) -> None:
    _wait_until(served.healthy, "gunicorn never answered")
    _wait_until(lambda: len(served.pids()) == 2, "the launcher never named both")
    pids = served.pids()
    os.killpg(pids["worker"], signal.SIGKILL)
    assert served.process.wait(timeout=DEADLINE_SECONDS) == 1
    assert _gone(pids["web"])
    assert "worker exited" in served.log_path.read_text()


# --- docker-compose.yml ----------------------------------------------------------------------------


def test_compose_runs_a_worker_in_both_profiles_straight_to_postgres() -> None:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    workers = {name: s for name, s in services.items() if "run_worker" in " ".join(s.get("command", []))}
    assert {tuple(s["profiles"]) for s in workers.values()} == {("dev",), ("prod",)}
    for name, service in workers.items():
        assert "ports" not in service, name
        environment = service["environment"]
        # LISTEN needs a real session: never through PgBouncer; the runtime role, not the owner.
        assert "pgbouncer" not in environment["DATABASE_URL"], name
        assert environment["DATABASE_URL"].startswith("postgresql://hub_app:"), name
        assert int(str(service["stop_grace_period"]).rstrip("s")) > 30, name  # past the jobs' 30 s
