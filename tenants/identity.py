"""HTTP client of the identity service (organizations, token validation). Short timeouts, no retries:
a caller that cannot reach it answers 503 with ``Retry-After``.

The identity service is a FastAPI application: a path it has no route for answers 404 with exactly
``{"detail": "Not Found"}``. That answer means our settings name a route the service does not have (a
configuration error: 503 ``identity_misconfigured`` and a log line naming the URL), never "unknown
organization" nor "bad token".
"""

from __future__ import annotations

import enum
import logging
import uuid
from typing import Any

import httpx
from django.conf import settings

from hub.errors import HubErrorCode, NotAuthenticated, ServiceUnavailable

logger = logging.getLogger(__name__)

NO_ROUTE = {"detail": "Not Found"}


class IdentityUnavailable(ServiceUnavailable):
    code = HubErrorCode.IDENTITY_UNAVAILABLE
    default_detail = "The identity service is unavailable; try again shortly."


class IdentityMisconfigured(ServiceUnavailable):
    code = HubErrorCode.IDENTITY_MISCONFIGURED
    default_detail = "The Hub's identity-service settings do not fit the service; an operator must fix them."


class OrganizationStatus(enum.Enum):
    """What the identity service says of an organization, asked with a given bearer token."""

    FOUND = "found"
    UNKNOWN = "unknown"
    NOT_CONFIRMED = "not_confirmed"  # the token may not see it (401/403): it may or may not exist


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


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def identity_misconfigured(*, method: str, url: str, status: int, setting: str) -> IdentityMisconfigured:
    """Log which URL answered what (never a token), and return the 503 that tells the caller to wait:
    the identity service answers, but not at the route our settings name."""
    logger.error("identity service misconfigured: %s %s answered %s; check %s", method, url, status, setting)
    return IdentityMisconfigured(retry_after=60)


def _misconfigured(response: httpx.Response, setting: str) -> IdentityMisconfigured:
    url = str(response.request.url.copy_with(query=None))
    return identity_misconfigured(
        method=response.request.method, url=url, status=response.status_code, setting=setting
    )


def _route_missing(response: httpx.Response) -> bool:
    return response.status_code == 405 or (response.status_code == 404 and _json(response) == NO_ROUTE)


def identity_organization_status(*, organization_id: uuid.UUID, bearer: str | None) -> OrganizationStatus:
    """Ask the identity service's organization route (``IDENTITY_ORGANIZATION_CHECK``) about the
    organization, with ``IDENTITY_SERVICE_TOKEN`` when set, else ``bearer`` (the caller's token).

    Raises ``IdentityMisconfigured`` when the route does not exist or the service token is refused,
    ``IdentityUnavailable`` when the service is down or answers something unexpected.
    """
    path = settings.IDENTITY_ORGANIZATION_CHECK.replace("{id}", str(organization_id))
    token = settings.IDENTITY_SERVICE_TOKEN or bearer
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = _request("GET", path, headers=headers)
    if response.status_code == 200:
        return OrganizationStatus.FOUND
    if _route_missing(response):
        raise _misconfigured(response, "IDENTITY_ORGANIZATION_CHECK")
    if response.status_code == 404:
        return OrganizationStatus.UNKNOWN
    if response.status_code == 401 and settings.IDENTITY_SERVICE_TOKEN:
        raise _misconfigured(response, "IDENTITY_SERVICE_TOKEN")
    if response.status_code in (401, 403):
        return OrganizationStatus.NOT_CONFIRMED
    raise IdentityUnavailable(f"The identity service answered {response.status_code}.")


VALIDATE_PATH = "/api/v1/auth/validate"


def identity_token_validate(*, token: str) -> dict[str, Any]:
    """Ask the identity service who a token belongs to (and which roles it holds, when it says).

    Refused (400/401/403, or ``valid: false``): 401 ``token_invalid``. The route missing (404, 405):
    503 ``identity_misconfigured``, logged: a bad token is never a 404.
    """
    response = _request("POST", VALIDATE_PATH, json={"token": token})
    if response.status_code in (404, 405):
        raise _misconfigured(response, "IDENTITY_SERVICE_URL")
    if response.status_code in (400, 401, 403):
        raise NotAuthenticated("The identity service rejected the token.", code=HubErrorCode.TOKEN_INVALID)
    if response.status_code != 200:
        raise IdentityUnavailable(f"The identity service answered {response.status_code}.")
    payload = _json(response)
    if isinstance(payload, dict) and payload.get("valid") is False:  # whatever else it holds
        raise NotAuthenticated(
            "The identity service says the token is not valid.", code=HubErrorCode.TOKEN_INVALID
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("roles", []), list):
        raise IdentityUnavailable("The identity service answered with an unexpected shape.")
    return payload
