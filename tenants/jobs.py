"""Background jobs (procrastinate), each one run inside the organization it belongs to.

Jobs are rows of ``public.procrastinate_jobs``. Deferred through Django's connection (procrastinate's
``DjangoConnector``), a job is written **in the transaction of the change that causes it**: rolled
back with it, committed with it, never lost in between (the transactional outbox, without a relay).

A tenant job names its organization: ``tenant_job_defer`` takes the id from the connection's current
tenant, never from the caller, and the worker runs the task under ``tenant_context`` of that
organization, the very code path a request takes (``tenants.db.backend`` sets ``search_path`` and
``hub.organization_id`` per transaction), so row-level security admits that organization's rows and
no other's. Nothing is set on the worker's connection for the session.

* A **suspended** organization's jobs are kept: each attempt is put off by
  ``HUB_JOBS_SUSPENDED_RETRY_SECONDS`` (not counted against the attempts) until it is activated.
* A **deleted** organization's jobs are dropped: they finish doing nothing (logged).
* A failing job is retried ``HUB_JOBS_MAX_ATTEMPTS`` times with exponential backoff and full jitter,
  then stays ``failed`` (``GET /api/platform/v1/jobs?state=failed``).

Job arguments are ids, never personal data: the queue is shared by every organization and its rows
are not erased with one.
"""

from __future__ import annotations

import datetime
import functools
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django_tenants.utils import tenant_context
from procrastinate import RetryDecision
from procrastinate.contrib.django import app
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from procrastinate.tasks import Task

from tenants.db import tenant_connection
from tenants.models import Organization

logger = logging.getLogger(__name__)

R = TypeVar("R")

ORGANIZATION_ARGUMENT = "organization_id"


class TenantJobPostponed(Exception):
    """The job's organization is suspended: the job waits for it to be activated."""


class HubRetry(BaseRetryStrategy):
    """Exponential backoff with full jitter (``base * 2**attempts``, capped), ``max_attempts`` in all;
    a suspended organization's job is put off without using up its attempts."""

    def __init__(self, *, max_attempts: int | None = None) -> None:
        self.max_attempts = max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        now = datetime.datetime.now(tz=datetime.UTC)
        if isinstance(exception, TenantJobPostponed):
            delay = datetime.timedelta(seconds=settings.HUB_JOBS_SUSPENDED_RETRY_SECONDS)
            return RetryDecision(retry_at=now + delay)
        max_attempts = self.max_attempts or settings.HUB_JOBS_MAX_ATTEMPTS
        if job.attempts + 1 >= max_attempts:
            return None
        ceiling = min(
            settings.HUB_JOBS_RETRY_MAX_SECONDS, settings.HUB_JOBS_RETRY_BASE_SECONDS * 2**job.attempts
        )
        delay_seconds = random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)
        return RetryDecision(retry_at=now + datetime.timedelta(seconds=delay_seconds))


def _job_tenant(organization_id: str) -> Organization | None:
    try:
        return Organization.objects.get(organization_id=uuid.UUID(organization_id))
    except (Organization.DoesNotExist, ValueError):
        return None


def tenant_task(
    *,
    name: str,
    queue: str = "default",
    atomic: bool = True,
    retry: BaseRetryStrategy | None = None,
    **task_options: Any,
) -> Callable[[Callable[..., R]], Task[Any, Any, Any]]:
    """Declare ``func`` a job of one organization: deferred with ``tenant_job_defer``, run by the worker
    inside that organization (one transaction when ``atomic``, else the task commits its own batches).

    ``func`` takes keyword arguments only (JSON values: ids, numbers, short strings), never
    ``organization_id``: that one is the job's, set by ``tenant_job_defer``.
    """

    def decorate(func: Callable[..., R]) -> Task[Any, Any, Any]:
        @functools.wraps(func)
        def run(*, organization_id: str, **kwargs: Any) -> R | None:
            tenant = _job_tenant(organization_id)
            if tenant is None:
                logger.warning("job %s dropped: organization %s no longer exists", name, organization_id)
                return None
            if not tenant.is_active:
                raise TenantJobPostponed(f"organization {organization_id} is suspended")
            with tenant_context(tenant):
                if not atomic:
                    return func(**kwargs)
                with transaction.atomic():
                    return func(**kwargs)

        return app.task(name=name, queue=queue, retry=retry or HubRetry(), **task_options)(run)

    return decorate


def platform_task(
    *, name: str, queue: str = "default", retry: BaseRetryStrategy | None = None, **task_options: Any
) -> Callable[[Callable[..., R]], Task[Any, Any, Any]]:
    """Declare ``func`` a job of the platform (no organization: fan-outs, platform reports)."""

    def decorate(func: Callable[..., R]) -> Task[Any, Any, Any]:
        return app.task(name=name, queue=queue, retry=retry or HubRetry(), **task_options)(func)

    return decorate


def current_organization_id() -> uuid.UUID:
    """The organization of the connection's current transaction; a tenant job belongs to it."""
    organization_id = getattr(tenant_connection().tenant, "organization_id", None)
    if organization_id is None:
        raise RuntimeError("a tenant job is deferred inside its organization (tenant_context)")
    return uuid.UUID(str(organization_id))


def tenant_job_defer(
    task: Task[Any, Any, Any], /, *, job_options: dict[str, Any] | None = None, **kwargs: Any
) -> int:
    """Defer ``task`` for the current organization, in the current transaction; the job's id.

    ``job_options`` go to procrastinate's ``configure`` (``schedule_in``, ``lock``, ``queueing_lock``,
    ``priority``...); a lock name is the organization's own (prefixed with its id), so one organization's
    jobs never wait for another's.
    """
    organization_id = str(current_organization_id())
    options = dict(job_options or {})
    for key in ("lock", "queueing_lock"):
        if options.get(key):
            options[key] = f"{organization_id}:{options[key]}"
    return task.configure(**options).defer(**{ORGANIZATION_ARGUMENT: organization_id, **kwargs})
