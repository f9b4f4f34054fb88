"""Model fields for sensitive data: encrypted at rest, found by exact match through a blind index.

``EncryptedTextField`` marks a field sensitive: its value is stored encrypted under the organization's
data key (``tenants.crypto``) and masked in audit entries. It refuses every lookup but ``isnull``: a
filter on ciphertext could never match. ``BlindIndexField(source=...)`` keeps a keyed hash of another
field's value, computed on save, for exact-match lookups (``blind_index_filter``).

Both work only in an organization's schema: the organization comes from the connection's schema.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q

from tenants import crypto

_SCHEMA_PREFIX = "org_"


def connection_organization_id(connection: BaseDatabaseWrapper) -> uuid.UUID:
    """The organization whose schema ``connection`` is on (schema names are ``org_<uuid hex>``)."""
    organization_id = getattr(getattr(connection, "tenant", None), "organization_id", None)
    if isinstance(organization_id, uuid.UUID):
        return organization_id
    schema = str(getattr(connection, "schema_name", ""))
    if schema.startswith(_SCHEMA_PREFIX):
        try:
            return uuid.UUID(hex=schema.removeprefix(_SCHEMA_PREFIX))
        except ValueError:
            pass
    raise crypto.FieldKeyError(
        f"sensitive fields are only stored in an organization's schema, not {schema!r}"
    )


def _context(field: models.Field[Any, Any]) -> str:
    return f"{field.model._meta.label_lower}.{field.name}"


class EncryptedTextField(models.TextField):
    """Text stored encrypted (AES-256-GCM, per-organization key); ``""`` is stored as it is."""

    sensitive = True

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        if value is None or value == "":
            return value
        return crypto.encrypt(
            str(value),
            organization_id=connection_organization_id(connection),
            context=_context(self),
            using=connection.alias,
        )

    def from_db_value(
        self, value: str | None, expression: Any, connection: BaseDatabaseWrapper
    ) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(
            value,
            organization_id=connection_organization_id(connection),
            context=_context(self),
            using=connection.alias,
        )

    def get_lookup(self, lookup_name: str) -> Any:
        # Ciphertext is randomised: only "is it set" can be asked of it. Exact matches go through the
        # blind index; anything else would need the whole table decrypted.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_transform(self, lookup_name: str) -> Any:
        return None


class BlindIndexField(models.CharField):
    """A keyed hash (HMAC-SHA256, per-organization key) of the field ``source``, set on every save."""

    sensitive = True
    audit_skip = True  # derived from ``source``, whose change is what the audit trail records

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        # Always said: this field's default (indexed) is not Field's, so an omitted False would come
        # back True when a migration's state rebuilds the field.
        kwargs["db_index"] = self.db_index  # type: ignore[attr-defined]  # Field sets it; the stubs omit it
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = blind_index_compute(model_instance, self.source)
        setattr(model_instance, self.attname, value)
        return value


def _source_context(model: type[models.Model], source: str) -> str:
    return f"{model._meta.label_lower}.{source}"


def blind_index_compute(instance: models.Model, source: str, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """The blind index of ``instance.<source>`` under the organization's current data key."""
    return crypto.blind_index(
        str(getattr(instance, source) or ""),
        organization_id=connection_organization_id(connections[using]),
        context=_source_context(type(instance), source),
        using=using,
    )


def blind_index_filter(model: type[models.Model], source: str, value: str) -> Q:
    """A filter for rows whose ``source`` equals ``value`` (case-insensitively), through its blind index."""
    index_field = next(
        field
        for field in model._meta.concrete_fields
        if isinstance(field, BlindIndexField) and field.source == source
    )
    candidates = crypto.blind_index_candidates(
        value,
        organization_id=connection_organization_id(connections[DEFAULT_DB_ALIAS]),
        context=_source_context(model, source),
    )
    return Q(**{f"{index_field.name}__in": candidates}) if candidates else Q(pk__in=[])


def with_blind_indexes(model: type[models.Model], update_fields: list[str]) -> list[str]:
    """``update_fields`` plus the blind indexes of the fields in it, for ``save(update_fields=...)``."""
    indexes = [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, BlindIndexField) and field.source in update_fields
    ]
    return [*update_fields, *indexes]
