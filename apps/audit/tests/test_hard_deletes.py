"""Hard deletes are audited for every model of the Hub's modules, with no code of the module's own."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.receivers import audited_models
from apps.audit.redaction import MASK
from apps.scheduling import services as scheduling
from apps.scheduling.models import Resource
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def test_every_module_model_is_audited_but_the_trail_and_those_opting_out() -> None:
    labels = {model._meta.label_lower for model in audited_models()}
    assert {
        "entities.entity",
        "entities.entityrelation",
        "scheduling.resource",
        "scheduling.booking",
        "ledger.account",
        "ledger.transaction",
    } <= labels
    assert not labels & {
        "audit.auditentry",
        "ledger.idempotencykey",
        "privacy.retentionpolicy",
        "scheduling.availabilityrule",
        "guardian.userobjectpermission",
    }


def test_a_hard_delete_of_another_modules_row_is_recorded_with_its_values_redacted(
    tenant_a: Organization,
) -> None:
    with tenant_context(tenant_a):
        room = scheduling.resource_create(kind="room", name="Gone Room", timezone="Europe/Zurich")
        Resource.objects.filter(id=room.id).delete()
        entry = AuditEntry.objects.filter(object_pk=str(room.id), action=AuditEntry.Action.DELETE).get()
    assert entry.object_type == "scheduling.resource"
    assert entry.object_repr == f"scheduling.resource {room.id}"
    assert entry.changes["name"] == [MASK, None]  # free text: that it was set, not what it was
    assert entry.changes["timezone"] == ["Europe/Zurich", None]
