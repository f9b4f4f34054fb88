"""Writes of accounts: open, change, archive (accounts are never deleted)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_snapshot
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.ledger import validators
from apps.ledger.errors import LedgerConflict, LedgerErrorCode, LedgerInvalid
from apps.ledger.models import Account
from apps.ledger.services.atomic import atomic_unless_inside
from hub.errors import violated_constraint
from tenants.models import User

if TYPE_CHECKING:
    from api.etags import IfMatch


def _account_save(account: Account, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            account.save(**kwargs)
    except IntegrityError as exc:
        if violated_constraint(exc) == "ledger_account_code_key":
            raise LedgerConflict(
                f"An account already has code {account.code!r}.", code=LedgerErrorCode.CODE_TAKEN
            ) from exc
        raise  # pragma: no cover - every other constraint is checked above first


def type_clean(value: str) -> str:
    if value not in Account.Type.values:
        raise LedgerInvalid(f"type must be one of {', '.join(Account.Type.values)}.", field="type")
    return value


@atomic_unless_inside()
def account_create(
    *,
    actor: User,
    code: str,
    name: str,
    type: str,
    currency: str,
    entity_id: uuid.UUID | None = None,
    viewer: EntityViewer | None = None,
    source_import: uuid.UUID | None = None,
) -> Account:
    """Open an account; its code is unique in the organization, its currency fixed for good.
    ``source_import``: the import creating it (``apps.imports``)."""
    account = Account(
        code=validators.text_clean(code, field="code", max_length=validators.CODE_MAX),
        name=validators.text_clean(name, field="name", max_length=validators.NAME_MAX),
        type=type_clean(type),
        currency=validators.currency_clean(currency),
        entity=entity_linked_get(entity_id, viewer=viewer),
        created_by=actor,
        source_import=source_import,
    )
    _account_save(account, force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=account, actor=actor)
    return account


@atomic_unless_inside()
def account_update(
    *,
    actor: User,
    account: Account,
    changes: dict[str, Any],
    viewer: EntityViewer | None = None,
    if_match: IfMatch | None = None,
) -> Account:
    """Change ``code``, ``name``, ``type``, ``entity_id`` or ``archived`` (archive, never delete).

    The currency and the balances are not changeable: postings depend on them. The row is re-read
    under its lock first, so the change (and its audit entry's "before") applies to what a
    concurrent update or posting committed meanwhile; with ``if_match``, only while the account is
    still that version (412 otherwise, compared under the lock).
    """
    account = Account.objects.select_for_update().get(pk=account.pk)
    if if_match is not None:
        if_match.check(account)
    before = audit_snapshot(account)
    for field, value in changes.items():
        if field == "entity_id":
            account.entity = entity_linked_get(value, viewer=viewer)
        elif value is None:
            raise LedgerInvalid(f"{field} cannot be null.", field=field)
        elif field == "type":
            account.type = type_clean(value)
        elif field == "archived":
            account.archived = bool(value)
        elif field in ("code", "name"):
            limit = validators.CODE_MAX if field == "code" else validators.NAME_MAX
            setattr(account, field, validators.text_clean(value, field=field, max_length=limit))
        else:
            raise LedgerInvalid(f"{field} cannot be changed.", field=field)
    fields = [field.removesuffix("_id") for field in changes] + ["updated_at"]
    _account_save(account, update_fields=fields)
    audit_change(action=AuditEntry.Action.UPDATE, instance=account, before=before, actor=actor, fields=fields)
    return account
