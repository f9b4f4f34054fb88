"""Which apps migrate where: shared apps in ``public``, tenant apps in each organization's schema.

Only the ``owner`` alias ever migrates: the runtime role has no right to run DDL.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django_tenants.utils import get_public_schema_name

from tenants.db import tenant_connection

MIGRATION_ALIAS = "owner"


class TenantAppsRouter:
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        if db != MIGRATION_ALIAS:
            return False
        in_public = tenant_connection(db).schema_name == get_public_schema_name()
        app_names = settings.SHARED_APPS if in_public else settings.TENANT_APPS
        return apps.get_app_config(app_label).name in app_names
