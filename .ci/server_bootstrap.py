"""Prepare a PostgreSQL server for the Hub's test suite: the owner and runtime roles
(platform/postgres/roles.sql) and a fresh database owned by the owner role.

Usage: server_bootstrap.py SUPERUSER_DSN DATABASE
"""

import sys
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    dsn, database = sys.argv[1], sys.argv[2]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((ROOT / "platform" / "postgres" / "roles.sql").read_text())
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER hub_owner").format(sql.Identifier(database)))
    print(f"server ready: roles hub_owner/hub_app, database {database}")


if __name__ == "__main__":
    main()
