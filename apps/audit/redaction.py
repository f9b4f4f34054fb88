"""What an audit entry may hold: ids, numbers, dates and codes; never a value a person typed or is.

The trail is append-only and hash-chained, so nothing in it can be erased later (``apps.privacy``).
Every entry is therefore built here, whichever module writes it:

* ``object_name``: how an entry names its object, ``"<app.model> <id>"``, never the object's text.
* ``changes_redact``: the ``{field: [old, new]}`` of an entry, deny by default. A model field's value
  is kept only when the field cannot hold free text: its primary key, a relation (the value is an
  id), a field with ``choices``, a number, boolean, date, time or UUID, or a field the model names in
  ``AUDIT_CLEAR_FIELDS`` (codes from a closed or validated set: a currency, a time zone). Any other
  field (names, descriptions, references, notes, emails, JSON attributes, tags...), and every field of
  a model's ``PERSONAL_FIELDS`` or marked ``sensitive``, shows only that it changed: ``MASK``.
  A key that is not a field of the model (a grant's ``permission``, a transaction's ``postings``) keeps
  only ids, numbers, date and time text and one-word lowercase codes; any other text is masked.

A new module gets this without a line of code: forgetting to declare a field safe masks it.
"""

from __future__ import annotations

import functools
import re
import uuid
from decimal import Decimal
from typing import Any

from django.db import models

MASK = "[redacted]"
_EMPTY: tuple[Any, ...] = (None, "", [], {})
_CLEAR_TYPES = (
    models.BooleanField,
    models.IntegerField,  # and the small, big and positive ones
    models.DecimalField,
    models.FloatField,
    models.DateField,  # and DateTimeField
    models.TimeField,
    models.DurationField,
    models.UUIDField,
)
# Text a non-field value may hold: a UUID, a number or amount, a date, time or datetime (digits and
# their separators, no space), or one lowercase code word ("view", "closed").
_CLEAR_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[-+0-9.:]*(?:[0-9]T[0-9][-+0-9.:]*Z?)?"
    r"|[a-z][a-z0-9_]{0,39}"
)


def object_name(model: type[models.Model], pk: Any) -> str:
    """How an entry names an object: its model's label and its id."""
    return f"{model._meta.label_lower} {pk}"


def field_is_clear(model: type[models.Model], model_field: models.Field[Any, Any]) -> bool:
    """Whether an entry may show this field's values (see the module docstring)."""
    if getattr(model_field, "sensitive", False) or model_field.name in getattr(model, "PERSONAL_FIELDS", ()):
        return False
    return bool(
        model_field.primary_key
        or model_field.is_relation
        or model_field.choices
        or isinstance(model_field, _CLEAR_TYPES)
        or model_field.name in getattr(model, "AUDIT_CLEAR_FIELDS", ())
    )


def _masked(value: Any) -> Any:
    return value if value in _EMPTY else MASK


def value_redact(value: Any) -> Any:
    """A value that is not a model field's, with any text but ids, numbers, dates and codes masked."""
    if value is None or isinstance(value, bool | int | float | Decimal | uuid.UUID):
        return value
    if isinstance(value, str):
        return value if _CLEAR_TEXT.fullmatch(value) else MASK
    if isinstance(value, list | tuple):
        return [value_redact(item) for item in value]
    if isinstance(value, dict):
        return {
            key if _CLEAR_TEXT.fullmatch(str(key)) else MASK: value_redact(item)
            for key, item in value.items()
        }
    return MASK


@functools.cache
def _fields_clear(model: type[models.Model]) -> dict[str, bool]:
    """Each concrete field of ``model``, by name and by attname: whether an entry may show its values
    (``field_is_clear``; a model's fields are fixed for the process, and every entry asks)."""
    clear = {}
    for concrete in model._meta.concrete_fields:
        clear[concrete.name] = clear[concrete.attname] = field_is_clear(model, concrete)
    return clear


def changes_redact(model: type[models.Model], changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``changes`` as an entry may hold them: see the module docstring."""
    fields = _fields_clear(model)
    redacted = {}
    for key, values in changes.items():
        clear = fields.get(key)
        if clear is None:
            redacted[key] = [value_redact(value) for value in values]
        elif clear:
            redacted[key] = list(values)
        else:
            redacted[key] = [_masked(value) for value in values]
    return redacted
