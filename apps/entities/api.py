"""HTTP of the entities module: each function translates one request into one service or selector call."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from api.auth import admin_auth, member_auth, request_actor
from api.pagination import PageParams, paginate
from api.schemas import ERRORS
from apps.audit.services import audit_access_list
from apps.entities import selectors, services
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.schemas import (
    EntityFilter,
    EntityIn,
    EntityOut,
    EntityPage,
    EntityPatch,
    KindIn,
    KindOut,
    KindPage,
    RelationIn,
    RelationOut,
    RelationPage,
)

router = Router()


@router.get("kinds", response={200: KindPage, **ERRORS})
def kind_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    result = paginate(selectors.entity_kind_list(), limit=page.limit, offset=page.offset)
    audit_access_list(model=EntityKind, objects=result["items"])
    return result


@router.post("kinds", response={201: KindOut, **ERRORS}, auth=admin_auth)
def kind_create(request: HttpRequest, payload: KindIn) -> Status[EntityKind]:
    return Status(201, services.entity_kind_create(key=payload.key, label=payload.label))


@router.get("", response={200: EntityPage, **ERRORS})
def entity_list(request: HttpRequest, filters: Query[EntityFilter]) -> dict[str, Any]:
    entities = selectors.entity_list(
        kind=filters.kind, status=filters.status, tag=filters.tag, q=filters.q, ordering=filters.ordering
    )
    result = paginate(entities, limit=filters.limit, offset=filters.offset)
    audit_access_list(model=Entity, objects=result["items"])
    return result


@router.post("", response={201: EntityOut, **ERRORS}, auth=member_auth)
def entity_create(request: HttpRequest, payload: EntityIn) -> Status[Entity]:
    return Status(201, services.entity_create(actor=request_actor(request), **payload.dict()))


@router.get("{uuid:entity_id}", response={200: EntityOut, **ERRORS})
def entity_read(request: HttpRequest, entity_id: uuid.UUID) -> Entity:
    return selectors.entity_get(entity_id=entity_id)


@router.patch("{uuid:entity_id}", response={200: EntityOut, **ERRORS}, auth=member_auth)
def entity_update(request: HttpRequest, entity_id: uuid.UUID, payload: EntityPatch) -> Entity:
    entity = selectors.entity_get(entity_id=entity_id)
    changes = payload.dict(exclude_unset=True)
    return services.entity_update(actor=request_actor(request), entity=entity, changes=changes)


@router.delete("{uuid:entity_id}", response={204: None, **ERRORS}, auth=member_auth)
def entity_delete(request: HttpRequest, entity_id: uuid.UUID) -> Status[None]:
    entity = selectors.entity_get(entity_id=entity_id)
    services.entity_delete(actor=request_actor(request), entity=entity)
    return Status(204, None)


@router.get("{uuid:entity_id}/relations", response={200: RelationPage, **ERRORS})
def relation_list(request: HttpRequest, entity_id: uuid.UUID, page: Query[PageParams]) -> dict[str, Any]:
    entity = selectors.entity_get(entity_id=entity_id)
    result = paginate(selectors.entity_relation_list(entity=entity), limit=page.limit, offset=page.offset)
    audit_access_list(model=EntityRelation, objects=result["items"])
    return result


@router.post("{uuid:entity_id}/relations", response={201: RelationOut, **ERRORS}, auth=member_auth)
def relation_create(
    request: HttpRequest, entity_id: uuid.UUID, payload: RelationIn
) -> Status[EntityRelation]:
    source = selectors.entity_get(entity_id=entity_id)
    relation = services.entity_relation_create(
        actor=request_actor(request), source=source, target_id=payload.target_id, kind=payload.kind
    )
    return Status(201, relation)
