"""Shapes shared by every API: the contract's error body and the statuses every operation may answer."""

from __future__ import annotations

from ninja import Schema


class Error(Schema):
    detail: str
    code: str


ERRORS: dict[int, type[Schema]] = {
    400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 503: Error
}  # fmt: skip
