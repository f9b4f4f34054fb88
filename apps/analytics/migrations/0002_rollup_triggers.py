"""The rollups, kept by triggers in the same database transaction as the change they count.

Runs in each tenant schema as the owner role, as ``ledger.0002_guarantees`` does: the functions run
with the caller's rights (row-level security applies to every row they read or write; the rollup rows
take the transaction's organization by default) and keep the schema's search_path.

Statement-level triggers with transition tables: one upsert per statement and rollup row, so a bulk
insert of a million postings costs one aggregate, not a million row triggers. Each function computes
the signed contribution of the rows a statement removed (-1) and added (+1), sums it per rollup key
and skips keys whose sum is zero, so an edit that changes nothing counted (a booking's notes, an
entity's name) touches no rollup row and takes no lock on one. Keys are upserted in key order, so two
transactions touching the same keys lock them in the same order and wait rather than deadlock.

* ledger: a posting counts while its transaction is ``posted`` (inserted posted, or pending and then
  posted); voided transactions never count; a reversal is a new posted transaction and counts on its
  own effective date. Postings and effective dates are immutable (``ledger.0002_guarantees``).
* bookings: a booking not ``cancelled`` counts once in the UTC hour of its start and, for its seconds,
  in every UTC hour it overlaps; a reschedule removes the old contribution and adds the new one.
* entities: every entity row counts as created in the UTC hour of ``created_at``; live ones (no
  ``deleted_at``) count in their kind and status.
"""

from django.db import migrations

LEDGER_UPSERT = """
    INSERT INTO analytics_ledgerdaily AS r (account_id, effective_date, amount, postings)
    SELECT d.account_id, d.effective_date, sum(d.sign * d.amount), sum(d.sign)
    FROM ({source}) d
    GROUP BY d.account_id, d.effective_date
    HAVING sum(d.sign) <> 0
    ORDER BY d.account_id, d.effective_date
    ON CONFLICT (account_id, effective_date) DO UPDATE
    SET amount = r.amount + EXCLUDED.amount, postings = r.postings + EXCLUDED.postings;
"""
POSTING_INSERTED = """
    SELECT p.account_id, t.effective_date, p.amount, 1 AS sign
    FROM new_rows p JOIN ledger_transaction t ON t.id = p.transaction_id
    WHERE t.state = 'posted'
"""
TRANSACTION_STATE_CHANGED = """
    SELECT p.account_id, n.effective_date, p.amount,
           (n.state = 'posted')::integer - (o.state = 'posted')::integer AS sign
    FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN ledger_posting p ON p.transaction_id = n.id
    WHERE (n.state = 'posted') <> (o.state = 'posted')
"""

BOOKING_UPSERT = """
    INSERT INTO analytics_bookinghourly AS r (resource_id, hour, bookings, seconds)
    SELECT x.resource_id, x.hour, sum(x.starts), sum(x.seconds)
    FROM (
        SELECT b.resource_id, h.hour,
               CASE WHEN h.hour = date_trunc('hour', b.start_at, 'UTC') THEN b.sign ELSE 0 END AS starts,
               b.sign * extract(epoch FROM least(b.end_at, h.hour + interval '1 hour')
                                          - greatest(b.start_at, h.hour)) AS seconds
        FROM ({source}) b
        CROSS JOIN LATERAL generate_series(
            date_trunc('hour', b.start_at, 'UTC'), b.end_at - interval '1 microsecond', interval '1 hour'
        ) AS h(hour)
    ) x
    GROUP BY x.resource_id, x.hour
    HAVING sum(x.starts) <> 0 OR sum(x.seconds) <> 0
    ORDER BY x.resource_id, x.hour
    ON CONFLICT (resource_id, hour) DO UPDATE
    SET bookings = r.bookings + EXCLUDED.bookings, seconds = r.seconds + EXCLUDED.seconds;
"""
BOOKING_ROWS = (
    "SELECT {alias}.resource_id, {alias}.start_at, {alias}.end_at, {sign} AS sign FROM {table} {alias}"
)
BOOKING_LIVE = "{alias}.status <> 'cancelled'"
BOOKING_CHANGED = "(o.resource_id, o.start_at, o.end_at, o.status) IS DISTINCT FROM (n.resource_id, n.start_at, n.end_at, n.status)"

