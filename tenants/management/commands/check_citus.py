"""Exit 1 naming what Citus schema-based sharding would refuse in our schema (tenants/citus.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.citus import REFERENCE_TABLES, citus_problems
from tenants.template import TEMPLATE_SCHEMA, template_state


class Command(BaseCommand):
    help = (
        "Check the tenant schema (the template every tenant is cloned from, or --schema) and the tenant "
        "models for what Citus schema-based sharding would refuse: foreign keys, views and ORM relations "
        "from tenant tables to public tables that are not reference tables."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schema", default=TEMPLATE_SCHEMA, help="A tenant schema to check instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        schema = options["schema"]
        if schema == TEMPLATE_SCHEMA and template_state().fingerprint is None:
            raise CommandError(f"{TEMPLATE_SCHEMA} does not exist: run tenant_template --rebuild first.")
        problems = citus_problems(schema)
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} things Citus would refuse in {schema} (listed above).")
        references = ", ".join(sorted(REFERENCE_TABLES))
        self.stdout.write(
            self.style.SUCCESS(f"{schema}: nothing Citus would refuse (reference tables: {references})")
        )
