"""The template schema: a tenant schema kept at the migration head, cloned to provision an organization.

Replaying every migration into a new schema takes seconds; reproducing the template's DDL from the
catalog takes a fraction of that. The template (``tenant_template``) is built the way every tenant
schema is (``tenants.ddl.tenant_schema_migrate``) for an organization that does not exist
(``TEMPLATE_ORGANIZATION_ID``): no row, no domain, never routed to, never listed. Its schema comment
holds a fingerprint of the migrations on disk (names and file contents) it was built from; a
template whose fingerprint differs is *behind* and is never cloned.

A clone runs as the owner role inside the caller's transaction, in this order: sequences, tables
(columns, identity columns with their sequences), the template's rows (the ones the migrations insert,
``django_migrations`` included, with the new organization in every ``organization_id``), sequence
positions, functions, defaults, sequence ownership, constraints (foreign keys last), indexes,
triggers, then ``public.hub_secure_tenant_schema`` (row-level security and the policy bound to the
new organization, as after migrating) and the template's grants. DDL is rendered from the catalog
with ``search_path`` set to the template alone, so the template's own objects come out unqualified
(and resolve in the new schema) and everything else qualified; the few places the catalog always
qualifies (an index's or trigger's table, a function's ``SET search_path``) are rewritten by their
exact quoted name. Every constraint and index definition of the clone is compared with the
template's before it is used. What a clone cannot reproduce (another kind of object in the template,
a definition that reads differently) makes it refuse, and provisioning falls back to migrations.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import quote_schema_name
from psycopg import sql

from tenants import crypto
from tenants.db import tenant_connection
from tenants.db.backend.base import ORGANIZATION_SETTING
from tenants.db.catalog import schema_objects
from tenants.ddl import tenant_schema_migrate
from tenants.models import Organization
from tenants.rls import owner_role, runtime_role, tenant_schema_secure
from tenants.routers import MIGRATION_ALIAS

logger = logging.getLogger(__name__)

TEMPLATE_SCHEMA = "tenant_template"
# The organization the template's policies and rows name: no organization has it (v4 UUIDs never do).
TEMPLATE_ORGANIZATION_ID = uuid.UUID("00000000-0000-0000-0000-000000000000")
FINGERPRINT_PREFIX = "hub tenant template "
# Raised whenever template_rebuild builds differently: every existing template is then behind.
TEMPLATE_BUILD = 2


class TemplateStatus(enum.StrEnum):
    CURRENT = "current"
    MISSING = "missing"
    BEHIND = "behind"


@dataclass(frozen=True)
class TemplateState:
    status: TemplateStatus
    fingerprint: str | None = None
    expected: str = ""
    missing_migrations: tuple[str, ...] = field(default=())

    @property
    def current(self) -> bool:
        return self.status is TemplateStatus.CURRENT


class TemplateUnclonable(Exception):
    """The template holds something a clone would not reproduce: provision by migrations instead."""


@lru_cache(maxsize=1)
def _disk_migrations() -> tuple[tuple[str, str, str], ...]:
    """Every migration on disk: ``(app, name, sha256 of its file)``, sorted. A tenant schema records
    them all as applied (the router turns the shared apps' into no-ops there), so the template must too."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=False)
    loader.load_disk()
    found = []
    for (app_label, name), migration in loader.disk_migrations.items():
        path = getattr(sys.modules[type(migration).__module__], "__file__", None)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""
        found.append((app_label, name, digest))
    return tuple(sorted(found))


def template_fingerprint_expected() -> str:
    """The fingerprint of the migrations on disk (names and contents) and of how a template is built."""
    text = "\n".join([f"build {TEMPLATE_BUILD}", *(":".join(item) for item in _disk_migrations())])
    return hashlib.sha256(text.encode()).hexdigest()


def template_state(*, using: str = MIGRATION_ALIAS) -> TemplateState:
    """Whether the template exists and was built from the migrations on disk."""
    expected = template_fingerprint_expected()
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            [TEMPLATE_SCHEMA],
        )
        row = cursor.fetchone()
        if row is None:
            return TemplateState(TemplateStatus.MISSING, expected=expected)
        comment = row[0] or ""
        fingerprint = (
            comment.removeprefix(FINGERPRINT_PREFIX) if comment.startswith(FINGERPRINT_PREFIX) else None
        )
        table = f"{quote_schema_name(TEMPLATE_SCHEMA)}.django_migrations"
        cursor.execute(f"SELECT app, name FROM {table}")  # noqa: S608 - a constant name
        applied = {f"{app}.{name}" for app, name in cursor.fetchall()}
    missing = tuple(f"{app}.{name}" for app, name, _ in _disk_migrations() if f"{app}.{name}" not in applied)
    status = TemplateStatus.CURRENT if fingerprint == expected and not missing else TemplateStatus.BEHIND
    return TemplateState(status, fingerprint=fingerprint, expected=expected, missing_migrations=missing)


