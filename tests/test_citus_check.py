"""``manage.py check_citus`` (tenants/citus.py): our tenant schema and models hold nothing Citus
schema-based sharding would refuse, and the check does find such things when they are there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction

from tenants.citus import (
    REFERENCE_TABLES,
    citus_problems,
    foreign_keys_to_local_tables,
    views_on_local_tables,
)
from tenants.routers import MIGRATION_ALIAS
from tenants.template import TEMPLATE_SCHEMA

pytestmark = pytest.mark.django_db(databases=["default", MIGRATION_ALIAS])


def test_our_tenant_schema_and_models_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert citus_problems(TEMPLATE_SCHEMA) == []
    call_command("check_citus")
    assert "nothing Citus would refuse" in capsys.readouterr().out


@pytest.fixture
def scratch_schema() -> Iterator[str]:
    """A schema of the owner role with what Citus refuses: a foreign key and a view reaching public
    tables that are not reference tables, beside a foreign key to a reference table (allowed)."""
    schema = f"citus_{uuid.uuid4().hex[:8]}"
    with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
        cursor.execute(
            f'CREATE TABLE "{schema}".thing (id int PRIMARY KEY,'
            " domain_id int REFERENCES public.tenants_domain (id),"
            " user_id uuid REFERENCES public.tenants_user (id))"
        )
        cursor.execute(f'CREATE VIEW "{schema}".orgs AS SELECT slug FROM public.tenants_organization')
    try:
        yield schema
    finally:
        with transaction.atomic(using=MIGRATION_ALIAS), connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_the_check_finds_foreign_keys_and_views_reaching_local_tables(scratch_schema: str) -> None:
    assert "tenants_user" in REFERENCE_TABLES
    keys = foreign_keys_to_local_tables(scratch_schema)
    assert [(problem.kind, problem.target) for problem in keys] == [("foreign_key", "tenants_domain")]
    views = views_on_local_tables(scratch_schema)
    assert [(problem.kind, problem.source, problem.target) for problem in views] == [
        ("view", "orgs", "tenants_organization")
    ]
    with pytest.raises(CommandError, match="2 things Citus would refuse"):
        call_command("check_citus", schema=scratch_schema)
