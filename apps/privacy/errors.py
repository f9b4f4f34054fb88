"""The privacy module's errors (``hub.errors``)."""

from __future__ import annotations

from hub.errors import Invalid, NotFound


class SubjectNotFound(NotFound):
    code = "subject_not_found"
    default_detail = "No entity has this id."


class RetentionModelUnknown(Invalid):
    code = "retention_model_unknown"


class RetentionPolicyNotFound(NotFound):
    code = "retention_policy_not_found"
    default_detail = "This model has no retention policy."
