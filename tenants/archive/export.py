"""What an organization archive holds, and writing it (``tenant_archive_write``).

Found generically, so a module added later is archived without a change here:

* **Every table of the tenant schema** (the catalog's list, ``django_migrations`` aside), read with
  ``COPY ... TO STDOUT`` in one REPEATABLE READ, read-only transaction (a consistent snapshot: a
  balanced ledger stays balanced in the archive), ``RECORD_ROWS`` rows a record, so memory stays bounded
  whatever the organization's size. Values are PostgreSQL's text forms, as they are.
* **Encrypted fields** (``tenants.fields.EncryptedTextField``, found on the tenant apps' models) are
  written decrypted: the archive is encrypted as a whole, and their ciphertext is bound to the
  organization's id, which a restore changes. Blind indexes stay as they are, with the **data keys**
  (unwrapped from the master keys, every version) they were computed under, so a restored organization
  still finds its rows by them.
* **Shared rows it refers to**: the users its rows point at (``tenants.User``: id, email, dates), and
  the natural keys of the content types, permissions and groups (ids differ between instances).
* **Its public rows**: the organization (slug, name, status, dates) and its domains, for the record; the
  restore makes its own under the new id and slug.
* **Versions**: the archive format, and every migration applied to the schema (a restore refuses an
  archive made by a newer schema).
* **Sequences**: every sequence of the schema with its value, set again on restore.

Left out, by design: the platform's audit trail (the instance's own chain, not the organization's),
the job queue, usage samples (``apps.usage``, in ``public``: they describe the old instance) and the kept
files (imports, exports, earlier archives).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django_tenants.utils import tenant_context

from tenants import crypto
from tenants.archive.container import FORMAT_VERSION, ArchiveWriter
from tenants.fields import EncryptedTextField
from tenants.models import Domain, Organization, User

RECORD_ROWS = 2000
SKIPPED_TABLES = frozenset({"django_migrations"})
ORGANIZATION_COLUMN = "organization_id"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TableShape:
    name: str
    columns: list[str]
    encrypted: dict[str, str]  # column -> the field's context (``<app>.<model>.<field>``)


@dataclass(frozen=True)
class ArchiveSummary:
    archive_id: str
    sha256: str
    tables: int
    rows: int
    bytes: int


def _tenant_models() -> dict[str, type[models.Model]]:
    """The tenant apps' concrete models by table name."""
    tenant_apps = {app.split(".")[-1] for app in settings.TENANT_APPS}
    return {
        model._meta.db_table: model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_config.name.split(".")[-1] in tenant_apps
        and not model._meta.proxy
        and model._meta.managed
    }


