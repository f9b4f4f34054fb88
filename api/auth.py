"""Who is calling: access-token verification (contract section 3), roles, and the tenant binding.

The token is verified by ``request_authenticate``, which ``tenants.middleware`` calls once the host's
organization is known and before the request's transaction opens: verifying may call the identity
service (its keys, the roles of a token), and a transaction held open across that wait would pin a
database connection "idle in transaction" for as long as the identity service takes. The API's auth
classes then only check the role of the caller verified there.
"""

from __future__ import annotations

import enum
import hashlib
import json
import time
import urllib.error
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.audit.services import audit_actor_set
from apps.entities.selectors import EntityViewer
from apps.members.models import MemberRole
from apps.members.selectors import member_role_read
from apps.members.services import member_join, member_seen
from hub.errors import HubError, HubErrorCode, NotAuthenticated, PermissionDenied
from tenants.identity import IdentityUnavailable, identity_misconfigured, identity_token_validate
from tenants.models import Organization, User


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class RolesSource(enum.StrEnum):
    """Where a caller's roles came from (``GET /api/v1/me``)."""

    TOKEN = "token"  # noqa: S105 - a source's name, not a secret
    MEMBERSHIP = "membership"
    IDENTITY = "identity"
    DEFAULT = "default"  # HUB_DEFAULT_MEMBER_ROLE: joins on first use
    PLATFORM_ADMINS = "platform_admins"  # HUB_PLATFORM_ADMINS: the platform API's admins by user id


# What each tenant role includes: an admin may do what a member may, a member what a viewer may.
_IMPLIED_ROLES = {
    Role.ADMIN: {Role.ADMIN, Role.MEMBER, Role.VIEWER},
    Role.MEMBER: {Role.MEMBER, Role.VIEWER},
    Role.VIEWER: {Role.VIEWER},
    Role.PLATFORM_ADMIN: {Role.PLATFORM_ADMIN},
}


