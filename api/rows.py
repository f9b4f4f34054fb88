"""Hot reads served from rows: an output ``Schema``'s JSON built straight from ``QuerySet.values()``
rows (or a loaded instance), without Ninja's per-field attribute resolution and pydantic's validation
of every item.

Through the schema, a page of 50 entities cost ~17,000 Python calls of Ninja's ``DjangoGetter`` and
validators, plus ``DjangoJSONEncoder.default`` for every id and date-time. ``RowShape`` reads the same
schema's fields once, at import: which column each comes from (its ``validation_alias`` or its name),
and how the encoder would write its value (ids as text, date-times as ``DjangoJSONEncoder`` writes them:
milliseconds at most, ``Z`` for UTC). The operation keeps declaring the schema, so the OpenAPI document
does not change; ``rows_response`` fills Ninja's temporal response (its headers, an ETag say, stay).

A field whose type ``RowShape`` does not know, or whose schema has a ``resolve_<field>`` not given
here as a row function, is refused when the shape is built: the output cannot silently drift from the
schema's. The modules' tests compare both paths on varied rows (nulls, unicode, encrypted fields).
"""

from __future__ import annotations

import datetime
import json
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from django.db.models import Model
from django.http import HttpResponse
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

Convert = Callable[[Any], Any]


def json_datetime(value: datetime.datetime) -> str:
    """``value`` as ``DjangoJSONEncoder`` writes it (so as the rest of the API does): ISO 8601,
    microseconds cut to milliseconds, ``Z`` for UTC."""
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _date(value: datetime.date) -> str:
    return value.isoformat()


# The JSON form of each type Ninja would hand to its encoder; ``None``: written as it is.
_CONVERTERS: dict[Any, Convert | None] = {
    uuid.UUID: str,
    datetime.datetime: json_datetime,
    datetime.date: _date,
    str: None,
    int: None,
    bool: None,
}


def _plain_json(annotation: Any) -> bool:
    """Whether values of ``annotation`` are JSON as they come from the database (dict, list of text)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict:
        return args[0] is str and (args[1] is Any or _CONVERTERS.get(args[1], 0) is None)
    if origin is list:
        return _CONVERTERS.get(args[0], 0) is None
    if origin is Literal:
        return all(isinstance(arg, str) for arg in args)
    return False


def _converter(annotation: Any, *, where: str) -> Convert | None:
    """How a value of ``annotation`` is written (``None``: as it is); a null stays null."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{where}: a union RowShape cannot render")
        annotation = args[0]
    if annotation in _CONVERTERS:
        return _CONVERTERS[annotation]
    if _plain_json(annotation):
        return None
    raise TypeError(f"{where}: RowShape does not know how to render {annotation!r}")


class RowShape:
    """The JSON of ``schema`` for rows of ``model``: ``columns`` to select, ``dump`` of a row.

    ``resolvers`` replace the schema's ``resolve_<field>`` methods, each reading the row's value of
    that field's column (they must give what the resolver gives: the shape's tests compare them).
    """

    def __init__(
        self, schema: type[Schema], *, model: type[Model], resolvers: Mapping[str, Convert] | None = None
    ) -> None:
        resolvers = dict(resolvers or {})
        missing = set(getattr(schema, "_ninja_resolvers", {})) - set(resolvers)
        if missing:
            raise TypeError(f"{schema.__name__}: resolvers without a row function: {sorted(missing)}")
        # (name, column, how to write it, whether to call that on null too: resolvers are)
        fields: list[tuple[str, str, Convert | None, bool]] = []
        for name, info in schema.model_fields.items():
            source = info.validation_alias if isinstance(info.validation_alias, str) else name
            model._meta.get_field(source)  # a column of the model, or FieldDoesNotExist at import
            convert = _converter(info.annotation, where=f"{schema.__name__}.{name}")
            fields.append((name, source, resolvers.get(name, convert), name in resolvers))
        self.schema = schema
        self.model = model
        self.columns: tuple[str, ...] = tuple(source for _, source, _, _ in fields)
        self._fields = fields

    def dump(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A ``values(*columns)`` row as the schema's JSON object (values JSON-ready)."""
        out: dict[str, Any] = {}
        for name, source, convert, always in self._fields:
            value = row[source]
            if convert is not None and (always or value is not None):
                value = convert(value)
            out[name] = value
        return out

    def dump_object(self, instance: Model) -> dict[str, Any]:
        """A loaded instance of the model, as ``dump`` does a row."""
        return self.dump({source: getattr(instance, source) for source in self.columns})


def rows_response(response: HttpResponse, data: Mapping[str, Any] | Iterable[Any]) -> HttpResponse:
    """``data`` (JSON-ready) as the body of Ninja's temporal ``response``, written exactly as the API's
    JSON renderer writes a validated schema's dump."""
    response.content = json.dumps(data, cls=NinjaJSONEncoder)
    return response
