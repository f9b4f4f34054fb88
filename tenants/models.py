"""Global (public-schema) models: organizations, their domains, and the mirror of identity users."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Organization(TenantMixin):
    """An organization of the identity service, with its own PostgreSQL schema.

    Keyed by the identity service's UUID. The schema name derives from that UUID, not the slug, so it
    never changes. Schemas are created and dropped by ``tenants.services`` as the owner role, never
    implicitly by ``save()``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    organization_id = models.UUIDField(primary_key=True)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering: ClassVar[list[str]] = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def primary_domain(self) -> str:
        return f"{self.slug}.{settings.HUB_BASE_DOMAIN}"

    @staticmethod
    def schema_name_for(organization_id: uuid.UUID) -> str:
        return f"org_{organization_id.hex}"


class Domain(DomainMixin):
    """A host name that routes to an organization (``<slug>.<HUB_BASE_DOMAIN>``)."""

    def __str__(self) -> str:
        return str(self.domain)


class UserManager(BaseUserManager["User"]):
    def create_user(self, id: uuid.UUID, email: str = "", **extra: Any) -> User:
        user = self.model(id=id, email=email, **extra)
        user.set_unusable_password()
        user.save(using=self._db, force_insert=True)
        return user

    def create_superuser(
        self, id: uuid.UUID, email: str = "", password: str | None = None, **extra: Any
    ) -> User:
        """A platform admin of the admin site (``manage.py createsuperuser``): the only users with a
        password here; ``id`` is best the person's identity-service user id (the audit trail's actor)."""
        user = self.model(id=id, email=email, is_superuser=True, **extra)
        user.set_password(password)
        user.save(using=self._db, force_insert=True)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """Local mirror of an identity-service user: the actor of audit entries and object permissions.

    The Hub never stores the identity service's passwords; the row exists so references have
    something to point at. Tenant tables reference it by id without a database constraint (issue 17),
    so no code deletes a user (the admin site shows them read-only). The one exception: platform admins
    of the admin site (``/admin/`` on the bare domain), made by ``manage.py createsuperuser``, who are
    its staff.
    """

    id = models.UUIDField(primary_key=True)
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "id"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["email"]

    objects = UserManager()

    def __str__(self) -> str:
        return self.email or str(self.id)

    @property
    def is_staff(self) -> bool:
        """Whether the admin site lets this user in: its superusers only (``tenants.admin``)."""
        return bool(self.is_superuser)


class DataKey(models.Model):
    """One version of an organization's field-encryption key, wrapped by a master key (``tenants.crypto``).

    The newest version encrypts; all versions decrypt. The runtime role may only read this table.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="data_keys", db_column="organization_id"
    )
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    master_key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization", "version"], name="data_key_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} v{self.version}"


class PlatformAuditEntry(models.Model):
    """One change of an organization's lifecycle (provision, rename, suspend, activate, delete), or of
    its field-encryption keys (``rotate_keys``), or a platform admin's retry of a failed job
    (``retry_job``: the job's organization, the nil UUID for a platform job).

    The platform's own trail, in ``public`` beside the organizations it is about, written in the
    transaction of the change (``tenants.services``). Like each organization's trail it is hash-chained
    and append-only in the database (migration 0005): ``sequence``, ``previous_hash`` and ``entry_hash``
    are set on insert, every UPDATE, DELETE and TRUNCATE is refused. It outlives the organizations, so it
    names things by id: ``actor_id`` (the platform admin's user id; null for the system, a command run
    without ``--actor``), ``organization_id`` (no foreign key: a deleted organization keeps its entries),
    and ``changes`` holds the slug and status in clear but the organization's name only as changed
    (``apps.audit.services.MASK``): a company's name can be a person's (a sole trader's), and no entry
    could be erased.
    """

    class Action(models.TextChoices):
        PROVISION = "provision"
        RENAME = "rename"
        SUSPEND = "suspend"
        ACTIVATE = "activate"
        DELETE = "delete"
        ROTATE_KEYS = "rotate_keys"
        RETRY_JOB = "retry_job"
        # A platform admin asked for the organization's whole data (its archive), or downloaded it.
        ARCHIVE = "archive"
        ARCHIVE_DOWNLOAD = "archive_download"

    sequence = models.BigIntegerField(default=0, editable=False, unique=True)
    timestamp = models.DateTimeField()
    actor_id = models.UUIDField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    organization_id = models.UUIDField(db_index=True)
    changes = models.JSONField(default=dict)
    previous_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    entry_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        ordering: ClassVar[list[str]] = ["-sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.organization_id}"


class AuditVerification(models.Model):
    """One walk of an organization's audit chain by the daily verification job (``apps.audit.tasks``).

    Kept in ``public``, outside the organization's schema: a platform admin reads every organization's
    results in one list (``GET /api/platform/v1/audit-verifications``), a result outlives a schema
    restored from a backup, and the head of the last good walk is the anchor of the next one (a chain
    cut short at its end shows). Ids and counts only: ``reason`` is the verifier's own sentence
    (sequence numbers and hashes), never an entry's content.
    """

    organization_id = models.UUIDField(db_index=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    entries_checked = models.BigIntegerField(default=0)
    first_broken_sequence = models.BigIntegerField(null=True, blank=True)
    unsealed_overdue = models.IntegerField(default=0)
    reason = models.CharField(max_length=500, blank=True, default="")
    head_sequence = models.BigIntegerField(null=True, blank=True)
    head_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["-started_at"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["ok", "-started_at"], name="audit_verification_ok_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {'ok' if self.ok else 'BROKEN'} {self.started_at:%Y-%m-%d %H:%M}"


class TenantMigrationState(models.Model):
    """Which migrations a tenant schema is at: the fingerprint of the migration files
    (``tenants.template.template_fingerprint_expected``) it was last migrated or cloned to.

    Written in the transaction that migrates (or provisions) the schema, so ``migrate_schemas`` finds
    every tenant that needs work in one query and resumes where a crashed run stopped (``tenants.fleet``).
    """

    # The foreign key is the migration's own, ON DELETE CASCADE in the database (raw deletes too).
    organization = models.OneToOneField(
        Organization,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="migration_state",
        db_constraint=False,
    )
    fingerprint = models.CharField(max_length=64)
    migrated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.organization_id} at {self.fingerprint[:12]}"
