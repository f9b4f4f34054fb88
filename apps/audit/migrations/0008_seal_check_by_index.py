"""The seal's statement check finds the trail's highest number through the index, whatever the plan.

0006's ``audit_entry_seals_check`` asked ``EXISTS (SELECT FROM audit_auditentry WHERE sequence > $n)``
("none sealed past this batch"). Once PL/pgSQL switched the trigger to a generic plan (after five runs
in one session), PostgreSQL planned that EXISTS as a sequential scan, expecting an early match; there
never is one, so every seal read the organization's whole trail: 0.2 s per batch at 320,000 entries
(``auto_explain`` on the machine's PostgreSQL 15), the larger part of the seal after a bulk import, and
a cost per request that grew with the organization. ``max(sequence)`` is always answered from the
unique index on ``sequence`` (one backward step), so the check now compares that with the batch's last
number: the same rule, at a cost that does not depend on the trail's size.

Only the function's body changes (the trigger calls it by name); the reverse puts 0006's back.
"""

import importlib

from django.db import migrations

_SET_BASED = importlib.import_module("apps.audit.migrations.0006_seal_set_based").SET_BASED_SQL
_START = _SET_BASED.index("CREATE FUNCTION audit_entry_seals_check()")
_END = _SET_BASED.index("$fn$;", _START) + len("$fn$;")
# 0006's function, as ``CREATE OR REPLACE``.
CHECK_0006 = "CREATE OR REPLACE " + _SET_BASED[_START:_END].removeprefix("CREATE ")

_PAST_BY_SCAN = "OR EXISTS (SELECT FROM audit_auditentry WHERE sequence > batch.last_sequence)"
_PAST_BY_INDEX = "OR (SELECT max(sequence) FROM audit_auditentry) > batch.last_sequence"
if CHECK_0006.count(_PAST_BY_SCAN) != 1:
    raise RuntimeError("0006's audit_entry_seals_check is not the one this migration rewrites")
CHECK_BY_INDEX = CHECK_0006.replace(_PAST_BY_SCAN, _PAST_BY_INDEX)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_single_purpose_indexes")]

    operations = [migrations.RunSQL(CHECK_BY_INDEX, reverse_sql=CHECK_0006)]
