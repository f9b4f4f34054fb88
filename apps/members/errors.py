"""The members module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import NotFound


class MemberErrorCode(StrEnum):
    """Every code the members module answers (besides ``hub.errors.HubErrorCode``)."""

    USER_NOT_FOUND = "user_not_found"


class MemberNotFound(NotFound):
    """No user of this organization has the id: a user of another organization included."""

    code = MemberErrorCode.USER_NOT_FOUND
    default_detail = "No user of this organization has this id."
