"""Print every secret a production deployment needs, fresh and random, as an ``.env`` file.

``manage.py generate_secrets > .env`` gives what ``docker-compose.yml``'s ``prod`` profile reads: the
Hub's own secrets (each passes the production guard, ``hub.secret_strength``) and the passwords of
the database roles. ``IDENTITY_JWT_SECRET`` must be the identity service's own key: a fresh one is
printed for a deployment that starts both together; otherwise replace it with the identity service's.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand

from tenants.master_keys import master_key_generate


def secrets_generate() -> dict[str, str]:
    """A new value for every secret of a deployment, by variable name."""
    return {
        # Django's 50-character minimum and more; URL-safe, so every value fits an .env line as it is.
        "HUB_SECRET_KEY": secrets.token_urlsafe(64),
        "IDENTITY_JWT_SECRET": secrets.token_urlsafe(48),
        "HUB_FIELD_KEYS": master_key_generate(),
        "HUB_METRICS_TOKEN": secrets.token_urlsafe(32),
        # Passwords of docker-compose.yml's PostgreSQL superuser and of the owner and runtime roles
        # (platform/postgres/docker-init.sh); URL-safe, as they are written into DATABASE_URL.
        "POSTGRES_PASSWORD": secrets.token_urlsafe(32),
        "HUB_OWNER_PASSWORD": secrets.token_urlsafe(32),
        "HUB_APP_PASSWORD": secrets.token_urlsafe(32),
    }


_NOTES = {
    "HUB_SECRET_KEY": "Django's secret key (signs list cursors); rotating it invalidates open cursors.",
    "IDENTITY_JWT_SECRET": (
        "The identity service's HS256 key: the same value there. Replace it with the identity "
        "service's own when one runs already (or set IDENTITY_JWKS_URL instead)."
    ),
    "HUB_FIELD_KEYS": "Master key of field encryption: lose it and encrypted fields are lost. Back it up.",
    "HUB_METRICS_TOKEN": "Bearer token of GET /metrics (Prometheus's authorization.credentials).",
    "POSTGRES_PASSWORD": "docker-compose.yml's PostgreSQL superuser (first start of the volume only).",
    "HUB_OWNER_PASSWORD": "The owner role hub_owner: migrations, provisioning (first start only).",
    "HUB_APP_PASSWORD": "The runtime role hub_app, also PgBouncer's (first start only).",
}


class Command(BaseCommand):
    help = "Print fresh random values of every production secret, as an .env file (> .env)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            "# Secrets of the Hub (manage.py generate_secrets), read by docker-compose.yml's prod profile.\n"
            "# Never commit this file: whoever reads it can forge tokens and read encrypted fields.\n"
            "# The database passwords take effect when the PostgreSQL volume is first created.\n"
        )
        for name, value in secrets_generate().items():
            self.stdout.write(f"\n# {_NOTES[name]}\n{name}={value}\n")