# What each role allows, as ``GET /api/v1/me`` reports it (``<area>.<action>``); a role also allows
# what the roles it includes allow. The endpoints' auth classes are what enforce it.
_ROLE_PERMISSIONS = {
    Role.VIEWER: (
        "entities.read",
        "transactions.read",
        "scheduling.read",
        "analytics.read",
        "notifications.read",
    ),
    Role.MEMBER: (
        "entities.write",
        "transactions.write",
        "scheduling.write",
        "notifications.write",
        "imports.write",
    ),
    Role.ADMIN: (
        "members.manage",
        "entity_kinds.manage",
        "permissions.manage",
        "audit.read",
        "privacy.manage",
        "retention.manage",
        "exports.manage",
    ),
    Role.PLATFORM_ADMIN: ("tenants.manage",),
}


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request (``request.auth``)."""

    user_id: uuid.UUID
    email: str
    tenant_id: uuid.UUID | None
    roles: frozenset[Role]
    roles_source: RolesSource | None = None

    def has_role(self, role: Role) -> bool:
        return any(role in _IMPLIED_ROLES[held] for held in self.roles)

    @property
    def permissions(self) -> list[str]:
        """What the roles held allow (``_ROLE_PERMISSIONS``), sorted."""
        implied = {role for held in self.roles for role in _IMPLIED_ROLES[held]}
        return sorted(name for role in implied for name in _ROLE_PERMISSIONS[role])

    @property
    def user(self) -> User:
        return User(id=self.user_id, email=self.email)


def roles_map(names: list[Any]) -> frozenset[Role]:
    """Identity-service role names -> Hub roles, through ``HUB_ROLE_MAP``; unknown names grant nothing."""
    hub_roles = set()
    for name in names:
        mapped = settings.HUB_ROLE_MAP.get(name, name) if isinstance(name, str) else None
        if isinstance(mapped, str) and mapped in Role._value2member_map_:
            hub_roles.add(Role(mapped))
    return frozenset(hub_roles)


_EMAIL_MAX_LENGTH = 254  # tenants.models.User.email
# The JWKS endpoint unreachable, or answering something that is not a key set: the identity service's
# fault (503), not the caller's.
_JWKS_UNUSABLE = (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, json.JSONDecodeError, UnicodeDecodeError)
_jwks_client: jwt.PyJWKClient | None = None
_jwks_client_config: tuple[str, float, float] | None = None


def _jwks_client_get(url: str) -> jwt.PyJWKClient:
    global _jwks_client, _jwks_client_config  # one key cache per process
    # A flood of tokens naming unknown kids refetches the key set at most once per cooldown, so
    # unauthenticated callers cannot turn the Hub against the identity service.
    cooldown = settings.IDENTITY_JWKS_REFRESH_COOLDOWN_SECONDS
    config = (url, cooldown, float(settings.IDENTITY_TIMEOUT_SECONDS))
    if _jwks_client is None or _jwks_client_config != config:
        # No per-kid cache (``cache_keys``): it never expires, so a key the identity service withdrew
        # would stay trusted for the life of the process. The key set itself is cached for an hour.
        _jwks_client = jwt.PyJWKClient(url, lifespan=3600, timeout=config[2], cooldown_duration=cooldown)
        _jwks_client_config = config
    return _jwks_client


def _verification_key(token: str) -> Any:
    if not settings.IDENTITY_JWKS_URL:
        return settings.IDENTITY_JWT_SECRET
    try:
        # Unknown kid: the key set is refetched once (outside the cooldown) before giving up. The
        # PyJWK itself is the key, so a token can only be verified with the algorithm of its key.
        return _jwks_client_get(settings.IDENTITY_JWKS_URL).get_signing_key_from_jwt(token)
    except _JWKS_UNUSABLE as exc:
        refusal = exc.__cause__
        if isinstance(refusal, urllib.error.HTTPError) and refusal.code in (404, 405):
            # The service answers, but not at this URL: the setting is wrong, not the token.
            raise identity_misconfigured(
                method="GET", url=settings.IDENTITY_JWKS_URL, status=refusal.code, setting="IDENTITY_JWKS_URL"
            ) from exc
        raise IdentityUnavailable("The identity service's keys cannot be fetched.") from exc
    except jwt.PyJWKClientError as exc:
        raise NotAuthenticated(
            "The token is signed with an unknown key.", code=HubErrorCode.TOKEN_INVALID
        ) from exc


def access_token_decode(token: str) -> dict[str, Any]:
    """Verify signature, algorithm, expiry, issuer, audience and type; return the claims."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=_verification_key(token),
            algorithms=settings.IDENTITY_JWT_ALGORITHMS,
            issuer=settings.IDENTITY_JWT_ISSUER,
            audience=settings.IDENTITY_JWT_AUDIENCE,
            # Clock skew between the identity service's host and ours, on exp, nbf and iat alike
            # (PyJWT refuses an iat in the future as "not yet valid").
            leeway=settings.IDENTITY_JWT_LEEWAY_SECONDS,
            options={
                "require": ["exp", "iat", "sub"],
                "verify_aud": settings.IDENTITY_JWT_AUDIENCE is not None,
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("The access token has expired.", code=HubErrorCode.TOKEN_EXPIRED) from exc
    except jwt.ImmatureSignatureError as exc:
        raise NotAuthenticated("The access token is not yet valid.", code=HubErrorCode.TOKEN_INVALID) from exc
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated(
            f"The access token is invalid: {exc}.", code=HubErrorCode.TOKEN_INVALID
        ) from exc
    if claims.get("type") != "access":
        raise NotAuthenticated("Only access tokens are accepted.", code=HubErrorCode.TOKEN_TYPE)
    return claims


def _uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(claims.get(name)))
    except ValueError:
        raise NotAuthenticated(
            f"The token's {name} claim is not a UUID.", code=HubErrorCode.TOKEN_INVALID
        ) from None


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


def _roles_from_token(token: str, claims: dict[str, Any], tenant: Organization | None) -> list[Any]:
    role_names = claims.get("roles")
    return role_names if isinstance(role_names, list) else []


def _roles_from_membership(token: str, claims: dict[str, Any], tenant: Organization | None) -> list[Any]:
    if tenant is None:
        return []  # the platform has no members
    role = member_role_read(tenant=tenant, user_id=_uuid_claim(claims, "sub"))
    return [role] if role else []


_ROLES_SOURCES = {
    RolesSource.TOKEN: _roles_from_token,
    RolesSource.MEMBERSHIP: _roles_from_membership,
    RolesSource.IDENTITY: lambda token, claims, tenant: _roles_from_identity(token, claims),
}


