"""The file store (hub.files): names come from ids only, and an organization's files go with it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile

from hub.files import file_chunks, file_delete, file_name, file_store, files_delete_organization
from tenants.models import Organization
from tenants.services import tenant_delete, tenant_provision

ORG = uuid.UUID("5a1f0000-0000-4000-8000-00000000f11e")


@pytest.mark.parametrize(
    ("area", "file_id", "suffix"),
    [
        ("../etc", uuid.uuid4(), ""),  # an area outside the fixed set
        ("imports", "../../passwd", ""),  # not an id
        ("exports", uuid.uuid4(), "/../x"),  # a suffix that walks
        ("exports", uuid.uuid4(), "csv"),  # a suffix without its dot
    ],
)
def test_file_names_are_built_from_ids_only(area: str, file_id: Any, suffix: str) -> None:
    with pytest.raises(ValueError, match=r"area|suffix|UUID|hexadecimal"):
        file_name(organization_id=ORG, area=area, file_id=file_id, suffix=suffix)


def test_a_file_is_read_back_in_chunks_and_deleted() -> None:
    name = file_name(organization_id=ORG, area="exports", file_id=uuid.uuid4(), suffix=".csv")
    saved = file_store().save(name, ContentFile(b"a" * 10 + b"b" * 5))
    assert saved == name
    assert list(file_chunks(name, chunk_bytes=10)) == [b"a" * 10, b"b" * 5]
    file_delete(name)
    file_delete(name)  # already gone: nothing
    assert not file_store().exists(name)


def test_deleting_an_organization_removes_its_files_and_no_others(committed_db: None) -> None:
    doomed = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"files-{uuid.uuid4().hex[:8]}", name="Files", check_identity=False
    )
    store = file_store()
    mine = [
        store.save(
            file_name(organization_id=doomed.organization_id, area=area, file_id=uuid.uuid4()),
            ContentFile(b"x"),
        )
        for area in ("imports", "exports", "archives")
    ]
    other = store.save(
        file_name(organization_id=ORG, area="imports", file_id=uuid.uuid4()), ContentFile(b"y")
    )
    tenant_delete(tenant=doomed, confirm=str(doomed.organization_id))
    assert not Organization.objects.filter(pk=doomed.pk).exists()
    assert [name for name in mine if store.exists(name)] == []
    assert store.exists(other)
    file_delete(other)
    assert files_delete_organization(uuid.uuid4()) == 0
