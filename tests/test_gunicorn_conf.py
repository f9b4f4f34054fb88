"""``platform/gunicorn.conf.py``, as `make run` and the Dockerfile load it: settings a measurement chose.

Keep-alive: a client keeps its connection open between two requests (a user's think time; a load
balancer's idle timeout, 60 s by default on the common ones). When the server closes an idle
connection first, the client's next request can cross the close on the wire: clients retry only
idempotent methods then (RFC 9110 section 9.2.2), so a POST is lost as "connection closed". The
1,000-user `make loadtest` run lost POSTs so with gunicorn's keep-alive at 5 s and users thinking
1-5 s; the server must outlast its clients' idle time, as nginx's 75 s does.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from gunicorn import util as gunicorn_util

CONF = Path(__file__).resolve().parent.parent / "platform" / "gunicorn.conf.py"
CLIENT_IDLE_SECONDS = 60  # a load balancer's default idle timeout; a locust or browser user idles less


def _conf(monkeypatch: pytest.MonkeyPatch, **environment: str) -> dict[str, Any]:
    monkeypatch.setattr(gunicorn_util, "write_error", gunicorn_util.write_error)  # the file replaces it
    for name in ("HUB_KEEPALIVE", "HUB_WORKERS", "HUB_THREADS", "HUB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_keepalive_outlasts_an_idle_client(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _conf(monkeypatch)
    assert conf["keepalive"] > CLIENT_IDLE_SECONDS
    # Idle connections wait in the worker's poller, not in a thread: each worker holds many.
    assert conf["worker_class"] == "gthread"
    assert conf.get("worker_connections", 1000) - conf["threads"] >= 200


def test_keepalive_can_be_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _conf(monkeypatch, HUB_KEEPALIVE="5")["keepalive"] == 5
