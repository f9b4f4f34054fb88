"""The usage module's jobs (procrastinate discovers ``tasks`` modules).

``usage.collect_all`` (periodic, hourly at minute 17, UTC) defers ``usage.collect`` for every active
organization (``tenants.tasks.fan_out``: one waiting per organization at most); each collects its
organization's today and yesterday (so the last hour of a day is counted the next morning).
"""

from __future__ import annotations

import datetime

from procrastinate.contrib.django import app

from tenants.jobs import platform_task, tenant_task
from tenants.tasks import fan_out


@tenant_task(name="usage.collect", queue="maintenance")
def usage_collect_job() -> int:
    """Collect the organization's usage of yesterday and today (UTC)."""
    from apps.usage.services import usage_collect

    today = datetime.datetime.now(tz=datetime.UTC).date()
    return usage_collect(days=[today - datetime.timedelta(days=1), today])


@app.periodic(cron="17 * * * *", queueing_lock="usage.collect_all")
@platform_task(name="usage.collect_all", queue="maintenance")
def usage_collect_fan_out(*, timestamp: int) -> int:
    """Defer every active organization's usage collection."""
    return fan_out(usage_collect_job, lock="usage.collect")
