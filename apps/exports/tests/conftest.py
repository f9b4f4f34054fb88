"""Fixtures of the exports tests: a file store of the test's own (never the shared ``.data/files``,
which other suites' organizations of the same ids use), and the default user mirrored."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tenants.models import User

DEFAULT_SUB = "00000000-0000-0000-0000-000000001234"


@pytest.fixture(autouse=True)
def files_dir(settings: Any, tmp_path: Path) -> Path:
    """``storages["hub_files"]`` in a directory of this test (Django resets its storages on change)."""
    storages = copy.deepcopy(settings.STORAGES)
    storages["hub_files"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "files")},
    }
    settings.STORAGES = storages
    return tmp_path / "files"


@pytest.fixture
def actor(db: None) -> User:
    user, _ = User.objects.get_or_create(id=DEFAULT_SUB, defaults={"email": "someone@example.com"})
    return user