def _template_tenant() -> Organization:
    """The organization the template is migrated as: never saved, so never routed to or listed."""
    return Organization(
        organization_id=TEMPLATE_ORGANIZATION_ID, slug=TEMPLATE_SCHEMA, name=TEMPLATE_SCHEMA,
        schema_name=TEMPLATE_SCHEMA,
    )  # fmt: skip


def template_rebuild() -> TemplateState:
    """Drop and rebuild the template by running the tenant migrations into it, in one owner
    transaction (a failure leaves the previous template as it was)."""
    expected = template_fingerprint_expected()
    with transaction.atomic(using=MIGRATION_ALIAS):
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_schema_name(TEMPLATE_SCHEMA)} CASCADE")
            cursor.execute(f"CREATE SCHEMA {quote_schema_name(TEMPLATE_SCHEMA)}")
        tenant_schema_migrate(tenant=_template_tenant())
        # A migration gives the organization it runs as a data key: the template's own is none
        # (its row would name an organization that does not exist). A clone's key is made by provisioning.
        crypto.data_keys_shred(TEMPLATE_ORGANIZATION_ID, using=MIGRATION_ALIAS)
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            if runtime_role() != owner_role():  # the runtime role never reaches the template
                cursor.execute(
                    f'REVOKE ALL ON SCHEMA {quote_schema_name(TEMPLATE_SCHEMA)} FROM "{runtime_role()}"'
                )
            cursor.execute(
                f"COMMENT ON SCHEMA {quote_schema_name(TEMPLATE_SCHEMA)} IS %s",
                [FINGERPRINT_PREFIX + expected],
            )
    logger.info("tenant template rebuilt at %s", expected[:12])
    return template_state()


def template_ensure() -> TemplateState:
    """Rebuild the template unless it is current."""
    state = template_state()
    return state if state.current else template_rebuild()


def tenant_schema_build(*, tenant: Organization) -> int:
    """Fill the tenant's new (empty) schema: a clone of the template when it is current and
    ``HUB_TENANT_TEMPLATE`` is on, else the migrations. Returns the number of tables under RLS.

    Runs inside the caller's owner transaction. A clone that fails rolls back to a savepoint and
    the migrations run instead, so a broken template never stops provisioning.
    """
    if settings.HUB_TENANT_TEMPLATE:
        state = template_state()
        if state.current:
            try:
                with transaction.atomic(using=MIGRATION_ALIAS):
                    return template_clone(tenant=tenant)
            except (TemplateUnclonable, DatabaseError, psycopg.Error) as exc:
                logger.warning("tenant template not cloned (%s): provisioning by migrations", exc)
        else:
            logger.warning(
                "tenant template is %s (run manage.py tenant_template --rebuild): provisioning %s by "
                "migrations",
                state.status,
                tenant.schema_name,
            )
    return tenant_schema_migrate(tenant=tenant)


# --- Rendering the template's DDL from the catalog --------------------------------------------------


