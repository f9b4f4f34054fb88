"""Shapes shared by every API: the contract's error body and the statuses every operation may answer."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, Field, model_validator

from hub.errors import HubErrorCode


class ErrorItem(Schema):
    """One broken rule of a 422: where (`loc`, the path parts of the field) and why."""

    loc: list[str | int] = Field(examples=[["postings", 0, "amount"]])
    msg: str
    type: str


class ErrorBody(Schema):
    """The contract's error shape, less ``code``: each module types ``code`` with its own enum."""

    detail: str
    errors: list[ErrorItem] | None = Field(None, description="On a 422: every broken rule, with its field")


class Error(ErrorBody):
    """An error of an operation that answers only the codes any request may answer."""

    code: HubErrorCode


# 413: a body over HUB_MAX_BODY_BYTES; 414: a path and query over the URI guard's limit (api.middleware).
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 414, 422, 503)


# 412/428: a conditional write (If-Match, api.etags) whose ETag is stale, or that lacks If-Match while
# HUB_REQUIRE_IF_MATCH is on.
PRECONDITION_STATUSES = (412, 428)


def error_responses(schema: type[ErrorBody], *, preconditions: bool = False) -> dict[int, type[Schema]]:
    """The error statuses every operation may answer, each with ``schema`` (the module's ``Error``);
    ``preconditions``: also those of a write that honours ``If-Match`` (412, 428)."""
    statuses = ERROR_STATUSES + (PRECONDITION_STATUSES if preconditions else ())
    return dict.fromkeys(sorted(statuses), schema)


ERRORS = error_responses(Error)


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


def idempotency_key_parameter(*, required: bool, max_length: int = 255) -> dict[str, Any]:
    """The OpenAPI header parameter ``Idempotency-Key`` (for an operation's ``openapi_extra``), required
    or optional as the endpoint treats it, so that a generated client types it the same way."""
    need = "Required" if required else "Optional"
    return {
        "in": "header",
        "name": IDEMPOTENCY_KEY_HEADER,
        "required": required,
        "description": (
            f"{need}: 1 to {max_length} printable characters, unique per request. The same key with the "
            "same body again answers the first response without doing the work twice; with another body, 409."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": max_length},
        "example": "5f0c7e1e-8a4b-4a4e-9b2f-0d6c1f3e2a71",
    }


class InputSchema(Schema):
    """Every shape a client writes (a request body, and each object nested in one).

    An unknown field is a 422 naming it (``loc`` = its path, ``type`` = ``extra_forbidden``), never
    dropped: ``"emial"`` for ``"email"`` would otherwise answer 201 and lose the value.
    """

    model_config = ConfigDict(extra="forbid")


class BodyIn(InputSchema):
    """A request body: a JSON object, nothing else.

    Ninja's ``Schema`` reads its input by attribute, so a list, a string or ``null`` would pass as an
    object with no fields (an empty PATCH that answers 200); they are refused instead.
    """

    @model_validator(mode="before")
    @classmethod
    def _json_object_only(cls, data: Any) -> Any:
        # Schema's own validator runs first and wraps the parsed body in a DjangoGetter.
        raw = data._obj if isinstance(data, DjangoGetter) else data
        if not isinstance(raw, dict):
            raise ValueError("the request body must be a JSON object")
        return data