def tenant_tables(schema: str, *, using: str = DEFAULT_DB_ALIAS) -> list[TableShape]:
    """Every table of the schema with its columns (in order) and its encrypted columns."""
    by_table = _tenant_models()
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum)
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            GROUP BY c.relname ORDER BY c.relname
            """,
            [schema],
        )
        rows = cursor.fetchall()
    shapes = []
    for name, columns in rows:
        if name in SKIPPED_TABLES:
            continue
        model = by_table.get(name)
        encrypted = {
            field.column: f"{field.model._meta.label_lower}.{field.name}"
            for field in (model._meta.concrete_fields if model else [])
            if isinstance(field, EncryptedTextField)
        }
        shapes.append(TableShape(name=name, columns=list(columns), encrypted=encrypted))
    return shapes


def _shared_references() -> list[tuple[str, str, type[models.Model]]]:
    """(table, column, shared model) for every foreign key of a tenant model to a shared model."""
    tenant_models = _tenant_models()
    found = []
    for table, model in tenant_models.items():
        for field in model._meta.concrete_fields:
            target = field.related_model if field.is_relation else None
            if isinstance(target, type) and target._meta.db_table not in tenant_models:
                found.append((table, field.column, target))
    return found


def _referenced_ids(schema_tables: set[str]) -> dict[str, set[Any]]:
    ids: dict[str, set[Any]] = {}
    with connection.cursor() as cursor:
        for table, column, target in _shared_references():
            if table not in schema_tables:
                continue
            cursor.execute(f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608 - catalog names
            ids.setdefault(target._meta.label_lower, set()).update(row[0] for row in cursor.fetchall())
    return ids


def _shared_rows(ids: dict[str, set[Any]]) -> dict[str, Any]:
    """Users as rows; content types, permissions and groups by natural key (their ids are local)."""
    shared: dict[str, Any] = {"users": [], "natural_keys": {}}
    for label, wanted in ids.items():
        model = apps.get_model(label)
        if model is User:
            shared["users"] = [
                {
                    "id": str(user.id),
                    "email": user.email,
                    "is_active": user.is_active,
                    "first_seen_at": user.first_seen_at.isoformat(),
                    "last_seen_at": user.last_seen_at.isoformat(),
                }
                for user in User.objects.filter(id__in=wanted).order_by("id")
            ]
            continue
        objects = model._default_manager.filter(pk__in=wanted)
        shared["natural_keys"][label] = {str(obj.pk): list(obj.natural_key()) for obj in objects}
    return shared


def _migrations() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        applied: dict[str, list[str]] = {}
        for app, name in cursor.fetchall():
            applied.setdefault(app, []).append(name)
    return applied


def _sequences(schema: str) -> dict[str, list[Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind = 'S' "
            "ORDER BY relname",
            [schema],
        )
        names = [row[0] for row in cursor.fetchall()]
        values = {}
        for name in names:
            if name == "django_migrations_id_seq":
                continue
            cursor.execute(f'SELECT last_value, is_called FROM "{name}"')  # noqa: S608 - catalog names
            last_value, is_called = cursor.fetchone()
            values[name] = [int(last_value), bool(is_called)]
    return values


def _audit_head() -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence, entry_hash FROM audit_auditentry WHERE sequence IS NOT NULL "
            "ORDER BY sequence DESC LIMIT 1"
        )
        row = cursor.fetchone()
    return {"sequence": row[0], "hash": row[1]} if row else None


def _manifest(tenant: Organization, tables: list[TableShape]) -> dict[str, Any]:
    keys = crypto.data_keys(tenant.organization_id)
    return {
        "t": "manifest",
        "format": FORMAT_VERSION,
        "organization": {
            "organization_id": str(tenant.organization_id),
            "slug": tenant.slug,
            "name": tenant.name,
            "status": tenant.status,
            "created_at": tenant.created_at.isoformat(),
            "domains": list(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True)),
        },
        "migrations": _migrations(),
        "data_keys": {str(version): base64.b64encode(key).decode() for version, key in keys.keys.items()},
        "tables": [{"name": t.name, "columns": t.columns, "encrypted": t.encrypted} for t in tables],
        "sequences": _sequences(tenant.schema_name),
        "audit_head": _audit_head(),
        **_shared_rows(_referenced_ids({t.name for t in tables})),
    }


def _table_rows(table: TableShape, organization_id: uuid.UUID) -> Iterator[list[Any]]:
    """The table's rows, each value in PostgreSQL's text form (None for NULL), encrypted columns
    decrypted; a server-side cursor fetched ``RECORD_ROWS`` at a time (other statements, a data key's
    read, may run between two fetches, unlike inside a COPY)."""
    decrypt_at = [(table.columns.index(column), context) for column, context in table.encrypted.items()]
    columns = ", ".join(f'"{column}"::text' for column in table.columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f'DECLARE hub_archive_rows NO SCROLL CURSOR FOR SELECT {columns} FROM "{table.name}"'  # noqa: S608
        )
        try:
            while rows := _fetch(cursor):
                for row in rows:
                    values = list(row)
                    for position, context in decrypt_at:
                        if values[position]:
                            values[position] = crypto.decrypt(
                                values[position], organization_id=organization_id, context=context
                            )
                    yield values
        finally:
            cursor.execute("CLOSE hub_archive_rows")


def _fetch(cursor: Any) -> list[tuple[Any, ...]]:
    cursor.execute(f"FETCH {RECORD_ROWS} FROM hub_archive_rows")
    return list(cursor.fetchall())


@contextmanager
def _snapshot() -> Iterator[None]:
    """A REPEATABLE READ, read-only transaction: every table read as of one moment."""
    connection.ensure_connection()
    raw = connection.connection
    if raw is None:
        raise RuntimeError("no database connection")
    raw.isolation_level, raw.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    try:
        with transaction.atomic():
            yield
    finally:
        raw.isolation_level, raw.read_only = None, None


def tenant_archive_write(
    *,
    tenant: Organization,
    stream: BinaryIO,
    key: bytes | None = None,
    public_key: str | None = None,
    progress: Progress | None = None,
) -> ArchiveSummary:
    """Write the organization's archive to ``stream``, encrypted under ``key`` (32 bytes, the caller's)
    or for ``public_key`` (RSA PEM); the key is not kept anywhere."""
    say = progress or (lambda _line: None)
    writer = ArchiveWriter(stream, key=key, public_key=public_key)
    total_rows = 0
    with tenant_context(tenant), _snapshot():
        tables = tenant_tables(tenant.schema_name)
        writer.record(_manifest(tenant, tables))
        for table in tables:
            count = 0
            batch: list[list[Any]] = []
            for row in _table_rows(table, tenant.organization_id):
                batch.append(row)
                if len(batch) >= RECORD_ROWS:
                    writer.record({"t": "rows", "table": table.name, "rows": batch})
                    count, batch = count + len(batch), []
            if batch:
                writer.record({"t": "rows", "table": table.name, "rows": batch})
                count += len(batch)
            total_rows += count
            say(f"{table.name}: {count} rows")
    digest = writer.close()
    return ArchiveSummary(
        archive_id=writer.archive_id,
        sha256=digest,
        tables=len(tables),
        rows=total_rows,
        bytes=writer.bytes_written,
    )