def principal_roles(
    *, token: str, claims: dict[str, Any], tenant: Organization | None = None
) -> tuple[frozenset[Role], RolesSource | None]:
    """The caller's roles and their source: the first source of ``IDENTITY_ROLES_SOURCE`` that names any
    role (the token's ``roles``, the membership in ``tenant``, the identity service's answer, cached),
    else ``HUB_DEFAULT_MEMBER_ROLE`` on a tenant, else none (source ``None``). On the platform host
    (``tenant`` is ``None``) a user listed in ``HUB_PLATFORM_ADMINS`` is a platform admin whatever the
    sources say: the real identity service puts no roles in its tokens. Names a source gives that
    are not Hub roles grant nothing, and no later source is asked. The one place roles are resolved; it
    runs before the request's transaction opens, so a source may wait on another service (or read the
    database in a short transaction of its own) without holding one."""
    if tenant is None and _uuid_claim(claims, "sub") in settings.HUB_PLATFORM_ADMINS:
        return frozenset({Role.PLATFORM_ADMIN}), RolesSource.PLATFORM_ADMINS
    for name in settings.IDENTITY_ROLES_SOURCE:
        source = RolesSource(name)
        role_names = _ROLES_SOURCES[source](token, claims, tenant)
        if role_names:
            return roles_map(role_names), source
    if tenant is not None and settings.HUB_DEFAULT_MEMBER_ROLE:
        return frozenset({Role(settings.HUB_DEFAULT_MEMBER_ROLE)}), RolesSource.DEFAULT
    return frozenset(), None


def principal_authenticate(
    token: str, *, organization_id: uuid.UUID | None, tenant: Organization | None = None
) -> Principal:
    """The verified caller behind ``token`` on the host of ``organization_id`` (``None``: the platform).

    The binding is decided before any call to another service (contract section 3): a token of another
    organization is a 403 that costs the identity service nothing. With a local key (HS256) the
    signature is checked first, as it needs no call: a forged token is a 401 and never learns which
    organization a host serves. With a JWKS, verifying may fetch the keys, so the binding is read from
    the token's unverified claims first (a foreign token is a 403 even with the identity service down).
    Then the roles (which may ask the identity service). Every refusal of the token itself is a 401
    that names the Bearer scheme.
    """
    try:
        if settings.IDENTITY_JWKS_URL:
            _binding_check(_claims_unverified(token), organization_id=organization_id)
            claims = access_token_decode(token)
        else:
            claims = access_token_decode(token)
            _binding_check(claims, organization_id=organization_id)
        roles, source = principal_roles(token=token, claims=claims, tenant=tenant)
        if tenant is not None and source is None:
            raise PermissionDenied("You hold no role in this organization.", code=HubErrorCode.NOT_A_MEMBER)
        return Principal(
            user_id=_uuid_claim(claims, "sub"),
            email=_email_claim(claims),
            tenant_id=_tenant_claim(claims),
            roles=roles,
            roles_source=source,
        )
    except NotAuthenticated as exc:
        exc.headers.setdefault("WWW-Authenticate", "Bearer")
        raise


