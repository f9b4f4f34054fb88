"""Normalisation and validation of entity fields: the one place their rules live."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from apps.entities.errors import EntityInvalid
from hub.text import CONTROL_CHARACTERS

NAME_MAX = 200
REFERENCE_MAX = 100
LABEL_MAX = 100
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,49}")
TAGS_MAX = 20
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,39}")
ATTRIBUTES_MAX_BYTES = 16_384
ATTRIBUTES_MAX_DEPTH = 5


def name_clean(value: str) -> str:
    value = value.strip()
    if not value or len(value) > NAME_MAX or CONTROL_CHARACTERS.search(value):
        raise EntityInvalid(f"name must be 1 to {NAME_MAX} printable characters.", field="name")
    return value


def reference_clean(value: str | None) -> str | None:
    """Blank or missing references are stored as NULL, which the uniqueness rule ignores."""
    if value is None:
        return None
    # Spaces are trimmed; any other whitespace (a trailing newline) is refused like any control character.
    value = value.strip(" ")
    if not value:
        return None
    if len(value) > REFERENCE_MAX or CONTROL_CHARACTERS.search(value):
        raise EntityInvalid(
            f"reference must be at most {REFERENCE_MAX} printable characters.", field="reference"
        )
    return value


def email_clean(value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(validate_email(value.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise EntityInvalid(f"email is not a valid address: {exc}", field="email") from None


def phone_clean(value: str | None) -> str:
    """Normalise to E.164; numbers must be international (start with +)."""
    if not value:
        return ""
    # phonenumbers silently drops what it does not understand; control characters are refused instead.
    if CONTROL_CHARACTERS.search(value.strip()):
        raise EntityInvalid("phone may not contain control characters.", field="phone")
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        raise EntityInvalid(
            "phone must be an international number such as +41 44 668 18 00.", field="phone"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise EntityInvalid("phone is not a valid number.", field="phone")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def tags_clean(values: list[str]) -> list[str]:
    """Lower-cased, stripped, de-duplicated (first occurrence wins), at most ``TAGS_MAX``."""
    tags = list(dict.fromkeys(value.strip(" ").lower() for value in values))
    if len(tags) > TAGS_MAX:
        raise EntityInvalid(f"at most {TAGS_MAX} tags.", field="tags")
    for tag in tags:
        if not TAG_PATTERN.fullmatch(tag):
            raise EntityInvalid(
                f"tag {tag!r} must be 1 to 50 lowercase letters, digits, '.', '_' or '-'.", field="tags"
            )
    return tags


def attributes_clean(value: dict[str, Any]) -> dict[str, Any]:
    """A JSON object that PostgreSQL's jsonb can store, at most 5 levels deep and 16 KiB as JSON."""
    if not isinstance(value, dict):
        raise EntityInvalid("attributes must be a JSON object.", field="attributes")
    _attributes_walk(value)
    encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    if len(encoded.encode()) > ATTRIBUTES_MAX_BYTES:
        raise EntityInvalid(
            f"attributes may take at most {ATTRIBUTES_MAX_BYTES} bytes as JSON.", field="attributes"
        )
    return value


def kind_key_clean(value: str) -> str:
    value = value.strip(" ").lower()
    if not KIND_PATTERN.fullmatch(value):
        raise EntityInvalid("kind must be 1 to 40 lowercase letters, digits, '_' or '-'.", field="kind")
    return value


def kind_label_clean(value: str) -> str:
    value = value.strip()
    if not value or len(value) > LABEL_MAX or CONTROL_CHARACTERS.search(value):
        raise EntityInvalid(f"label must be 1 to {LABEL_MAX} printable characters.", field="label")
    return value


def _attributes_walk(root: dict[str, Any]) -> None:
    """Refuse, without recursion (a deep document must not exhaust the stack), what jsonb cannot hold.

    Depth is checked first and the walk stops there, so it never visits more than the allowed levels.
    """
    pending: list[tuple[Any, int]] = [(root, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > ATTRIBUTES_MAX_DEPTH:
                raise EntityInvalid(
                    f"attributes may nest at most {ATTRIBUTES_MAX_DEPTH} levels.", field="attributes"
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _attribute_string_check(key)
                pending.append((item, depth + 1))
        elif isinstance(value, str):
            _attribute_string_check(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise EntityInvalid("attributes may only hold finite numbers.", field="attributes")


def _attribute_string_check(value: str) -> None:
    if "\x00" in value:  # PostgreSQL's jsonb cannot store NUL
        raise EntityInvalid("attributes may not contain NUL characters.", field="attributes")
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON but not text
        raise EntityInvalid("attributes may only contain valid Unicode text.", field="attributes") from None
