"""The entities module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from hub.errors import Conflict, Invalid, NotFound


class EntityNotFound(NotFound):
    code = "entity_not_found"
    default_detail = "No entity has this id."


class EntityInvalid(Invalid):
    """A rule broken by one field. The contract's 422 body lists the field in ``errors``."""


class EntityConflict(Conflict):
    code = "entity_conflict"


class EntityKindUnknown(EntityInvalid):
    code = "entity_kind_unknown"