# The template's objects are found through pg_depend's index (``tenants.db.catalog``): a filter on the
# schema column reads every organization's rows, and the clone ran some twenty of those (its time grew
# with the organizations present).
def _in_schema(query: str) -> str:
    """``query`` with each ``<template relations>`` (``routines``, ``types``; ``<schema relations>``:
    of the schema named ``%(schema)s``) made the subquery of their oids."""
    for marker, param, catalog in (
        ("<template relations>", "tpl", "pg_class"),
        ("<template routines>", "tpl", "pg_proc"),
        ("<template types>", "tpl", "pg_type"),
        ("<schema relations>", "schema", "pg_class"),
    ):
        query = query.replace(marker, schema_objects(catalog=catalog, namespace=f"%({param})s::regnamespace"))
    return query


_SEQUENCE_OPTIONS = """
    format('INCREMENT BY %%s MINVALUE %%s MAXVALUE %%s START WITH %%s CACHE %%s %%s',
           s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache,
           CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)
"""

_UNCLONABLE_SQL = _in_schema("""
SELECT 'relation ' || c.relname || ' of kind ' || c.relkind::text FROM pg_class c
 WHERE c.oid IN <template relations>
   AND (c.relkind NOT IN ('r', 'i', 'S') OR c.relispartition OR c.relkind = 'r' AND EXISTS (
        SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid))
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t WHERE t.oid IN <template types>
UNION ALL
SELECT 'routine ' || p.proname FROM pg_proc p
 WHERE p.oid IN <template routines>
   AND (p.prokind <> 'f' OR p.prosqlbody IS NOT NULL OR strpos(p.prosrc, %(tpl)s) > 0)
UNION ALL
SELECT 'policy ' || pol.polname FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
 WHERE c.oid IN <template relations> AND pol.polname <> 'organization_isolation'
UNION ALL
SELECT 'rule ' || r.rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
 WHERE c.oid IN <template relations>
UNION ALL
SELECT 'column privileges on ' || c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.oid IN <template relations> AND a.attacl IS NOT NULL
UNION ALL
SELECT 'statistics ' || x.stxname FROM pg_statistic_ext x WHERE x.stxnamespace = %(tpl)s::regnamespace
""")

# Sequences no identity column owns (an identity column creates its own).
_SEQUENCES_SQL = _in_schema("""
SELECT format('CREATE SEQUENCE %%I.%%I AS %%s ', %(new)s, c.relname, format_type(s.seqtypid, NULL))
       || <sequence options>
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
 WHERE c.oid IN <template relations>
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'i')
 ORDER BY c.relname
""").replace("<sequence options>", _SEQUENCE_OPTIONS)

_TABLES_SQL = _in_schema("""
SELECT format('CREATE %%sTABLE %%I.%%I (%%s)%%s',
         CASE WHEN c.relpersistence = 'u' THEN 'UNLOGGED ' ELSE '' END, %(new)s, c.relname,
         string_agg(format('%%I %%s%%s%%s%%s%%s', a.attname, format_type(a.atttypid, a.atttypmod),
           CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END,
           CASE WHEN a.attgenerated = 's'
                THEN format(' GENERATED ALWAYS AS (%%s) STORED', pg_get_expr(d.adbin, d.adrelid)) ELSE '' END,
           CASE WHEN a.attidentity IN ('a', 'd')
                THEN format(' GENERATED %%s AS IDENTITY (SEQUENCE NAME %%I.%%I ',
                            CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END,
                            %(new)s, sc.relname) || <sequence options> || ')'
                ELSE '' END,
           CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum),
         CASE WHEN c.reloptions IS NULL THEN ''
              ELSE ' WITH (' || array_to_string(c.reloptions, ', ') || ')' END)
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  LEFT JOIN pg_depend dep ON a.attidentity <> '' AND dep.refclassid = 'pg_class'::regclass
        AND dep.refobjid = c.oid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
        AND dep.classid = 'pg_class'::regclass
  LEFT JOIN pg_class sc ON sc.oid = dep.objid
  LEFT JOIN pg_sequence s ON s.seqrelid = dep.objid
 WHERE c.oid IN <template relations> AND c.relkind = 'r'
 GROUP BY c.oid, c.relname, c.relpersistence, c.reloptions
 ORDER BY c.relname
""").replace("<sequence options>", _SEQUENCE_OPTIONS)

