"""What each ledger write costs the database (issue 12): pinned statement counts, so round trips cannot
creep back. A transfer is one statement (``ledger_transaction_write``) plus its audit entry, whatever its
number of postings; no write takes a savepoint inside a request; a response is rendered from what the
write already holds.

The counts are of the statements Django sends while the request runs, the ledger's own and the audit
trail's (routing and authentication, cached or not, are not the ledger's and are left out); the
``BEGIN`` and the tenant context go in one round trip of their own (``tests/test_transaction_round_trips``).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context
from psycopg.pq import Trace

from apps.ledger import services
from apps.ledger.models import Account, Transaction
from apps.ledger.services import PostingLine
from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import ACCOUNTS_URL, JSON, account_url, post, transaction_url, transfer
from tenants.models import Organization, User

# Statements of the ledger and of the audit trail; savepoints count too (two round trips each).
_COUNTED = ("ledger_", "audit_auditentry", "SAVEPOINT")


def _ledger_statements(action: Callable[[], Any]) -> list[str]:
    """The ledger's and the audit trail's statements while ``action`` runs. Under the test's own
    transaction the request's transaction is a savepoint: that one is the request's, not counted."""
    with CaptureQueriesContext(connection) as captured:
        action()
    statements = [query["sql"] for query in captured if any(word in query["sql"] for word in _COUNTED)]
    if statements and statements[0].startswith("SAVEPOINT "):
        request_savepoint = statements[0].removeprefix("SAVEPOINT ")
        statements = [sql for sql in statements if not sql.endswith(request_savepoint)]
    return statements


def _split(chart: Chart, legs: int) -> dict[str, Any]:
    """A transfer of ``legs`` postings: ``legs - 1`` debits of 1.00 to bank, one credit from cash."""
    postings = [{"account_id": str(chart.bank.id), "amount": "1.00"} for _ in range(legs - 1)]
    postings.append({"account_id": str(chart.cash.id), "amount": f"-{legs - 1}.00"})
    return {"description": "Split", "currency": "EUR", "postings": postings}


def _created(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    return body


def _posted(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    return _created(post(client, body))


def _answered(client: Client, url: str, *, status: int = 200) -> dict[str, Any]:
    return _created(client.post(url), status)


def _patched(client: Client, url: str, change: dict[str, Any]) -> dict[str, Any]:
    return _created(client.patch(url, change, content_type=JSON), 200)


def test_a_transfer_is_one_ledger_statement_and_its_audit_entry_for_2_or_20_postings(
    member_client: Client, chart: Chart
) -> None:
    post(member_client, _split(chart, 2))  # warm: caches of the request path
    counts = {}
    for legs in (2, 20):
        statements = _ledger_statements(partial(_posted, member_client, _split(chart, legs)))
        counts[legs] = len(statements)
        assert "ledger_transaction_write" in statements[0], statements
        assert not any("SAVEPOINT" in sql for sql in statements), statements
    assert counts == {2: 2, 20: 2}


def test_a_replay_reads_nothing_but_the_key(member_client: Client, chart: Chart) -> None:
    body = transfer(chart.cash.id, chart.bank.id, "1.00")
    first = _created(post(member_client, body, key="replayed"))

    statements = _ledger_statements(lambda: _created(post(member_client, body, key="replayed")))

    assert len(statements) == 2, statements  # the key (claimed or answered), the access entry
    assert _created(post(member_client, body, key="replayed")) == first


def test_a_refused_transfer_costs_one_statement(member_client: Client, chart: Chart) -> None:
    member_client.patch(account_url(chart.bank.id), {"archived": True}, content_type=JSON)
    statements = _ledger_statements(
        lambda: _created(post(member_client, transfer(chart.cash.id, chart.bank.id, "1")), 422)
    )
    assert len(statements) == 1, statements


def test_void_and_post_cost_one_statement_each_besides_the_read(member_client: Client, chart: Chart) -> None:
    voided = _created(post(member_client, transfer(chart.cash.id, chart.bank.id, "1", state="pending")))
    posted = _created(post(member_client, transfer(chart.cash.id, chart.bank.id, "1", state="pending")))

    for created, action in ((voided, "/void"), (posted, "/post")):
        url = transaction_url(created["id"], action)
        statements = _ledger_statements(partial(_answered, member_client, url))
        # The read (the transaction, its postings), the state change, the audit entries (one INSERT).
        assert len(statements) == 4, statements
        assert "ledger_transaction_state_set" in statements[2], statements


def test_reverse_costs_a_fixed_number_of_statements(member_client: Client, chart: Chart) -> None:
    counts = []
    for legs in (2, 20):
        original = _created(post(member_client, _split(chart, legs)))
        reverse = transaction_url(original["id"], "/reverse")
        statements = _ledger_statements(partial(_answered, member_client, reverse, status=201))
        counts.append(len(statements))
        assert not any("SAVEPOINT" in sql for sql in statements), statements
    # The read (2), the original locked (1), its reversal looked for (1), the write (1), the response's
    # postings (1), the audit entries (1).
    assert counts == [7, 7]


def test_account_writes_cost_a_fixed_number_of_statements(member_client: Client, chart: Chart) -> None:
    body = {"code": "2000", "name": "Payables", "type": "liability", "currency": "EUR"}
    created = _ledger_statements(lambda: _created(member_client.post(ACCOUNTS_URL, body, content_type=JSON)))
    # The INSERT in its savepoint (a taken code answers 409 without failing the request's transaction:
    # SAVEPOINT, INSERT, RELEASE), the audit entry.
    assert len(created) == 4, created

    for change in ({"name": "Payables (old)"}, {"archived": True}):
        url = account_url(chart.revenue.id)
        updated = _ledger_statements(partial(_patched, member_client, url, change))
        # The read, the row locked and re-read, the UPDATE in its savepoint (3), the audit entries.
        assert len(updated) == 6, updated


def test_the_answer_of_a_transfer_is_what_a_read_answers(
    member_client: Client, chart: Chart, entity_a: Any
) -> None:
    """Rendered from what the write holds (no query), it must equal ``TransactionOut`` of the row."""
    bodies = [
        transfer(chart.cash.id, chart.bank.id, "10.5", reference="R-1", entity_id=str(entity_a.id)),
        transfer(chart.cash.id, chart.bank.id, "3", state="pending", effective_date="2026-02-28"),
        {
            "description": "  Yen  ",
            "currency": "JPY",
            "postings": [
                {"account_id": str(chart.yen.id), "amount": "1000"},
                {"account_id": str(chart.yen.id), "amount": "-1000"},
            ],
        },
        _split(chart, 5),
    ]
    for body in bodies:
        created = _created(post(member_client, body))
        assert _created(member_client.get(transaction_url(created["id"])), 200) == created


def test_a_transfer_is_five_round_trips(gamma: Organization, gamma_chart: Chart, gamma_actor: User) -> None:
    """Through the service, outside a request: BEGIN with the tenant context, the write, the audit
    entry, the transaction.posted event (apps.notifications: one statement while no rule wants it),
    COMMIT; read from libpq's own trace of what the client sent."""
    request = {
        "description": "Traced",
        "currency": "EUR",
        "postings": [
            {"account_id": gamma_chart.bank.id, "amount": "1.00"},
            {"account_id": gamma_chart.cash.id, "amount": "-1.00"},
        ],
    }

    def render(txn: Transaction, postings: Sequence[PostingLine]) -> dict[str, Any]:
        return {"id": str(txn.id)}

    def transfer_once() -> None:
        services.transaction_create_idempotent(
            actor=gamma_actor, key=uuid.uuid4().hex, request=request, render=render
        )

    with tenant_context(gamma):
        transfer_once()  # warm: the content type's id, the connection
        connection.ensure_connection()
        pgconn = connection.connection.pgconn
        with tempfile.TemporaryFile("w+") as trace:
            pgconn.trace(trace.fileno())
            pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
            try:
                transfer_once()
            finally:
                pgconn.untrace()
            trace.seek(0)
            sent = [line.split("\t", 3)[2:] for line in trace.read().splitlines() if line.startswith("F\t")]
        assert Account.objects.get(id=gamma_chart.bank.id).balance == 2
    messages = [f"{kind} {text[:60]}" for kind, text in sent]
    round_trips = [message for message in messages if message.startswith(("Query", "Sync"))]
    # Up to the transfer's COMMIT (what runs after a commit, on_commit work, is not the transfer's).
    committed = next(index for index, message in enumerate(round_trips) if "COMMIT" in message)
    assert len(round_trips[: committed + 1]) == 5, messages
    assert "BEGIN; SELECT set_config" in round_trips[0], messages
    assert "ledger_transaction_write" in round_trips[1], messages
