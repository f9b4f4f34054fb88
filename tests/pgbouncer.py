"""A real PgBouncer (Debian's ``pgbouncer``, transaction pooling) in front of the test PostgreSQL.

``pgbouncer_running`` starts one on a free local port, in front of the server of a connection's
settings, for the roles given; ``python -m tests.pgbouncer [pytest arguments]`` (``make
test-pgbouncer``) runs the isolation tests (the RLS wall and catalog, the transaction context, every
test involving a second organization) with the runtime connection (``DATABASE_URL``) through one,
and the owner connection (migrations, provisioning) straight to PostgreSQL, as in production.

PgBouncer refuses to run as root: as root it switches to the embedded server's own system user
(``pgserver``, which can reach that server's socket directory), else to ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Debian installs it in /usr/sbin, which is not on a non-root user's PATH.
_BINARY_PLACES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
_START_SECONDS = 10.0
_DEFAULT_EMBEDDED_DATABASE = "hub_backend_test"  # as hub/settings.py names it for HUB_ENV=test


@dataclass(frozen=True)
class Upstream:
    """Where PostgreSQL listens (a host, or a Unix socket directory), and its database."""

    host: str
    port: int
    dbname: str


@dataclass(frozen=True)
class PgBouncer:
    port: int
    dbname: str
    log: Path

    def url(self, user: str, password: str = "") -> str:
        """A libpq URL of ``user`` through this PgBouncer."""
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{self.dbname}"

    def conninfo(self, user: str) -> str:
        return make_conninfo(host="127.0.0.1", port=self.port, dbname=self.dbname, user=user)

    def admin_conninfo(self, user: str) -> str:
        """Its admin console (``SHOW POOLS`` ...), for an ``admin_users`` role."""
        return make_conninfo(host="127.0.0.1", port=self.port, dbname="pgbouncer", user=user)


def pgbouncer_binary() -> str | None:
    """The ``pgbouncer`` executable, or None when it is not installed (``make pgbouncer``)."""
    found = shutil.which("pgbouncer")
    return found or next((place for place in _BINARY_PLACES if os.access(place, os.X_OK)), None)


def upstream_of(settings_dict: dict[str, Any]) -> Upstream:
    """The server of a Django connection's settings (the embedded one names its socket in OPTIONS)."""
    host = settings_dict.get("OPTIONS", {}).get("host") or settings_dict["HOST"] or "localhost"
    return Upstream(host=host, port=int(settings_dict["PORT"] or 5432), dbname=settings_dict["NAME"])


def upstream_of_url(url: str) -> Upstream:
    params = conninfo_to_dict(url)
    return Upstream(
        host=str(params.get("host") or "localhost"),
        port=int(params.get("port") or 5432),
        dbname=str(params["dbname"]),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


def _run_as() -> str | None:
    """The system user PgBouncer switches to when started as root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("pgserver", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("PgBouncer will not run as root, and neither pgserver nor nobody exists")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@contextmanager
def pgbouncer_running(
    *, upstream: Upstream, users: dict[str, str], pool_size: int = 20, max_db_connections: int = 0
) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of ``upstream``, for ``users`` (name: password, which
    it also logs in to PostgreSQL with), stopped on exit. Clients are trusted (it listens on
    127.0.0.1 only); the first user may use the admin console."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed: `make pgbouncer` (as root) installs it")
    run_as = _run_as()
    with tempfile.TemporaryDirectory(prefix="hub-pgbouncer-") as directory:
        here = Path(directory)
        port = _free_port()
        auth_file = here / "users.txt"
        lines = "".join(f"{_quoted(name)} {_quoted(secret)}\n" for name, secret in users.items())
        auth_file.write_text(lines)
        log = here / "pgbouncer.log"
        config = here / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{upstream.dbname} = host={upstream.host} port={upstream.port} dbname={upstream.dbname}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {auth_file}\n"
            f"admin_users = {next(iter(users))}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            f"max_db_connections = {max_db_connections}\n"
            "max_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {log}\n"
            f"pidfile = {here / 'pgbouncer.pid'}\n" + (f"user = {run_as}\n" if run_as else "")
        )
        if run_as:
            entry = pwd.getpwnam(run_as)
            for path in (here, auth_file, config):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        process = subprocess.Popen(  # noqa: S603
            [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + _START_SECONDS
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    errors = process.stderr.read().decode() if process.stderr else ""
                    journal = log.read_text() if log.exists() else ""
                    raise RuntimeError(f"pgbouncer did not start:\n{errors}{journal}")
                time.sleep(0.02)  # waiting for a process to listen, not for a race
            yield PgBouncer(port=port, dbname=upstream.dbname, log=log)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _direct_urls() -> tuple[str, str]:
    """The runtime and owner URLs the suite would use without PgBouncer (as hub/settings.py does)."""
    runtime = os.environ.get("DATABASE_URL")
    if runtime:
        return runtime, os.environ.get("DATABASE_OWNER_URL") or runtime
    from hub.embedded_db import embedded_database_urls

    urls = embedded_database_urls(os.environ.get("HUB_EMBEDDED_DATABASE") or _DEFAULT_EMBEDDED_DATABASE)
    return urls.runtime, urls.owner


def main(arguments: list[str]) -> int:
    """Run pytest with ``arguments`` on the isolation tests among those they name (see
    ``pytest_collection_modifyitems``), the runtime connection through a PgBouncer in transaction mode."""
    runtime, owner = _direct_urls()
    params = conninfo_to_dict(runtime)
    user, password = str(params["user"]), str(params.get("password") or "")
    with pgbouncer_running(upstream=upstream_of_url(runtime), users={user: password}) as bouncer:
        print(f"== PgBouncer (transaction mode) on 127.0.0.1:{bouncer.port} in front of the runtime role ==")
        env = {
            **os.environ,
            "HUB_ENV": "test",
            "DATABASE_URL": bouncer.url(user, password),
            "DATABASE_OWNER_URL": owner,
            "HUB_TEST_PGBOUNCER": "1",
        }
        command = [sys.executable, "-m", "pytest", "-p", "tests.pgbouncer", *arguments]
        return subprocess.call(command, env=env)  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# --- the pooled run's selection (``-p tests.pgbouncer``) -------------------------------------------

# Tests about isolation as a whole: every one of these modules runs through PgBouncer.
ISOLATION_MODULES = (
    "test_rls_wall.py",
    "test_rls_catalog.py",
    "test_transaction_context.py",
    "test_pgbouncer.py",
)
# Elsewhere, the tests that involve a second organization (its fixtures, directly or not).
SECOND_ORGANIZATION_FIXTURES = frozenset({"tenant_b", "b_member_client"})


def _isolation_test(item: Any) -> bool:
    name = Path(str(item.fspath)).name
    if name in ISOLATION_MODULES or "isolation" in name:
        return True
    return bool(SECOND_ORGANIZATION_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Keep the isolation tests (``_isolation_test``) of those collected; deselect the others."""
    kept = [item for item in items if _isolation_test(item)]
    dropped = [item for item in items if not _isolation_test(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
