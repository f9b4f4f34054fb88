"""HTTP of the entities module: each function translates one request into one service or selector call."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from guardian.models import UserObjectPermission
from ninja import Query, Router, Status

from api.auth import admin_auth, member_auth, request_actor, request_viewer
from api.etags import IfMatchHeader, etag_set, if_match
from api.pagination import PageParams, paginate_audited
from api.rows import rows_response
from apps.entities import selectors, services
from apps.entities.errors import EntityPermissionRequired
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.schemas import (
    ENTITY_ERRORS,
    ENTITY_IF_MATCH_ERRORS,
    ENTITY_ROWS,
    EntityFilter,
    EntityIn,
    EntityOut,
    EntityPage,
    EntityPatch,
    GrantIn,
    GrantOut,
    GrantPage,
    GrantQuery,
    KindIn,
    KindOut,
    KindPage,
    RelationIn,
    RelationOut,
    RelationPage,
)
from hub.errors import HubErrorCode

router = Router()


@router.get("kinds", summary="List entity kinds", response={200: KindPage, **ENTITY_ERRORS})
def kind_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The kinds an entity may have (the built-in ones and the organization's own), a page at a time."""
    return paginate_audited(selectors.entity_kind_list(), page=page)


@router.post(
    "kinds", summary="Create an entity kind", response={201: KindOut, **ENTITY_ERRORS}, auth=admin_auth
)
def kind_create(request: HttpRequest, payload: KindIn) -> Status[EntityKind]:
    """Add a kind of entity to the organization: its `key` (what an entity names in `kind`) and a `label`
    people read. Admins only."""
    return Status(201, services.entity_kind_create(key=payload.key, label=payload.label))


@router.get("", summary="List entities", response={200: EntityPage, **ENTITY_ERRORS})
def entity_list(request: HttpRequest, response: HttpResponse, filters: Query[EntityFilter]) -> HttpResponse:
    """A page of entities, read as rows of the listed columns only (`ENTITY_ROWS`)."""
    entities = selectors.entity_list(
        viewer=request_viewer(request),
        kind=filters.kind,
        status=filters.status,
        tag=filters.tag,
        q=filters.q,
        email=filters.email,
        phone=filters.phone,
        ordering=filters.ordering,
        source_import=filters.source_import,
    )
    return rows_response(response, paginate_audited(entities, page=filters, shape=ENTITY_ROWS))


@router.post("", summary="Create an entity", response={201: EntityOut, **ENTITY_ERRORS}, auth=member_auth)
def entity_create(request: HttpRequest, response: HttpResponse, payload: EntityIn) -> Status[Entity]:
    """Create an entity (a customer, a supplier, ... as its `kind` says) with its contact fields,
    free-form `attributes` and `tags`. Members and admins."""
    entity = services.entity_create(actor=request_actor(request), **payload.dict())
    etag_set(response, entity)
    return Status(201, entity)


@router.get("{uuid:entity_id}", summary="Read an entity", response={200: EntityOut, **ENTITY_ERRORS})
def entity_read(request: HttpRequest, response: HttpResponse, entity_id: uuid.UUID) -> Entity:
    """The entity, with its version in the `ETag` header (for `If-Match` on a later write)."""
    entity = selectors.entity_get(entity_id=entity_id, viewer=request_viewer(request))
    etag_set(response, entity)
    return entity


@router.patch(
    "{uuid:entity_id}",
    summary="Update an entity",
    response={200: EntityOut, **ENTITY_IF_MATCH_ERRORS},
    auth=member_auth,
)
def entity_update(
    request: HttpRequest,
    response: HttpResponse,
    entity_id: uuid.UUID,
    payload: EntityPatch,
    if_match_header: IfMatchHeader = None,
) -> Entity:
    """Partial update. A restricted entity needs the caller's `change` grant (admins need none);
    `restricted` itself may be set by admins only. With `If-Match`, applied only to that version
    (else 412); the new `ETag` is in the answer's header."""
    viewer = request_viewer(request)
    entity = selectors.entity_get(entity_id=entity_id, viewer=viewer, need="change")
    changes = payload.dict(exclude_unset=True)
    if "restricted" in changes and not viewer.is_admin:
        raise EntityPermissionRequired(
            "Only an admin may restrict an entity.", code=HubErrorCode.ROLE_REQUIRED
        )
    entity = services.entity_update(
        actor=request_actor(request), entity=entity, changes=changes, if_match=if_match(if_match_header)
    )
    etag_set(response, entity)
    return entity


