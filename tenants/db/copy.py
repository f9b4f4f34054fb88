"""Bulk INSERT through COPY, for tables behind row-level security.

A bulk INSERT built by Django quotes every value into one SQL text on the client (psycopg binds
client-side for Django): most of its cost for thousands of rows. COPY sends the values as they are, but
row-level security refuses COPY into a table that has a policy. So the rows are copied into a temporary
table of the transaction with the target's columns that are given (their types only), then inserted
from it with one ``INSERT ... SELECT``: the columns not given take the target's defaults then (the
organization column's, the id's identity), and its policies and triggers check the rows as they check
any INSERT.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def model_copy_insert(
    *, model: type[models.Model], fields: Sequence[models.Field[Any, Any]], rows: Iterable[Sequence[Any]]
) -> None:
    """INSERT ``rows`` (database values of ``fields``, in that order) into ``model``'s table through
    COPY; the columns not named take their defaults. Atomic: all the rows or none."""
    table = model._meta.db_table
    staging = f"{table}_copy"
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        # Names from the model's metadata only, never from a caller.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608
        )
        with cursor.cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}")  # noqa: S608
        cursor.execute(f"DROP TABLE {staging}")


# Field classes whose ``pre_save`` only reads the attribute, and whose conversion to a database value
# returns a value of these types unchanged (``to_python`` of a str is that str, ``int`` of an int...):
# such a value is written as it is. Exact classes only: a subclass may convert differently.
_AS_IS: dict[type[models.Field[Any, Any]], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.SlugField: (str,),
    models.BooleanField: (bool,),
    models.SmallIntegerField: (int,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.UUIDField: (uuid.UUID,),
    models.AutoField: (int,),
    models.BigAutoField: (int,),
}


def _db_value(field: models.Field[Any, Any], wrapper: BaseDatabaseWrapper) -> Callable[[models.Model], Any]:
    """What ``bulk_create`` writes for ``field`` of a new instance: its ``pre_save``, then its database
    value; a value the conversion would return unchanged (``_AS_IS``) is taken as it is. ``wrapper`` is
    the connection itself, not ``django.db.connection``'s proxy (a context-local lookup per value)."""
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    kinds = _AS_IS.get(type(target)) if type(field) in (*_AS_IS, models.ForeignKey) else None
    attname = field.attname

    def converted(instance: models.Model) -> Any:
        return field.get_db_prep_save(field.pre_save(instance, True), connection=wrapper)

    if kinds is None:
        return converted

    def as_is(instance: models.Model) -> Any:
        value = getattr(instance, attname)
        return value if value is None or type(value) in kinds else converted(instance)

    return as_is


def model_copy_rows(
    fields: Sequence[models.Field[Any, Any]], instances: Iterable[models.Model]
) -> Iterator[list[Any]]:
    """The rows ``bulk_create`` would write for the new ``instances`` (values of ``fields``, in that
    order), to give ``model_copy_insert``."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    values = [_db_value(field, wrapper) for field in fields]
    for instance in instances:
        yield [value(instance) for value in values]
