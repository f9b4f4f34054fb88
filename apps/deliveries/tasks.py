"""The deliveries' jobs: sending one delivery, and putting back the jobs of workers that died.

``deliveries.send`` runs in its organization (``tenants.jobs.tenant_task``) but not in one
transaction: it commits the start of its attempt, calls the receiver with no transaction open, and
records the outcome in a new one (``apps.deliveries.services``). A retryable failure raises
``DeliveryRetryLater``; ``DeliveryRetryStrategy`` schedules the next try with exponential backoff and
full jitter (the delivery itself decides when to stop, ``HUB_DELIVERY_MAX_ATTEMPTS``).

A worker killed mid-call leaves its job ``doing``. ``deliveries.retry_stalled`` (every minute) puts the
send jobs of workers whose heartbeat stopped back in the queue; the retried job sends again with the
same ``Idempotency-Key`` (the delivery id), so a receiver that got the first call deduplicates it.

``deliveries.purge`` (one organization) deletes delivered rows past their retention; a daily fan-out
to every organization defers it.
"""

from __future__ import annotations

import datetime
import random
import uuid

from django.conf import settings
from procrastinate import RetryDecision
from procrastinate.contrib.django import app
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from procrastinate.sql import queries

from apps.deliveries.sender import delivery_post
from apps.deliveries.services import (
    DeliveryBusy,
    delivery_attempt_begin,
    delivery_attempt_finish,
    delivery_purge,
)
from tenants.jobs import HubRetry, platform_task, tenant_task

SEND_TASK = "deliveries.send"
QUEUE = "deliveries"
# A worker whose heartbeat (every 10 s by default) is older than this is taken for dead.
STALLED_AFTER_SECONDS = 60


class DeliveryRetryLater(Exception):
    """The attempt failed in a way worth trying again (its outcome is already recorded)."""


class DeliveryRetryStrategy(BaseRetryStrategy):
    """Backoff between a delivery's attempts; any other failure (the database, say) as ``HubRetry``."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, DeliveryRetryLater | DeliveryBusy):
            return HubRetry().get_retry_decision(exception=exception, job=job)
        ceiling = min(
            settings.HUB_DELIVERY_RETRY_MAX_SECONDS,
            settings.HUB_DELIVERY_RETRY_BASE_SECONDS * 2**job.attempts,
        )
        delay = random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)
        return RetryDecision(
            retry_at=datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=delay)
        )


@tenant_task(name=SEND_TASK, queue=QUEUE, atomic=False, retry=DeliveryRetryStrategy())
def delivery_send(*, delivery_id: str) -> None:
    """Make one attempt at a delivery: nothing when it is already delivered or dead-lettered."""
    request = delivery_attempt_begin(delivery_id=uuid.UUID(delivery_id))
    if request is None:
        return
    if delivery_attempt_finish(request=request, result=delivery_post(request)):
        raise DeliveryRetryLater(delivery_id)


def stalled_send_jobs_retry(*, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS) -> int:
    """Put the send jobs of dead workers (no heartbeat for ``seconds_since_heartbeat``) back in the
    queue, due now; how many."""
    connector = app.connector.get_sync_connector()
    rows = connector.execute_query_all(
        query=queries["select_stalled_jobs_by_heartbeat"],
        queue=None,
        task_name=SEND_TASK,
        seconds_since_heartbeat=seconds_since_heartbeat,
    )
    now = datetime.datetime.now(tz=datetime.UTC)
    for row in rows:
        app.job_manager.retry_job_by_id(job_id=row["id"], retry_at=now)
    return len(rows)


@platform_task(name="deliveries.retry_stalled", queue=QUEUE)
def deliveries_retry_stalled(*, timestamp: int) -> int:
    """Every minute (``timestamp``: the minute, from procrastinate's scheduler): the send jobs a killed
    worker left ``doing`` are queued again."""
    return stalled_send_jobs_retry()


app.periodic(cron="* * * * *", periodic_id="deliveries.retry_stalled")(deliveries_retry_stalled)


@tenant_task(name="deliveries.purge", queue="maintenance", atomic=False)
def delivery_purge_job() -> int:
    """Delete the organization's deliveries delivered longer ago than ``HUB_DELIVERY_RETENTION_DAYS``,
    one committed batch at a time (resumable); how many."""
    return delivery_purge()
