"""Bench-only settings: the Hub's settings minus tenancy, auth and (by default) row-level security.

Used by ``bench/entities_list.py`` for its baselines, served by the same gunicorn configuration as the
Hub; the Hub itself never loads this module. What changes against ``hub.settings``:

* ``TenantRoutingMiddleware`` is gone: no host -> organization lookup, no per-request transaction;
* ``ROOT_URLCONF`` is ``bench.bare_urls``: the same list code (selector, pagination, schemas) behind
  an endpoint with no authentication;
* the database engine is Django's plain PostgreSQL backend (same pool, same options), not
  ``tenants.db.backend``: no per-transaction ``set_config``. The schema comes from the session's
  ``search_path``, set once per server connection through libpq ``options``.

Row-level security (``BENCH_BYPASS_RLS``):

* ``1`` (variant ``bare``): connect as a role that row-level security does not apply to. Every tenant
  table has FORCE ROW LEVEL SECURITY, so even the owner role is filtered; only a superuser (or a
  BYPASSRLS role) reads the table without the policy. With the embedded database that is the
  cluster's ``postgres`` superuser; with an external one, ``BENCH_BYPASS_DATABASE_URL``.
* ``0`` (variant ``bare_rls``): connect as the Hub's runtime role, so the policy is evaluated on every
  row as in the Hub, with ``hub.organization_id`` set once per session instead of per transaction.
"""

from __future__ import annotations

import os
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from hub.settings import *  # noqa: F403
from hub.settings import DATABASES as HUB_DATABASES
from hub.settings import MIDDLEWARE as HUB_MIDDLEWARE

BENCH_SCHEMA: str = os.environ["BENCH_SCHEMA"]
BENCH_ORGANIZATION_ID: str = os.environ["BENCH_ORGANIZATION_ID"]
BENCH_BYPASS_RLS: bool = os.environ.get("BENCH_BYPASS_RLS", "1") == "1"
EMBEDDED_SUPERUSER = "postgres"


def _bare_database() -> dict[str, Any]:
    config = dict(HUB_DATABASES["default"])
    config["ENGINE"] = "django.db.backends.postgresql"
    session = [f"-c search_path={BENCH_SCHEMA},public"]
    if BENCH_BYPASS_RLS:
        bypass_url = os.environ.get("BENCH_BYPASS_DATABASE_URL")
        if bypass_url:
            bypass = environ.Env.db_url_config(bypass_url)
            for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT"):
                config[key] = bypass.get(key, "")
        elif not os.environ.get("DATABASE_URL"):
            config["USER"], config["PASSWORD"] = EMBEDDED_SUPERUSER, ""
        else:
            raise ImproperlyConfigured("BENCH_BYPASS_RLS=1 with DATABASE_URL needs BENCH_BYPASS_DATABASE_URL")
    else:
        session.append(f"-c hub.organization_id={BENCH_ORGANIZATION_ID}")
    config["OPTIONS"] = {**config.get("OPTIONS", {}), "options": " ".join(session)}
    return config


DATABASES = {"default": _bare_database()}
MIDDLEWARE = [name for name in HUB_MIDDLEWARE if name != "tenants.middleware.TenantRoutingMiddleware"]
ROOT_URLCONF = "bench.bare_urls"
