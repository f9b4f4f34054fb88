"""Retention policies: how long an organization keeps soft-deleted rows of a model before purging them."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

RETENTION_DAYS_MAX = 36500  # a hundred years: anything longer is a typo


class RetentionPolicy(models.Model):
    """Soft-deleted rows of ``model`` (``app_label.model``) older than ``days`` are purged."""

    # Its removal is audited by the service that removes it, with its actor.
    AUDIT_HARD_DELETES: ClassVar[bool] = False
    # Shown in clear in the audit trail (``apps.audit.redaction``): a model label, not free text.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("model",)

    model = models.CharField(max_length=100, unique=True)
    days = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )

    class Meta:
        verbose_name_plural = "retention policies"
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(days__gte=1, days__lte=RETENTION_DAYS_MAX), name="retention_days_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.days} days"
