"""The entities module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict, Invalid, NotFound, PermissionDenied


class EntityErrorCode(StrEnum):
    """Every code the entities module answers (besides those of `HubErrorCode`)."""

    ENTITY_NOT_FOUND = "entity_not_found"
    ENTITY_CONFLICT = "entity_conflict"
    ENTITY_KIND_UNKNOWN = "entity_kind_unknown"
    ENTITY_PERMISSION_REQUIRED = "entity_permission_required"
    GRANT_NOT_FOUND = "grant_not_found"
    USER_UNKNOWN = "user_unknown"
    REFERENCE_TAKEN = "reference_taken"
    SUBJECT_ERASED = "subject_erased"
    SELF_RELATION = "self_relation"
    TARGET_NOT_FOUND = "target_not_found"
    RELATION_EXISTS = "relation_exists"
    RELATION_NOT_FOUND = "relation_not_found"
    KIND_EXISTS = "kind_exists"


class EntityNotFound(NotFound):
    code = EntityErrorCode.ENTITY_NOT_FOUND
    default_detail = "No entity has this id."


class EntityRelationNotFound(NotFound):
    code = EntityErrorCode.RELATION_NOT_FOUND
    default_detail = "This entity has no relation with this id."


class EntityInvalid(Invalid):
    """A rule broken by one field. The contract's 422 body lists the field in ``errors``."""


class EntityConflict(Conflict):
    code = EntityErrorCode.ENTITY_CONFLICT


class EntityKindUnknown(EntityInvalid):
    code = EntityErrorCode.ENTITY_KIND_UNKNOWN


class EntityPermissionRequired(PermissionDenied):
    """A restricted entity the caller sees but may not change or delete (no such grant)."""

    code = EntityErrorCode.ENTITY_PERMISSION_REQUIRED


class EntityGrantNotFound(NotFound):
    code = EntityErrorCode.GRANT_NOT_FOUND
    default_detail = "This user holds no such permission on this entity."


class EntityUserUnknown(EntityInvalid):
    code = EntityErrorCode.USER_UNKNOWN
