"""Fixtures of the imports' end-to-end tests (through the API and a real worker)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from apps.imports.tests.helpers import E2E_USER
from tenants.models import Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.jobs import jobs_clear


@pytest.fixture(scope="module")
def committed_org(django_db_setup: None, django_db_blocker: Any) -> Iterator[Organization]:
    """An organization of the module's own, committed (the worker reads on its own connections), with
    ``E2E_USER``; both deleted at the end."""
    with django_db_blocker.unblock():
        connections.close_all()
        User.objects.create(id=E2E_USER, email=f"{E2E_USER.hex[:8]}@imports.example.com")
        tenant = tenant_provision(
            organization_id=uuid.uuid4(), slug=f"imp-{uuid.uuid4().hex[:6]}", name="x", check_identity=False
        )
    yield tenant
    with django_db_blocker.unblock():
        tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))
        with connections[MIGRATION_ALIAS].cursor() as cursor:
            cursor.execute("DELETE FROM public.tenants_user WHERE id = %s", [E2E_USER])


@pytest.fixture
def world(
    committed_org: Organization, django_db_blocker: Any, settings: Any, tmp_path: Path
) -> Iterator[Organization]:
    """``committed_org`` with a file store of the test's own and an empty job queue before and after."""
    storages = copy.deepcopy(settings.STORAGES)
    storages["hub_files"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "files")},
    }
    settings.STORAGES = storages
    with django_db_blocker.unblock():
        jobs_clear()
        yield committed_org
        jobs_clear()
