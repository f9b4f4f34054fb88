"""Contract section 3 (identity) through real HTTP: tokens, JWKS, roles, tenant binding, the user mirror.

Every request goes through the Django test client with the full middleware, on a tenant host or on the
bare platform domain. The identity service is the real local HTTP server of ``tests.fakes``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import Client

from api.auth import request_actor
from conftest import ClientFactory, TokenFactory
from hub.errors import NotAuthenticated
from tenants.models import Organization, User
from tests.fakes import FakeIdentityService
from tests.helpers import assert_error as _error

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

ENTITIES = "/api/v1/entities/"
KINDS = "/api/v1/entities/kinds"
PLATFORM_TENANTS = "/api/platform/v1/tenants"
VALIDATE = "/api/v1/auth/validate"
JWKS_PATH = "/jwks.json"


# --- helpers -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64url(json.dumps(obj).encode())


def _claims(tenant: Organization | None, roles: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "email": "crafted@example.com",
        "tenant_id": str(tenant.organization_id) if tenant else None,
        "type": "access",
        "iat": now,
        "exp": now + 600,
    }
    if roles is not None:
        claims["roles"] = roles
    claims.update(overrides)
    return claims


def _host(tenant: Organization | None) -> str:
    return tenant.primary_domain if tenant else django_settings.HUB_BASE_DOMAIN


def _bearer(tenant: Organization | None, token: str) -> Client:
    return Client(headers={"Host": _host(tenant), "Authorization": f"Bearer {token}"})


def _unauthorized(response: Response, code: str | None = None) -> dict[str, Any]:
    body = _error(response, 401, code)
    assert response["WWW-Authenticate"].startswith("Bearer")
    return body


def _unavailable(response: Response) -> None:
    _error(response, 503, "identity_unavailable")
    assert int(response["Retry-After"]) > 0


def _validate_answer(roles: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "user_id": str(uuid.uuid4()),
        "email": "someone@example.com",
        "tenant_id": None,
        "roles": roles,
        "permissions": [],
        "expires_at": "2099-01-01T00:00:00Z",
        **extra,
    }


def _validate_calls(fake: FakeIdentityService) -> list[tuple[str, str, Any]]:
    return [request for request in fake.requests if request[:2] == ("POST", VALIDATE)]


def _jwks_calls(fake: FakeIdentityService) -> list[tuple[str, str, Any]]:
    return [request for request in fake.requests if request[:2] == ("GET", JWKS_PATH)]


@pytest.fixture(autouse=True)
def _roles_from_the_token_then_the_identity_service(settings: Any) -> None:
    """These tests are about the token and the identity service's answer as sources of roles (the
    membership source is tested in ``apps/members``)."""
    settings.IDENTITY_ROLES_SOURCE = ("token", "identity")


# --- the Authorization header --------------------------------------------------------------------


def test_missing_authorization_header_is_401_with_bearer_challenge(
    client_for: ClientFactory, tenant_a: Organization
) -> None:
    response = client_for(tenant_a).get(ENTITIES)

    assert _unauthorized(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_missing_authorization_header_on_platform_api_is_401(client_for: ClientFactory) -> None:
    _unauthorized(client_for(None).get(PLATFORM_TENANTS), "not_authenticated")


@pytest.mark.parametrize("scheme", ["Basic", "Token", "JWT", "Bearer:"])
def test_non_bearer_scheme_is_401(scheme: str, make_token: TokenFactory, tenant_a: Organization) -> None:
    token = make_token(tenant_a, ["admin"])
    client = Client(headers={"Host": tenant_a.primary_domain, "Authorization": f"{scheme} {token}"})

    _unauthorized(client.get(ENTITIES), "not_authenticated")


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "x" * 5000, "two words"],
)
def test_garbage_token_is_401_with_bearer_challenge(token: str, tenant_a: Organization) -> None:
    response = _bearer(tenant_a, token).get(ENTITIES)

    _unauthorized(response)
    assert response["WWW-Authenticate"] == "Bearer"


def test_lowercase_bearer_scheme_is_accepted(make_token: TokenFactory, tenant_a: Organization) -> None:
    token = make_token(tenant_a, ["viewer"])
    client = Client(headers={"Host": tenant_a.primary_domain, "Authorization": f"bearer {token}"})

    assert client.get(ENTITIES).status_code == 200


# --- token verification (HS256, the default) ------------------------------------------------------


def test_valid_token_is_accepted(client_for: ClientFactory, tenant_a: Organization) -> None:
    response = client_for(tenant_a, ["viewer"]).get(ENTITIES)

    assert response.status_code == 200
    assert response.json() == {"items": [], "count": 0, "count_exact": True, "next": None}


def test_expired_token_is_401_token_expired(make_token: TokenFactory, tenant_a: Organization) -> None:
    now = int(time.time())
    token = make_token(tenant_a, ["admin"], iat=now - 3600, exp=now - 60)

    body = _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_expired")
    assert "expired" in body["detail"]


def test_refresh_token_is_refused(make_token: TokenFactory, tenant_a: Organization) -> None:
    token = make_token(tenant_a, ["admin"], type="refresh")

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_type")


def test_token_without_type_is_refused(make_token: TokenFactory, tenant_a: Organization) -> None:
    token = make_token(tenant_a, ["admin"], type=...)
    assert "type" not in jwt.decode(token, options={"verify_signature": False})

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_type")


def test_alg_none_token_is_refused(tenant_a: Organization) -> None:
    header = {"alg": "none", "typ": "JWT"}
    token = f"{_segment(header)}.{_segment(_claims(tenant_a, ['admin']))}."

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_variants_are_refused_on_platform_api(alg: str) -> None:
    token = f"{_segment({'alg': alg})}.{_segment(_claims(None, ['platform_admin']))}."

    _unauthorized(_bearer(None, token).get(PLATFORM_TENANTS), "token_invalid")


def test_token_signed_with_another_secret_is_refused(
    make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], key="another-secret-that-is-long-enough-for-hs256")

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_tampered_payload_is_refused(make_token: TokenFactory, tenant_a: Organization) -> None:
    header, _payload, signature = make_token(tenant_a, ["viewer"]).split(".")
    forged = f"{header}.{_segment(_claims(tenant_a, ['admin']))}.{signature}"

    _unauthorized(_bearer(tenant_a, forged).get(ENTITIES), "token_invalid")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS512", "HS384"])
def test_other_hmac_algorithm_is_refused_when_hs256_configured(
    algorithm: str, make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], algorithm=algorithm)
    assert jwt.get_unverified_header(token)["alg"] == algorithm

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_rs256_token_is_refused_when_hs256_configured(
    make_token: TokenFactory, rsa_key: rsa.RSAPrivateKey, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], key=rsa_key, algorithm="RS256")

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"iss": "https://identity.example"}, 200),
        ({"iss": "https://evil.example"}, 401),
        ({"iss": ...}, 401),
        ({"aud": "hub"}, 200),
        ({"aud": ["other", "hub"]}, 200),
        ({"aud": "other"}, 401),
        ({"aud": ...}, 401),
    ],
)
def test_issuer_and_audience_are_checked_when_configured(
    overrides: dict[str, Any],
    expected: int,
    settings: Any,
    make_token: TokenFactory,
    tenant_a: Organization,
) -> None:
    settings.IDENTITY_JWT_ISSUER = "https://identity.example"
    settings.IDENTITY_JWT_AUDIENCE = "hub"
    claims = {"iss": "https://identity.example", "aud": "hub", **overrides}
    token = make_token(tenant_a, ["viewer"], **claims)

    response = _bearer(tenant_a, token).get(ENTITIES)

    if expected == 200:
        assert response.status_code == 200
    else:
        _unauthorized(response, "token_invalid")


def test_issuer_and_audience_are_not_required_when_unset(
    settings: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    settings.IDENTITY_JWT_ISSUER = None
    settings.IDENTITY_JWT_AUDIENCE = None
    token = make_token(tenant_a, ["viewer"], iss="https://anyone.example", aud="anything")

    assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200


@pytest.mark.parametrize("sub", ["not-a-uuid", "", "1234", "../../etc/passwd"])
def test_sub_that_is_not_a_uuid_is_refused(
    sub: str, make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], sub=sub)

    body = _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")
    assert "sub" in body["detail"]


@pytest.mark.parametrize("tenant_id", ["not-a-uuid", "", 42, ["a"], {"id": 1}])
def test_tenant_id_that_is_not_a_uuid_is_refused(
    tenant_id: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], tenant_id=tenant_id)

    body = _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")
    assert "tenant_id" in body["detail"]


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_token_missing_a_required_claim_is_refused(
    claim: str, make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], **{claim: ...})
    assert claim not in jwt.decode(token, options={"verify_signature": False})

    body = _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")
    assert claim in body["detail"]


@pytest.mark.parametrize("exp", ["soon", None, [1]])
def test_malformed_exp_is_refused(exp: Any, make_token: TokenFactory, tenant_a: Organization) -> None:
    token = make_token(tenant_a, ["admin"], exp=exp)

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_token_issued_in_the_future_is_refused(make_token: TokenFactory, tenant_a: Organization) -> None:
    now = int(time.time())
    token = make_token(tenant_a, ["admin"], iat=now + 3600, exp=now + 7200)

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES))


# --- clock skew: IDENTITY_JWT_LEEWAY_SECONDS (30) on iat, nbf and exp --------------------------------


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_a_clock_20_seconds_ahead_is_accepted(
    claim: str, make_token: TokenFactory, tenant_a: Organization
) -> None:
    now = int(time.time())
    token = make_token(tenant_a, ["viewer"], **{claim: now + 20}, exp=now + 600)

    response = _bearer(tenant_a, token).get(ENTITIES)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_a_clock_10_minutes_ahead_is_refused(
    claim: str, make_token: TokenFactory, tenant_a: Organization
) -> None:
    now = int(time.time())
    token = make_token(tenant_a, ["viewer"], **{claim: now + 600}, exp=now + 1200)

    body = _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")
    assert "not yet valid" in body["detail"]


def test_a_token_expired_within_the_leeway_is_accepted(
    make_token: TokenFactory, tenant_a: Organization
) -> None:
    now = int(time.time())
    token = make_token(tenant_a, ["viewer"], iat=now - 600, exp=now - 10)

    assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200


def test_a_token_expired_beyond_the_leeway_is_401_token_expired(
    make_token: TokenFactory, tenant_a: Organization
) -> None:
    now = int(time.time())
    token = make_token(tenant_a, ["viewer"], iat=now - 600, exp=now - 45)

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_expired")


def test_the_leeway_is_the_configured_one(
    make_token: TokenFactory, tenant_a: Organization, settings: Any
) -> None:
    settings.IDENTITY_JWT_LEEWAY_SECONDS = 0
    now = int(time.time())
    token = make_token(tenant_a, ["viewer"], iat=now + 20, exp=now + 600)

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


# --- JWKS (RS256 / ES256) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _jwk(private_key: Any, kid: str) -> dict[str, Any]:
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


@pytest.fixture
def jwks(
    settings: Any,
    identity_service: FakeIdentityService,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> FakeIdentityService:
    """The fake identity service serves a key set with an RSA (``rsa-1``) and an EC (``ec-1``) key."""
    identity_service.route("GET", JWKS_PATH, 200, {"keys": [_jwk(rsa_key, "rsa-1"), _jwk(ec_key, "ec-1")]})
    settings.IDENTITY_JWKS_URL = identity_service.url + JWKS_PATH
    settings.IDENTITY_JWT_ALGORITHMS = ["RS256", "ES256"]
    return identity_service


def test_jwks_rs256_and_es256_tokens_with_a_known_kid_pass(
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tenant_a: Organization,
) -> None:
    rs256 = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    es256 = make_token(tenant_a, ["member"], key=ec_key, algorithm="ES256", headers={"kid": "ec-1"})

    assert _bearer(tenant_a, rs256).get(ENTITIES).status_code == 200
    response = _bearer(tenant_a, es256).post(
        ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json"
    )
    assert response.status_code == 201, response.content
    # The key set is fetched once and then served from the cache.
    assert len(_jwks_calls(jwks)) == 1


def test_jwks_unknown_kid_refetches_once_then_401(
    settings: Any,
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    tenant_a: Organization,
) -> None:
    settings.IDENTITY_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    known = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert _bearer(tenant_a, known).get(ENTITIES).status_code == 200
    assert len(_jwks_calls(jwks)) == 1

    unknown = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-2"})
    body = _unauthorized(_bearer(tenant_a, unknown).get(ENTITIES), "token_invalid")

    assert "unknown key" in body["detail"]
    assert len(_jwks_calls(jwks)) == 2


def test_jwks_rotated_key_is_picked_up_by_the_refetch(
    settings: Any,
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tenant_a: Organization,
) -> None:
    settings.IDENTITY_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    old = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert _bearer(tenant_a, old).get(ENTITIES).status_code == 200

    # The identity service rotates: rsa-1 is withdrawn, rsa-2 replaces it.
    jwks.route("GET", JWKS_PATH, 200, {"keys": [_jwk(rsa_key, "rsa-2"), _jwk(ec_key, "ec-1")]})
    new = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-2"})
    assert _bearer(tenant_a, new).get(ENTITIES).status_code == 200
    assert len(_jwks_calls(jwks)) == 2

    # A withdrawn key is no longer trusted once the key set has been refreshed.
    _unauthorized(_bearer(tenant_a, old).get(ENTITIES), "token_invalid")


def test_jwks_unknown_kids_within_the_cooldown_do_not_hammer_the_identity_service(
    jwks: FakeIdentityService, make_token: TokenFactory, rsa_key: rsa.RSAPrivateKey, tenant_a: Organization
) -> None:
    for attempt in range(5):
        token = make_token(
            tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": f"x-{attempt}"}
        )
        _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")

    assert len(_jwks_calls(jwks)) == 1


def test_jwks_token_without_kid_is_refused(
    jwks: FakeIdentityService, make_token: TokenFactory, rsa_key: rsa.RSAPrivateKey, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256")

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


@pytest.mark.parametrize("kid", [["rsa-1"], 1, {"k": "rsa-1"}])
def test_jwks_kid_that_is_not_a_string_is_refused(
    kid: Any, jwks: FakeIdentityService, rsa_key: rsa.RSAPrivateKey, tenant_a: Organization
) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = f"{_segment(header)}.{_segment(_claims(tenant_a, ['viewer']))}"
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
        signing_input.encode(), rsa_key
    )
    token = f"{signing_input}.{_b64url(signature)}"

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_jwks_algorithm_confusion_hs256_signed_with_the_public_key_is_refused(
    jwks: FakeIdentityService, rsa_key: rsa.RSAPrivateKey, tenant_a: Organization
) -> None:
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = f"{_segment(header)}.{_segment(_claims(tenant_a, ['admin']))}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64url(signature)}"

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_jwks_token_whose_algorithm_does_not_match_its_key_is_refused_not_500(
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tenant_a: Organization,
) -> None:
    es256_naming_rsa = make_token(
        tenant_a, ["viewer"], key=ec_key, algorithm="ES256", headers={"kid": "rsa-1"}
    )
    rs256_naming_ec = make_token(
        tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "ec-1"}
    )

    _unauthorized(_bearer(tenant_a, es256_naming_rsa).get(ENTITIES), "token_invalid")
    _unauthorized(_bearer(tenant_a, rs256_naming_ec).get(ENTITIES), "token_invalid")


def test_jwks_mode_refuses_hs256_tokens_signed_with_the_shared_secret(
    jwks: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["admin"], headers={"kid": "rsa-1"})

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_jwks_rs256_token_with_a_forged_signature_is_refused(
    jwks: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = make_token(tenant_a, ["admin"], key=impostor, algorithm="RS256", headers={"kid": "rsa-1"})

    _unauthorized(_bearer(tenant_a, token).get(ENTITIES), "token_invalid")


def test_jwks_of_a_new_url_is_used_after_the_setting_changes(
    settings: Any,
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    tenant_a: Organization,
) -> None:
    first = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert _bearer(tenant_a, first).get(ENTITIES).status_code == 200

    other = FakeIdentityService().start()
    try:
        other.route("GET", JWKS_PATH, 200, {"keys": [_jwk(ec_key, "ec-9")]})
        settings.IDENTITY_JWKS_URL = other.url + JWKS_PATH
        second = make_token(tenant_a, ["viewer"], key=ec_key, algorithm="ES256", headers={"kid": "ec-9"})

        assert _bearer(tenant_a, second).get(ENTITIES).status_code == 200
        # rsa-1 belongs to the old key set only.
        _unauthorized(_bearer(tenant_a, first).get(ENTITIES), "token_invalid")
        assert len(_jwks_calls(other)) == 1
    finally:
        other.stop()
    assert len(_jwks_calls(jwks)) == 1


def test_jwks_token_of_another_organization_is_403_before_the_keys_are_fetched(
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    tenant_a: Organization,
    tenant_b: Organization,
) -> None:
    token = make_token(tenant_b, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    _error(_bearer(tenant_a, token).get(ENTITIES), 403, "tenant_mismatch")
    assert _jwks_calls(jwks) == []


def test_jwks_unreachable_is_503_never_500(
    closed_port: int,
    settings: Any,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    tenant_a: Organization,
) -> None:
    settings.IDENTITY_JWKS_URL = f"http://127.0.0.1:{closed_port}{JWKS_PATH}"
    settings.IDENTITY_JWT_ALGORITHMS = ["RS256", "ES256"]
    token = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    _unavailable(_bearer(tenant_a, token).get(ENTITIES))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"{not json"),
        (200, b"\xff\xfe\x00"),
        (200, {"keys": "not-a-list"}),
        (200, {"keys": [{"kty": "nonsense"}]}),
        (500, {"detail": "boom"}),
    ],
)
def test_jwks_endpoint_answering_nonsense_is_503(
    status: int,
    body: Any,
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    tenant_a: Organization,
) -> None:
    jwks.route("GET", JWKS_PATH, status, body)
    token = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    _unavailable(_bearer(tenant_a, token).get(ENTITIES))


@pytest.mark.parametrize("status", [404, 405])
def test_a_jwks_url_the_identity_service_does_not_serve_is_a_logged_misconfiguration(
    status: int,
    jwks: FakeIdentityService,
    make_token: TokenFactory,
    rsa_key: rsa.RSAPrivateKey,
    tenant_a: Organization,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jwks.route("GET", JWKS_PATH, status, {"detail": "Not Found"})
    token = make_token(tenant_a, ["viewer"], key=rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    with caplog.at_level(logging.ERROR, logger="tenants.identity"):
        response = _bearer(tenant_a, token).get(ENTITIES)

    _error(response, 503, "identity_misconfigured")
    assert int(response["Retry-After"]) > 0
    assert f"{jwks.url}{JWKS_PATH}" in caplog.text


# --- roles asked from the identity service --------------------------------------------------------


@pytest.mark.parametrize("roles", [None, [], "member"])
def test_token_without_roles_asks_the_identity_service_once(
    roles: Any, identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["member"]))
    token = make_token(tenant_a, roles)
    client = _bearer(tenant_a, token)

    created = client.post(ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json")
    listed = client.get(ENTITIES)

    assert created.status_code == 201, created.content
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert _validate_calls(identity_service) == [("POST", VALIDATE, {"token": token})]


def test_roles_answered_by_the_identity_service_are_the_ones_used(
    identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["viewer", 7, None]))
    client = _bearer(tenant_a, make_token(tenant_a))

    assert client.get(ENTITIES).status_code == 200
    _error(
        client.post(ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json"), 403, "role_required"
    )


def test_identity_answer_without_roles_grants_nothing(
    identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    answer = _validate_answer([])
    del answer["roles"]
    identity_service.route("POST", VALIDATE, 200, answer)

    # No role from the token, the memberships or the identity service: not a member (issue 11).
    _error(_bearer(tenant_a, make_token(tenant_a)).get(ENTITIES), 403, "not_a_member")


def test_cached_roles_survive_the_identity_service_going_down(
    identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["viewer"]))
    client = _bearer(tenant_a, make_token(tenant_a))
    assert client.get(ENTITIES).status_code == 200

    identity_service.stop()

    assert client.get(ENTITIES).status_code == 200
    assert len(_validate_calls(identity_service)) == 1


def test_roles_of_one_token_are_not_reused_for_another(
    identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["member"]))
    first = make_token(tenant_a, sub=str(uuid.uuid4()))
    second = make_token(tenant_a, sub=str(uuid.uuid4()))

    assert _bearer(tenant_a, first).get(ENTITIES).status_code == 200
    assert _bearer(tenant_a, second).get(ENTITIES).status_code == 200

    assert [call[2] for call in _validate_calls(identity_service)] == [{"token": first}, {"token": second}]


def test_identity_service_down_and_nothing_cached_is_503(
    closed_port: int, settings: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"

    _unavailable(_bearer(tenant_a, make_token(tenant_a)).get(ENTITIES))


def test_identity_service_down_on_platform_api_is_503(
    closed_port: int, settings: Any, make_token: TokenFactory
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"

    _unavailable(_bearer(None, make_token(None)).get(PLATFORM_TENANTS))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_identity_service_server_error_is_503(
    status: int, identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, status, {"detail": "boom"})

    _unavailable(_bearer(tenant_a, make_token(tenant_a)).get(ENTITIES))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html>not json</html>"),
        (200, ["member"]),
        (200, {"roles": "member"}),
        (200, {"roles": None}),
        (302, {}),
        (418, {"detail": "teapot"}),
        (429, {"detail": "slow down"}),
    ],
)
def test_identity_service_answering_nonsense_is_503(
    status: int,
    body: Any,
    identity_service: FakeIdentityService,
    make_token: TokenFactory,
    tenant_a: Organization,
) -> None:
    identity_service.route("POST", VALIDATE, status, body)

    _unavailable(_bearer(tenant_a, make_token(tenant_a)).get(ENTITIES))


@pytest.mark.parametrize("status", [400, 401, 403])
def test_identity_service_refusing_the_token_is_401(
    status: int, identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, status, {"detail": "invalid token"})

    _unauthorized(_bearer(tenant_a, make_token(tenant_a)).get(ENTITIES), "token_invalid")


def test_identity_service_answering_valid_false_is_401(
    identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    answer = {"valid": False, "user_id": None, "email": None, "tenant_id": None}
    identity_service.route("POST", VALIDATE, 200, answer)

    _unauthorized(_bearer(tenant_a, make_token(tenant_a)).get(ENTITIES), "token_invalid")


@pytest.mark.parametrize(
    ("status", "body"), [(404, {"detail": "Not Found"}), (405, {"detail": "Method Not Allowed"})]
)
def test_identity_service_without_the_validate_route_is_a_logged_misconfiguration(
    status: int,
    body: Any,
    identity_service: FakeIdentityService,
    make_token: TokenFactory,
    tenant_a: Organization,
    caplog: pytest.LogCaptureFixture,
) -> None:
    identity_service.route("POST", VALIDATE, status, body)
    token = make_token(tenant_a)

    with caplog.at_level(logging.ERROR, logger="tenants.identity"):
        response = _bearer(tenant_a, token).get(ENTITIES)

    _error(response, 503, "identity_misconfigured")
    assert int(response["Retry-After"]) > 0
    assert f"{identity_service.url}{VALIDATE}" in caplog.text
    assert token not in caplog.text


def test_refused_token_is_asked_again_next_time(
    identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    identity_service.route("POST", VALIDATE, 401, {"detail": "invalid token"})
    client = _bearer(tenant_a, make_token(tenant_a))

    _unauthorized(client.get(ENTITIES))
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["viewer"]))

    assert client.get(ENTITIES).status_code == 200
    assert len(_validate_calls(identity_service)) == 2


_AUTHENTICATE_IN_A_WORKER = """
import sys
import django
django.setup()
from api.auth import principal_authenticate
for token in sys.argv[1:]:
    print(",".join(sorted(principal_authenticate(token, organization_id=None).roles)))
