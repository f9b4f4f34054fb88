"""HTTP shapes of the entities module (In / Patch / Out / Filter, as Ninja's docs recommend)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from api.pagination import Page, PageParams
from api.rows import RowShape
from api.schemas import BodyIn, ErrorBody, error_responses
from apps.entities.errors import EntityErrorCode
from apps.entities.models import Entity
from apps.entities.selectors import ORDERINGS
from hub.errors import HubErrorCode

if TYPE_CHECKING:
    Ordering = str
else:  # the whitelist, as a Literal built from the selector's table (mypy cannot follow it)
    Ordering = Literal[tuple(ORDERINGS)]
Status = Literal["active", "inactive"]


class EntityIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "customer",
                    "name": "Acme GmbH",
                    "reference": "C-1001",
                    "email": "billing@acme.example",
                    "phone": "+49 30 1234567",
                    "attributes": {"vat_id": "DE123456789"},
                    "tags": ["key-account"],
                }
            ]
        }
    )

    kind: str = Field(max_length=40, examples=["customer"])
    name: str = Field(max_length=200)
    reference: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    attributes: dict[str, Any] = Field(default_factory=dict)
    status: Status = "active"
    tags: list[str] = Field(default_factory=list, max_length=50)


class EntityPatch(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Acme Holding GmbH", "tags": ["key-account", "eu"]}]}
    )

    kind: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=200)
    reference: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    attributes: dict[str, Any] | None = None
    status: Status | None = None
    tags: list[str] | None = Field(None, max_length=50)
    restricted: bool | None = Field(None, description="admin only: hide it from users without a grant")


class EntityOut(Schema):
    id: uuid.UUID
    kind: str = Field(validation_alias="kind_id")
    name: str
    reference: str | None
    email: str | None
    phone: str | None
    attributes: dict[str, Any]
    status: str
    tags: list[str]
    restricted: bool
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None = Field(validation_alias="created_by_id")
    updated_by: uuid.UUID | None = Field(validation_alias="updated_by_id")
    deleted_at: datetime | None
    deleted_by: uuid.UUID | None = Field(validation_alias="deleted_by_id")
    erased_at: datetime | None = Field(
        description="When its personal data was erased (a data subject request, /privacy/); null if never"
    )

    @staticmethod
    def resolve_email(entity: Any) -> str | None:
        return entity.email or None

    @staticmethod
    def resolve_phone(entity: Any) -> str | None:
        return entity.phone or None


def _blank_as_null(value: str | None) -> str | None:
    return value or None


# EntityOut read from rows (api.rows): the list and the detail, without per-item validation.
ENTITY_ROWS = RowShape(EntityOut, model=Entity, resolvers={"email": _blank_as_null, "phone": _blank_as_null})


class EntityFilter(PageParams):
    kind: str | None = Field(None, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")
    status: Status | None = None
    tag: str | None = Field(None, max_length=50, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    q: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
    email: str | None = Field(None, min_length=1, max_length=254, description="exact match, any case")
    phone: str | None = Field(None, min_length=1, max_length=40, description="exact match")
    ordering: Ordering = "-created_at"
    source_import: uuid.UUID | None = Field(None, description="Only the entities this bulk import created.")


class EntityPage(Page):
    items: list[EntityOut]


class RelationIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"target_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "kind": "supplies"}]
        }
    )

    target_id: uuid.UUID
    kind: str = Field(max_length=40, examples=["supplies"])


class RelationOut(Schema):
    id: uuid.UUID
    source_id: uuid.UUID
    target_id: uuid.UUID
    kind: str
    created_at: datetime
    created_by: uuid.UUID | None = Field(validation_alias="created_by_id")


class RelationPage(Page):
    items: list[RelationOut]


class KindIn(BodyIn):
    """A new kind of entity for the organization (admins only), besides the four built in."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"key": "vendor", "label": "Vendor"}]})

    key: str = Field(
        max_length=40,
        description="Its machine name, used as an entity's kind: a lowercase letter, then lowercase "
        "letters, digits, - or _; unique in the organization (409 kind_exists)",
        examples=["vendor"],
    )
    label: str = Field(max_length=100, description="Its name as people read it", examples=["Vendor"])


class KindOut(Schema):
    key: str
    label: str
    builtin: bool


class KindPage(Page):
    items: list[KindOut]


Permission = Literal["view", "change", "delete"]


class GrantIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"user_id": "9b2d4c1e-7f3a-4e6b-8c5d-1a2b3c4d5e6f", "permission": "change"}]
        }
    )

    user_id: uuid.UUID
    permission: Permission


class GrantQuery(Schema):
    user_id: uuid.UUID
    permission: Permission


class GrantOut(Schema):
    user_id: uuid.UUID
    email: str
    permission: str

    @staticmethod
    def resolve_email(grant: Any) -> str:
        return str(grant.user.email)

    @staticmethod
    def resolve_permission(grant: Any) -> str:
        return str(grant.permission.codename).split("_", 1)[0]


class GrantPage(Page):
    items: list[GrantOut]


class EntityError(ErrorBody):
    code: EntityErrorCode | HubErrorCode


ENTITY_ERRORS = error_responses(EntityError)
# Writes that honour If-Match (api.etags): also 412 precondition_failed and 428 precondition_required.
ENTITY_IF_MATCH_ERRORS = error_responses(EntityError, preconditions=True)