# The template's rows, each organization_id replaced by the new organization's.
_ROWS_SQL = _in_schema("""
SELECT format('INSERT INTO %%I.%%I (%%s) OVERRIDING SYSTEM VALUE SELECT %%s FROM %%I.%%I',
         %(new)s, c.relname, string_agg(format('%%I', a.attname), ', ' ORDER BY a.attnum), string_agg(
           CASE WHEN a.attname = 'organization_id' THEN format('%%L::uuid', %(organization)s)
                ELSE format('%%I', a.attname) END, ', ' ORDER BY a.attnum),
         %(tpl)s, c.relname)
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 WHERE c.oid IN <template relations> AND c.relkind = 'r'
 GROUP BY c.relname
 ORDER BY c.relname
""")

_SEQUENCE_POSITIONS_SQL = _in_schema("""
SELECT format('SELECT setval(%%L, %%s, true)', format('%%I.%%I', %(new)s, relname), last_value)
  FROM (SELECT c.relname, CASE WHEN c.relkind = 'S' THEN pg_sequence_last_value(c.oid) END AS last_value
          FROM pg_class c WHERE c.oid IN <template relations>) sequences
 WHERE last_value IS NOT NULL
 ORDER BY relname
""")

_FUNCTIONS_SQL = _in_schema("""
SELECT format('CREATE FUNCTION %%I.%%I(%%s) RETURNS %%s LANGUAGE %%I %%s%%s%%s%%s PARALLEL %%s COST %%s%%s',
         %(new)s, p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname,
         CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
         CASE WHEN p.proisstrict THEN ' STRICT' ELSE '' END,
         CASE WHEN p.prosecdef THEN ' SECURITY DEFINER' ELSE '' END,
         CASE WHEN p.proleakproof THEN ' LEAKPROOF' ELSE '' END,
         CASE p.proparallel WHEN 's' THEN 'SAFE' WHEN 'r' THEN 'RESTRICTED' ELSE 'UNSAFE' END,
         p.procost, CASE WHEN p.proretset THEN ' ROWS ' || p.prorows ELSE '' END),
       p.proconfig, p.prosrc
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.oid IN <template routines>
 ORDER BY p.proname, p.oid
""")

_SEQUENCE_OWNERS_SQL = _in_schema("""
SELECT format('ALTER SEQUENCE %%I.%%I OWNED BY %%I.%%I.%%I',
              %(new)s, s.relname, %(new)s, t.relname, a.attname)
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_class t ON t.oid = d.refobjid
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
   AND s.oid IN <template relations>
 ORDER BY s.relname
""")

# What each table gets after its rows are in, as ``ALTER TABLE`` clauses: defaults and constraints
# (phase 0), then foreign keys (phase 1: after every key they may reference). Constraint triggers
# come with the triggers. One ``ALTER TABLE`` per table and phase.
_TABLE_CHANGES_SQL = _in_schema("""
SELECT 0, format('%%I.%%I', %(new)s, c.relname), a.attnum,
       format('ALTER COLUMN %%I SET DEFAULT %%s', a.attname, pg_get_expr(d.adbin, d.adrelid))
  FROM pg_attrdef d
  JOIN pg_class c ON c.oid = d.adrelid
  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE c.oid IN <template relations> AND a.attgenerated = ''
UNION ALL
SELECT CASE WHEN con.contype = 'f' THEN 1 ELSE 0 END, format('%%I.%%I', %(new)s, c.relname), 10000,
       format('ADD CONSTRAINT %%I %%s', con.conname, pg_get_constraintdef(con.oid))
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.oid IN <template relations> AND con.contype IN ('p', 'u', 'x', 'c', 'f')
 ORDER BY 1, 2, 3, 4
""")


