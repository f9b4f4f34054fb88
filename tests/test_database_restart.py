"""A PostgreSQL restart under a running server never answers 500 (issue 10, item 17).

A private PostgreSQL (pgserver's binaries, bootstrapped as the embedded one is) serves a real gunicorn
server of the Hub with its connection pool on. Threads write and read through HTTP while the database is
restarted (``pg_ctl restart -m fast``), then stopped and started again: no answer is a 500, every answer
while the database is away is a 503 ``database_unavailable`` with ``Retry-After``, every write answered
201 is there afterwards, and the service is back within a second of the database.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from conftest import TokenFactory
from hub.embedded_db import BASE_DIR, EmbeddedUrls, database_bootstrap, database_urls, server_socket_dir
from tenants.db import database_unreachable
from tenants.models import Organization
from tests.fakes import FakeIdentityService
from tests.helpers import assert_error, gunicorn_serving

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
    import pgserver

# pgserver makes its command wrappers at import time (output to files, so pg_ctl never hangs on a pipe).
pg_ctl: Callable[..., str] = pgserver.pg_ctl  # type: ignore[attr-defined]

DATABASE = "hub_restart"
ORGANIZATION_ID = uuid.UUID("cccccccc-0000-4000-8000-00000000000c")
SLUG = "restart"
RECOVERY_SECONDS = 1.0
DEADLINE_SECONDS = 30.0
ENTITIES = "/api/v1/entities/"


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of this test alone, in a temporary directory."""

    server: Any
    urls: EmbeddedUrls

    def pg_ctl(self, *args: str) -> None:
        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def start(self) -> None:
        """Start the stopped server with the options pgserver gave it (``restart`` reuses them itself)."""
        socket_dir = server_socket_dir(self.server)
        log = str(self.server.pgdata / "log")
        self.pg_ctl("-o", '-h ""', "-o", f"-k {socket_dir}", "-l", log, "start")

    def started_at(self) -> datetime | None:
        """When the running postmaster started; ``None`` while no connection is accepted."""
        try:
            with psycopg.connect(self.urls.owner, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        except psycopg.OperationalError:
            return None
        assert row is not None
        return row[0]

    def accepting_after(self, previous: datetime | None) -> float:
        """``time.monotonic()`` when a postmaster other than ``previous`` first accepted a connection."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            started = self.started_at()
            if started is not None and started != previous:
                return time.monotonic()
            time.sleep(0.005)  # polling interval, bounded by the deadline
        raise AssertionError("the private PostgreSQL did not come back")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # A short path: the Unix socket lives in it, and socket paths are limited to about 100 bytes.
    directory = Path(tempfile.mkdtemp(prefix="hubpg-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Stopped below, not by pgserver: it would stop only the postmaster it started, and a
            # restart makes another one.
            server = pgserver.get_server(directory / "pg", cleanup_mode=None)
        socket_dir = server_socket_dir(server)
        cluster = PrivatePostgres(server=server, urls=database_urls(socket_dir, DATABASE))
        try:
            database_bootstrap(socket_dir, DATABASE)
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _hub_environment(cluster: PrivatePostgres) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("DATABASE_", "HUB_DB_"))
    }
    environment.update(
        DATABASE_URL=cluster.urls.runtime,
        DATABASE_OWNER_URL=cluster.urls.owner,
        HUB_ENV="test",
        HUB_DB_POOL="1",
        HUB_DB_POOL_TIMEOUT="1",
        HUB_THREADS="4",
        HUB_LOG_LEVEL="WARNING",
    )
    return environment


@pytest.fixture
def hub_server(private_postgres: PrivatePostgres, make_token: TokenFactory) -> Iterator[str]:
    """A gunicorn server of the Hub (pool on) on the private database, serving organization ``restart``."""
    environment = _hub_environment(private_postgres)
    with gunicorn_serving(environment) as port:
        # The worker loads the Hub while the schema is migrated; ``/readyz`` answers 200 once both are done.
        subprocess.run(
            [sys.executable, "manage.py", "migrate_schemas"], cwd=BASE_DIR, env=environment, check=True
        )
        url = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _ready(url), "the Hub server did not become ready")
        _provision(url, make_token(None, ["platform_admin"]))
        yield url


def _provision(url: str, token: str) -> None:
    body = {"organization_id": str(ORGANIZATION_ID), "slug": SLUG, "name": "R", "skip_identity_check": True}
    headers = {"Host": settings.HUB_BASE_DOMAIN, "Authorization": f"Bearer {token}"}
    response = httpx.post(f"{url}/api/platform/v1/tenants", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", headers={"Host": settings.HUB_BASE_DOMAIN}).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.01)  # polling interval, bounded by the deadline


@dataclass(frozen=True)
class Answer:
    method: str
    sent: float
    done: float
    status: int
    headers: httpx.Headers
    body: Any

    @property
    def succeeded(self) -> bool:
        return self.status in (200, 201)


class Load:
    """A few threads writing (POST an entity) and reading (GET it back, or the list) without pause."""

    def __init__(self, url: str, token: str, threads: int = 3) -> None:
        self.headers = {"Host": f"{SLUG}.{settings.HUB_BASE_DOMAIN}", "Authorization": f"Bearer {token}"}
        self.url = url
        self.answers: list[Answer] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=DEADLINE_SECONDS)

    def _run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=DEADLINE_SECONDS) as client:
            for n in itertools.count():
                if self.stopping.is_set():
                    return
                created = self._call(
                    client, "POST", ENTITIES, json={"kind": "customer", "name": f"w{worker}-{n}"}
                )
                read = f"{ENTITIES}{created.body['id']}" if created.status == 201 else ENTITIES
                self._call(client, "GET", read)

    def _call(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> Answer:
        sent = time.monotonic()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            answer = Answer(method, sent, time.monotonic(), 0, httpx.Headers(), repr(exc))
        else:
            json_body = response.headers.get("Content-Type", "").startswith("application/json")
            body = response.json() if json_body else response.text
            answer = Answer(method, sent, time.monotonic(), response.status_code, response.headers, body)
        self.answers.append(answer)
        return answer

    def succeeded_after(self, moment: float) -> list[Answer]:
        return [answer for answer in list(self.answers) if answer.succeeded and answer.done >= moment]

    def answered_after(self, moment: float) -> list[Answer]:
        return [answer for answer in list(self.answers) if answer.sent >= moment]


def test_a_database_restart_under_load_answers_503_then_recovers(
    private_postgres: PrivatePostgres, hub_server: str, make_token: TokenFactory
) -> None:
    cluster = private_postgres
    with Load(hub_server, make_token(ORGANIZATION_ID, ["member"])) as load:
        _wait_until(lambda: len(load.succeeded_after(0)) >= 20, "no load before the restart")

        # 1. A fast restart under load.
        previous = cluster.started_at()
        cluster.pg_ctl("-m", "fast", "restart")
        back = cluster.accepting_after(previous)
        _wait_until(lambda: bool(load.succeeded_after(back)), "no success after the restart")

        # 2. The database stopped for as long as it takes requests to meet it away, then started.
        cluster.pg_ctl("-m", "fast", "stop")
        stopped = time.monotonic()
        _wait_until(lambda: len(load.answered_after(stopped)) >= 3, "no answer while the database was down")
        while_down = load.answered_after(stopped)
        cluster.start()
        back_again = cluster.accepting_after(None)
        _wait_until(lambda: bool(load.succeeded_after(back_again)), "no success after the start")

    answers = list(load.answers)
    assert [a for a in answers if a.status not in (200, 201, 503)] == []
    for answer in answers:
        if answer.status == 503:
            assert answer.body["code"] == "database_unavailable", answer
            assert int(answer.headers["Retry-After"]) > 0, answer
    assert while_down
    assert all(answer.status == 503 for answer in while_down), while_down
    for moment in (back, back_again):
        first = min(answer.done for answer in load.succeeded_after(moment))
        assert first - moment <= RECOVERY_SECONDS, f"first success {first - moment:.2f} s after the database"
    _assert_every_write_kept(hub_server, load)


def _assert_every_write_kept(url: str, load: Load) -> None:
    created = [
        answer.body["id"] for answer in load.answers if answer.method == "POST" and answer.status == 201
    ]
    assert created
    with httpx.Client(base_url=url, headers=load.headers, timeout=DEADLINE_SECONDS) as client:
        missing = [id_ for id_ in created if client.get(f"{ENTITIES}{id_}").status_code != 200]
    assert missing == []


# --- in-process: what counts as a lost database, and the 503 it answers ---------------------------


def _error_of(params: dict[str, Any], *statements: str) -> psycopg.Error:
    with psycopg.connect(**params, autocommit=True) as conn:
        try:
            for statement in statements:
                conn.execute(statement)
        except psycopg.Error as exc:
            return exc
    raise AssertionError(f"{statements} raised nothing")


def test_only_a_lost_connection_counts_as_an_unreachable_database(
    committed_db: None, closed_port: int
) -> None:
    params = connection.get_connection_params()
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(host="127.0.0.1", port=closed_port, connect_timeout=2)
    terminated = _error_of(params, "SELECT pg_terminate_backend(pg_backend_pid())")

    assert database_unreachable(refused.value)
    assert database_unreachable(terminated)
    assert not database_unreachable(_error_of(params, "SET statement_timeout = 1", "SELECT pg_sleep(1)"))
    assert not database_unreachable(_error_of(params, "SELECT 1 / 0"))
    assert not database_unreachable(
        _error_of(params, "CREATE TEMP TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1), (1)")
    )


def test_a_connection_lost_before_the_transaction_answers_503(
    committed_db: None, identity_service: FakeIdentityService, make_token: TokenFactory
) -> None:
    tenant = Organization.objects.get(slug="alpha")
    params = connection.get_connection_params()

    def validate_after_terminating_the_hub(_payload: Any) -> tuple[int, Any]:
        # The Hub has looked its tenant up and waits on us: its connection dies meanwhile.
        with psycopg.connect(**params, autocommit=True) as killer:
            killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND usename = current_user AND pid <> pg_backend_pid()"
            )
        return 200, {"user_id": str(uuid.uuid4()), "tenant_id": None, "roles": ["viewer"]}

    identity_service.routes[("POST", "/api/v1/auth/validate")] = validate_after_terminating_the_hub
    client = Client(headers={"Host": tenant.primary_domain, "Authorization": f"Bearer {make_token(tenant)}"})

    response = client.get(ENTITIES)

    assert_error(response, 503, "database_unavailable")
    assert int(response["Retry-After"]) > 0
    identity_service.route("POST", "/api/v1/auth/validate", 200, {"roles": ["viewer"]})
    assert client.get(ENTITIES).status_code == 200
