"""Finding one schema's objects in a catalog that holds every organization's.

pg_class, pg_proc and pg_type have no index on their schema column: a filter on it, or on visibility
through the search path (``pg_table_is_visible``), reads every organization's rows, about 260 per
organization (2.6 million rows at 10,000). A schema's objects are found instead through pg_depend's
index on the referenced object: every relation but indexes and TOAST tables, every routine and every
type but row and array types records a dependency on its schema.
"""

from __future__ import annotations

# The oid of the schema named by the query's (positional) parameter: a ``namespace`` for
# ``schema_objects``; NULL, so no object, when there is no such schema yet.
NAMESPACE_NAMED = "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %s)"

_SCHEMA_OBJECTS = """(SELECT d.objid FROM pg_depend d
    WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = {namespace}
      AND d.refobjsubid = 0 AND d.classid = '{catalog}'::regclass AND d.deptype = 'n')"""


def schema_objects(*, catalog: str, namespace: str) -> str:
    """A subquery of the oids of the ``catalog`` (pg_class, pg_proc, pg_type) objects of the schema whose
    oid the SQL expression ``namespace`` gives, for ``oid IN ...``."""
    return _SCHEMA_OBJECTS.format(catalog=catalog, namespace=namespace)
