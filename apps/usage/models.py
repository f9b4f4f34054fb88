"""Platform-level usage of each organization, one row per organization and day, in ``public``.

Written by a background job (``tasks``), never in a request: the platform's usage list reads these
rows only, whatever the size of the organizations' schemas.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models


class UsageDay(models.Model):
    """What one organization stored and did on one day (UTC), as last collected.

    * ``rows``: ``{table: rows}`` of every table of its schema, from PostgreSQL's statistics
      (``pg_class.reltuples``, or ``pg_stat_user_tables.n_live_tup`` before a table's first analyze):
      estimates, exact after an ``ANALYZE``, at the cost of a catalog read whatever the tables' sizes.
    * ``storage_bytes``: ``pg_total_relation_size`` of those tables (indexes and TOAST included).
    * ``requests``: the audited operations of the day (every API read and write of business data
      leaves one audit entry, a list one for its whole page), counted on the audit trail's timestamp
      index by the job: nothing is added to the request path.
    * ``active_user_ids``: the distinct users behind them (ids only, as the mirror of identity users
      holds them), so a period's active users are counted distinct across its days.
    """

    # Derived figures of the platform, collected again every hour: not audited (apps.audit.receivers,
    # whose trail is per organization).
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    # A foreign key to the organization with ON DELETE CASCADE in the database (migration 0001), so the
    # rows go with the organization however it is deleted (``tenant_delete`` deletes it in SQL).
    organization_id = models.UUIDField()
    day = models.DateField()
    rows = models.JSONField(default=dict)
    rows_total = models.BigIntegerField(default=0)
    storage_bytes = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)
    active_user_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    collected_at = models.DateTimeField()

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization_id", "day"], name="usage_day_organization_day"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.day}"
