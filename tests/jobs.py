"""Running the job queue in tests: a real procrastinate worker on its own connections, in this process.

Jobs are rows another connection must see: tests that defer jobs and run them use ``committed_db``
(the per-test rollback would hide them from the worker), and ``job_queue`` empties the queue around
them so one test's leftovers never run in another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from procrastinate.contrib.django import app
from procrastinate.periodic import PeriodicRegistry

from tenants.routers import MIGRATION_ALIAS


def jobs_run(*, queues: list[str] | None = None, concurrency: int = 1, periodic: bool = False) -> None:
    """Run every job that is due to the end (retries scheduled later stay), then return.

    The periodic deferrer (``tenants.tasks``: a job per organization every minute) stays off unless
    ``periodic``: a test defers the periodic jobs it means to run itself."""
    registry = app.periodic_registry
    with app.replace_connector(app.connector.get_worker_connector()) as worker_app:  # type: ignore[attr-defined]
        # The same app, its connector swapped for the block: so is its registry, then given back.
        worker_app.periodic_registry = registry if periodic else PeriodicRegistry()
        try:
            worker_app.run_worker(
                queues=queues,
                wait=False,
                install_signal_handlers=False,
                listen_notify=False,
                concurrency=concurrency,
            )
        finally:
            worker_app.periodic_registry = registry


def jobs_clear() -> None:
    """Delete every job, with its events (the owner's connection: it holds no test transaction)."""
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute("DELETE FROM public.procrastinate_jobs")


def job_rows(**where: Any) -> list[dict[str, Any]]:
    """The queue's jobs (``task_name``, ``status``, ``args``, ``attempts``...) matching ``where``."""
    conditions = " AND ".join(f"{column} = %({column})s" for column in where) or "TRUE"
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT * FROM public.procrastinate_jobs WHERE {conditions} ORDER BY id", where)
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:  # Django's psycopg set-up leaves jsonb as text: it decodes JSON fields itself
        row["args"] = json.loads(row["args"]) if isinstance(row["args"], str) else row["args"]
    return rows


@pytest.fixture
def job_queue(committed_db: None) -> Iterator[None]:
    """An empty queue before the test and after it."""
    jobs_clear()
    yield
    jobs_clear()
