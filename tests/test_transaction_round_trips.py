"""One round trip opens a tenant transaction and sets its context (issue 12): the ``BEGIN`` and the
``set_config`` of ``search_path`` and ``hub.organization_id`` travel as one query, read from libpq's own
trace of the protocol messages the client sent."""

from __future__ import annotations

import tempfile

from django.db import connection, transaction
from django_tenants.utils import tenant_context
from psycopg.pq import Trace

from apps.entities.models import Entity
from tenants.db.backend.base import ORGANIZATION_SETTING
from tenants.models import Organization


def _sent(action: object) -> list[str]:
    """The messages the client sent while ``action()`` ran, one ``Query``/``Sync`` per round trip."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            action()  # type: ignore[operator]
        finally:
            pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    return [
        line.split("\t", 3)[2] + " " + line.split("\t", 3)[3][:60] for line in lines if line.startswith("F\t")
    ]


def test_a_transaction_opens_with_its_context_in_one_round_trip(committed_db: None) -> None:
    tenant = Organization.objects.get(slug="alpha")

    def read() -> None:
        with tenant_context(tenant), transaction.atomic():
            assert Entity.objects.count() >= 0

    sent = _sent(read)
    round_trips = [message for message in sent if message.startswith(("Query", "Sync"))]
    assert len(round_trips) == 3, sent  # BEGIN with the context; the count; COMMIT
    assert round_trips[0].startswith("Query  \"BEGIN; SELECT set_config('search_path'"), sent
    assert "COMMIT" in round_trips[2], sent
    # ... and the context is the tenant's.
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [ORGANIZATION_SETTING])
        assert cursor.fetchone() == (str(tenant.organization_id),)
