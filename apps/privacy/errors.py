"""The privacy module's errors (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Invalid, NotFound


class PrivacyErrorCode(StrEnum):
    """Every code the privacy module answers (besides those of `HubErrorCode`)."""

    SUBJECT_NOT_FOUND = "subject_not_found"
    RETENTION_MODEL_UNKNOWN = "retention_model_unknown"
    RETENTION_POLICY_NOT_FOUND = "retention_policy_not_found"


class SubjectNotFound(NotFound):
    code = PrivacyErrorCode.SUBJECT_NOT_FOUND
    default_detail = "No entity has this id."


class RetentionModelUnknown(Invalid):
    code = PrivacyErrorCode.RETENTION_MODEL_UNKNOWN


class RetentionPolicyNotFound(NotFound):
    code = PrivacyErrorCode.RETENTION_POLICY_NOT_FOUND
    default_detail = "This model has no retention policy."
