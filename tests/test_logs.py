"""The log lines, as the configured formatters write them: a dev text line tells what a prod JSON line
does (duration, tenant, client, error code), a 4xx is told once, and ``migrate_schemas`` shows progress."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string

from api.middleware import ClientErrorLogFilter, RequestIdLogFilter
from tenants.models import Organization

ROOT = Path(__file__).resolve().parent.parent
ENTITIES = "/api/v1/entities/"


def _formatter(name: str) -> logging.Formatter:
    """The formatter ``name`` of ``settings.LOGGING``, built as ``dictConfig`` builds it."""
    formatters: dict[str, dict[str, Any]] = settings.LOGGING["formatters"]  # type: ignore[assignment]
    config = dict(formatters[name])
    factory = import_string(config.pop("()"))
    formatter: logging.Formatter = factory(**config)
    return formatter


@pytest.fixture
def log_lines() -> Iterator[Callable[[str], list[str]]]:
    """The lines the root logger writes through each configured format, by format name."""
    streams = {name: io.StringIO() for name in ("text", "json")}
    handlers = []
    for name, stream in streams.items():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(_formatter(name))
        handler.addFilter(RequestIdLogFilter())
        handlers.append(handler)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield lambda name: streams[name].getvalue().splitlines()
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)


def _of_request(lines: list[str], request_id: str) -> list[str]:
    return [line for line in lines if request_id in line]


def test_a_text_access_line_tells_what_the_json_one_does(
    log_lines: Callable[[str], list[str]], viewer_client: Client, tenant_a: Organization
) -> None:
    response = viewer_client.get(ENTITIES, headers={"X-Request-ID": "req-log-text"})
    assert response.status_code == 200
    [text] = _of_request(log_lines("text"), "req-log-text")
    [line] = _of_request(log_lines("json"), "req-log-text")
    record = json.loads(line)
    assert record["logger"] == "hub.access"
    assert record["tenant"] == tenant_a.slug
    assert isinstance(record["duration_ms"], float)
    assert f"[req-log-text] GET {ENTITIES} 200 " in text
    for field in ("duration_ms", "tenant", "client"):
        assert f" {field}={record[field]}" in text, (field, text)
    assert " method=" not in text  # said by the message already


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        (ENTITIES, {"Authorization": "Bearer not-a-token"}, 401, "token_invalid"),
        ("/api/v1/no-such-route", {}, 404, "not_found"),
    ],
)
def test_a_client_error_is_one_line_with_its_code(
    log_lines: Callable[[str], list[str]],
    tenant_a: Organization,
    path: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    client = Client(headers={"Host": tenant_a.primary_domain, "X-Request-ID": "req-log-4xx", **headers})
    response = client.get(path)
    assert response.status_code == status, response.content
    [text] = _of_request(log_lines("text"), "req-log-4xx")  # no second line from django.request
    assert f" {status} " in text
    assert f" code={response.json()['code']}" in text
    assert response.json()["code"] == code
    [line] = _of_request(log_lines("json"), "req-log-4xx")
    assert json.loads(line)["code"] == code


def test_server_errors_of_django_request_are_kept() -> None:
    def record(status: int) -> logging.LogRecord:
        made = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", None, None)
        made.status_code = status
        return made

    keep = ClientErrorLogFilter()
    assert keep.filter(record(500))
    assert keep.filter(record(503))
    assert not keep.filter(record(404))
    assert not keep.filter(record(422))


def test_a_traceback_stays_below_the_fields(log_lines: Callable[[str], list[str]]) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("hub.test").exception("failed", extra={"tenant": "alpha"})
    text = log_lines("text")
    first = next(index for index, line in enumerate(text) if line.endswith("failed tenant=alpha"))
    assert text[first + 1].startswith("Traceback")


@pytest.mark.usefixtures("db")
def test_migrate_schemas_says_what_it_does() -> None:
    environment: dict[str, Any] = {**os.environ, "HUB_LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate_schemas", "--all"],  # every tenant, even current ones
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    count = Organization.objects.count()
    assert lines[0] == "[shared] migrating public ..."
    assert lines[1].startswith("[shared] done in ")
    assert lines[2] == f"[tenants] migrating {count} tenant schemas ..."
    assert lines[3].startswith(f"[1/{count} ")
    assert lines[-1] == f"{count} tenant schemas migrated"
