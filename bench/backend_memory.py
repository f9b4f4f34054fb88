"""How much private memory one PostgreSQL backend keeps per tenant schema it has touched (issue 17).

PostgreSQL caches catalog entries (relations, their attributes, indexes, policies) per backend and keeps
them for the connection's life; a pooled connection that serves many organizations touches many
schemas. This opens one connection, reads ``--tables`` tables of each of the first ``--schemas`` tenant
schemas (``SELECT ... WHERE false``: only the catalog is read), and prints the backend's RssAnon (its
private memory, from ``/proc/<pid>/status``: so run it on the database's machine, as a user who may read
that file) before and after, and per schema. The figure sets how soon pooled connections must be
recycled (the pool's ``max_lifetime``, PgBouncer's ``server_lifetime``).

    .venv/bin/python bench/backend_memory.py "postgresql://postgres@/DB?host=/path/to/socket" --schemas 1000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psycopg
from psycopg import sql

TABLES = ("entities_entity", "ledger_account", "scheduling_booking")


def private_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise RuntimeError(f"no RssAnon for process {pid}: not on the database's machine?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dsn", help="a connection string to a database holding tenant schemas")
    parser.add_argument("--schemas", type=int, default=1000)
    parser.add_argument("--tables", type=int, default=len(TABLES), choices=range(1, len(TABLES) + 1))
    options = parser.parse_args()
    with psycopg.connect(options.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = row[0]
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'org\\_%%' ORDER BY 1 LIMIT %s",
            [options.schemas],
        ).fetchall()
        schemas = [name for (name,) in names]
        if not schemas:
            raise SystemExit("no tenant schema (org_...) in this database")
        before = private_kib(pid)
        started = time.perf_counter()
        for schema in schemas:
            for table in TABLES[: options.tables]:
                conn.execute(
                    sql.SQL("SELECT 1 FROM {}.{} WHERE false").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
        elapsed = time.perf_counter() - started
        after = private_kib(pid)
    print(
        f"schemas touched: {len(schemas)} ({options.tables} tables each); backend private memory "
        f"{before / 1024:.1f} MiB -> {after / 1024:.1f} MiB, {(after - before) / len(schemas):.0f} KiB per "
        f"schema; {elapsed * 1000 / len(schemas):.2f} ms per schema"
    )


if __name__ == "__main__":
    main()
