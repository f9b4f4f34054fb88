"""Who is calling: access-token verification (contract section 3), roles, and the tenant binding."""

from __future__ import annotations

import enum
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from ninja.security import HttpBearer

from hub.errors import NotAuthenticated, PermissionDenied
from tenants.identity import identity_token_validate
from tenants.models import User


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


# What each tenant role includes: an admin may do what a member may, a member what a viewer may.
_IMPLIED_ROLES = {
    Role.ADMIN: {Role.ADMIN, Role.MEMBER, Role.VIEWER},
    Role.MEMBER: {Role.MEMBER, Role.VIEWER},
    Role.VIEWER: {Role.VIEWER},
    Role.PLATFORM_ADMIN: {Role.PLATFORM_ADMIN},
}


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request (``request.auth``)."""

    user_id: uuid.UUID
    email: str
    tenant_id: uuid.UUID | None
    roles: frozenset[Role]

    def has_role(self, role: Role) -> bool:
        return any(role in _IMPLIED_ROLES[held] for held in self.roles)

    @property
    def user(self) -> User:
        return User(id=self.user_id, email=self.email)


def roles_map(names: list[Any]) -> frozenset[Role]:
    """Identity-service role names -> Hub roles, through ``HUB_ROLE_MAP``; unknown names grant nothing."""
    hub_roles = set()
    for name in names:
        mapped = settings.HUB_ROLE_MAP.get(name, name) if isinstance(name, str) else None
        if mapped in Role._value2member_map_:
            hub_roles.add(Role(mapped))
    return frozenset(hub_roles)


_jwks_client: jwt.PyJWKClient | None = None


def _verification_key(token: str) -> Any:
    global _jwks_client  # noqa: PLW0603 - one key cache per process
    if not settings.IDENTITY_JWKS_URL:
        return settings.IDENTITY_JWT_SECRET
    if _jwks_client is None or _jwks_client.uri != settings.IDENTITY_JWKS_URL:
        _jwks_client = jwt.PyJWKClient(
            settings.IDENTITY_JWKS_URL, cache_keys=True, lifespan=3600, timeout=settings.IDENTITY_TIMEOUT_SECONDS
        )
    try:
        # Unknown kid: PyJWKClient refetches the key set once before giving up.
        return _jwks_client.get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError as exc:
        from tenants.identity import IdentityUnavailable

        raise IdentityUnavailable("The identity service's keys cannot be fetched.") from exc
    except jwt.PyJWKClientError as exc:
        raise NotAuthenticated("The token is signed with an unknown key.", code="token_invalid") from exc


def access_token_decode(token: str) -> dict[str, Any]:
    """Verify signature, algorithm, expiry, issuer, audience and type; return the claims."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=_verification_key(token),
            algorithms=settings.IDENTITY_JWT_ALGORITHMS,
            issuer=settings.IDENTITY_JWT_ISSUER,
            audience=settings.IDENTITY_JWT_AUDIENCE,
            options={
                "require": ["exp", "iat", "sub"],
                "verify_aud": settings.IDENTITY_JWT_AUDIENCE is not None,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("The access token has expired.", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated(f"The access token is invalid: {exc}.", code="token_invalid") from exc
    if claims.get("type") != "access":
        raise NotAuthenticated("Only access tokens are accepted.", code="token_type")
    return claims


def _uuid_claim(claims: dict[str, Any], name: str, *, nullable: bool) -> uuid.UUID | None:
    value = claims.get(name)
    if value is None and nullable:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotAuthenticated(f"The token's {name} claim is not a UUID.", code="token_invalid") from None


def _roles_from_identity(token: str, claims: dict[str, Any]) -> list[Any]:
    key = "hub:identity-roles:" + hashlib.sha256(token.encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    answer = identity_token_validate(token=token)
    roles = [role for role in answer.get("roles", []) if isinstance(role, str)]
    ttl = min(settings.IDENTITY_ROLES_CACHE_SECONDS, int(claims["exp"] - time.time()))
    if ttl > 0:
        cache.set(key, roles, ttl)
    return roles


def principal_from_token(token: str) -> Principal:
    claims = access_token_decode(token)
    user_id = _uuid_claim(claims, "sub", nullable=False)
    assert user_id is not None
    tenant_id = _uuid_claim(claims, "tenant_id", nullable=True)
    role_names = claims.get("roles")
    if not isinstance(role_names, list) or not role_names:
        role_names = _roles_from_identity(token, claims)
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    return Principal(user_id=user_id, email=email[:254], tenant_id=tenant_id, roles=roles_map(role_names))


def user_mirror_touch(principal: Principal) -> None:
    """Keep the local mirror of the caller (UUID and email) so audit and permissions have an actor.

    Written when unseen or changed; remembered in the cache only once the request's transaction
    commits, so a rolled-back request never leaves the cache pointing at a row that is not there.
    """
    key = f"hub:user-mirror:{principal.user_id}"
    if cache.get(key) == principal.email:
        return
    User.objects.bulk_create(
        [User(id=principal.user_id, email=principal.email, password="!")],  # noqa: S106 - unusable
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["email", "last_seen_at"],
    )
    transaction.on_commit(lambda: cache.set(key, principal.email, 300))


class TenantAuth(HttpBearer):
    """A token bound to the host's organization, holding at least ``role``."""

    def __init__(self, role: Role) -> None:
        super().__init__()
        self.role = role

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        principal = principal_from_token(token)
        tenant = getattr(request, "tenant", None)
        if tenant is None or principal.tenant_id != tenant.organization_id:
            raise PermissionDenied("This token is not for this organization.", code="tenant_mismatch")
        if not principal.has_role(self.role):
            raise PermissionDenied(f"This needs the {self.role} role.", code="role_required")
        user_mirror_touch(principal)
        return principal


class PlatformAuth(HttpBearer):
    """A ``platform_admin`` token, for the platform API on the bare domain."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        principal = principal_from_token(token)
        if not principal.has_role(Role.PLATFORM_ADMIN):
            raise PermissionDenied("This needs the platform_admin role.", code="role_required")
        user_mirror_touch(principal)
        return principal


viewer_auth = TenantAuth(Role.VIEWER)
member_auth = TenantAuth(Role.MEMBER)
admin_auth = TenantAuth(Role.ADMIN)
platform_auth = PlatformAuth()


def request_actor(request: HttpRequest) -> User:
    """The mirrored user behind an authenticated request."""
    principal = request.auth  # type: ignore[attr-defined]
    assert isinstance(principal, Principal)
    return principal.user
