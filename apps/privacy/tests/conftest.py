"""Fixtures of the privacy tests: the entities module's actors and entities."""

from apps.entities.tests.conftest import actor, b_actor, entity_a, entity_b, other_a  # noqa: F401
