"""The one HTTP call of an attempt, and what its answer means for the delivery.

2xx: delivered. 408, 429, 5xx, a timeout or a connection error: worth trying again. Any other 4xx:
the receiver refuses this delivery for good. The response body is never kept (it may echo personal
data): an attempt records the status and the error's class only.
"""

from __future__ import annotations

import functools

import httpx
from django.conf import settings

from apps.deliveries.models import DeliveryAttempt
from apps.deliveries.services import DeliveryRequest, DeliveryResult

Outcome = DeliveryAttempt.Outcome
# 4xx answers that say "not now" rather than "never".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})


def result_for_status(status: int) -> DeliveryResult:
    """What an HTTP status means for a delivery."""
    if 200 <= status < 300:
        return DeliveryResult(outcome=Outcome.DELIVERED, http_status=status)
    if status >= 500 or status in RETRYABLE_CLIENT_STATUSES:
        outcome = Outcome.RETRYABLE
    else:
        outcome = Outcome.PERMANENT if 400 <= status < 500 else Outcome.RETRYABLE
    return DeliveryResult(
        outcome=outcome,
        http_status=status,
        error_class=f"http_{status}",
        error_text=f"receiver answered {status}",
    )


@functools.cache
def _client() -> httpx.Client:
    """One client for the process (thread-safe, keeps connections alive): a new one per call would
    build a TLS context and open a connection every time (tens of milliseconds a delivery)."""
    return httpx.Client(limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))


def delivery_post(request: DeliveryRequest) -> DeliveryResult:
    """POST the delivery to its receiver (outside any database transaction) and classify the answer."""
    timeout = httpx.Timeout(
        settings.HUB_DELIVERY_TIMEOUT_SECONDS, connect=settings.HUB_DELIVERY_CONNECT_TIMEOUT_SECONDS
    )
    try:
        response = _client().post(request.url, json=request.body, headers=request.headers, timeout=timeout)
    except httpx.TimeoutException as error:
        return DeliveryResult(
            outcome=Outcome.RETRYABLE, error_class=type(error).__name__, error_text="timed out"
        )
    except httpx.HTTPError as error:  # connection refused, reset, DNS, protocol errors
        return DeliveryResult(
            outcome=Outcome.RETRYABLE,
            error_class=type(error).__name__,
            error_text="could not reach the receiver",
        )
    return result_for_status(response.status_code)
