"""Normalisation and validation of ledger fields (money above all): the one place their rules live."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.ledger.currencies import MINOR_UNITS
from apps.ledger.errors import LedgerErrorCode, LedgerInvalid
from hub.text import CONTROL_CHARACTERS

CODE_MAX = 40
NAME_MAX = 200
DESCRIPTION_MAX = 500
REFERENCE_MAX = 100
# Amounts: an optional minus sign, digits, optionally a point and more digits. No exponent, no
# spaces, no "+", no "NaN"/"Infinity": what a person would write on a cheque.
_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,20})?")


def currency_clean(value: str, *, field: str = "currency") -> str:
    if value not in MINOR_UNITS:
        raise LedgerInvalid(
            f"{field} must be an ISO 4217 code in upper case, such as EUR.",
            field=field,
            code=LedgerErrorCode.CURRENCY_UNKNOWN,
        )
    return value


def amount_clean(value: Any, *, currency: str, field: str = "amount") -> Decimal:
    """A non-zero decimal string with no more decimals than ``currency`` has minor units.

    JSON numbers are refused: a float (``10.1``) cannot be trusted to the cent, and accepting integers
    only would make the rule depend on the value.
    """
    if not isinstance(value, str):
        raise LedgerInvalid(
            f'{field} must be a decimal string such as "10.00", not a JSON {_json_kind(value)}.',
            field=field,
            code=LedgerErrorCode.AMOUNT_NOT_STRING,
        )
    if not _AMOUNT.fullmatch(value):
        raise LedgerInvalid(
            f'{field} must be a decimal number written as a string, such as "-12.50" '
            "(at most 15 digits before the point).",
            field=field,
            code=LedgerErrorCode.AMOUNT_INVALID,
        )
    try:
        amount = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern above admits only valid decimals
        raise LedgerInvalid(
            f"{field} is not a decimal number.", field=field, code=LedgerErrorCode.AMOUNT_INVALID
        ) from None
    minor_units = MINOR_UNITS[currency]
    if amount != amount.quantize(Decimal(1).scaleb(-minor_units)):
        raise LedgerInvalid(
            f"{field} has more decimals than {currency} allows ({minor_units}).",
            field=field,
            code=LedgerErrorCode.AMOUNT_PRECISION,
        )
    if amount == 0:
        raise LedgerInvalid(f"{field} must not be zero.", field=field, code=LedgerErrorCode.AMOUNT_ZERO)
    return amount


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def money_format(amount: Decimal, currency: str) -> str:
    """``amount`` as the API writes it: a string with exactly the currency's minor units."""
    return str(amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency])))


def text_clean(value: str, *, field: str, max_length: int) -> str:
    """Printable text, not blank, trimmed of spaces (a trailing newline is refused, not trimmed away)."""
    value = value.strip(" ")
    if not value:
        raise LedgerInvalid(f"{field} must not be blank.", field=field)
    if len(value) > max_length or CONTROL_CHARACTERS.search(value):
        raise LedgerInvalid(f"{field} must be at most {max_length} printable characters.", field=field)
    return value


def optional_text_clean(value: str | None, *, field: str, max_length: int) -> str | None:
    """Like ``text_clean``, but missing or blank is ``None``."""
    if value is None or not value.strip(" "):
        return None
    return text_clean(value, field=field, max_length=max_length)
