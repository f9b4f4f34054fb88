"""``manage.py run_worker``: the background worker (``make worker``; ``make run`` starts one as well).

A thin wrapper over procrastinate's worker with the Hub's defaults:

* **Every queue** unless ``--queue`` names some; a **name** (host and process id) in its logs.
* **Concurrency** 4 (``--concurrency``): the tasks are synchronous Django code, each job runs in a
  thread of its own with its own database connection (closed after each job, as after a request, by
  procrastinate's Django app), so this also bounds the worker's connections (plus its own few).
* A **heartbeat** every 10 s in ``procrastinate_workers``; one silent for 30 s is dead
  (``GET /readyz/workers`` counts the live ones, a stalled worker's jobs can be retried).
* **SIGTERM or SIGINT**: stop taking jobs, let the running ones finish (at most ``--shutdown-timeout``
  seconds, then they are cancelled and retried later), unregister, exit 0. A second signal cancels at once.
* procrastinate's **periodic deferrer** (``tenants.tasks``) runs in every worker (the database keeps
  one defer per tick); ``--no-periodic`` leaves it out.

It connects as the **runtime role** (``DATABASE_URL``, never ``DATABASE_OWNER_URL``): jobs run under
row-level security exactly as requests do; it refuses a superuser or a role with BYPASSRLS in production.
It **LISTENs** for new jobs, which a transaction-pooling PgBouncer cannot carry: point the worker's
``DATABASE_URL`` straight at PostgreSQL (as ``docker-compose.yml``'s ``worker`` does), or pass
``--no-listen`` to poll every ``--poll-seconds`` instead.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from procrastinate.contrib.django import app
from procrastinate.periodic import PeriodicRegistry

from tenants.job_selectors import WORKER_HEARTBEAT_SECONDS, WORKER_STALLED_SECONDS

logger = logging.getLogger("tenants.worker")

DEFAULT_CONCURRENCY = 4
DEFAULT_SHUTDOWN_SECONDS = 30.0
DEFAULT_POLL_SECONDS = 5.0


class Command(BaseCommand):
    help = "Run a background worker: every queue's jobs, the periodic jobs, until SIGTERM or SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue", action="append", dest="queues", help="A queue to work on (repeatable; default all)."
        )
        parser.add_argument("--name", help="The worker's name in its logs (default: host:pid).")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=DEFAULT_CONCURRENCY,
            help=f"Jobs run at once, one thread and connection each (default {DEFAULT_CONCURRENCY}).",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=float,
            default=DEFAULT_SHUTDOWN_SECONDS,
            help="Seconds the running jobs get to finish after SIGTERM before they are cancelled "
            f"(default {DEFAULT_SHUTDOWN_SECONDS:g}).",
        )
        parser.add_argument(
            "--no-listen",
            action="store_true",
            help="Poll instead of LISTEN (a connection through a transaction pooler cannot LISTEN).",
        )
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=DEFAULT_POLL_SECONDS,
            help=f"Seconds between looks for due jobs (default {DEFAULT_POLL_SECONDS:g}; LISTEN's fallback).",
        )
        parser.add_argument(
            "--no-periodic", action="store_true", help="Do not defer the periodic jobs from this worker."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        self._role_check()
        name = options["name"] or f"{socket.gethostname()}:{os.getpid()}"
        queues = options["queues"] or None
        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:  # type: ignore[attr-defined]
            if options["no_periodic"]:
                # The process's one app (the connector is swapped for this block only); it ends with it.
                worker_app.periodic_registry = PeriodicRegistry()
            logger.info(
                "worker %s starting: queues %s, concurrency %s, %s, periodic jobs %s",
                name,
                ", ".join(queues) if queues else "all",
                options["concurrency"],
                "polling" if options["no_listen"] else "LISTEN",
                "off" if options["no_periodic"] else "on",
            )
            worker_app.run_worker(
                queues=queues,
                name=name,
                concurrency=options["concurrency"],
                wait=True,
                listen_notify=not options["no_listen"],
                fetch_job_polling_interval=options["poll_seconds"],
                shutdown_graceful_timeout=options["shutdown_timeout"],
                install_signal_handlers=True,
                update_heartbeat_interval=WORKER_HEARTBEAT_SECONDS,
                stalled_worker_timeout=WORKER_STALLED_SECONDS,
            )
        logger.info("worker %s stopped", name)

    def _role_check(self) -> None:
        """The runtime role, never one that skips row-level security (refused in production)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            role, bypasses = cursor.fetchone()
        connection.close()
        if bypasses and settings.HUB_ENV == "prod":
            raise CommandError(
                f"The worker connects as {role}, which bypasses row-level security: use the runtime role."
            )
        if bypasses:
            logger.warning("worker connects as %s, which bypasses row-level security (dev only)", role)
