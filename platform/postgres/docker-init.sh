#!/usr/bin/env bash
# First start of the postgres:17 container (docker-compose.yml): roles, passwords, the database.
set -euo pipefail
for name in HUB_OWNER_PASSWORD HUB_APP_PASSWORD; do
    if [ -z "${!name:-}" ]; then
        echo "$name is empty: put it in .env (manage.py generate_secrets > .env)" >&2
        exit 1
    fi
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -f /hub/roles.sql
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$HUB_OWNER_PASSWORD" -v app_password="$HUB_APP_PASSWORD" <<'SQL'
ALTER ROLE hub_owner PASSWORD :'owner_password';
ALTER ROLE hub_app PASSWORD :'app_password';
CREATE DATABASE hub_backend OWNER hub_owner;
SQL