"""


def test_roles_are_cached_in_redis_for_every_worker_until_the_token_expires(
    identity_service: FakeIdentityService, make_token: TokenFactory
) -> None:
    redis = pytest.importorskip("redis")
    server = redis.Redis(host="127.0.0.1", port=6379, db=15, socket_connect_timeout=1)
    try:
        server.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["platform_admin"]))
    now = int(time.time())
    short, long = make_token(None, exp=now + 120), make_token(None, exp=now + 3600)
    keys = [":1:hub:identity-roles:" + hashlib.sha256(token.encode()).hexdigest() for token in (short, long)]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "IDENTITY_SERVICE_URL": identity_service.url,
        "IDENTITY_JWT_SECRET": django_settings.IDENTITY_JWT_SECRET,
        "IDENTITY_ROLES_SOURCE": "token,identity",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",  # a worker that needs no database here
    }
    try:
        for _worker in range(2):  # two processes: nothing shared but Redis
            result = subprocess.run(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", _AUTHENTICATE_IN_A_WORKER, short, long],
                cwd=Path(__file__).resolve().parent.parent,
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.split() == ["platform_admin"] * 2
        assert [call[2] for call in _validate_calls(identity_service)] == [{"token": short}, {"token": long}]
        assert 0 < server.ttl(keys[0]) <= 120  # until the token expires
        assert 120 < server.ttl(keys[1]) <= 300  # at most five minutes
    finally:
        server.delete(*keys)


def test_token_with_roles_never_calls_the_identity_service(
    identity_service: FakeIdentityService, client_for: ClientFactory, tenant_a: Organization
) -> None:
    assert client_for(tenant_a, ["viewer"]).get(ENTITIES).status_code == 200

    assert identity_service.requests == []


# --- roles and HUB_ROLE_MAP -----------------------------------------------------------------------


def test_hub_role_map_translates_identity_roles(
    settings: Any, client_for: ClientFactory, tenant_a: Organization
) -> None:
    settings.HUB_ROLE_MAP = {"org_owner": "admin"}
    client = client_for(tenant_a, ["org_owner"])

    response = client.post(KINDS, {"key": "vendor", "label": "Vendor"}, "application/json")

    assert response.status_code == 201, response.content
    assert client.post(ENTITIES, {"kind": "vendor", "name": "V"}, "application/json").status_code == 201


def test_hub_role_map_applies_to_roles_answered_by_the_identity_service(
    settings: Any, identity_service: FakeIdentityService, make_token: TokenFactory, tenant_a: Organization
) -> None:
    settings.HUB_ROLE_MAP = {"org_owner": "admin"}
    identity_service.route("POST", VALIDATE, 200, _validate_answer(["org_owner"]))

    response = _bearer(tenant_a, make_token(tenant_a)).post(
        KINDS, {"key": "vendor", "label": "V"}, "application/json"
    )

    assert response.status_code == 201, response.content


def test_unmapped_identity_role_grants_nothing(client_for: ClientFactory, tenant_a: Organization) -> None:
    _error(client_for(tenant_a, ["org_owner"]).get(ENTITIES), 403, "role_required")


@pytest.mark.parametrize(
    "roles", [["superuser"], ["ADMIN"], ["admin "], ["root", "owner"], [1, None, {"a": 1}]]
)
def test_unknown_roles_grant_nothing(
    roles: list[Any], client_for: ClientFactory, tenant_a: Organization
) -> None:
    _error(client_for(tenant_a, roles).get(ENTITIES), 403, "role_required")


def test_unknown_roles_next_to_a_known_one_are_ignored(
    client_for: ClientFactory, tenant_a: Organization
) -> None:
    client = client_for(tenant_a, ["viewer", "superuser", 3])

    assert client.get(ENTITIES).status_code == 200
    _error(client.post(ENTITIES, {"kind": "customer", "name": "x"}, "application/json"), 403, "role_required")


def test_viewer_reads_but_cannot_write(viewer_client: Client) -> None:
    assert viewer_client.get(ENTITIES).status_code == 200

    response = viewer_client.post(ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json")

    body = _error(response, 403, "role_required")
    assert "member" in body["detail"]


def test_member_writes_but_cannot_administer(member_client: Client) -> None:
    created = member_client.post(ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json")

    assert created.status_code == 201, created.content
    _error(
        member_client.post(KINDS, {"key": "vendor", "label": "Vendor"}, "application/json"),
        403,
        "role_required",
    )


def test_admin_does_what_a_member_and_a_viewer_may(admin_client: Client) -> None:
    assert (
        admin_client.post(KINDS, {"key": "vendor", "label": "Vendor"}, "application/json").status_code == 201
    )
    assert admin_client.post(ENTITIES, {"kind": "vendor", "name": "V"}, "application/json").status_code == 201
    assert admin_client.get(ENTITIES).json()["count"] == 1


def test_platform_admin_role_grants_nothing_inside_an_organization(
    client_for: ClientFactory, tenant_a: Organization
) -> None:
    client = client_for(tenant_a, ["platform_admin"])

    _error(client.get(ENTITIES), 403, "role_required")


# --- tenant binding -------------------------------------------------------------------------------


def test_token_of_tenant_a_on_tenant_b_host_is_403_tenant_mismatch(
    make_token: TokenFactory, tenant_a: Organization, tenant_b: Organization
) -> None:
    client = _bearer(tenant_b, make_token(tenant_a, ["admin"]))

    _error(client.get(ENTITIES), 403, "tenant_mismatch")
    _error(
        client.post(ENTITIES, {"kind": "customer", "name": "x"}, "application/json"), 403, "tenant_mismatch"
    )


def test_token_of_an_unknown_organization_is_403_tenant_mismatch(
    make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(uuid.uuid4(), ["admin"])

    _error(_bearer(tenant_a, token).get(ENTITIES), 403, "tenant_mismatch")


def test_a_forged_token_naming_another_organization_is_401_and_learns_nothing(
    make_token: TokenFactory, tenant_a: Organization, tenant_b: Organization
) -> None:
    forged = make_token(tenant_b, ["admin"], key="not-the-identity-secret-" * 2)

    _unauthorized(_bearer(tenant_a, forged).get(ENTITIES), "token_invalid")
    _unauthorized(_bearer(None, forged).get(PLATFORM_TENANTS), "token_invalid")


def test_a_genuine_foreign_token_is_403_with_the_identity_service_down(
    closed_port: int, settings: Any, make_token: TokenFactory, tenant_a: Organization, tenant_b: Organization
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"
    token = make_token(tenant_b)  # no roles: only the identity service could tell them

    _error(_bearer(tenant_a, token).get(ENTITIES), 403, "tenant_mismatch")


def test_platform_token_on_a_tenant_host_is_403(make_token: TokenFactory, tenant_a: Organization) -> None:
    client = _bearer(tenant_a, make_token(None, ["platform_admin"]))

    _error(client.get(ENTITIES), 403, "tenant_mismatch")


def test_tenant_data_is_never_served_across_the_binding(
    b_member_client: Client, make_token: TokenFactory, tenant_a: Organization, tenant_b: Organization
) -> None:
    created = b_member_client.post(ENTITIES, {"kind": "customer", "name": "Beta Co"}, "application/json")
    assert created.status_code == 201, created.content

    a_on_b = _bearer(tenant_b, make_token(tenant_a, ["admin"]))

    _error(a_on_b.get(f"{ENTITIES}{created.json()['id']}"), 403, "tenant_mismatch")
    assert b_member_client.get(ENTITIES).json()["count"] == 1


def test_platform_admin_lists_tenants_on_the_platform_api(platform_client: Client) -> None:
    response = platform_client.get(PLATFORM_TENANTS)

    assert response.status_code == 200
    assert {"alpha", "beta"} <= {tenant["slug"] for tenant in response.json()["items"]}


@pytest.mark.parametrize("roles", [["admin"], ["member"], ["viewer"]])
def test_tenant_token_on_the_platform_api_is_403(
    roles: list[str], make_token: TokenFactory, tenant_a: Organization
) -> None:
    _error(_bearer(None, make_token(tenant_a, roles)).get(PLATFORM_TENANTS), 403)


def test_platform_level_token_without_platform_admin_is_403(client_for: ClientFactory) -> None:
    _error(client_for(None, ["admin"]).get(PLATFORM_TENANTS), 403, "role_required")


def test_a_user_listed_in_hub_platform_admins_administers_the_platform_with_a_roleless_token(
    settings: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    # The real identity service issues no roles: platform admins are named by user id instead.
    listed, unlisted = uuid.uuid4(), uuid.uuid4()
    settings.HUB_PLATFORM_ADMINS = frozenset({listed})
    settings.IDENTITY_ROLES_SOURCE = ("token", "membership")  # the default

    assert _bearer(None, make_token(None, sub=str(listed))).get(PLATFORM_TENANTS).status_code == 200
    _error(_bearer(None, make_token(None, sub=str(unlisted))).get(PLATFORM_TENANTS), 403, "role_required")
    # Inside an organization the list grants nothing: the same user's organization token is a stranger.
    tenant_token = make_token(tenant_a, sub=str(listed))
    _error(_bearer(tenant_a, tenant_token).get("/api/v1/entities/"), 403, "not_a_member")
    _error(_bearer(None, tenant_token).get(PLATFORM_TENANTS), 403, "tenant_mismatch")


def test_hub_platform_admins_must_be_user_ids() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "hub.settings", "HUB_PLATFORM_ADMINS": "root"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "HUB_PLATFORM_ADMINS must list user UUIDs" in result.stderr


def test_organization_bound_token_claiming_platform_admin_is_403(
    make_token: TokenFactory, tenant_a: Organization
) -> None:
    token = make_token(tenant_a, ["platform_admin", "admin"])

    _error(_bearer(None, token).get(PLATFORM_TENANTS), 403, "tenant_mismatch")


def test_platform_api_refuses_invalid_tokens_with_401(make_token: TokenFactory) -> None:
    expired = make_token(None, ["platform_admin"], exp=int(time.time()) - 120)
    refresh = make_token(None, ["platform_admin"], type="refresh")

    _unauthorized(_bearer(None, expired).get(PLATFORM_TENANTS), "token_expired")
    _unauthorized(_bearer(None, refresh).get(PLATFORM_TENANTS), "token_type")


# --- the user mirror ------------------------------------------------------------------------------


def test_request_mirrors_the_caller(make_token: TokenFactory, tenant_a: Organization) -> None:
    sub = uuid.uuid4()
    token = make_token(tenant_a, ["viewer"], sub=str(sub), email="ada@example.com")

    assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200

    user = User.objects.get(id=sub)
    assert user.email == "ada@example.com"
    assert not user.has_usable_password()


def test_writes_are_attributed_to_the_mirrored_caller(
    make_token: TokenFactory, tenant_a: Organization
) -> None:
    sub = uuid.uuid4()
    token = make_token(tenant_a, ["member"], sub=str(sub))

    response = _bearer(tenant_a, token).post(
        ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["created_by"] == str(sub)
    assert User.objects.filter(id=sub).exists()


def test_platform_request_mirrors_the_caller(make_token: TokenFactory) -> None:
    sub = uuid.uuid4()
    token = make_token(None, ["platform_admin"], sub=str(sub), email="ops@example.com")

    assert _bearer(None, token).get(PLATFORM_TENANTS).status_code == 200

    assert User.objects.get(id=sub).email == "ops@example.com"


def test_changed_email_updates_the_mirror(
    django_capture_on_commit_callbacks: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    sub = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        old = make_token(tenant_a, ["viewer"], sub=sub, email="old@example.com")
        assert _bearer(tenant_a, old).get(ENTITIES).status_code == 200
    # the mirror's and the member sighting's cache entries, and the seal of the read's audit entry
    assert len(callbacks) == 3
    assert User.objects.get(id=sub).email == "old@example.com"

    with django_capture_on_commit_callbacks(execute=True):
        new = make_token(tenant_a, ["viewer"], sub=sub, email="new@example.com")
        assert _bearer(tenant_a, new).get(ENTITIES).status_code == 200

    assert User.objects.get(id=sub).email == "new@example.com"
    assert User.objects.filter(email__in=["old@example.com", "new@example.com"]).count() == 1


def test_unchanged_caller_is_not_written_again(
    django_capture_on_commit_callbacks: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    sub = str(uuid.uuid4())
    token = make_token(tenant_a, ["viewer"], sub=sub, email="same@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200

    assert callbacks == []
    assert User.objects.get(id=sub).email == "same@example.com"


def test_failed_request_leaves_no_mirror_and_no_cached_mirror(
    django_capture_on_commit_callbacks: Any, make_token: TokenFactory, tenant_a: Organization
) -> None:
    sub = str(uuid.uuid4())
    token = make_token(tenant_a, ["member"], sub=sub, email="ghost@example.com")
    client = _bearer(tenant_a, token)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _error(client.get(f"{ENTITIES}{uuid.uuid4()}"), 404)
        _error(client.post(ENTITIES, {"kind": "no-such-kind", "name": "x"}, "application/json"), 422)

    # The mirror row went with the rolled-back request, and nothing remembers it as written.
    assert callbacks == []
    assert not User.objects.filter(id=sub).exists()

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(ENTITIES, {"kind": "customer", "name": "Acme"}, "application/json")

    assert created.status_code == 201, created.content
    assert User.objects.get(id=sub).email == "ghost@example.com"


def test_refused_request_writes_no_mirror(make_token: TokenFactory, tenant_a: Organization) -> None:
    sub = str(uuid.uuid4())

    _error(
        _bearer(tenant_a, make_token(tenant_a, ["viewer"], sub=sub)).post(ENTITIES, {}, "application/json"),
        403,
    )
    _error(_bearer(tenant_a, make_token(uuid.uuid4(), ["admin"], sub=sub)).get(ENTITIES), 403)

    assert not User.objects.filter(id=sub).exists()


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("zoë@exämple.com", "zoë@exämple.com"),
        (None, ""),
        (42, ""),
        (["a@example.com"], ""),
        ("a" * 243 + "@example.com", ""),
        ("nul\x00@example.com", ""),
        ("surrogate\ud800@example.com", ""),
        ("line\nbreak@example.com", ""),
    ],
)
def test_odd_email_claims_are_mirrored_safely(
    email: Any, stored: str, make_token: TokenFactory, tenant_a: Organization
) -> None:
    sub = uuid.uuid4()
    token = make_token(tenant_a, ["viewer"], sub=str(sub), email=email)

    assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200

    assert User.objects.get(id=sub).email == stored


def test_request_actor_needs_an_authenticated_request() -> None:
    with pytest.raises(NotAuthenticated):
        request_actor(HttpRequest())


# --- mint_dev_token -------------------------------------------------------------------------------


def _mint(*args: str) -> str:
    out = StringIO()
    call_command("mint_dev_token", *args, stdout=out)
    return out.getvalue().strip()


def test_mint_dev_token_for_a_tenant_is_accepted(tenant_a: Organization) -> None:
    user = uuid.uuid4()
    token = _mint(
        "--tenant", "alpha", "--roles", "member, viewer", "--user", str(user), "--email", "d@example.com"
    )

    response = _bearer(tenant_a, token).post(
        ENTITIES, {"kind": "customer", "name": "Dev"}, "application/json"
    )

    assert response.status_code == 201, response.content
    assert User.objects.get(id=user).email == "d@example.com"
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["member", "viewer"]


def test_mint_dev_token_for_the_platform_is_accepted() -> None:
    token = _mint("--platform", "--roles", "platform_admin")

    assert _bearer(None, token).get(PLATFORM_TENANTS).status_code == 200


def test_mint_dev_token_carries_the_configured_issuer_and_audience(
    settings: Any, tenant_a: Organization
) -> None:
    settings.IDENTITY_JWT_ISSUER = "https://identity.example"
    settings.IDENTITY_JWT_AUDIENCE = "hub"

    token = _mint("--tenant", "alpha", "--roles", "viewer", "--ttl", "60")

    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
        "https://identity.example",
        "hub",
        60,
    )
    assert _bearer(tenant_a, token).get(ENTITIES).status_code == 200


def test_mint_dev_token_is_refused_in_production(settings: Any) -> None:
    settings.IS_PROD = True

    with pytest.raises(CommandError, match="prod"):
        _mint("--tenant", "alpha", "--roles", "admin")


def test_mint_dev_token_refuses_an_unknown_slug() -> None:
    with pytest.raises(CommandError, match="no-such-org"):
        _mint("--tenant", "no-such-org", "--roles", "admin")


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_mint_dev_token_refuses_a_non_positive_ttl(ttl: str) -> None:
    with pytest.raises(CommandError, match="ttl"):
        _mint("--platform", "--roles", "platform_admin", "--ttl", ttl)
