"""HTTP shapes of the members module: memberships (``/api/v1/members/``) and the caller (``/api/v1/me``)."""

from __future__ import annotations

import uuid

from ninja import Schema
from pydantic import ConfigDict, Field

from api.pagination import Page, PageParams
from api.schemas import BodyIn, ErrorBody, error_responses
from apps.members.errors import MemberErrorCode
from apps.members.models import Member, MemberRole
from apps.members.services import EMAIL_MAX_LENGTH, EMAIL_PATTERN
from hub.errors import HubErrorCode


class MemberError(ErrorBody):
    code: MemberErrorCode | HubErrorCode


MEMBER_ERRORS = error_responses(MemberError)


class MemberIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"role": "member", "email": "jane@acme.example"}]}
    )

    role: MemberRole
    email: str | None = Field(
        None,
        max_length=EMAIL_MAX_LENGTH,
        pattern=EMAIL_PATTERN,
        description="How the member is shown here until they first call the Hub (their token's email then).",
    )


class MemberFilter(PageParams):
    role: MemberRole | None = None


class MemberOut(Schema):
    user_id: uuid.UUID
    email: str | None
    role: MemberRole

    @staticmethod
    def resolve_email(member: Member) -> str | None:
        return member.email or None


class MemberPage(Page):
    items: list[MemberOut]


class OrganizationOut(Schema):
    id: uuid.UUID
    slug: str
    name: str


class MeOut(Schema):
    user_id: uuid.UUID
    email: str | None
    organization: OrganizationOut
    roles: list[str] = Field(description="The Hub roles held here: admin, member, viewer.")
    roles_source: str = Field(
        description="Where the roles came from: token, membership, identity, or default "
        "(HUB_DEFAULT_MEMBER_ROLE, on first use)."
    )
    permissions: list[str] = Field(description="What the roles allow, as `<area>.<action>` names.")
