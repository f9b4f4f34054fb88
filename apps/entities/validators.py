"""Normalisation and validation of entity fields: the one place their rules live."""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from apps.entities.errors import EntityInvalid

NAME_MAX = 200
REFERENCE_MAX = 100
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")
TAGS_MAX = 20
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
ATTRIBUTES_MAX_BYTES = 16_384
ATTRIBUTES_MAX_DEPTH = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_clean(value: str) -> str:
    value = value.strip()
    if not value or len(value) > NAME_MAX or _CONTROL.search(value):
        raise EntityInvalid(f"name must be 1 to {NAME_MAX} printable characters.", field="name")
    return value


def reference_clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > REFERENCE_MAX or _CONTROL.search(value):
        raise EntityInvalid(f"reference must be at most {REFERENCE_MAX} printable characters.", field="reference")
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
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        raise EntityInvalid("phone must be an international number such as +41 44 668 18 00.", field="phone") from None
    if not phonenumbers.is_valid_number(number):
        raise EntityInvalid("phone is not a valid number.", field="phone")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def tags_clean(values: list[str]) -> list[str]:
    tags = list(dict.fromkeys(value.strip().lower() for value in values))
    if len(tags) > TAGS_MAX:
        raise EntityInvalid(f"at most {TAGS_MAX} tags.", field="tags")
    for tag in tags:
        if not TAG_PATTERN.match(tag):
            raise EntityInvalid(
                f"tag {tag!r} must be 1 to 50 lowercase letters, digits, '.', '_' or '-'.", field="tags"
            )
    return tags


def attributes_clean(value: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EntityInvalid("attributes must be a JSON object.", field="attributes")
    if _depth(value) > ATTRIBUTES_MAX_DEPTH:
        raise EntityInvalid(f"attributes may nest at most {ATTRIBUTES_MAX_DEPTH} levels.", field="attributes")
    encoded = json.dumps(value, ensure_ascii=False)
    if len(encoded.encode()) > ATTRIBUTES_MAX_BYTES:
        raise EntityInvalid(f"attributes may take at most {ATTRIBUTES_MAX_BYTES} bytes as JSON.", field="attributes")
    if "\\u0000" in encoded:  # PostgreSQL's jsonb cannot store NUL
        raise EntityInvalid("attributes may not contain NUL characters.", field="attributes")
    return value


def kind_key_clean(value: str) -> str:
    value = value.strip().lower()
    if not KIND_PATTERN.match(value):
        raise EntityInvalid("kind must be 1 to 40 lowercase letters, digits, '_' or '-'.", field="kind")
    return value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0
