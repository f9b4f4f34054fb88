"""``check_rollups`` names the first difference between a rollup and its base tables; ``rebuild_rollups``
puts it right, a committed batch at a time, and resumes after a batch."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import tenant_context

from apps.analytics.tests.conftest import Business
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (
            "UPDATE analytics_ledgerdaily SET amount = amount + 1 WHERE effective_date = '2026-03-15'",
            "analytics_ledgerdaily",
        ),
        ("DELETE FROM analytics_bookinghourly WHERE bookings = 1", "analytics_bookinghourly"),
        ("UPDATE analytics_entitycount SET count = count + 1", "analytics_entitycount"),
        (
            "INSERT INTO analytics_entityhourly (kind, hour, created) VALUES ('ghost', now(), 2)",
            "analytics_entityhourly",
        ),
    ],
)
def test_check_names_the_difference_and_rebuild_repairs_it(
    business: Business,
    b_business: Business,
    tenant_a: Organization,
    tenant_b: Organization,
    damage: str,
    named: str,
) -> None:
    assert "match" in _run("check_rollups", "--tenant", tenant_a.slug)
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute(damage)
    with pytest.raises(CommandError) as failure:
        _run("check_rollups")
    assert failure.value.returncode == 1
    assert tenant_a.slug in str(failure.value)
    assert tenant_b.slug not in str(failure.value)

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_rollups", "--tenant", tenant_a.slug, stdout=out)
    assert named in out.getvalue()
    assert "stored" in out.getvalue()

    progress = _run("rebuild_rollups", "--tenant", tenant_a.slug, "--batch-size", "1")
    assert "analytics_ledgerdaily batch 1/3" in progress
    assert "--after analytics_ledgerdaily:" in progress
    assert "match" in _run("check_rollups", "--tenant", tenant_a.slug)


def test_rebuild_resumes_after_a_batch(business: Business, tenant_a: Organization) -> None:
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_entitycount")
        cursor.execute("DELETE FROM analytics_ledgerdaily")
    progress = _run("rebuild_rollups", "--tenant", tenant_a.slug, "--after", "analytics_entitycount:asset")
    assert "analytics_ledgerdaily" not in progress
    with pytest.raises(CommandError):
        _run("check_rollups", "--tenant", tenant_a.slug)  # the ledger's rollup was skipped
    _run("rebuild_rollups", "--tenant", tenant_a.slug)
    assert "match" in _run("check_rollups", "--tenant", tenant_a.slug)


@pytest.mark.parametrize(
    "args",
    [
        ["--tenant", "nope"],
        ["--batch-size", "0"],
        ["--after", "analytics_ledgerdaily:x"],
        ["--tenant", "alpha", "--after", "x"],
    ],
)
def test_rebuild_refuses_bad_arguments(tenant_a: Organization, args: list[str]) -> None:
    with pytest.raises(CommandError):
        _run("rebuild_rollups", *args)
