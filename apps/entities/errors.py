from hub.errors import Conflict, Invalid, NotFound


class EntityNotFound(NotFound):
    code = "entity_not_found"
    default_detail = "No entity has this id."


class EntityInvalid(Invalid):
    pass


class EntityConflict(Conflict):
    code = "entity_conflict"


class EntityKindUnknown(Invalid):
    code = "entity_kind_unknown"
