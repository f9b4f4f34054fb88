"""Services, selectors and models called directly (inside the tenant), and the constraints behind them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apps.entities import selectors, services
from apps.entities.errors import EntityConflict, EntityInvalid, EntityKindUnknown, EntityNotFound
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.tests.baker_recipes import entity as entity_recipe
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_a(tenant_a: Organization, in_tenant: Any) -> Any:
    with in_tenant(tenant_a):
        yield


class TestEntityCreate:
    def test_defaults_and_audit(self, in_a: None, actor: User) -> None:
        entity = services.entity_create(actor=actor, kind="asset", name=" Van ")

        assert entity.name == "Van"
        assert (entity.reference, entity.email, entity.phone) == (None, "", "")
        assert (entity.attributes, entity.tags, entity.status) == ({}, [], "active")
        assert entity.created_by_id == entity.updated_by_id == actor.id
        assert Entity.objects.filter(id=entity.id).exists()

    def test_unknown_kind(self, in_a: None, actor: User) -> None:
        with pytest.raises(EntityKindUnknown) as caught:
            services.entity_create(actor=actor, kind="vendor", name="V")
        assert caught.value.payload()["code"] == "entity_kind_unknown"
        assert caught.value.field == "kind"

    def test_status_must_be_known(self, in_a: None, actor: User) -> None:
        with pytest.raises(EntityInvalid) as caught:
            services.entity_create(actor=actor, kind="asset", name="V", status="archived")
        assert caught.value.field == "status"
        assert not Entity.objects.exists()

    def test_reference_conflict_leaves_the_transaction_usable(self, in_a: None, actor: User) -> None:
        services.entity_create(actor=actor, kind="asset", name="A", reference="R")
        with pytest.raises(EntityConflict) as caught:
            services.entity_create(actor=actor, kind="asset", name="B", reference="R")
        assert caught.value.instance_code == "reference_taken"
        assert Entity.objects.count() == 1  # the savepoint kept the outer transaction alive


class TestEntityUpdate:
    def test_fields_outside_the_schema_cannot_be_changed(self, in_a: None, actor: User) -> None:
        entity = services.entity_create(actor=actor, kind="asset", name="A")
        for field in ("id", "created_by", "deleted_at", "organization_id"):
            with pytest.raises(EntityInvalid) as caught:
                services.entity_update(actor=actor, entity=entity, changes={field: None})
            assert caught.value.detail == f"{field} cannot be changed."

    def test_status_must_be_known(self, in_a: None, actor: User) -> None:
        entity = services.entity_create(actor=actor, kind="asset", name="A")
        with pytest.raises(EntityInvalid):
            services.entity_update(actor=actor, entity=entity, changes={"status": "archived"})
        assert Entity.objects.get(id=entity.id).status == "active"

    def test_a_stale_copy_of_a_deleted_row_is_not_found(self, in_a: None, actor: User) -> None:
        """A row soft-deleted after the caller loaded it: the update re-reads it under its lock and
        finds it gone, instead of writing to a deleted entity."""
        entity = services.entity_create(actor=actor, kind="asset", name="A")
        stale = Entity.objects.get(id=entity.id)
        services.entity_delete(actor=actor, entity=entity)

        with pytest.raises(EntityNotFound):
            services.entity_update(actor=actor, entity=stale, changes={"name": "B"})
        with pytest.raises(EntityNotFound):
            services.entity_delete(actor=actor, entity=stale)

        row = Entity.objects.get(id=entity.id)
        assert row.name == "A"
        assert row.deleted_by_id == actor.id

    def test_writes_only_the_changed_columns(self, in_a: None, actor: User) -> None:
        """Another column changed after the caller loaded the row is kept."""
        entity = services.entity_create(actor=actor, kind="asset", name="A")
        stale = Entity.objects.get(id=entity.id)
        services.entity_update(actor=actor, entity=entity, changes={"reference": "R-1"})

        services.entity_update(actor=actor, entity=stale, changes={"name": "B"})

        row = Entity.objects.get(id=entity.id)
        assert (row.name, row.reference) == ("B", "R-1")


def test_save_reraises_other_integrity_errors(in_a: None) -> None:
    """Only the reference constraint becomes a 409; any other violation is a bug and is not hidden."""
    with pytest.raises(IntegrityError, match="entity_name_not_blank"):
        services._save(Entity(kind_id="asset", name=""), force_insert=True)


class TestConstraints:
    """The database holds the rules even when Python validation is bypassed."""

    @pytest.mark.parametrize(
        ("fields", "constraint"),
        [
            ({"name": ""}, "entity_name_not_blank"),
            ({"status": "archived"}, "entity_status_valid"),
        ],
    )
    def test_entity_checks(self, in_a: None, fields: dict[str, Any], constraint: str) -> None:
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            Entity.objects.create(kind_id="asset", **{"name": "x", **fields})

    def test_reference_unique_among_live_entities_of_a_kind(self, in_a: None) -> None:
        entity_recipe.make(kind_id="asset", reference="R", deleted_at=timezone.now())
        entity_recipe.make(kind_id="asset", reference="R")
        entity_recipe.make(kind_id="supplier", reference="R")
        entity_recipe.make(kind_id="asset", reference=None, _quantity=2)
        with pytest.raises(IntegrityError, match="entity_reference_unique_per_kind"), transaction.atomic():
            entity_recipe.make(kind_id="asset", reference="R")

    def test_no_self_relation(self, in_a: None) -> None:
        entity = entity_recipe.make()
        with pytest.raises(IntegrityError, match="entity_relation_not_self"), transaction.atomic():
            EntityRelation.objects.create(source=entity, target=entity, kind="owns")

    def test_kind_in_use_cannot_be_removed(self, in_a: None) -> None:
        EntityKind.objects.create(key="vendor", label="Vendor")
        entity_recipe.make(kind_id="vendor")
        with pytest.raises(ProtectedError), transaction.atomic():
            EntityKind.objects.get(key="vendor").delete()


class TestRelationCreate:
    def test_creates(self, in_a: None, actor: User) -> None:
        source, target = entity_recipe.make(_quantity=2)
        relation = services.entity_relation_create(
            actor=actor, source=source, target_id=target.id, kind="Owns"
        )
        assert (relation.source_id, relation.target_id, relation.kind) == (source.id, target.id, "owns")
        assert relation.created_by_id == actor.id

    def test_target_in_another_organization_is_not_found(
        self, tenant_a: Organization, tenant_b: Organization, in_tenant: Any, actor: User, b_actor: User
    ) -> None:
        with in_tenant(tenant_b):
            foreign = services.entity_create(actor=b_actor, kind="asset", name="B")
        with in_tenant(tenant_a):
            source = entity_recipe.make()
            with pytest.raises(EntityNotFound):
                services.entity_relation_create(actor=actor, source=source, target_id=foreign.id, kind="owns")
            assert not EntityRelation.objects.exists()


def test_entity_get_ignores_deleted(in_a: None) -> None:
    entity = entity_recipe.make(deleted_at=timezone.now())
    with pytest.raises(EntityNotFound):
        selectors.entity_get(entity_id=entity.id, viewer=None)
    with pytest.raises(EntityNotFound):
        selectors.entity_get(entity_id=uuid.uuid4(), viewer=None)


def test_kind_create_conflict(in_a: None) -> None:
    services.entity_kind_create(key="vendor", label="Vendor")
    with pytest.raises(EntityConflict) as caught:
        services.entity_kind_create(key="Vendor", label="Other")
    assert caught.value.instance_code == "kind_exists"
    assert EntityKind.objects.get(key="vendor").label == "Vendor"


def test_string_forms(in_a: None) -> None:
    source, target = entity_recipe.make(name="Acme", kind_id="customer", _quantity=2)
    relation = EntityRelation(source=source, target=target, kind="owns")
    assert str(EntityKind.objects.get(key="customer")) == "customer"
    assert str(source) == "customer:Acme"
    assert str(relation) == f"{source.id} -owns-> {target.id}"