def _table_changes(rows: list[tuple[Any, ...]]) -> list[str]:
    grouped: dict[tuple[int, str], list[str]] = {}
    for phase, table, _order, clause in rows:
        grouped.setdefault((phase, table), []).append(_reparse_stable(clause))
    return [f"ALTER TABLE {table} {', '.join(clauses)}" for (_phase, table), clauses in grouped.items()]


# Index and trigger definitions always name their table qualified: returned with that name.
_INDEXES_SQL = _in_schema("""
SELECT pg_get_indexdef(i.indexrelid),
       format('%%I.%%I', %(tpl)s, c.relname), format('%%I.%%I', %(new)s, c.relname)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE c.oid IN <template relations>
   AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = c.oid)
 ORDER BY ic.relname
""")

_TRIGGERS_SQL = _in_schema("""
SELECT pg_get_triggerdef(tg.oid),
       format('%%I.%%I', %(tpl)s, c.relname), format('%%I.%%I', %(new)s, c.relname)
  FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
 WHERE c.oid IN <template relations> AND NOT tg.tgisinternal
 ORDER BY c.relname, tg.tgname
""")

# Objects whose privileges differ from the template's once created (a migration granted or revoked):
# what the new object has now (to revoke) and what the template's has (to grant).
_ACL_DIFFERENCES_SQL = _in_schema("""
WITH objects AS (
    SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
           CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char" AS code,
           format('%%I.%%I', %(new)s, c.relname) AS target, c.relacl AS template_acl, n.relacl AS new_acl,
           c.relowner AS template_owner, n.relowner AS new_owner
      FROM pg_class c JOIN pg_class n ON n.relname = c.relname AND n.relnamespace = %(new)s::regnamespace
     WHERE c.oid IN <template relations> AND c.relkind IN ('r', 'S')
    UNION ALL
    SELECT 'FUNCTION', 'f'::"char",
           format('%%I.%%I(%%s)', %(new)s, p.proname, pg_get_function_identity_arguments(p.oid)),
           p.proacl, q.proacl, p.proowner, q.proowner
      FROM pg_proc p JOIN pg_proc q ON q.proname = p.proname AND q.pronamespace = %(new)s::regnamespace
       AND pg_get_function_identity_arguments(q.oid) = pg_get_function_identity_arguments(p.oid)
     WHERE p.oid IN <template routines>
)
SELECT kind, target,
       ARRAY(SELECT DISTINCT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END
               FROM aclexplode(coalesce(new_acl, acldefault(code, new_owner))) e),
       ARRAY(SELECT format('GRANT %%s ON %%s %%s TO %%s%%s', e.privilege_type, kind, target,
                           CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END,
                           CASE WHEN e.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
               FROM aclexplode(coalesce(template_acl, acldefault(code, template_owner))) e)
  FROM objects
 WHERE coalesce(template_acl::text[], '{}') IS DISTINCT FROM coalesce(new_acl::text[], '{}')
""")


def _rows(cursor: Any, query: str, params: dict[str, str]) -> list[tuple[Any, ...]]:
    cursor.execute(query, params)
    return list(cursor.fetchall())


def _statements(cursor: Any, query: str, params: dict[str, str]) -> list[str]:
    return [row[0] for row in _rows(cursor, query, params)]


def _requalified(definition: str, template_table: str, new_table: str) -> str:
    """An index or trigger definition on the new schema's table: its ``ON <template>.<table>`` (the
    only qualified name in it, with the template alone on the search path) rewritten, exactly once."""
    old, new = f" ON {template_table} ", f" ON {new_table} "
    if definition.count(old) != 1:
        raise TemplateUnclonable(f"cannot place {definition!r} in the new schema")
    return definition.replace(old, new)


