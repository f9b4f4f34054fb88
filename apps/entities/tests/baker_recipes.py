"""model-bakery recipes of the entities module; make them inside ``with in_tenant(tenant):``."""

from __future__ import annotations

from model_bakery.recipe import Recipe, foreign_key, seq

from apps.entities.models import Entity, EntityRelation

entity = Recipe(
    Entity,
    kind_id="customer",
    name=seq("Entity "),
    reference=seq("REF-"),
    email="contact@example.com",
    phone="+41446681800",
    attributes={"tier": "gold", "limits": {"credit": 1000}},
    tags=["vip", "eu"],
    status=Entity.Status.ACTIVE,
)

relation = Recipe(
    EntityRelation,
    source=foreign_key(entity, one_to_one=True),
    target=foreign_key(entity, one_to_one=True),
    kind="supplies",
)
