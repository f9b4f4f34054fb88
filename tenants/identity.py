"""HTTP client of the identity service (organizations, token validation). Short timeouts, no retries:
a caller that cannot reach it answers 503 with ``Retry-After``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from django.conf import settings

from hub.errors import HubErrorCode, NotAuthenticated, ServiceUnavailable


class IdentityUnavailable(ServiceUnavailable):
    code = HubErrorCode.IDENTITY_UNAVAILABLE
    default_detail = "The identity service is unavailable; try again shortly."


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    global _client  # one pooled client per process
    if _client is None:
        timeout = settings.IDENTITY_TIMEOUT_SECONDS
        _client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)))
    return _client


def _request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = _http().request(method, f"{settings.IDENTITY_SERVICE_URL}{path}", **kwargs)
    except httpx.HTTPError as exc:
        raise IdentityUnavailable() from exc
    if response.status_code >= 500:
        raise IdentityUnavailable()
    return response


def identity_organization_exists(*, organization_id: uuid.UUID) -> bool:
    """Whether the identity service knows the organization."""
    response = _request("GET", f"/api/v1/organizations/{organization_id}")
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        raise IdentityUnavailable(f"The identity service answered {response.status_code}.")
    return True


def identity_token_validate(*, token: str) -> dict[str, Any]:
    """Ask the identity service who a token belongs to and which roles it holds."""
    response = _request("POST", "/api/v1/auth/validate", json={"token": token})
    if response.status_code in (400, 401, 403, 404):
        raise NotAuthenticated("The identity service rejected the token.", code=HubErrorCode.TOKEN_INVALID)
    if response.status_code != 200:
        raise IdentityUnavailable(f"The identity service answered {response.status_code}.")
    try:
        payload = response.json()
    except ValueError as exc:
        raise IdentityUnavailable("The identity service answered with malformed JSON.") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("roles", []), list):
        raise IdentityUnavailable("The identity service answered with an unexpected shape.")
    return payload
