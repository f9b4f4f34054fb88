"""Writes of the analytics module: the organization's time zone, and rebuilding the rollups.

The rollups themselves are written by the triggers of migration ``0002_rollup_triggers``, in the
transaction of each change; nothing here runs on a request's write path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from apps.analytics.models import AnalyticsSetting
from apps.analytics.recompute import BATCH_COLUMN, ONE_BATCH, ROLLUPS, Rollup
from apps.analytics.selectors import time_zone_parse
from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_snapshot
from tenants.models import User


@transaction.atomic
def analytics_setting_update(*, actor: User, time_zone: str) -> AnalyticsSetting:
    """Set the organization's time zone (an IANA name; ``TimeZoneUnknown`` otherwise). Audited."""
    time_zone_parse(time_zone)
    current = AnalyticsSetting.objects.select_for_update().filter(id=1).first()
    if current is None:
        setting = AnalyticsSetting.objects.create(id=1, time_zone=time_zone)
        audit_change(action=AuditEntry.Action.CREATE, instance=setting, actor=actor)
        return setting
    before = audit_snapshot(current)
    current.time_zone = time_zone
    current.save(update_fields=["time_zone", "updated_at"])
    audit_change(
        action=AuditEntry.Action.UPDATE, instance=current, before=before, actor=actor, fields=["time_zone"]
    )
    return current


@dataclass(frozen=True)
class BatchDone:
    """Progress of a rebuild: ``table``'s batch ``number`` of ``batches`` committed, ``rows`` written,
    the batch's last key (``--after`` resumes after it)."""

    table: str
    number: int
    batches: int
    rows: int
    last_key: str


def rollups_rebuild(*, batch_size: int = 100, after: tuple[str, str] | None = None) -> Iterator[BatchDone]:
    """Recompute every rollup of the current organization from the base tables, ``batch_size`` keys
    (accounts, resources, entity kinds) per committed batch. ``after`` = (table, key) resumes after that
    batch key. Yields each batch as it commits. Not inside a caller's transaction."""
    skipping = after is not None
    for rollup in ROLLUPS:
        if skipping and after is not None and rollup.table != after[0]:
            continue
        keys = _batch_keys(rollup) if rollup.batch_source != ONE_BATCH else []
        if skipping and after is not None:
            keys = [k for k in keys if k > after[1]]
            skipping = False
        batches = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
        for number, batch in enumerate(batches, start=1):
            rows = _batch_rebuild(rollup, batch)
            yield BatchDone(rollup.table, number, len(batches), rows, batch[-1])
        if not batches:
            _batch_rebuild(rollup, None)


def _batch_keys(rollup: Rollup) -> list[str]:
    """Every key of the base table, and any key left in the rollup only (its rows must go too)."""
    first = rollup.keys[0]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT k::text FROM ({rollup.batch_source}) s(k) "  # noqa: S608 - fixed names
            f"UNION SELECT {first}::text FROM {rollup.table} ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


@transaction.atomic
def _batch_rebuild(rollup: Rollup, keys: list[str] | None) -> int:
    """Replace the rollup's rows of ``keys`` (all rows when ``None``) by their recomputation."""
    first, column = rollup.keys[0], BATCH_COLUMN[rollup.table]
    batch, params = ("true", []) if keys is None else (f"{column}::text = ANY(%s)", [keys])
    own = "true" if keys is None else f"{first}::text = ANY(%s)"
    columns = ", ".join((*rollup.keys, *rollup.values))
    with connection.cursor() as cursor:
        for table in rollup.locks:
            cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {rollup.table} WHERE {own}", params)  # noqa: S608 - fixed names
        cursor.execute(
            f"INSERT INTO {rollup.table} ({columns}) "  # noqa: S608 - fixed names
            f"SELECT {columns} FROM ({rollup.recompute.format(batch=batch)}) r",
            params,
        )
        return int(cursor.rowcount)


def rollups_first_difference() -> str | None:
    """The first difference between the stored rollups and their recomputation from the base tables
    (rows whose values are all zero count as absent), or ``None`` when they are equal."""
    for rollup in ROLLUPS:
        difference = _difference(rollup)
        if difference is not None:
            return difference
    return None


def _difference(rollup: Rollup) -> str | None:
    keys, values = rollup.keys, rollup.values
    nonzero = " OR ".join(f"{v} <> 0" for v in values)
    join = " AND ".join(f"s.{k} = r.{k}" for k in keys)
    distinct = " OR ".join(f"COALESCE(s.{v}, 0) <> COALESCE(r.{v}, 0)" for v in values)
    select = ", ".join(
        [
            *(f"COALESCE(s.{k}, r.{k})::text" for k in keys),
            *(f"COALESCE(s.{v}, 0)::text, COALESCE(r.{v}, 0)::text" for v in values),
        ]
    )
    sql = (
        f"SELECT {select} FROM (SELECT * FROM {rollup.table} WHERE {nonzero}) s "  # noqa: S608 - fixed names
        f"FULL OUTER JOIN ({rollup.recompute.format(batch='true')}) r ON {join} "
        f"WHERE {distinct} ORDER BY 1, 2 LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row: Any = cursor.fetchone()
    if row is None:
        return None
    key = ", ".join(f"{k}={row[i]}" for i, k in enumerate(keys))
    found = ", ".join(
        f"{v} stored {row[len(keys) + 2 * i]} but recomputed {row[len(keys) + 2 * i + 1]}"
        for i, v in enumerate(values)
    )
    return f"{rollup.table} ({key}): {found}"


ProgressWriter = Callable[[str], None]