def _claims_unverified(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated(
            f"The access token is invalid: {exc}.", code=HubErrorCode.TOKEN_INVALID
        ) from exc
    return claims


def _tenant_claim(claims: dict[str, Any]) -> uuid.UUID | None:
    return None if claims.get("tenant_id") is None else _uuid_claim(claims, "tenant_id")


def _binding_check(claims: dict[str, Any], *, organization_id: uuid.UUID | None) -> None:
    if _tenant_claim(claims) == organization_id:
        return
    if organization_id is None:
        # Platform-level users carry no organization; a token bound to one never reaches this API.
        raise PermissionDenied("This token belongs to an organization.", code=HubErrorCode.TENANT_MISMATCH)
    raise PermissionDenied("This token is not for this organization.", code=HubErrorCode.TENANT_MISMATCH)


@dataclass(frozen=True)
class _Authentication:
    """What ``request_authenticate`` decided about a request's bearer token."""

    token: str
    principal: Principal | None = None
    error: HubError | None = None


_AUTHENTICATION = "_hub_authentication"


def request_authenticate(
    request: HttpRequest, *, organization_id: uuid.UUID | None, tenant: Organization | None = None
) -> None:
    """Verify the request's bearer token, if it has one, for the host of ``organization_id`` (``None``:
    the platform; ``tenant``: that organization, whose memberships may hold the caller's roles); the
    outcome waits on the request for the API's auth classes. Call it before the request's transaction
    opens. A refusal is kept, not raised: only an endpoint that needs a caller answers it (the docs of
    an API need none)."""
    token = _bearer_token(request)
    if token is None:
        return
    try:
        outcome = _Authentication(
            token, principal=principal_authenticate(token, organization_id=organization_id, tenant=tenant)
        )
    except HubError as exc:
        outcome = _Authentication(token, error=exc)
    request.__dict__[_AUTHENTICATION] = outcome


def request_token(request: HttpRequest) -> str | None:
    """The bearer token ``request_authenticate`` verified for this request (``None``: none, or
    refused), for a call to the identity service on the caller's behalf."""
    outcome = request.__dict__.get(_AUTHENTICATION)
    return outcome.token if isinstance(outcome, _Authentication) and outcome.principal else None


def _bearer_token(request: HttpRequest) -> str | None:
    """The token of ``Authorization: Bearer <token>``, read as Ninja's ``HttpBearer`` reads it."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


def _authenticated_principal(request: HttpRequest, token: str) -> Principal:
    outcome = request.__dict__.get(_AUTHENTICATION)
    if isinstance(outcome, _Authentication) and outcome.token == token:
        if outcome.principal is not None:
            return outcome.principal
        if outcome.error is not None:
            raise outcome.error
    # Only the routing middleware verifies tokens; a request that skipped it has no caller.
    raise NotAuthenticated("The access token was not verified.", code=HubErrorCode.TOKEN_INVALID)


def _email_claim(claims: dict[str, Any]) -> str:
    """The caller's email as the mirror can store it, else ``""``: PostgreSQL refuses NUL characters
    and lone surrogates (neither is printable), and a cut-off address would be somebody else's."""
    email = claims.get("email")
    if not isinstance(email, str) or len(email) > _EMAIL_MAX_LENGTH or not email.isprintable():
        return ""
    return email


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
        principal = _authenticated_principal(request, token)
        tenant = getattr(request, "tenant", None)
        if tenant is None or principal.tenant_id != tenant.organization_id:
            raise PermissionDenied(
                "This token is not for this organization.", code=HubErrorCode.TENANT_MISMATCH
            )
        if not principal.has_role(self.role):
            raise PermissionDenied(f"This needs the {self.role} role.", code=HubErrorCode.ROLE_REQUIRED)
        user_mirror_touch(principal)
        audit_actor_set(principal.user)
        member_seen(tenant=tenant, user_id=principal.user_id, email=principal.email)
        if principal.roles_source == RolesSource.DEFAULT:
            member_join(
                user_id=principal.user_id,
                email=principal.email,
                role=MemberRole(next(iter(principal.roles))),  # the default role, alone
            )
        return principal


class PlatformAuth(HttpBearer):
    """A ``platform_admin`` token, for the platform API on the bare domain."""

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        principal = _authenticated_principal(request, token)
        if principal.tenant_id is not None:
            raise PermissionDenied(
                "This token belongs to an organization.", code=HubErrorCode.TENANT_MISMATCH
            )
        if not principal.has_role(Role.PLATFORM_ADMIN):
            raise PermissionDenied("This needs the platform_admin role.", code=HubErrorCode.ROLE_REQUIRED)
        user_mirror_touch(principal)
        return principal


viewer_auth = TenantAuth(Role.VIEWER)
member_auth = TenantAuth(Role.MEMBER)
admin_auth = TenantAuth(Role.ADMIN)
platform_auth = PlatformAuth()


def request_principal(request: HttpRequest) -> Principal:
    """The verified caller of an authenticated request."""
    principal = getattr(request, "auth", None)
    if not isinstance(principal, Principal):
        raise NotAuthenticated("This operation needs an authenticated caller.")
    return principal


def request_actor(request: HttpRequest) -> User:
    """The mirrored user behind an authenticated request."""
    return request_principal(request).user


def request_viewer(request: HttpRequest) -> EntityViewer:
    """Who is asking, as every module's entity references see it: the one copy of that rule (admins see
    restricted entities, others need a grant on them)."""
    principal = request_principal(request)
    return EntityViewer(user_id=principal.user_id, is_admin=principal.has_role(Role.ADMIN))
