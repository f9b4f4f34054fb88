"""Statements per request of the imports reads: the same for a page of 2 or 40, and a fixed count for
one import (``tests.query_counts``)."""

from __future__ import annotations

from django.test import Client
from django_tenants.utils import tenant_context

from apps.imports.models import Import, ImportIssue
from tenants.models import Organization
from tests.query_counts import assert_list_constant, assert_statements

URL = "/api/v1/imports/"


def _imports(tenant: Organization, count: int) -> Import:
    with tenant_context(tenant):
        made = [
            Import.objects.create(
                type="entities", format="csv", content_hash=f"{n:064x}", file_name="", size=1
            )
            for n in range(count)
        ]
        ImportIssue.objects.bulk_create(
            ImportIssue(
                import_record=made[0], row=n + 2, column="name", code="required", message="name is required."
            )
            for n in range(count)
        )
        return made[0]


def test_list_detail_and_issues_cost_fixed_statements(member_client: Client, tenant_a: Organization) -> None:
    first = _imports(tenant_a, 45)
    listed = assert_list_constant(lambda params: member_client.get(URL, params))
    issues = assert_list_constant(lambda params: member_client.get(f"{URL}{first.id}/issues", params))
    member_client.get(f"{URL}{first.id}")  # warm
    assert_statements(lambda: member_client.get(f"{URL}{first.id}"), DETAIL, status=200)
    assert (listed, issues) == (LIST, ISSUES)


LIST, ISSUES, DETAIL = 8, 9, 7  # issues: one more, the import's existence