# PostgreSQL prints ``x IN ('a', 'b')`` on a varchar column as ``... = ANY ((ARRAY['a'::character
# varying, ...])::text[])``, and parses that text back into another tree (the cast pushed into every
# element: pg_dump has the same drift). Without the outer cast it parses back into the original tree.
# Only this exact shape (varchar literals cast to text[]) is rewritten; the clone then compares every
# constraint and index definition with the template's and refuses on any difference.
_VARCHAR_ARRAY_CAST = re.compile(
    r"\(\(ARRAY\[((?:'(?:[^']|'')*'::character varying(?:, )?)+)\]\)::text\[\]\)"
)


def _reparse_stable(definition: str) -> str:
    return _VARCHAR_ARRAY_CAST.sub(r"(ARRAY[\1])", definition)


def _function_settings(config: list[str] | None, new_schema: str, cursor: Any) -> str:
    """The function's ``SET`` clauses, its search path naming the new schema where it named the template."""
    clauses = []
    for entry in config or []:
        name, _, value = entry.partition("=")
        items = [item.strip() for item in value.split(",")] if name == "search_path" else [value]
        if name == "search_path":
            template = quote_schema_name(TEMPLATE_SCHEMA).strip('"')
            items = [new_schema if item.strip('"') == template else item for item in items]
        literals = ", ".join(sql.Literal(item).as_string(cursor.connection) for item in items)
        clauses.append(f" SET {sql.Identifier(name).as_string(cursor.connection)} TO {literals}")
    return "".join(clauses)


def _dollar_quoted(body: str) -> str:
    tag = "$body$"
    while tag in body:
        tag = f"$body{uuid.uuid4().hex[:8]}$"
    return f"{tag}{body}{tag}"


def _execute_all(cursor: Any, statements: Iterable[str]) -> None:
    script = ";\n".join(statements)
    if script:
        cursor.execute(script)


def template_clone(*, tenant: Organization) -> int:
    """Reproduce the template in the tenant's new, empty schema (inside the caller's owner transaction);
    return the number of tables put under the organization policy."""
    owner = tenant_connection(MIGRATION_ALIAS)
    new_schema = tenant.schema_name
    params = {"tpl": TEMPLATE_SCHEMA, "new": new_schema, "organization": str(tenant.organization_id)}
    restore = owner.tenant_context_values()
    with owner.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor: these statements set their own context
        unclonable = _statements(raw, _UNCLONABLE_SQL, params)
        if unclonable:
            raise TemplateUnclonable("the template holds " + ", ".join(unclonable))
        # Rendered with the template alone on the path, read as the template's organization. A failure
        # aborts the transaction: its rollback (to the caller's savepoint) undoes these settings too.
        raw.execute(
            "SELECT current_setting('check_function_bodies'), set_config('search_path', %s, true),"
            " set_config(%s, %s, true), set_config('check_function_bodies', 'off', true)",
            [quote_schema_name(TEMPLATE_SCHEMA), ORGANIZATION_SETTING, str(TEMPLATE_ORGANIZATION_ID)],
        )
        check_bodies = raw.fetchone()[0]
        _execute_all(raw, _statements(raw, _SEQUENCES_SQL, params))
        _execute_all(raw, _statements(raw, _TABLES_SQL, params))
        _execute_all(raw, _statements(raw, _ROWS_SQL, params))
        _execute_all(raw, _statements(raw, _SEQUENCE_POSITIONS_SQL, params))
        functions = [
            f"{header}{_function_settings(config, new_schema, raw)} AS {_dollar_quoted(body)}"
            for header, config, body in _rows(raw, _FUNCTIONS_SQL, params)
        ]
        later = [
            *_statements(raw, _SEQUENCE_OWNERS_SQL, params),
            *_table_changes(_rows(raw, _TABLE_CHANGES_SQL, params)),
            *(_reparse_stable(_requalified(*row)) for row in _rows(raw, _INDEXES_SQL, params)),
        ]
        # Executed with the new schema first on the path: unqualified names are its own.
        new_path = f"{quote_schema_name(new_schema)}, public"
        raw.execute("SELECT set_config('search_path', %s, true)", [new_path])
        _execute_all(raw, functions)
        _execute_all(raw, later)
        # Triggers are rendered only now, just before they are created: naming a trigger's function
        # (pg_get_triggerdef, then CREATE TRIGGER) lists every function of that name, one per
        # organization, and creating a function discards those lists. Rendered before the functions
        # were created, they were listed twice per clone.
        raw.execute("SELECT set_config('search_path', %s, true)", [quote_schema_name(TEMPLATE_SCHEMA)])
        triggers = [_requalified(*row) for row in _rows(raw, _TRIGGERS_SQL, params)]
        raw.execute("SELECT set_config('search_path', %s, true)", [new_path])
        _execute_all(raw, triggers)
        _definitions_compare(raw, new_schema)
        raw.execute(
            "SELECT set_config('search_path', %s, true), set_config(%s, %s, true),"
            " set_config('check_function_bodies', %s, true)",
            [restore[0], ORGANIZATION_SETTING, restore[1], check_bodies],
        )
    tables = tenant_schema_secure(schema_name=new_schema, organization_id=tenant.organization_id)
    _grants_copy(params)
    return tables


