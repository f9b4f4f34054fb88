"""The transaction a ledger write runs in: the caller's when one is open, else its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def atomic_unless_inside() -> Iterator[None]:
    """The caller's transaction when one is open (an HTTP request's), else a new one.

    No savepoint (two round trips saved per write): the ledger's writes check everything before their
    first write and raise having written nothing, and a database error fails the caller's whole
    transaction anyway, which then rolls back (as a request answering an error does).
    """
    if connection.in_atomic_block:
        yield
    else:
        with transaction.atomic():
            yield
