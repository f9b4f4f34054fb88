"""``make stop``: the embedded PostgreSQL stops, its data stays, and a second stop says so."""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg

from hub.embedded_db import embedded_server_stop, server_socket_dir


def test_stop_stops_a_running_server_and_keeps_its_data(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(tmp_path / "pg", cleanup_mode=None)
    socket_dir = server_socket_dir(server)
    with psycopg.connect(f"host={socket_dir} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE kept")

    assert embedded_server_stop(tmp_path) is True

    assert not (tmp_path / "pg" / "postmaster.pid").exists()
    assert (tmp_path / "pg" / "PG_VERSION").exists()  # the cluster's files are still there
    assert embedded_server_stop(tmp_path) is False
