"""The members module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict, Invalid, NotFound


class MemberErrorCode(StrEnum):
    """Every code the members module answers (besides those of `HubErrorCode`)."""

    USER_NOT_FOUND = "user_not_found"
    MEMBER_NOT_FOUND = "member_not_found"
    LAST_ADMIN = "last_admin"
    OWNER_INVALID = "owner_invalid"


class MemberNotFound(NotFound):
    """No user of this organization has the id: a user of another organization included."""

    code = MemberErrorCode.USER_NOT_FOUND
    default_detail = "No user of this organization has this id."


class MembershipNotFound(NotFound):
    """No member of this organization has the id: a member of another organization included."""

    code = MemberErrorCode.MEMBER_NOT_FOUND
    default_detail = "No member of this organization has this id."


class LastAdmin(Conflict):
    """The change would leave the organization without an admin."""

    code = MemberErrorCode.LAST_ADMIN
    default_detail = "This is the organization's last admin: name another admin first."


class OwnerInvalid(Invalid):
    """The owner named at provisioning has no usable email."""

    code = MemberErrorCode.OWNER_INVALID
    default_detail = "The owner's email is not an email address."
