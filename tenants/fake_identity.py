"""A stand-in for the identity service, for dev (``manage.py fake_identity``) and tests (the
``identity_service`` and ``fake_identity`` fixtures): a real HTTP server, never used in production.

It answers as the real service (the FastAPI service the frontend logs in with) does, at the same paths:

- ``POST /api/v1/auth/login`` ``{email, password}`` -> ``{access_token, refresh_token, token_type,
  expires_in}``; wrong credentials 401.
- ``POST /api/v1/auth/refresh`` ``{refresh_token}`` -> a new pair; anything else 401.
- ``POST /api/v1/auth/validate`` ``{token}`` -> 200 ``{valid, user_id, email, tenant_id, token_type,
  expires_at}`` (``valid: false`` and nulls for a bad, expired or refresh token); no ``roles`` unless a
  user was given some (an identity-managed deployment).
- ``GET /api/v1/users/me`` and ``GET /api/v1/users/me/organizations``, behind a user's bearer token.
- ``GET /api/v1/organizations/{id}`` behind a bearer token: an organization the caller belongs to (a
  superuser, or the service token, sees them all), else 404 ``{"detail": "Organization not found"}``.
- Any other path: FastAPI's 404 ``{"detail": "Not Found"}``; a body FastAPI would refuse: 422.

Tokens are HS256, signed with the secret given (``IDENTITY_JWT_SECRET``), and carry what the real ones
carry: ``sub``, ``email``, ``type``, ``tenant_id``, ``iat``, ``exp``; no ``roles``, ``iss`` or ``aud``.
``clock_skew_seconds`` sets the service's clock ahead of (or behind) the Hub's.

Tests may script any ``(method, path)`` with ``route()`` (answered before the built-in routes) and read
every request received in ``requests``. Without a secret (``secret=None``) only scripted routes answer.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

Handler = Callable[[dict[str, Any] | None], tuple[int, Any]]
Answer = tuple[int, Any]

ACCESS_TOKEN_SECONDS = 30 * 60
REFRESH_TOKEN_SECONDS = 7 * 24 * 3600
# What FastAPI (the real identity service's framework) answers, with 404, for a path it has no route for.
NO_ROUTE = {"detail": "Not Found"}
NOT_FOUND: Answer = (404, NO_ROUTE)
_UNAUTHENTICATED: Answer = (401, {"detail": "Could not validate credentials"})


@dataclass
class FakeUser:
    """An account of the identity service. ``tenant_id`` is the organization its tokens name (``None``:
    a platform-level user); ``roles`` go into its tokens only when set (the real service sets none)."""

    user_id: uuid.UUID
    email: str
    password: str
    tenant_id: uuid.UUID | None
    is_superuser: bool = False
    roles: list[str] | None = None

    def sees(self, organization: FakeOrganization) -> bool:
        return self.is_superuser or self.user_id in organization.members


@dataclass
class FakeOrganization:
    """An organization of the identity service and the ids of the users who belong to it."""

    organization_id: uuid.UUID
    name: str
    slug: str
    members: set[uuid.UUID] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.organization_id), "name": self.name, "slug": self.slug, "is_active": True}


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    authorization: str
    payload: Any


@dataclass
class FakeIdentityService:
    """The identity service in memory: users, organizations, memberships, tokens (see the module)."""

    secret: str | None = None
    service_token: str | None = None
    clock_skew_seconds: int = 0
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    # The ``Authorization`` header of each request ("" when none), in the order of ``requests``.
    authorizations: list[str] = field(default_factory=list)
    users: dict[uuid.UUID, FakeUser] = field(default_factory=dict)
    organizations: dict[uuid.UUID, FakeOrganization] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    # -- the directory --------------------------------------------------------------------------

    def organization_add(
        self, *, name: str, slug: str, organization_id: uuid.UUID | None = None
    ) -> FakeOrganization:
        organization = FakeOrganization(organization_id or uuid.uuid4(), name, slug)
        self.organizations[organization.organization_id] = organization
        return organization

    def user_add(
        self,
        *,
        email: str,
        password: str,
        organization: FakeOrganization | None,
        user_id: uuid.UUID | None = None,
        is_superuser: bool = False,
        roles: list[str] | None = None,
    ) -> FakeUser:
        """A user whose tokens name ``organization`` (and who belongs to it); ``None``: platform-level."""
        user = FakeUser(
            user_id or uuid.uuid4(),
            email,
            password,
            organization.organization_id if organization else None,
            is_superuser,
            roles,
        )
        self.users[user.user_id] = user
        if organization is not None:
            organization.members.add(user.user_id)
        return user

    # -- tokens ---------------------------------------------------------------------------------

    def token_issue(self, user: FakeUser, *, kind: str = "access", skew_seconds: int | None = None) -> str:
        """A token as the real service signs it, issued by a clock ``skew_seconds`` off the Hub's."""
        if self.secret is None:
            raise RuntimeError("A fake identity service without a secret issues no tokens.")
        now = int(time.time()) + (self.clock_skew_seconds if skew_seconds is None else skew_seconds)
        lifetime = ACCESS_TOKEN_SECONDS if kind == "access" else REFRESH_TOKEN_SECONDS
        claims: dict[str, Any] = {
            "sub": str(user.user_id),
            "email": user.email,
            "type": kind,
            "tenant_id": str(user.tenant_id) if user.tenant_id else None,
            "iat": now,
            "exp": now + lifetime,
        }
        if user.roles is not None:
            claims["roles"] = list(user.roles)
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def login(self, user: FakeUser) -> str:
        """The access token ``user`` gets by logging in."""
        return self.token_issue(user)

    def _token_pair(self, user: FakeUser) -> dict[str, Any]:
        return {
            "access_token": self.token_issue(user),
            "refresh_token": self.token_issue(user, kind="refresh"),
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }

    def _token_user(self, token: Any, *, kind: str = "access") -> FakeUser | None:
        if not isinstance(token, str) or self.secret is None:
            return None
        try:
            # The service checks its own tokens by its own clock.
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "type"], "verify_iat": False},
                leeway=-self.clock_skew_seconds,
            )
            user = self.users.get(uuid.UUID(str(claims["sub"])))
        except (jwt.InvalidTokenError, ValueError):
            return None
        return user if user is not None and claims["type"] == kind else None

    def _bearer_user(self, request: _Request) -> FakeUser | None:
        scheme, _, token = request.authorization.partition(" ")
        return self._token_user(token) if scheme.lower() == "bearer" else None

    # -- the routes -----------------------------------------------------------------------------

    def route(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.routes[(method, path)] = lambda _payload: (status, body)

    def _answer(self, request: _Request) -> Answer:
        handler = self.routes.get((request.method, request.path))
        if handler is not None:
            return handler(request.payload)
        if self.secret is None:
            return NOT_FOUND
        if request.path.startswith("/api/v1/organizations/"):
            return self._method(request, "GET", self._organization_get)
        builtin = {
            "/api/v1/auth/login": ("POST", self._login),
            "/api/v1/auth/refresh": ("POST", self._refresh),
            "/api/v1/auth/validate": ("POST", self._validate),
            "/api/v1/users/me": ("GET", self._me),
            "/api/v1/users/me/organizations": ("GET", self._my_organizations),
        }.get(request.path)
        return NOT_FOUND if builtin is None else self._method(request, *builtin)

    @staticmethod
    def _method(request: _Request, method: str, answer: Callable[[_Request], Answer]) -> Answer:
        if request.method != method:
            return 405, {"detail": "Method Not Allowed"}
        return answer(request)

    def _login(self, request: _Request) -> Answer:
        if (refused := _body_refused(request.payload, ["email", "password"])) is not None:
            return refused
        for user in list(self.users.values()):
            if user.email.lower() == request.payload["email"].lower() and hmac.compare_digest(
                user.password.encode(), request.payload["password"].encode()
            ):
                return 200, self._token_pair(user)
        return 401, {"detail": "Incorrect email or password"}

    def _refresh(self, request: _Request) -> Answer:
        if (refused := _body_refused(request.payload, ["refresh_token"])) is not None:
            return refused
        user = self._token_user(request.payload["refresh_token"], kind="refresh")
        return (401, {"detail": "Invalid refresh token"}) if user is None else (200, self._token_pair(user))

    def _validate(self, request: _Request) -> Answer:
        if (refused := _body_refused(request.payload, ["token"])) is not None:
            return refused
        user = self._token_user(request.payload["token"])
        if user is None:
            return 200, {"valid": False, "user_id": None, "email": None, "tenant_id": None}
        claims = jwt.decode(request.payload["token"], options={"verify_signature": False})
        answer = {
            "valid": True,
            "user_id": str(user.user_id),
            "email": user.email,
            "tenant_id": claims.get("tenant_id"),
            "token_type": "access",
            "expires_at": claims["exp"],
        }
        if user.roles is not None:
            answer["roles"] = list(user.roles)
        return 200, answer

    def _me(self, request: _Request) -> Answer:
        user = self._bearer_user(request)
        if user is None:
            return _UNAUTHENTICATED
        tenant_id = str(user.tenant_id) if user.tenant_id else None
        return 200, {"id": str(user.user_id), "email": user.email, "tenant_id": tenant_id, "is_active": True}

    def _my_organizations(self, request: _Request) -> Answer:
        user = self._bearer_user(request)
        if user is None:
            return _UNAUTHENTICATED
        mine = [o.as_json() for o in list(self.organizations.values()) if user.user_id in o.members]
        return 200, mine

    def _organization_get(self, request: _Request) -> Answer:
        _scheme, _, token = request.authorization.partition(" ")
        is_service = self.service_token is not None and hmac.compare_digest(
            token.encode(), self.service_token.encode()
        )
        user = None if is_service else self._bearer_user(request)
        if not is_service and user is None:
            return _UNAUTHENTICATED
        try:
            organization = self.organizations.get(uuid.UUID(request.path.rsplit("/", 1)[-1]))
        except ValueError:
            return 422, _field_errors([("path", "organization_id", "uuid_parsing", "Input should be a UUID")])
        if organization is None or not (is_service or (user is not None and user.sees(organization))):
            return 404, {"detail": "Organization not found"}
        return 200, organization.as_json()

    # -- the server -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("The fake identity service is not started.")
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeIdentityService:
        """Serve in a background thread (``port=0``: any free port; see ``url``)."""
        self.server = ThreadingHTTPServer((host, port), _request_handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def serve_forever(self, host: str, port: int) -> None:
        """Serve in this thread until interrupted."""
        self.server = ThreadingHTTPServer((host, port), _request_handler(self))
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _field_errors(errors: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """FastAPI's 422 body."""
    return {"detail": [{"type": kind, "loc": [where, name], "msg": msg} for where, name, kind, msg in errors]}


def _body_refused(payload: Any, names: list[str]) -> Answer | None:
    """FastAPI's 422 when the JSON body is not an object with these string fields."""
    if not isinstance(payload, dict):
        return 422, _field_errors([("body", name, "missing", "Field required") for name in names])
    errors = [
        ("body", name, "missing", "Field required")
        if name not in payload
        else ("body", name, "string_type", "Input should be a valid string")
        for name in names
        if not isinstance(payload.get(name), str)
    ]
    return (422, _field_errors(errors)) if errors else None


def _request_handler(fake: FakeIdentityService) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw
            fake.requests.append((self.command, self.path, payload))
            fake.authorizations.append(self.headers.get("Authorization", ""))
            request = _Request(self.command, self.path, self.headers.get("Authorization", ""), payload)
            status, body = fake._answer(request)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return RequestHandler