@router.delete(
    "{uuid:entity_id}",
    summary="Delete an entity",
    response={204: None, **ENTITY_IF_MATCH_ERRORS},
    auth=member_auth,
)
def entity_delete(
    request: HttpRequest, entity_id: uuid.UUID, if_match_header: IfMatchHeader = None
) -> Status[None]:
    """Soft delete; with `If-Match`, only of that version (else 412)."""
    entity = selectors.entity_get(entity_id=entity_id, viewer=request_viewer(request), need="delete")
    services.entity_delete(actor=request_actor(request), entity=entity, if_match=if_match(if_match_header))
    return Status(204, None)


@router.get(
    "{uuid:entity_id}/relations",
    summary="List an entity's relations",
    response={200: RelationPage, **ENTITY_ERRORS},
)
def relation_list(request: HttpRequest, entity_id: uuid.UUID, page: Query[PageParams]) -> dict[str, Any]:
    """The entity's relations to other entities, a page at a time; a restricted entity the caller may not
    see is left out."""
    viewer = request_viewer(request)
    entity = selectors.entity_get(entity_id=entity_id, viewer=viewer)
    relations = selectors.entity_relation_list(entity=entity, viewer=viewer)
    return paginate_audited(relations, page=page)


@router.post(
    "{uuid:entity_id}/relations",
    summary="Relate an entity to another",
    response={201: RelationOut, **ENTITY_ERRORS},
    auth=member_auth,
)
def relation_create(
    request: HttpRequest, entity_id: uuid.UUID, payload: RelationIn
) -> Status[EntityRelation]:
    """Relate this entity (the source) to `target_id` with a `kind` (`supplies`, ...). Needs the right to
    change this entity. Members and admins."""
    viewer = request_viewer(request)
    source = selectors.entity_get(entity_id=entity_id, viewer=viewer, need="change")
    relation = services.entity_relation_create(
        actor=request_actor(request),
        source=source,
        target_id=payload.target_id,
        kind=payload.kind,
        viewer=viewer,
    )
    return Status(201, relation)


@router.delete(
    "{uuid:entity_id}/relations/{uuid:relation_id}",
    summary="Delete a relation",
    response={204: None, **ENTITY_ERRORS},
    auth=member_auth,
)
def relation_delete(request: HttpRequest, entity_id: uuid.UUID, relation_id: uuid.UUID) -> Status[None]:
    """Remove a relation made from this entity (its `source_id`), with the rights creating it needs:
    `change` on this entity and sight of the target. Any other relation id is a 404."""
    viewer = request_viewer(request)
    source = selectors.entity_get(entity_id=entity_id, viewer=viewer, need="change")
    services.entity_relation_delete(source=source, relation_id=relation_id, viewer=viewer)
    return Status(204, None)


@router.get(
    "{uuid:entity_id}/permissions",
    summary="List an entity's grants",
    response={200: GrantPage, **ENTITY_ERRORS},
    auth=admin_auth,
)
def permission_list(request: HttpRequest, entity_id: uuid.UUID, page: Query[PageParams]) -> dict[str, Any]:
    """Who holds which object permission on the entity (admin only)."""
    entity = selectors.entity_get(entity_id=entity_id, viewer=request_viewer(request))
    return paginate_audited(selectors.entity_permission_list(entity=entity), page=page)


@router.post(
    "{uuid:entity_id}/permissions",
    summary="Grant a permission on an entity",
    response={200: GrantOut, 201: GrantOut, **ENTITY_ERRORS},
    auth=admin_auth,
)
def permission_grant(
    request: HttpRequest, entity_id: uuid.UUID, payload: GrantIn
) -> Status[UserObjectPermission]:
    """Grant `view`, `change` or `delete` on the entity to a known user (admin only): 201, or 200
    when the user already holds it. Grants matter once the entity is restricted, which an admin sets
    with `PATCH /entities/{id}` `{"restricted": true}`; until then the roles alone decide."""
    entity = selectors.entity_get(entity_id=entity_id, viewer=request_viewer(request))
    grant, created = services.entity_permission_grant(
        actor=request_actor(request), entity=entity, user_id=payload.user_id, permission=payload.permission
    )
    return Status(201 if created else 200, grant)


@router.delete(
    "{uuid:entity_id}/permissions",
    summary="Revoke a permission on an entity",
    response={204: None, **ENTITY_ERRORS},
    auth=admin_auth,
)
def permission_revoke(request: HttpRequest, entity_id: uuid.UUID, grant: Query[GrantQuery]) -> Status[None]:
    """Revoke a grant named in the query string, `?user_id=&permission=` (admin only; no body, which
    many HTTP clients cannot send with DELETE). A grant the user does not hold is a 404."""
    entity = selectors.entity_get(entity_id=entity_id, viewer=request_viewer(request))
    services.entity_permission_revoke(
        actor=request_actor(request), entity=entity, user_id=grant.user_id, permission=grant.permission
    )
    return Status(204, None)