# Each constraint's and index's definition, read with its own schema alone on the search path.
_DEFINITIONS_SQL = _in_schema("""
SELECT 'constraint', c.relname, con.conname, pg_get_constraintdef(con.oid)
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.oid IN <schema relations>
UNION ALL
SELECT 'index', c.relname, ic.relname,
       replace(pg_get_indexdef(i.indexrelid), format(' ON %%I.', %(schema)s), ' ON ')
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE c.oid IN <schema relations>
""")


def _definitions(raw: Any, schema: str) -> set[tuple[str, ...]]:
    raw.execute("SELECT set_config('search_path', %s, true)", [quote_schema_name(schema)])
    raw.execute(_DEFINITIONS_SQL, {"schema": schema})
    return set(raw.fetchall())


def _definitions_compare(raw: Any, new_schema: str) -> None:
    """Refuse the clone unless its constraints and indexes read exactly as the template's."""
    differing = _definitions(raw, TEMPLATE_SCHEMA) ^ _definitions(raw, new_schema)
    if differing:
        raise TemplateUnclonable(f"definitions differ from the template's: {sorted(differing)[:3]}")


def _grants_copy(params: dict[str, str]) -> None:
    """Give each new object the template's privileges where they differ (a migration's GRANT/REVOKE)."""
    with tenant_connection(MIGRATION_ALIAS).cursor() as cursor:
        statements = []
        for kind, target, holders, grants in _rows(cursor.cursor, _ACL_DIFFERENCES_SQL, params):
            statements.append(f"REVOKE ALL ON {kind} {target} FROM {', '.join(holders)}")
            statements.extend(grants)
        _execute_all(cursor.cursor, statements)


# --- Start-up check -----------------------------------------------------------------------------------


def template_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check`` (and every command that runs the system checks) fails while the template
    exists but is behind the migrations on disk: ``manage.py tenant_template --rebuild`` (or
    ``migrate_schemas``) brings it to the head. A missing template is only a warning (provisioning
    runs the migrations); an unreachable database says nothing here."""
    try:
        state = template_state()
    except DatabaseError:
        return []
    if state.status is TemplateStatus.MISSING:
        return [
            Warning(
                f"The tenant template schema {TEMPLATE_SCHEMA!r} does not exist: organizations are "
                "provisioned by running every migration (slow).",
                hint="Run manage.py tenant_template --rebuild (migrate_schemas builds it too).",
                id="tenants.W001",
            )
        ]
    if state.status is TemplateStatus.BEHIND:
        missing = ", ".join(state.missing_migrations[:5]) or "migration files changed since it was built"
        return [
            Error(
                f"The tenant template schema {TEMPLATE_SCHEMA!r} is behind the migrations ({missing}).",
                hint="Run manage.py tenant_template --rebuild (migrate_schemas rebuilds it too).",
                id="tenants.E001",
            )
        ]
    return []
