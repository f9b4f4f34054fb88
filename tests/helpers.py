"""Assertions and helpers shared by every test suite."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.db import connections, transaction

from tenants.db import tenant_connection
from tenants.routers import MIGRATION_ALIAS

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

    from tenants.models import Organization


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape: JSON ``{"detail", "code"}``, plus ``errors`` on every 422."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    if code is not None:
        assert body["code"] == code, body
    if status == 422:
        assert isinstance(body["errors"], list)
        assert body["errors"]
    return body


@contextmanager
def owner_cursor(tenant: Organization) -> Iterator[CursorWrapper]:
    """A cursor of the owner role in ``tenant``'s schema, in a transaction committed on exit: what only
    the owner can do (tampering with the audit trail, adding a table), as an attacker with it would."""
    owner = tenant_connection(MIGRATION_ALIAS)
    owner.set_tenant(tenant)
    try:
        with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
            yield cursor
    finally:
        owner.set_schema_to_public()


def lock_waiters() -> int:
    """Backends of this database waiting for a lock: a row lock, an advisory lock, another insert."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the transaction sees its first snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def wait_until(done: Callable[[], bool], *, seconds: float = 10) -> bool:
    """Poll ``done()`` (a state other threads bring about, such as a backend waiting on a lock) until
    it holds or ``seconds`` pass; whether it holds."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return done()


def staged(first: Callable[[], Any], second: Callable[[], Any]) -> dict[str, Any]:
    """A race staged without sleeps: ``first`` runs in a transaction (in a thread) that stays open
    until ``second`` (another thread, started once ``first`` is done) waits on a lock; then it
    commits. Each callable's result or error is in the outcome."""
    first_done = threading.Event()
    outcome: dict[str, Any] = {}

    def run_first() -> None:
        try:
            with transaction.atomic():
                outcome["first"] = first()
                first_done.set()
                outcome["second_waited"] = wait_until(lambda: lock_waiters() > 0)
        finally:
            first_done.set()
            connections.close_all()

    def run_second() -> None:
        try:
            first_done.wait(10)
            outcome["second"] = second()
        except Exception as exc:  # the outcome the test asserts
            outcome["second"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome.get("second_waited"), "the second never waited on the first: the race was not staged"
    return outcome


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn_serving(
    environment: dict[str, str], *, workers: int = 1, command: list[str] | None = None
) -> Iterator[int]:
    """gunicorn as `make run` and the Dockerfile start it (one worker unless told), on a free port;
    yields the port. ``command``: the command line to run instead (the image's, say)."""
    port = free_port()
    environment = {
        **environment,
        "HUB_HOST": "127.0.0.1",
        "HUB_PORT": str(port),
        "HUB_WORKERS": str(workers),
    }
    server = subprocess.Popen(  # noqa: S603 - the tests' own command lines
        command or [sys.executable, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py", "hub.wsgi"],
        cwd=Path(__file__).resolve().parent.parent,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        # gunicorn logs that it boots a worker once the socket is bound.
        for line in server.stderr:
            if "Booting worker" in line:
                break
        else:
            raise AssertionError("gunicorn did not start")
        # Read on, so that the server never blocks on a full pipe.
        threading.Thread(target=server.stderr.read, daemon=True).start()
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def session_database_url(alias: str) -> str:
    """The URL of the database this test session uses (the test database, not the configured one), for a
    subprocess (a worker, a peer process) to connect to the same one."""
    config = connections[alias].settings_dict
    user, name = quote(config["USER"]), config["NAME"]
    host = config["HOST"] or config["OPTIONS"].get("host") or "localhost"
    if host.startswith("/"):
        return f"postgresql://{user}@/{name}?host={host}"
    password = f":{quote(config['PASSWORD'])}" if config["PASSWORD"] else ""
    return f"postgresql://{user}{password}@{host}:{config['PORT'] or 5432}/{name}"
