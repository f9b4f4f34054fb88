"""The organizations' (platform API and host routing) errors: each one a machine code and an HTTP status."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import BadRequest, Conflict, HubErrorCode, Invalid, NotFound, PermissionDenied


class TenantErrorCode(StrEnum):
    """Every code the platform API's organizations answer (besides those of `HubErrorCode`, which holds
    `tenant_not_found` and `tenant_suspended`: the host routing answers them on any request)."""

    TENANT_CONFLICT = "tenant_conflict"
    CONFIRMATION_REQUIRED = "confirmation_required"
    ORGANIZATION_NOT_CONFIRMED = "organization_not_confirmed"
    # Provisioning's `owner` is checked by apps.members (MemberErrorCode.OWNER_INVALID, the same value):
    # listed here too, so that the platform API's documents type every code it answers.
    OWNER_INVALID = "owner_invalid"
    # The job queue (api/platform_jobs.py).
    JOB_NOT_FOUND = "job_not_found"
    JOB_NOT_RETRYABLE = "job_not_retryable"
    # Organization archives (api/platform_archives.py, tenants/archive/).
    ARCHIVE_NOT_FOUND = "archive_not_found"
    ARCHIVE_NOT_READY = "archive_not_ready"
    ARCHIVE_EXPIRED = "archive_expired"
    ARCHIVE_KEY_INVALID = "archive_key_invalid"


class TenantNotFound(NotFound):
    code = HubErrorCode.TENANT_NOT_FOUND
    default_detail = "No organization is served at this address."


class TenantSuspended(PermissionDenied):
    code = HubErrorCode.TENANT_SUSPENDED
    default_detail = "This organization is suspended."


class TenantConflict(Conflict):
    code = TenantErrorCode.TENANT_CONFLICT


class TenantInvalid(Invalid):
    pass


class DeleteNotConfirmed(BadRequest):
    code = TenantErrorCode.CONFIRMATION_REQUIRED
    default_detail = "Deleting an organization needs ?confirm=<organization_id> matching the organization."


class JobNotFound(NotFound):
    code = TenantErrorCode.JOB_NOT_FOUND
    default_detail = "No job has this id."


class JobNotRetryable(Conflict):
    code = TenantErrorCode.JOB_NOT_RETRYABLE
    default_detail = "Only a failed job can be retried."
