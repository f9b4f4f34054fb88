"""The entities module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from hub.errors import Conflict, Invalid, NotFound, PermissionDenied


class EntityNotFound(NotFound):
    code = "entity_not_found"
    default_detail = "No entity has this id."


class EntityInvalid(Invalid):
    """A rule broken by one field. The contract's 422 body lists the field in ``errors``."""


class EntityConflict(Conflict):
    code = "entity_conflict"


class EntityKindUnknown(EntityInvalid):
    code = "entity_kind_unknown"


class EntityPermissionRequired(PermissionDenied):
    """A restricted entity the caller sees but may not change or delete (no such grant)."""

    code = "entity_permission_required"


class EntityGrantNotFound(NotFound):
    code = "grant_not_found"
    default_detail = "This user holds no such permission on this entity."


class EntityUserUnknown(EntityInvalid):
    code = "user_unknown"
