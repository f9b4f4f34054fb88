"""HTTP of the deliveries: the dead letters and every attempt, for admins only."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from api.auth import admin_auth, request_actor
from api.pagination import paginate_audited
from apps.deliveries import selectors, services
from apps.deliveries.models import Delivery
from apps.deliveries.schemas import DELIVERY_ERRORS, DeliveryDetailOut, DeliveryFilter, DeliveryPage

router = Router(auth=admin_auth)


@router.get("", summary="List deliveries", response={200: DeliveryPage, **DELIVERY_ERRORS})
def delivery_list(request: HttpRequest, filters: Query[DeliveryFilter]) -> dict[str, Any]:
    """Deliveries to the communication and workflow services, newest first; `?status=failed` lists the
    dead letters. The address is masked; what was sent is never shown. Admins only."""
    deliveries = selectors.delivery_list(
        status=filters.status, target=filters.target, channel=filters.channel
    )
    return paginate_audited(deliveries, page=filters)


@router.get(
    "{uuid:delivery_id}", summary="Read a delivery", response={200: DeliveryDetailOut, **DELIVERY_ERRORS}
)
def delivery_read(request: HttpRequest, delivery_id: uuid.UUID) -> Delivery:
    """One delivery with every attempt (when, outcome, HTTP status, error class). Admins only."""
    return selectors.delivery_get(delivery_id=delivery_id)


@router.post(
    "{uuid:delivery_id}/retry",
    summary="Retry a dead-lettered delivery",
    response={200: DeliveryDetailOut, **DELIVERY_ERRORS},
)
def delivery_retry(request: HttpRequest, delivery_id: uuid.UUID) -> Delivery:
    """Queue a `failed` delivery again with a fresh set of attempts (else 409 `delivery_not_failed`).
    It is sent with the same `Idempotency-Key`: a receiver that had it already keeps it once."""
    services.delivery_retry(actor=request_actor(request), delivery_id=delivery_id)
    return selectors.delivery_get(delivery_id=delivery_id)
