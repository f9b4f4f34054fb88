"""The rollups recomputed from the base tables: what ``rebuild_rollups`` writes and ``check_rollups``
compares with. The same definitions as the triggers of migration ``0002_rollup_triggers``, written
once more as plain aggregates so a mistake in either shows up as a difference.

Each rollup is rebuilt in batches of its key's first column (accounts, resources, entity kinds): a
batch's rows are recomputed and replaced in one transaction, under a SHARE lock on its base table
(writers wait for the batch, never for the whole rebuild), so a batch can be run again at any time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rollup:
    """One rollup table: its key and value columns, the base table its batches lock and the query of
    its rows from that table (``{keys}``: a condition on the batch column, or ``true``)."""

    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    locks: tuple[str, ...]
    batch_source: str
    recompute: str


# The batch source of a rollup rebuilt in one batch.
ONE_BATCH = "SELECT NULL::text WHERE false"

ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        table="analytics_ledgerdaily",
        keys=("account_id", "effective_date"),
        values=("amount", "postings"),
        locks=("ledger_transaction", "ledger_posting"),
        batch_source="SELECT id FROM ledger_account",
        recompute="""
            SELECT p.account_id, t.effective_date, sum(p.amount) AS amount, count(*) AS postings
            FROM ledger_posting p JOIN ledger_transaction t ON t.id = p.transaction_id
            WHERE t.state = 'posted' AND {batch}
            GROUP BY p.account_id, t.effective_date
        """,
    ),
    Rollup(
        table="analytics_bookinghourly",
        keys=("resource_id", "hour"),
        values=("bookings", "seconds"),
        locks=("scheduling_booking",),
        batch_source="SELECT id FROM scheduling_resource",
        recompute="""
            SELECT b.resource_id, h.hour,
                   count(*) FILTER (WHERE h.hour = date_trunc('hour', b.start_at, 'UTC')) AS bookings,
                   sum(extract(epoch FROM least(b.end_at, h.hour + interval '1 hour')
                                       - greatest(b.start_at, h.hour))) AS seconds
            FROM scheduling_booking b
            CROSS JOIN LATERAL generate_series(
                date_trunc('hour', b.start_at, 'UTC'), b.end_at - interval '1 microsecond', interval '1 hour'
            ) AS h(hour)
            WHERE b.status <> 'cancelled' AND {batch}
            GROUP BY b.resource_id, h.hour
        """,
    ),
    Rollup(
        table="analytics_bookingtotalhourly",
        keys=("hour",),
        values=("bookings", "seconds"),
        locks=("scheduling_booking",),
        # One batch: at most one row per hour of the organization's bookings.
        batch_source=ONE_BATCH,
        recompute="""
            SELECT h.hour,
                   count(*) FILTER (WHERE h.hour = date_trunc('hour', b.start_at, 'UTC')) AS bookings,
                   sum(extract(epoch FROM least(b.end_at, h.hour + interval '1 hour')
                                       - greatest(b.start_at, h.hour))) AS seconds
            FROM scheduling_booking b
            CROSS JOIN LATERAL generate_series(
                date_trunc('hour', b.start_at, 'UTC'), b.end_at - interval '1 microsecond', interval '1 hour'
            ) AS h(hour)
            WHERE b.status <> 'cancelled' AND {batch}
            GROUP BY h.hour
        """,
    ),
    Rollup(
        table="analytics_entityhourly",
        keys=("kind", "hour"),
        values=("created",),
        locks=("entities_entity",),
        batch_source="SELECT key FROM entities_entitykind",
        recompute="""
            SELECT e.kind, date_trunc('hour', e.created_at, 'UTC') AS hour, count(*) AS created
            FROM entities_entity e WHERE {batch} GROUP BY 1, 2
        """,
    ),
    Rollup(
        table="analytics_entitycount",
        keys=("kind", "status"),
        values=("count",),
        locks=("entities_entity",),
        batch_source="SELECT key FROM entities_entitykind",
        recompute="""
            SELECT e.kind, e.status, count(*) AS count
            FROM entities_entity e WHERE e.deleted_at IS NULL AND {batch} GROUP BY 1, 2
        """,
    ),
)

# The base-table column each rollup's batches select on (the first key, in the base table's terms).
BATCH_COLUMN = {
    "analytics_ledgerdaily": "p.account_id",
    "analytics_bookinghourly": "b.resource_id",
    "analytics_bookingtotalhourly": "b.resource_id",
    "analytics_entityhourly": "e.kind",
    "analytics_entitycount": "e.kind",
}
