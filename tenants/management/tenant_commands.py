"""What the commands that walk every organization share: picking the organizations, printing progress."""

from __future__ import annotations

import time
from collections.abc import Iterator

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.db import DEFAULT_DB_ALIAS

from tenants.models import Organization


def tenant_argument_add(parser: CommandParser) -> None:
    parser.add_argument("--tenant", dest="slug", help="Only this organization (its slug).")


def tenants_progress(
    slug: str | None, *, stdout: OutputWrapper, using: str = DEFAULT_DB_ALIAS
) -> Iterator[tuple[Organization, str]]:
    """Every organization (or the one with ``slug``), by slug, each with its progress prefix
    ``[i/N p%] slug``; ``CommandError`` for an unknown slug."""
    tenants = Organization.objects.using(using).order_by("slug")
    if slug:
        tenants = tenants.filter(slug=slug)
        if not tenants.exists():
            raise CommandError(f"No organization has the slug {slug!r}.")
    total = tenants.count()
    started = time.monotonic()
    for index, tenant in enumerate(tenants.iterator(), start=1):
        yield tenant, f"[{index}/{total} {100 * index // max(total, 1)}%] {tenant.slug}"
    stdout.write(f"{total} organizations in {time.monotonic() - started:.1f}s")
