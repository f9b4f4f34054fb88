"""``HUB_AUDIT_READS``: off skips ``access`` entries only (to measure their cost); changes are always
audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.services import audit_access, audit_access_list, audit_change
from apps.entities.models import Entity
from apps.entities.tests.helpers import JSON, URL, detail_url
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _actions(tenant: Organization, request_id: str) -> list[str]:
    with tenant_context(tenant):
        entries = AuditEntry.objects.filter(request_id=request_id).order_by("id")
        return [entry.action_name for entry in entries]


def test_reads_are_audited_by_default(settings: Any) -> None:
    from django.conf import settings as configured

    assert configured.HUB_AUDIT_READS is True
    assert settings.HUB_AUDIT_READS is True


@pytest.mark.parametrize(("reads", "expected"), [(True, ["access"]), (False, [])])
def test_detail_and_list_reads_follow_the_switch(
    settings: Any,
    member_client: Client,
    tenant_a: Organization,
    entity_a: Entity,
    reads: bool,
    expected: list[str],
) -> None:
    settings.HUB_AUDIT_READS = reads

    detail = member_client.get(detail_url(entity_a.id))
    listed = member_client.get(URL)

    assert detail.status_code == 200
    assert listed.status_code == 200
    assert _actions(tenant_a, detail["X-Request-ID"]) == expected
    assert _actions(tenant_a, listed["X-Request-ID"]) == expected


@pytest.mark.parametrize(("reads", "expected"), [(True, ["access", "update"]), (False, ["update"])])
def test_writes_are_audited_either_way(
    settings: Any,
    member_client: Client,
    tenant_a: Organization,
    entity_a: Entity,
    reads: bool,
    expected: list[str],
) -> None:
    settings.HUB_AUDIT_READS = reads

    response = member_client.patch(detail_url(entity_a.id), {"name": "Switched"}, content_type=JSON)

    assert response.status_code == 200
    assert _actions(tenant_a, response["X-Request-ID"]) == expected


@pytest.mark.parametrize("reads", [True, False])
def test_services_outside_a_request(
    settings: Any, tenant_a: Organization, entity_a: Entity, reads: bool
) -> None:
    settings.HUB_AUDIT_READS = reads
    with tenant_context(tenant_a):
        before = AuditEntry.objects.count()
        audit_access(instance=entity_a)
        audit_access_list(model=Entity, objects=[entity_a])
        audit_change(action=AuditEntry.Action.UPDATE, instance=entity_a, before=entity_a)
        added = list(AuditEntry.objects.order_by("id")[before:])

    expected = ["access", "access", "update"] if reads else ["update"]
    assert [entry.action_name for entry in added] == expected
