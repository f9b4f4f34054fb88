"""An organization deleted and provisioned again under its id starts with nobody remembered as seen."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.members.models import Member
from tenants.models import Organization
from tenants.services import tenant_delete, tenant_provision

A_USER = uuid.UUID(int=0x1234)  # conftest.make_token's default ``sub``
ENTITIES = "/api/v1/entities/"


@pytest.mark.usefixtures("committed_db")
def test_an_organization_provisioned_again_under_its_id_records_its_users_again(client_for: Any) -> None:
    # The sighting cache outlives the organization's schema; a new organization under the same id
    # must not inherit it (its users would never be recorded, so never grantable).
    organization_id = uuid.uuid4()
    first = _provision(organization_id)
    assert client_for(first, ["viewer"]).get(ENTITIES).status_code == 200
    tenant_delete(tenant=first, confirm=str(organization_id))

    again = _provision(organization_id)
    assert client_for(again, ["viewer"]).get(ENTITIES).status_code == 200

    with tenant_context(again):
        assert set(Member.objects.values_list("user_id", flat=True)) == {A_USER}


def _provision(organization_id: uuid.UUID) -> Organization:
    return tenant_provision(
        organization_id=organization_id, slug="seen-twice", name="S", check_identity=False
    )
