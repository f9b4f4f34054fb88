"""The chain check is bounded (issue 10, item 9): the API verifies a window, the command walks in batches.

``GET /api/v1/audit/verify`` checks at most ``limit`` entries after ``after_sequence`` and says where it
stopped and whether more remains, so a client walks a long chain window by window; what one request
reads does not depend on the chain's length. ``verify_audit`` still checks everything, a batch of rows
per query.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.audit.schemas import VERIFY_LIMIT_MAX
from apps.audit.selectors import UNSEALED_COUNT_BOUND
from apps.audit.tests.conftest import GAMMA_ACTOR, as_owner
from apps.entities import services
from tenants.models import Organization, User
from tests.helpers import assert_error

VERIFY_URL = "/api/v1/audit/verify"


def _grow(tenant: Organization, entries: int) -> None:
    """Append ``entries`` entries to the tenant's chain (one entity created each)."""
    creator = User.objects.get(id=GAMMA_ACTOR)
    with tenant_context(tenant):
        for index in range(entries):
            services.entity_create(actor=creator, kind="customer", name=f"Grown {index}")


def _window(client: Any, **query: Any) -> dict[str, Any]:
    response = client.get(VERIFY_URL, query)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _summary(body: dict[str, Any]) -> tuple[Any, ...]:
    head = body["head"]["sequence"] if body["head"] else None
    return body["ok"], body["entries"], head, body["more"], body["first_broken"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"limit": VERIFY_LIMIT_MAX + 1},
        {"limit": 10**9},
        {"limit": 0},
        {"limit": "all"},
        {"after_sequence": -1},
        {"after_sequence": "last"},
        {"after_sequence": 2**63},
    ],
)
def test_a_window_beyond_its_bounds_is_422(admin_client: Any, query: dict[str, Any]) -> None:
    assert_error(admin_client.get(VERIFY_URL, query), 422)


def test_a_window_says_where_it_stopped_and_whether_more_remains(
    gamma: Organization, client_for: Any
) -> None:
    _grow(gamma, 4)  # entries 1-7
    admin = client_for(gamma, ["admin"])

    first = _window(admin, limit=3)
    assert _summary(first) == (True, 3, 3, True, None)
    second = _window(admin, after_sequence=first["head"]["sequence"], limit=3)
    assert _summary(second) == (True, 3, 6, True, None)
    assert second["after_sequence"] == 3
    last = _window(admin, after_sequence=6, limit=3)
    assert _summary(last) == (True, 1, 7, False, None)
    assert _window(admin)["head"] == last["head"]  # the default window holds this whole chain
    at_end = _window(admin, after_sequence=7)
    assert _summary(at_end) == (True, 0, 7, False, None)


def test_continuing_across_windows_finds_an_entry_tampered_in_a_later_window(
    gamma: Organization, client_for: Any
) -> None:
    _grow(gamma, 4)
    as_owner(gamma, "UPDATE audit_auditentry SET object_repr = 'forged' WHERE sequence = 6")
    admin = client_for(gamma, ["admin"])

    first = _window(admin, limit=3)
    assert _summary(first) == (True, 3, 3, True, None)  # the forgery lies beyond this window
    second = _window(admin, after_sequence=3, limit=3)
    assert _summary(second) == (False, 2, 5, False, 6)
    assert "does not match its hash" in second["reason"]


def test_a_window_after_a_removed_entry_is_broken_there(gamma: Organization, client_for: Any) -> None:
    _grow(gamma, 2)
    as_owner(gamma, "DELETE FROM audit_auditentry WHERE sequence IN (2, 5)")
    admin = client_for(gamma, ["admin"])

    assert _summary(_window(admin, after_sequence=2)) == (False, 0, None, False, 2)
    beyond = _window(admin, after_sequence=5)
    assert _summary(beyond) == (False, 0, None, False, 5)
    assert "removed from its end" in beyond["reason"]


def test_an_anchor_is_checked_whatever_the_window(gamma: Organization, client_for: Any) -> None:
    _grow(gamma, 3)  # entries 1-6
    admin = client_for(gamma, ["admin"])
    head = _window(admin)["head"]
    anchored = {"sequence": head["sequence"], "hash": head["hash"]}
    assert _window(admin, limit=1, **anchored)["ok"] is True

    as_owner(gamma, "DELETE FROM audit_auditentry WHERE sequence = 6")
    body = _window(admin, limit=1, **anchored)
    assert _summary(body) == (False, 1, 1, True, 6)
    assert "removed from its end" in body["reason"]


def _verify_request(client: Any, **query: Any) -> tuple[int, list[int]]:
    """The statements one verify request runs on the trail, and the LIMIT of each of its reads."""
    with CaptureQueriesContext(connection) as queries:
        _window(client, **query)
    limits = [
        int(match.group(1))
        for sql in (query_["sql"] for query_ in queries.captured_queries)
        if "audit_auditentry" in sql and sql.lstrip().upper().startswith("SELECT")
        for match in [re.search(r"LIMIT (\d+)", sql)]
        if match is not None or pytest.fail(f"a read of the whole trail: {sql}")
    ]
    # Only the statements on the trail count: whether a request also looks up its host's route, the
    # caller's mirror row or membership depends on caches and the clock, not on the trail's size.
    on_trail = [query_ for query_ in queries.captured_queries if "audit_auditentry" in query_["sql"]]
    return len(on_trail), limits


def test_what_one_request_reads_does_not_grow_with_the_trail(gamma: Organization, client_for: Any) -> None:
    _grow(gamma, 5)  # entries 1-8
    admin = client_for(gamma, ["admin"])
    _window(admin, limit=5)  # warm the caches authentication fills on a first request
    small_queries, small_limits = _verify_request(admin, limit=5)
    _grow(gamma, 60)
    large_queries, large_limits = _verify_request(admin, limit=5)
    continued_queries, _ = _verify_request(admin, after_sequence=40, limit=5)

    assert small_queries == large_queries
    assert continued_queries == large_queries + 1  # the entry the window links to
    assert large_limits == small_limits
    # The window, one row to know whether more remains, and the count of entries awaiting their seal
    # (on the index of unsealed entries, bounded by a constant).
    assert sum(large_limits) <= 5 + 1 + UNSEALED_COUNT_BOUND


def test_the_command_walks_everything_in_batches_with_progress(gamma: Organization) -> None:
    _grow(gamma, 4)  # entries 1-7
    out = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("verify_audit", "--tenant", gamma.slug, "--batch-size", "2", stdout=out)
    reads = [q["sql"] for q in queries.captured_queries if "audit_auditentry" in q["sql"]]
    chain_reads = [sql for sql in reads if "audit_entry_digest" in sql]
    assert len(chain_reads) == 4  # 2 + 2 + 2 + 1 entries
    assert all(re.search(r"LIMIT 2\b", sql) for sql in chain_reads)
    assert len(reads) == len(chain_reads) + 1  # and the count of entries awaiting their seal
    output = out.getvalue()
    assert f"{gamma.slug}: 6 entries checked (up to entry 6)" in output
    assert f"{gamma.slug}: 7 entries ok" in output

    as_owner(gamma, "UPDATE audit_auditentry SET object_repr = 'forged' WHERE sequence = 7")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", "--tenant", gamma.slug, "--batch-size", "2", stdout=out)
    assert "BROKEN at entry 7" in out.getvalue()


def test_a_batch_size_below_one_is_refused(committed_db: None) -> None:
    with pytest.raises(CommandError, match="batch-size"):
        call_command("verify_audit", "--batch-size", "0")
