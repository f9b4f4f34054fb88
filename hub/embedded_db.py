"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset (dev and test only).

``pgserver`` ships a real PostgreSQL in a wheel. The server lives in ``.data/pg`` and keeps running
between commands, so every ``manage.py`` call after the first attaches in milliseconds. On first
start it gets the same owner/runtime role split as production (``platform/postgres/roles.sql``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgserver import PostgresServer

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
ROLES_SQL = BASE_DIR / "platform" / "postgres" / "roles.sql"
OWNER_ROLE = "hub_owner"
RUNTIME_ROLE = "hub_app"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedUrls:
    runtime: str
    owner: str


def embedded_database_urls(database: str) -> EmbeddedUrls:
    """Start (or attach to) the embedded server and make sure ``database`` exists; return its URLs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver  # imported lazily: production never loads it

    DATA_DIR.mkdir(exist_ok=True)
    # One process bootstraps at a time (gunicorn workers and pytest start together).
    with open(DATA_DIR / ".bootstrap.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(DATA_DIR / "pg", cleanup_mode=None)
        socket_dir = server_socket_dir(server)
        marker = DATA_DIR / f".ready-{database}"
        if not marker.exists():
            database_bootstrap(socket_dir, database)
            marker.write_text("ok\n")
    return database_urls(socket_dir, database)


def server_socket_dir(server: PostgresServer) -> str:
    """The directory of the Unix socket a ``pgserver`` server listens on."""
    return server.get_uri().split("host=", 1)[1].split("&", 1)[0]


def database_urls(socket_dir: str, database: str) -> EmbeddedUrls:
    """The runtime and owner URLs of ``database`` on the local server listening in ``socket_dir``."""
    return EmbeddedUrls(
        runtime=f"postgresql://{RUNTIME_ROLE}@/{database}?host={socket_dir}",
        owner=f"postgresql://{OWNER_ROLE}@/{database}?host={socket_dir}",
    )


def database_bootstrap(socket_dir: str, database: str) -> None:
    """Give a local server (its superuser ``postgres`` trusted on the socket) the owner/runtime roles
    and ``database``, owned by the owner role. Idempotent."""
    import psycopg
    from psycopg import sql

    logger.info("bootstrapping embedded PostgreSQL database %s", database)
    with psycopg.connect(f"host={socket_dir} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(ROLES_SQL.read_text())  # type: ignore[call-overload, unused-ignore]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )


def embedded_server_stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the embedded server of ``data_dir`` (``make stop``); False when it was not running.

    Its data stays in ``data_dir / "pg"``; the next command that needs it starts it again. As root,
    pgserver runs PostgreSQL as its own system user ``pgserver``, and ``pg_ctl`` must run as that user.
    """
    pgdata = data_dir / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "stop", "-m", "fast"]
    subprocess.run(command, check=True, user="pgserver" if os.geteuid() == 0 else None)  # noqa: S603
    return True


if __name__ == "__main__":
    print(
        "stopped the embedded PostgreSQL"
        if embedded_server_stop()
        else "the embedded PostgreSQL is not running"
    )