ENTITY_UPSERT = """
    INSERT INTO analytics_entityhourly AS r (kind, hour, created)
    SELECT e.kind, date_trunc('hour', e.created_at, 'UTC'), sum(e.sign)
    FROM ({source}) e
    GROUP BY 1, 2
    HAVING sum(e.sign) <> 0
    ORDER BY 1, 2
    ON CONFLICT (kind, hour) DO UPDATE SET created = r.created + EXCLUDED.created;
    INSERT INTO analytics_entitycount AS r (kind, status, count)
    SELECT e.kind, e.status, sum(e.sign)
    FROM ({source}) e
    WHERE e.live
    GROUP BY 1, 2
    HAVING sum(e.sign) <> 0
    ORDER BY 1, 2
    ON CONFLICT (kind, status) DO UPDATE SET count = r.count + EXCLUDED.count;
"""
ENTITY_ROWS = (
    "SELECT {alias}.kind, {alias}.status, {alias}.created_at, {alias}.deleted_at IS NULL AS live, {sign} AS sign "
    "FROM {table} {alias}"
)
ENTITY_CHANGED = "(o.kind, o.status, o.created_at, o.deleted_at IS NULL) IS DISTINCT FROM (n.kind, n.status, n.created_at, n.deleted_at IS NULL)"


def _rows(template: str, *, alias: str, sign: int, where: str, changed: str | None = None) -> str:
    """The rows of one transition table with their sign; with ``changed``, only rows an update changed."""
    if changed is None:
        return (
            template.format(alias=alias, sign=sign, table=f"{'new' if sign > 0 else 'old'}_rows")
            + f" WHERE {where}"
        )
    other = "n" if alias == "o" else "o"
    table = "old_rows" if alias == "o" else "new_rows"
    other_table = "new_rows" if alias == "o" else "old_rows"
    return (
        template.format(alias=alias, sign=sign, table=table)
        + f" JOIN {other_table} {other} ON {other}.id = {alias}.id WHERE {where} AND {changed}"
    )


def _function(name: str, body: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
{body}
    RETURN NULL;
END
$fn$;
"""


def _trigger(name: str, table: str, event: str, function: str) -> str:
    referencing = {
        "INSERT": "NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }[event]
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
    )


def _booking_source(event: str) -> str:
    if event == "INSERT":
        return _rows(BOOKING_ROWS, alias="n", sign=1, where=BOOKING_LIVE.format(alias="n"))
    if event == "DELETE":
        return _rows(BOOKING_ROWS, alias="o", sign=-1, where=BOOKING_LIVE.format(alias="o"))
    removed = _rows(
        BOOKING_ROWS, alias="o", sign=-1, where=BOOKING_LIVE.format(alias="o"), changed=BOOKING_CHANGED
    )
    added = _rows(
        BOOKING_ROWS, alias="n", sign=1, where=BOOKING_LIVE.format(alias="n"), changed=BOOKING_CHANGED
    )
    return f"{removed} UNION ALL {added}"


def _entity_source(event: str) -> str:
    if event == "INSERT":
        return _rows(ENTITY_ROWS, alias="n", sign=1, where="true")
    if event == "DELETE":
        return _rows(ENTITY_ROWS, alias="o", sign=-1, where="true")
    removed = _rows(ENTITY_ROWS, alias="o", sign=-1, where="true", changed=ENTITY_CHANGED)
    added = _rows(ENTITY_ROWS, alias="n", sign=1, where="true", changed=ENTITY_CHANGED)
    return f"{removed} UNION ALL {added}"


def _sql() -> str:
    parts = [
        _function("analytics_posting_inserted", LEDGER_UPSERT.format(source=POSTING_INSERTED)),
        _trigger("analytics_posting_inserted", "ledger_posting", "INSERT", "analytics_posting_inserted"),
        _function("analytics_transaction_updated", LEDGER_UPSERT.format(source=TRANSACTION_STATE_CHANGED)),
        _trigger(
            "analytics_transaction_updated", "ledger_transaction", "UPDATE", "analytics_transaction_updated"
        ),
    ]
    for event in ("INSERT", "UPDATE", "DELETE"):
        suffix = event.lower()
        parts.append(
            _function(f"analytics_booking_{suffix}", BOOKING_UPSERT.format(source=_booking_source(event)))
        )
        parts.append(
            _trigger(
                f"analytics_booking_{suffix}", "scheduling_booking", event, f"analytics_booking_{suffix}"
            )
        )
        parts.append(
            _function(f"analytics_entity_{suffix}", ENTITY_UPSERT.format(source=_entity_source(event)))
        )
        parts.append(
            _trigger(f"analytics_entity_{suffix}", "entities_entity", event, f"analytics_entity_{suffix}")
        )
    return "".join(parts)


TRIGGERS = [
    ("analytics_posting_inserted", "ledger_posting"),
    ("analytics_transaction_updated", "ledger_transaction"),
    *[(f"analytics_booking_{e}", "scheduling_booking") for e in ("insert", "update", "delete")],
    *[(f"analytics_entity_{e}", "entities_entity") for e in ("insert", "update", "delete")],
]
REVERSE_SQL = "".join(
    f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();\n"
    for name, table in TRIGGERS
)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("ledger", "0003_transaction_write"),
        ("scheduling", "0001_initial"),
        ("entities", "0007_list_ordering_indexes"),
    ]

    operations = [migrations.RunSQL(_sql(), reverse_sql=REVERSE_SQL)]
