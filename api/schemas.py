"""Shapes shared by every API: the contract's error body and the statuses every operation may answer."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, model_validator


class Error(Schema):
    detail: str
    code: str


ERRORS: dict[int, type[Schema]] = {
    400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 503: Error
}  # fmt: skip


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
