"""What Citus schema-based sharding would refuse in our schema (``manage.py check_citus``).

The scale-out path (README, "Scale-out on Citus"): each tenant schema becomes a *distributed schema*
(``citus.enable_schema_based_sharding``: a schema created after it is set is placed whole on one
worker node), and the shared tables in ``public`` stay on the coordinator, the few that tenant rows
name by id becoming *reference tables* (copied to every node). Citus then refuses, or answers only by
pulling data through the coordinator:

* a foreign key from a distributed-schema table to a ``public`` table that is not a reference table
  (``foreign_keys_to_local_tables``);
* a view or rule in a tenant schema that reads a ``public`` table that is not a reference table
  (``views_on_local_tables``);
* a relation of the ORM from a tenant model to a shared model that is not a reference table, which a
  request path could follow into a join across the two (``model_relations_to_local_tables``).

The checks read our own catalog (the template schema every tenant is cloned from, ``tenants.template``)
and our models, so they run here and in CI without a Citus cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import connections

from tenants.routers import MIGRATION_ALIAS

# The public tables tenant rows may name, made reference tables (``SELECT create_reference_table(...)``)
# on Citus: small, read-mostly, needed next to every tenant's rows.
REFERENCE_TABLES: frozenset[str] = frozenset(
    {
        "tenants_user",  # the mirror of identity users: created_by, members, grants name them
        "django_content_type",  # the audit trail and object permissions name models by it
        "auth_permission",  # object permissions (guardian)
        "auth_group",  # guardian's group permissions
    }
)


@dataclass(frozen=True)
class CitusProblem:
    kind: str  # "foreign_key", "view", "model_relation"
    source: str  # the tenant object: schema-less table.constraint, view or model.field
    target: str  # the public table it reaches

    def __str__(self) -> str:
        return f"{self.kind}: {self.source} -> public.{self.target} (not a reference table)"


def foreign_keys_to_local_tables(schema: str) -> list[CitusProblem]:
    """Foreign keys from a table of ``schema`` to a ``public`` table outside ``REFERENCE_TABLES``."""
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            """
            SELECT source.relname, con.conname, target.relname
            FROM pg_constraint con
            JOIN pg_class source ON source.oid = con.conrelid
            JOIN pg_namespace source_ns ON source_ns.oid = source.relnamespace
            JOIN pg_class target ON target.oid = con.confrelid
            JOIN pg_namespace target_ns ON target_ns.oid = target.relnamespace
            WHERE con.contype = 'f' AND source_ns.nspname = %s AND target_ns.nspname = 'public'
            ORDER BY 1, 2
            """,
            [schema],
        )
        return [
            CitusProblem("foreign_key", f"{table}.{constraint}", target)
            for table, constraint, target in cursor.fetchall()
            if target not in REFERENCE_TABLES
        ]


def views_on_local_tables(schema: str) -> list[CitusProblem]:
    """Views (their rewrite rules) of ``schema`` reading a ``public`` table outside ``REFERENCE_TABLES``."""
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT view.relname, target.relname
            FROM pg_rewrite rule
            JOIN pg_class view ON view.oid = rule.ev_class
            JOIN pg_namespace view_ns ON view_ns.oid = view.relnamespace
            JOIN pg_depend dep ON dep.objid = rule.oid AND dep.classid = 'pg_rewrite'::regclass
            JOIN pg_class target ON target.oid = dep.refobjid AND dep.refclassid = 'pg_class'::regclass
            JOIN pg_namespace target_ns ON target_ns.oid = target.relnamespace
            WHERE view_ns.nspname = %s AND target_ns.nspname = 'public'
            ORDER BY 1, 2
            """,
            [schema],
        )
        return [
            CitusProblem("view", view, target)
            for view, target in cursor.fetchall()
            if target not in REFERENCE_TABLES
        ]


def _tenant_only_apps() -> set[str]:
    return set(settings.TENANT_APPS) - set(settings.SHARED_APPS)


def model_relations_to_local_tables() -> list[CitusProblem]:
    """Relations of the ORM from a model of a tenant app to a model of a shared app whose table is not a
    reference table: following one (``select_related``, a filter across it) would join a distributed
    table with a coordinator-local one."""
    tenant_apps = _tenant_only_apps()
    problems = []
    for model in apps.get_models(include_auto_created=True):
        config = model._meta.app_config
        if config is None or config.name not in tenant_apps:
            continue
        for field in model._meta.get_fields():
            related = getattr(field, "related_model", None)
            if related is None or not getattr(field, "concrete", False):
                continue
            target_config = related._meta.app_config
            if target_config is None or target_config.name in tenant_apps:
                continue
            if related._meta.db_table not in REFERENCE_TABLES:
                problems.append(
                    CitusProblem(
                        "model_relation", f"{model._meta.label}.{field.name}", related._meta.db_table
                    )
                )
    return problems


def citus_problems(schema: str) -> list[CitusProblem]:
    """Everything Citus schema-based sharding would refuse, for the tenant schema ``schema``."""
    return [
        *foreign_keys_to_local_tables(schema),
        *views_on_local_tables(schema),
        *model_relations_to_local_tables(),
    ]
