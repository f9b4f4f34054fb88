"""Statements per request, for the modules' query-count tests (``apps/*/tests/test_query_counts.py``).

A request's statements are counted through the whole stack (Django's test client: tenant routing,
the token's user mirror and membership, the module's work, the audit entry), as Django sends them. In
tests the request runs inside the test's transaction, where the route and user caches are bypassed,
so every request pays the same fixed machinery: a count compared with a constant, or with another
page size's, measures the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext


def statements(call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """``call()``'s result and the SQL of every statement it sent."""
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [query["sql"] for query in captured.captured_queries]


def assert_statements(call: Callable[[], Any], expected: int, *, status: int | None = None) -> Any:
    """Run ``call`` (a request), check its status and that it sent exactly ``expected`` statements."""
    response, sent = statements(call)
    if status is not None:
        assert response.status_code == status, response.content
    assert len(sent) == expected, "\n".join(f"{number}. {sql[:160]}" for number, sql in enumerate(sent, 1))
    return response


def assert_list_constant(
    get: Callable[[dict[str, Any]], Any],
    *,
    small: int = 2,
    large: int = 40,
    params: dict[str, Any] | None = None,
) -> int:
    """A list costs the same statements for a page of ``small`` items, of ``large`` ones, and for the
    next page after a cursor (the list must hold more than ``large`` rows); returns that count."""
    params = params or {}
    get(params | {"limit": small})  # warm: per-process caches (content types) filled before counting
    few_page, few = statements(lambda: get(params | {"limit": small}))
    many_page, many = statements(lambda: get(params | {"limit": large}))
    assert few_page.status_code == many_page.status_code == 200, many_page.content
    assert len(few_page.json()["items"]) == small
    assert len(many_page.json()["items"]) == large
    cursor = many_page.json()["next"]
    assert cursor is not None, "the list must hold more rows than the large page"
    after_page, after = statements(lambda: get(params | {"limit": large, "cursor": cursor}))
    assert after_page.status_code == 200, after_page.content
    assert len(few) == len(many) == len(after), "\n".join(sql[:160] for sql in many)
    return len(few)
