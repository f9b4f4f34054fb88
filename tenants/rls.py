"""Row-level security: securing a tenant schema, and checking the catalog says it is secured.

The policy on every tenant table admits a row only when its ``organization_id`` is both the schema's
own organization and the organization set for the current transaction (``hub.organization_id``, set
by ``tenants.db.backend``). So a query that reaches the wrong schema, or raw SQL without a filter,
sees and writes nothing of another organization.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connections

from tenants.db.backend.base import ORGANIZATION_SETTING
from tenants.routers import MIGRATION_ALIAS

POLICY_NAME = "organization_isolation"
EXEMPT_TABLES = frozenset({"django_migrations"})


def runtime_role() -> str:
    return str(connections["default"].settings_dict["USER"])


def owner_role() -> str:
    return str(connections[MIGRATION_ALIAS].settings_dict["USER"])


def database_grants_ensure() -> None:
    """Give the runtime role what it needs in ``public`` and in every table the owner creates later.

    Idempotent; runs as the owner role before the shared migrations.
    """
    runtime, owner = runtime_role(), owner_role()
    if runtime == owner:
        return  # single-role development set-up: nothing to split
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            f"""
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            GRANT USAGE ON SCHEMA public TO "{runtime}";
            ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}"
                GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{runtime}";
            ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT USAGE, SELECT ON SEQUENCES TO "{runtime}";
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{runtime}";
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{runtime}";
            """
        )


# Tables of ``public`` the runtime role may read but never change: the wrapped field-encryption keys
# (created, rotated and shredded by the owner role only; ``tenants.crypto``).
RUNTIME_READ_ONLY_TABLES = ("tenants_datakey",)
# Tables of ``public`` the runtime role may read and append to, never change: the platform's audit trail
# (its triggers refuse changes too; this is the second wall).
RUNTIME_APPEND_ONLY_TABLES = ("tenants_platformauditentry",)


def runtime_read_only_ensure() -> None:
    """Take write access to ``RUNTIME_READ_ONLY_TABLES``, and all but INSERT to
    ``RUNTIME_APPEND_ONLY_TABLES``, away from the runtime role (after migrating)."""
    runtime, owner = runtime_role(), owner_role()
    if runtime == owner:
        return
    revoked = [(table, "INSERT, UPDATE, DELETE, TRUNCATE") for table in RUNTIME_READ_ONLY_TABLES]
    revoked += [(table, "UPDATE, DELETE, TRUNCATE") for table in RUNTIME_APPEND_ONLY_TABLES]
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        for table, privileges in revoked:
            cursor.execute(f'REVOKE {privileges} ON TABLE public."{table}" FROM "{runtime}"')


def tenant_schema_secure(*, schema_name: str, organization_id: uuid.UUID) -> int:
    """Put every table of ``schema_name`` behind the organization policy; return how many tables."""
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT public.hub_secure_tenant_schema(%s, %s, %s)",
            [schema_name, organization_id, runtime_role()],
        )
        return int(cursor.fetchone()[0])


@dataclass(frozen=True)
class TableProblem:
    table: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table}: {self.problem}"


def schema_rls_problems(
    *, schema_name: str, organization_id: uuid.UUID, using: str = "default"
) -> list[TableProblem]:
    """Every way the catalog says ``schema_name`` falls short of the contract's section 6."""
    expected_default = f"NULLIF(current_setting('{ORGANIZATION_SETTING}'::text, true), ''::text))::uuid"
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   pg_get_expr(d.adbin, d.adrelid), a.attnotnull,
                   p.polname IS NOT NULL, pg_get_expr(p.polqual, p.polrelid),
                   pg_get_expr(p.polwithcheck, p.polrelid), p.polcmd, p.polpermissive
            FROM pg_class c
            JOIN pg_namespace ns ON ns.oid = c.relnamespace
            LEFT JOIN pg_attribute a
                   ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
            LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
            LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s
            WHERE ns.nspname = %s AND c.relkind IN ('r', 'p')
            ORDER BY c.relname
            """,
            [POLICY_NAME, schema_name],
        )
        rows = cursor.fetchall()
        cursor.execute(
            """
            SELECT c.relname, count(*) FROM pg_policy p
            JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
            WHERE ns.nspname = %s GROUP BY c.relname
            """,
            [schema_name],
        )
        policy_counts = dict(cursor.fetchall())
    problems: list[TableProblem] = []
    for table, enabled, forced, default, not_null, has_policy, qual, check, cmd, permissive in rows:
        if table in EXEMPT_TABLES:
            continue
        found = []
        if not enabled:
            found.append("row-level security is not enabled")
        if not forced:
            found.append("row-level security is not forced")
        if default is None or expected_default not in default:
            found.append("organization_id does not default to the transaction's organization")
        if not not_null:
            found.append("organization_id is nullable")
        if not has_policy:
            found.append(f"policy {POLICY_NAME} is missing")
        else:
            for label, expression in (("USING", qual), ("WITH CHECK", check)):
                if (
                    not expression
                    or str(organization_id) not in expression
                    or ORGANIZATION_SETTING not in expression
                ):
                    found.append(f"policy {label} does not pin the schema's organization and the setting")
            if cmd != "*" or not permissive:
                found.append("policy must be a permissive policy for all commands")
        if policy_counts.get(table, 0) != 1:
            found.append("table has policies other than the organization policy")
        problems.extend(TableProblem(table, problem) for problem in found)
    return problems
