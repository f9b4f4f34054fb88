#!/usr/bin/env bash
# First start of a citus container (the citus profile of docker-compose.yml), after 10-hub.sh made the
# roles and the database: the extension in hub_backend, and schema-based sharding on for it, so that
# each tenant schema provisioning creates is a distributed schema (placed whole on one worker).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname hub_backend <<'SQL'
CREATE EXTENSION IF NOT EXISTS citus;
ALTER DATABASE hub_backend SET citus.enable_schema_based_sharding TO on;
SQL
