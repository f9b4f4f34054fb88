from hub.errors import BadRequest, Conflict, Invalid, NotFound, PermissionDenied


class TenantNotFound(NotFound):
    code = "tenant_not_found"
    default_detail = "No organization is served at this address."


class TenantSuspended(PermissionDenied):
    code = "tenant_suspended"
    default_detail = "This organization is suspended."


class TenantConflict(Conflict):
    code = "tenant_conflict"


class TenantInvalid(Invalid):
    pass


class DeleteNotConfirmed(BadRequest):
    code = "confirmation_required"
    default_detail = "Deleting an organization needs ?confirm=<organization_id> matching the organization."
