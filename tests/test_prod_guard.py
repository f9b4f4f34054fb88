"""The production guard's secret estimate (``hub.secret_strength``): every way the README and Django
generate a secret passes, with a wide margin; published, placeholder and patterned values do not.
(The guard itself, run as ``HUB_ENV=prod`` settings in a subprocess, is tested in test_operations.)"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import pytest
from django.core.management.utils import get_random_secret_key

from hub.secret_strength import key_bytes_weakness, secret_weakness
from hub.settings import DEV_FIELD_KEY, DEV_JWT_SECRET, DEV_SECRET_KEY
from tenants.master_keys import master_key_generate, master_key_parse

SAMPLES = 300


@pytest.mark.parametrize(
    "generate",
    [
        get_random_secret_key,
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_urlsafe(64),
        lambda: secrets.token_hex(16),
        lambda: secrets.token_hex(32),
        master_key_generate,
    ],
    ids=["django", "urlsafe-32", "urlsafe-64", "hex-16", "hex-32", "field-key"],
)
def test_generated_secrets_pass(generate: Callable[[], str]) -> None:
    refused = [value for value in (generate() for _ in range(SAMPLES)) if secret_weakness(value)]
    assert refused == []


def test_random_field_keys_pass() -> None:
    keys = [master_key_parse(master_key_generate()).key for _ in range(SAMPLES)] + [os.urandom(32)]
    assert [key for key in keys if key_bytes_weakness(key)] == []


@pytest.mark.parametrize(
    "value",
    [
        DEV_SECRET_KEY,
        DEV_JWT_SECRET.upper(),
        DEV_FIELD_KEY,
        "your-super-secret-jwt-key-change-in-production",
        " your-super-secret-jwt-key-change-in-production ",
        "django-insecure-" + "k" * 50,
        "ChangeMe-" + secrets.token_urlsafe(40),
        "replace_me_" + secrets.token_hex(30),
        "a" * 64,
        "0123456789" * 6,
        "abcdefghijklmnopqrstuvwxyz" * 2,
        "Xy7#kQ2!" * 8,
        "correct-horse-battery-staple-is-the-key",
    ],
)
def test_sample_placeholder_and_patterned_secrets_are_refused(value: str) -> None:
    reason = secret_weakness(value)
    assert reason is not None
    assert value.strip() not in reason


@pytest.mark.parametrize(
    "key",
    [bytes(32), b"\xff" * 32, bytes(range(32)), b"our-company-field-key-32-bytes!!", b"\x01\x02" * 16],
)
def test_patterned_field_keys_are_refused(key: bytes) -> None:
    assert key_bytes_weakness(key) is not None
