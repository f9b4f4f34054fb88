"""Settings of the Hub, all read from the environment here and validated at start-up.

``HUB_ENV`` is ``dev`` (default), ``test`` or ``prod``. ``prod`` refuses dev secrets, ``DEBUG`` and the
embedded database; see ``README.md`` for every variable.
"""

from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from hub.cors import cors_origins_parse

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

HUB_ENV: str = env.str("HUB_ENV", default="dev")
if HUB_ENV not in {"dev", "test", "prod"}:
    raise ImproperlyConfigured(f"HUB_ENV must be dev, test or prod, not {HUB_ENV!r}")
IS_PROD = HUB_ENV == "prod"

DEV_SECRET_KEY = "dev-insecure-hub-secret-key-never-use-in-production"  # noqa: S105
DEV_JWT_SECRET = "dev-insecure-identity-jwt-secret-change-me"  # noqa: S105

DEBUG: bool = env.bool("HUB_DEBUG", default=False)
SECRET_KEY: str = env.str("HUB_SECRET_KEY", default="" if IS_PROD else DEV_SECRET_KEY)

# --- Tenancy -------------------------------------------------------------------------------------
HUB_HOST: str = env.str("HUB_HOST", default="127.0.0.1")
HUB_PORT: int = env.int("HUB_PORT", default=8000)
HUB_BASE_DOMAIN: str = env.str("HUB_BASE_DOMAIN", default="localhost").lower().rstrip(".")
ALLOWED_HOSTS = [HUB_BASE_DOMAIN, f".{HUB_BASE_DOMAIN}"]

SHARED_APPS = [
    "tenants",
    "django_tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    # The platform admin at /admin/ on the bare domain: tenants.admin's own site, nothing else routed.
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The job queue's tables (jobs, events, workers, periodic defers) live in public: jobs of every
    # organization share one queue, each job naming its organization (tenants/jobs.py).
    "procrastinate.contrib.django",
    # Platform-level usage of each organization (one row per organization and day), in public.
    "apps.usage",
]
# Every table these apps create lives in a tenant schema, behind row-level security.
TENANT_APPS = [
    "guardian",
    "auditlog",
    "apps.audit",
    "apps.entities",
    "apps.privacy",
    "apps.ledger",
    "apps.scheduling",
    "apps.members",
    "apps.deliveries",
    "apps.notifications",
    "apps.analytics",
    "apps.reports",
    "apps.exports",
    "apps.imports",
]
INSTALLED_APPS = [
    *SHARED_APPS,
    *[app for app in TENANT_APPS if app not in SHARED_APPS],
    "ninja",
    # Static files (the API docs' assets) are served by WhiteNoise in every mode: `make run`, `make dev`
    # (runserver_nostatic: not runserver's own handler, which serves only under DEBUG) and the image.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
]

TENANT_MODEL = "tenants.Organization"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
ROOT_URLCONF = "hub.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "hub.urls_platform"
DATABASE_ROUTERS = ["tenants.routers.TenantAppsRouter"]
TENANT_SYNC_ROUTER = "tenants.routers.TenantAppsRouter"
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
# django-auditlog's entries are ours: hash-chained, append-only, one table per organization schema.
AUDITLOG_LOGENTRY_MODEL = "audit.AuditEntry"
AUDITLOG_STORE_JSON_CHANGES = True

# --- Database ------------------------------------------------------------------------------------
DATABASE_URL: str | None = env.str("DATABASE_URL", default=None) or None
DATABASE_OWNER_URL: str | None = env.str("DATABASE_OWNER_URL", default=None) or None
HUB_DB_POOL_MAX: int = env.int("HUB_DB_POOL_MAX", default=8)
# How long a request waits for a pooled connection (all busy, or the database restarting) before it
# answers 503 ``database_unavailable``.
HUB_DB_POOL_TIMEOUT: float = env.float("HUB_DB_POOL_TIMEOUT", default=5.0)
# A backend keeps the catalog entries of every tenant schema it has touched until it ends: ~220 KiB a
# schema (make bench-tenants: three tables read in each of 1,000 schemas), so one serving a whole
# 10,000-organization fleet would grow past 2 GiB. Replaced after 5 minutes (psycopg's default: an hour),
# a pooled connection holds only the organizations it served in that time (at 5 requests/s on it, spread
# over 10,000 organizations: ~1,400 schemas, ~300 MiB); the price is reading each one's catalog entries
# again on its first use by the new connection (~15-20 ms a schema for three tables on the bench machine).
HUB_DB_POOL_MAX_LIFETIME: float = env.float("HUB_DB_POOL_MAX_LIFETIME", default=300.0)
HUB_DB_POOL: bool = env.bool("HUB_DB_POOL", default=HUB_ENV != "test")
# Provision an organization by cloning the template schema (tenants/template.py) when it is current;
# off (or the template missing or behind): by running every tenant migration into the new schema.
HUB_TENANT_TEMPLATE: bool = env.bool("HUB_TENANT_TEMPLATE", default=True)

if DATABASE_URL is None:
    if IS_PROD:
        raise ImproperlyConfigured("HUB_ENV=prod needs DATABASE_URL: the embedded database is for dev only")
    from hub.embedded_db import embedded_database_urls

    # Tests get their own database (reset by every test session); several suites may run side by side
    # when each names its own with HUB_EMBEDDED_DATABASE.
    _urls = embedded_database_urls(
        env.str("HUB_EMBEDDED_DATABASE", default="hub_backend_test" if HUB_ENV == "test" else "hub_backend")
    )
    DATABASE_URL, DATABASE_OWNER_URL = _urls.runtime, _urls.owner
elif DATABASE_OWNER_URL is None:
    if IS_PROD:
        raise ImproperlyConfigured("HUB_ENV=prod needs DATABASE_OWNER_URL (the role that owns the schemas)")
    DATABASE_OWNER_URL = DATABASE_URL


def _database(url: str, *, pooled: bool) -> dict[str, Any]:
    config: dict[str, Any] = environ.Env.db_url_config(url)
    config["ENGINE"] = "tenants.db.backend"
    # Server-side cursors do not survive transaction pooling (PgBouncer) and our per-transaction
    # tenant settings; every query is fetched client-side.
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    config["CONN_MAX_AGE"] = 0
    config.setdefault("OPTIONS", {})
    if pooled:
        # tenants.db.backend checks every connection on checkout (a restarted server leaves dead ones).
        config["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": HUB_DB_POOL_MAX,
            "timeout": HUB_DB_POOL_TIMEOUT,
            "max_lifetime": HUB_DB_POOL_MAX_LIFETIME,
        }
    return config


DATABASES = {
    "default": _database(DATABASE_URL, pooled=HUB_DB_POOL),
    # DDL (migrations, provisioning, deletion) runs as the owner role, never as the runtime role.
    "owner": _database(DATABASE_OWNER_URL, pooled=False),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- HTTP ----------------------------------------------------------------------------------------
MIDDLEWARE = [
    "api.middleware.RequestIdMiddleware",
    # Per-route request counts and latency, and /metrics for the holder of HUB_METRICS_TOKEN.
    "hub.metrics.MetricsMiddleware",
    "api.middleware.HealthCheckMiddleware",
    "api.middleware.UriLengthGuardMiddleware",
    "api.middleware.NulGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files and CORS preflights answer on any served host before a tenant is looked up: no tenant,
    # no token, no database. CorsMiddleware wraps the rest, so errors (401, 404, 403) carry CORS too.
    "api.middleware.ServedHostMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "tenants.middleware.TenantRoutingMiddleware",
    # Sessions, users and messages only on the bare domain (the admin); a tenant host never reads them.
    "tenants.middleware.PlatformSessionMiddleware",
    "apps.audit.middleware.AuditMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "tenants.middleware.PlatformAuthenticationMiddleware",
    "tenants.middleware.PlatformMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
WSGI_APPLICATION = "hub.wsgi.application"
APPEND_SLASH = False
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("HUB_MAX_BODY_BYTES", default=1_048_576)
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# The admin's cookies: host-only (the bare domain; a tenant host never gets them), sent only under
# /admin/ (the platform API takes bearer tokens, never a cookie), a working day long.
SESSION_COOKIE_PATH = "/admin/"
CSRF_COOKIE_PATH = "/admin/"
SESSION_COOKIE_AGE = 8 * 3600
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
STATIC_URL = "static/"
# Static files (ninja's Swagger UI, the admin's assets) come from STATIC_ROOT once `manage.py collectstatic`
# has gathered them there (the image does at build, with gzip and brotli copies WhiteNoise sends to those
# who accept them); until then, as under `make run`, `make dev` and the tests, from the installed apps.
STATIC_ROOT = Path(env.str("HUB_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Files the Hub keeps for a while (uploaded imports, export downloads, organization archives; hub.files):
# a directory every web and worker process shares (a volume in compose), or any Django storage backend
# named by HUB_FILES_STORAGE (an S3 backend of django-storages, say) with its options in HUB_FILES_OPTIONS.
HUB_FILES_DIR = Path(env.str("HUB_FILES_DIR", default=str(BASE_DIR / ".data" / "files")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "hub_files": {
        "BACKEND": env.str("HUB_FILES_STORAGE", default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": json.loads(env.str("HUB_FILES_OPTIONS", default="{}"))
        or {
            "location": str(HUB_FILES_DIR),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    },
}
WHITENOISE_USE_FINDERS = not STATIC_ROOT.is_dir()
# WhiteNoise warns at every start that STATIC_ROOT does not exist yet: expected until collectstatic.
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)
# Browser origins allowed to call the API (django-cors-headers), comma-separated: origins, or patterns
# whose first label is * (https://*.example.com: one subdomain label); hub.cors checks and translates.
try:
    _cors = cors_origins_parse(
        env.list("HUB_CORS_ORIGINS", default=[] if IS_PROD else ["http://localhost:3000"])
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"HUB_CORS_ORIGINS: {exc}") from None
CORS_ALLOWED_ORIGINS: list[str] = _cors.exact
CORS_ALLOWED_ORIGIN_REGEXES: list[str] = _cors.patterns
CORS_URLS_REGEX = r"^/api/"  # the APIs only; the admin is same-origin
CORS_ALLOW_HEADERS = ("authorization", "content-type", "idempotency-key", "if-match", "x-request-id")
CORS_EXPOSE_HEADERS = ("ETag", "X-Request-ID", "Idempotent-Replayed", "Location", "Retry-After")
# Bearer tokens, never cookies: a cross-origin request is never credentialed.
CORS_ALLOW_CREDENTIALS = False
# Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For is believed: the client
# address of the access log and the audit trail (hub.client_address). None by default: the peer's.
HUB_TRUSTED_PROXIES: list[str] = env.list("HUB_TRUSTED_PROXIES", default=[])

if IS_PROD:
    # No SECURE_PROXY_SSL_HEADER: Django would believe X-Forwarded-Proto from anyone. gunicorn believes
    # it only from HUB_TRUSTED_PROXIES (platform/gunicorn.conf.py) and sets the scheme Django reads.
    SECURE_SSL_REDIRECT = env.bool("HUB_SECURE_SSL_REDIRECT", default=True)
    # \Z: "$" also matches before a final newline
    SECURE_REDIRECT_EXEMPT = [r"^healthz\Z", r"^readyz\Z", r"^readyz/workers\Z"]
    SECURE_HSTS_SECONDS = env.int("HUB_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # On by default, as ``check --deploy`` asks (every subdomain is HTTPS-only already); an operator who
    # must not be preloaded sets HUB_HSTS_PRELOAD=0 and gets the check's warning (security.W021).
    SECURE_HSTS_PRELOAD = env.bool("HUB_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Cache ---------------------------------------------------------------------------------------
REDIS_URL: str | None = env.str("REDIS_URL", default=None) or None
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hub"}
    )
}

# --- Identity and neighbouring services ----------------------------------------------------------
IDENTITY_SERVICE_URL: str = env.str("IDENTITY_SERVICE_URL", default="http://localhost:8001").rstrip("/")
IDENTITY_JWT_SECRET: str = env.str("IDENTITY_JWT_SECRET", default="" if IS_PROD else DEV_JWT_SECRET)
IDENTITY_JWKS_URL: str | None = env.str("IDENTITY_JWKS_URL", default=None) or None
IDENTITY_JWT_ALGORITHMS: list[str] = env.list(
    "IDENTITY_JWT_ALGORITHMS", default=["RS256", "ES256"] if IDENTITY_JWKS_URL else ["HS256"]
)
IDENTITY_JWT_ISSUER: str | None = env.str("IDENTITY_JWT_ISSUER", default=None) or None
IDENTITY_JWT_AUDIENCE: str | None = env.str("IDENTITY_JWT_AUDIENCE", default=None) or None
# After fetching the key set, wait this long before refetching it for an unknown kid (flood guard).
IDENTITY_JWKS_REFRESH_COOLDOWN_SECONDS: float = env.float(
    "IDENTITY_JWKS_REFRESH_COOLDOWN_SECONDS", default=30.0
)
IDENTITY_TIMEOUT_SECONDS: float = env.float("IDENTITY_TIMEOUT_SECONDS", default=2.0)
IDENTITY_ROLES_CACHE_SECONDS = 300
# Clock skew tolerated between the identity service's host and ours on ``iat``, ``nbf`` and ``exp``.
IDENTITY_JWT_LEEWAY_SECONDS: int = env.int("IDENTITY_JWT_LEEWAY_SECONDS", default=30)
# How provisioning asks the identity service whether an organization exists: ``off``, or the path of
# its organization route with ``{id}`` for the organization's UUID. The default is the conventional
# route: a deployment whose identity service has none answers 503 ``identity_misconfigured`` (and logs
# the URL) until it names the right path or says ``off``, rather than provisioning unchecked.
IDENTITY_ORGANIZATION_CHECK: str = env.str(
    "IDENTITY_ORGANIZATION_CHECK", default="/api/v1/organizations/{id}"
)
# Sent as the bearer token of that check when set; otherwise the calling platform admin's token is.
IDENTITY_SERVICE_TOKEN: str | None = env.str("IDENTITY_SERVICE_TOKEN", default=None) or None
# Identity-service role name -> Hub role; names not listed map to themselves.
HUB_ROLE_MAP: dict[str, str] = json.loads(env.str("HUB_ROLE_MAP", default="{}"))
# Where a caller's roles come from, tried in order until one names any (``api.auth.principal_roles``):
# the token's ``roles``, the organization's memberships in the Hub, the identity service's validate.
IDENTITY_ROLES_SOURCES_KNOWN = ("token", "membership", "identity")
IDENTITY_ROLES_SOURCE: tuple[str, ...] = tuple(
    name.strip() for name in env.list("IDENTITY_ROLES_SOURCE", default=["token", "membership"])
)
if (
    not IDENTITY_ROLES_SOURCE
    or len(set(IDENTITY_ROLES_SOURCE)) != len(IDENTITY_ROLES_SOURCE)
    or not set(IDENTITY_ROLES_SOURCE) <= set(IDENTITY_ROLES_SOURCES_KNOWN)
):
    raise ImproperlyConfigured(
        "IDENTITY_ROLES_SOURCE must list, in order and without repeats, some of "
        f"{', '.join(IDENTITY_ROLES_SOURCES_KNOWN)}; not {','.join(IDENTITY_ROLES_SOURCE)!r}"
    )
# Role given on first use to a user whose token names the organization and who holds no role there
# (recorded as a membership); unset: such a user is refused with 403 ``not_a_member``.
HUB_DEFAULT_MEMBER_ROLE: str | None = env.str("HUB_DEFAULT_MEMBER_ROLE", default=None) or None
if HUB_DEFAULT_MEMBER_ROLE not in (None, "admin", "member", "viewer"):
    raise ImproperlyConfigured(
        f"HUB_DEFAULT_MEMBER_ROLE must be admin, member or viewer, not {HUB_DEFAULT_MEMBER_ROLE!r}"
    )
# Users who administer the platform API, by identity-service user id: the real identity service puts
# no roles in its tokens, so without this only a token carrying ``roles: ["platform_admin"]`` would do.
try:
    HUB_PLATFORM_ADMINS: frozenset[uuid.UUID] = frozenset(
        uuid.UUID(value) for value in env.list("HUB_PLATFORM_ADMINS", default=[]) if value.strip()
    )
except ValueError:
    raise ImproperlyConfigured("HUB_PLATFORM_ADMINS must list user UUIDs, comma-separated") from None
COMMUNICATION_SERVICE_URL: str = env.str("COMMUNICATION_SERVICE_URL", default="http://localhost:8003")
WORKFLOW_SERVICE_URL: str = env.str("WORKFLOW_SERVICE_URL", default="http://localhost:8004")
# Bearer tokens the Hub presents to those services (apps.deliveries); unset: no Authorization header.
COMMUNICATION_SERVICE_TOKEN: str | None = env.str("COMMUNICATION_SERVICE_TOKEN", default=None) or None
WORKFLOW_SERVICE_TOKEN: str | None = env.str("WORKFLOW_SERVICE_TOKEN", default=None) or None
# One delivery's HTTP call: connect and whole-response timeouts, in seconds.
HUB_DELIVERY_CONNECT_TIMEOUT_SECONDS: float = env.float("HUB_DELIVERY_CONNECT_TIMEOUT_SECONDS", default=2.0)
HUB_DELIVERY_TIMEOUT_SECONDS: float = env.float("HUB_DELIVERY_TIMEOUT_SECONDS", default=10.0)
# Attempts of one delivery before it is dead-lettered (status ``failed``); retried with exponential
# backoff and full jitter between attempts (base * 2**attempt seconds, capped).
HUB_DELIVERY_MAX_ATTEMPTS: int = env.int("HUB_DELIVERY_MAX_ATTEMPTS", default=6)
HUB_DELIVERY_RETRY_BASE_SECONDS: float = env.float("HUB_DELIVERY_RETRY_BASE_SECONDS", default=5.0)
HUB_DELIVERY_RETRY_MAX_SECONDS: float = env.float("HUB_DELIVERY_RETRY_MAX_SECONDS", default=1800.0)
# Delivered rows (and their attempts) are deleted this many days after delivery (apps.privacy retention).
HUB_DELIVERY_RETENTION_DAYS: int = env.int("HUB_DELIVERY_RETENTION_DAYS", default=30)
# Events (apps.notifications: ids and codes that fed the alert rules) are deleted this many days after
# they occurred, by a daily job; an event's rules have long run by then.
HUB_EVENTS_RETENTION_DAYS: int = env.int("HUB_EVENTS_RETENTION_DAYS", default=30)
_delivery_timeouts = (HUB_DELIVERY_TIMEOUT_SECONDS, HUB_DELIVERY_CONNECT_TIMEOUT_SECONDS)
if HUB_DELIVERY_MAX_ATTEMPTS < 1 or min(_delivery_timeouts) <= 0:
    raise ImproperlyConfigured("HUB_DELIVERY_MAX_ATTEMPTS must be at least 1 and its timeouts positive")

# --- Audit trail ---------------------------------------------------------------------------------
# Record reads (``access`` entries). Off only to measure what read auditing costs (bench variant
# hub_noaudit); creates, updates and deletes are audited whatever this says.
HUB_AUDIT_READS: bool = env.bool("HUB_AUDIT_READS", default=True)
# Entries are sealed into the hash chain right after their transaction commits; verify_audit reports an
# entry still unsealed this many seconds after it was written as a failure (a sealer that died).
HUB_AUDIT_SEAL_BOUND_SECONDS: int = env.int("HUB_AUDIT_SEAL_BOUND_SECONDS", default=60)
if HUB_AUDIT_SEAL_BOUND_SECONDS < 0:
    raise ImproperlyConfigured("HUB_AUDIT_SEAL_BOUND_SECONDS must be 0 or more")

# --- Lists ---------------------------------------------------------------------------------------
# A list's ``count`` is exact up to this many rows and a lower bound beyond (api.pagination): counting
# further would make a page cost O(organization size). The contract's floor is 1,000.
HUB_LIST_COUNT_BOUND: int = env.int("HUB_LIST_COUNT_BOUND", default=1_000)
if HUB_LIST_COUNT_BOUND < 1_000:
    raise ImproperlyConfigured("HUB_LIST_COUNT_BOUND must be at least 1000 (the contract's floor).")

# --- Optimistic concurrency ----------------------------------------------------------------------
# On: a PATCH/DELETE of an entity, account, resource or booking (and a booking's cancel) without
# If-Match is refused with 428 precondition_required (api.etags). Off: If-Match is honoured when sent.
HUB_REQUIRE_IF_MATCH: bool = env.bool("HUB_REQUIRE_IF_MATCH", default=False)

# --- Field encryption ----------------------------------------------------------------------------
# Master keys wrapping the organizations' data keys (tenants.crypto): base64 of 32 random bytes each,
# comma-separated, the first wraps new keys, all unwrap. Rotate: put a new key first, run
# ``manage.py rotate_field_keys``, then drop the old one. ``prod`` refuses the development key.
DEV_FIELD_KEY = "ZGV2LW9ubHktaHViLWZpZWxkLWtleS0zMi1ieXRlcyE="  # b"dev-only-hub-field-key-32-bytes!"
HUB_FIELD_KEYS: list[str] = env.list("HUB_FIELD_KEYS", default=[] if IS_PROD else [DEV_FIELD_KEY])
# --- Scheduling ----------------------------------------------------------------------------------
# Shortest and longest single booking, in minutes (apps.scheduling.validators).
HUB_BOOKING_MIN_MINUTES: int = env.int("HUB_BOOKING_MIN_MINUTES", default=5)
HUB_BOOKING_MAX_MINUTES: int = env.int("HUB_BOOKING_MAX_MINUTES", default=24 * 60)

# --- Notifications -------------------------------------------------------------------------------
# A rule resolving to more recipients than this is refused (422); ``booking.starting_soon`` fires this
# many minutes before a booking's start (apps.notifications).
HUB_NOTIFICATION_MAX_RECIPIENTS: int = env.int("HUB_NOTIFICATION_MAX_RECIPIENTS", default=500)
HUB_NOTIFICATION_STARTING_SOON_MINUTES: int = env.int("HUB_NOTIFICATION_STARTING_SOON_MINUTES", default=60)
if HUB_NOTIFICATION_MAX_RECIPIENTS < 1 or HUB_NOTIFICATION_STARTING_SOON_MINUTES < 0:
    raise ImproperlyConfigured(
        "HUB_NOTIFICATION_MAX_RECIPIENTS must be at least 1, "
        "HUB_NOTIFICATION_STARTING_SOON_MINUTES at least 0"
    )

# --- Analytics -----------------------------------------------------------------------------------
# The longest series (points) and window (days) one analytics request may ask for (422 beyond).
HUB_ANALYTICS_MAX_POINTS: int = env.int("HUB_ANALYTICS_MAX_POINTS", default=1000)
HUB_ANALYTICS_MAX_DAYS: int = env.int("HUB_ANALYTICS_MAX_DAYS", default=3660)
if min(HUB_ANALYTICS_MAX_POINTS, HUB_ANALYTICS_MAX_DAYS) < 1:
    raise ImproperlyConfigured("HUB_ANALYTICS_MAX_POINTS and HUB_ANALYTICS_MAX_DAYS must be at least 1")

# --- Imports -------------------------------------------------------------------------------------
# An uploaded file's largest size (413 beyond: from Content-Length before the body is read, and while
# it streams), most rows (a report at the first row past it) and longest cell (a too_long issue).
HUB_IMPORT_MAX_BYTES: int = env.int("HUB_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
HUB_IMPORT_MAX_ROWS: int = env.int("HUB_IMPORT_MAX_ROWS", default=200_000)
HUB_IMPORT_MAX_CELL_CHARS: int = env.int("HUB_IMPORT_MAX_CELL_CHARS", default=32_767)
# An import neither committed nor cancelled this many hours after its upload is cancelled, its file
# removed (hourly job): an uploaded file holds personal data and is kept no longer than it serves.
HUB_IMPORT_TTL_HOURS: int = env.int("HUB_IMPORT_TTL_HOURS", default=72)
if min(HUB_IMPORT_MAX_BYTES, HUB_IMPORT_MAX_ROWS, HUB_IMPORT_MAX_CELL_CHARS, HUB_IMPORT_TTL_HOURS) < 1:
    raise ImproperlyConfigured(
        "HUB_IMPORT_MAX_BYTES, _MAX_ROWS, _MAX_CELL_CHARS and _TTL_HOURS must be at least 1"
    )

# --- Exports -------------------------------------------------------------------------------------
# A finished export's file is kept this many hours, then removed by the periodic purge (apps.exports);
# an export of more rows than HUB_EXPORT_MAX_ROWS fails with export_too_large; an organization runs at
# most HUB_EXPORT_MAX_RUNNING exports at once (429 with Retry-After beyond).
HUB_EXPORT_TTL_HOURS: int = env.int("HUB_EXPORT_TTL_HOURS", default=24)
HUB_EXPORT_MAX_ROWS: int = env.int("HUB_EXPORT_MAX_ROWS", default=1_000_000)
HUB_EXPORT_MAX_RUNNING: int = env.int("HUB_EXPORT_MAX_RUNNING", default=3)
if min(HUB_EXPORT_TTL_HOURS, HUB_EXPORT_MAX_ROWS, HUB_EXPORT_MAX_RUNNING) < 1:
    raise ImproperlyConfigured("HUB_EXPORT_TTL_HOURS, _MAX_ROWS and _MAX_RUNNING must be at least 1")
# Organization archives made by the platform API (tenants/archive/): their file is deleted this long after
# it was written.
HUB_ARCHIVE_TTL_SECONDS: int = env.int("HUB_ARCHIVE_TTL_SECONDS", default=24 * 3600)
if HUB_ARCHIVE_TTL_SECONDS < 60:
    raise ImproperlyConfigured("HUB_ARCHIVE_TTL_SECONDS must be at least 60")

# --- Background jobs ---------------------------------------------------------------------------
# procrastinate (tenants/jobs.py): jobs are rows of ``public.procrastinate_jobs`` deferred in the
# transaction of the change that causes them; ``make worker`` runs them. Tasks live in each app's
# ``tasks.py`` (found by procrastinate's autodiscovery).
PROCRASTINATE_DATABASE_ALIAS = "default"
# Attempts of a failing job before it stays ``failed`` (visible at GET /api/platform/v1/jobs).
HUB_JOBS_MAX_ATTEMPTS: int = env.int("HUB_JOBS_MAX_ATTEMPTS", default=8)
# Backoff between attempts: base * 2**attempt seconds, with full jitter, capped.
HUB_JOBS_RETRY_BASE_SECONDS: float = env.float("HUB_JOBS_RETRY_BASE_SECONDS", default=2.0)
HUB_JOBS_RETRY_MAX_SECONDS: float = env.float("HUB_JOBS_RETRY_MAX_SECONDS", default=3600.0)
# A suspended organization's jobs are kept and tried again this much later (a deleted one's dropped).
HUB_JOBS_SUSPENDED_RETRY_SECONDS: int = env.int("HUB_JOBS_SUSPENDED_RETRY_SECONDS", default=600)
if min(HUB_JOBS_MAX_ATTEMPTS, HUB_JOBS_SUSPENDED_RETRY_SECONDS) < 1 or HUB_JOBS_RETRY_BASE_SECONDS < 0:
    raise ImproperlyConfigured(
        "HUB_JOBS_MAX_ATTEMPTS and HUB_JOBS_SUSPENDED_RETRY_SECONDS must be at least 1, "
        "HUB_JOBS_RETRY_BASE_SECONDS at least 0"
    )

# --- Metrics -------------------------------------------------------------------------------------
# ``GET /metrics`` (hub.metrics) answers only ``Authorization: Bearer <this>``; unset: 404, nothing exposed.
HUB_METRICS_TOKEN: str | None = env.str("HUB_METRICS_TOKEN", default=None) or None

# --- Logging -------------------------------------------------------------------------------------
HUB_LOG_FORMAT: str = env.str("HUB_LOG_FORMAT", default="json" if IS_PROD else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "api.middleware.RequestIdLogFilter"},
        "client_errors": {"()": "api.middleware.ClientErrorLogFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {
            "()": "api.middleware.TextFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": HUB_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("HUB_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        # A 4xx is told once, by the access line (status and error code), not again by Django.
        "django.request": {"filters": ["client_errors"]},
    },
}


def _refuse_unsafe_production_settings() -> None:
    from hub.secret_strength import key_bytes_weakness, secret_weakness
    from tenants.master_keys import master_key_parse

    problems = []
    if DEBUG:
        problems.append("HUB_DEBUG must be off")
    if not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("HUB_SECRET_KEY must be set to a random value of at least 50 characters")
    elif weakness := secret_weakness(SECRET_KEY):
        problems.append(f"HUB_SECRET_KEY must be a random value: {weakness}")
    # HS256 needs a key of at least 256 bits (RFC 7518, 3.2): a short one can be brute-forced offline
    # from any token, and then every organization's tokens can be forged.
    if not IDENTITY_JWKS_URL and (
        not IDENTITY_JWT_SECRET or IDENTITY_JWT_SECRET == DEV_JWT_SECRET or len(IDENTITY_JWT_SECRET) < 32
    ):
        problems.append(
            "IDENTITY_JWT_SECRET must be set to a random value of at least 32 characters "
            "(or IDENTITY_JWKS_URL)"
        )
    elif IDENTITY_JWT_SECRET and (weakness := secret_weakness(IDENTITY_JWT_SECRET)):
        problems.append(f"IDENTITY_JWT_SECRET must be a random value: {weakness}")
    if HUB_METRICS_TOKEN and (weakness := secret_weakness(HUB_METRICS_TOKEN)):
        problems.append(f"HUB_METRICS_TOKEN must be a random value: {weakness}")
    if not HUB_FIELD_KEYS or DEV_FIELD_KEY in HUB_FIELD_KEYS:
        problems.append(
            "HUB_FIELD_KEYS must hold the master field-encryption key(s) (manage.py generate_field_key)"
        )
    for position, text in enumerate(HUB_FIELD_KEYS, start=1):
        weakness = secret_weakness(text) or key_bytes_weakness(master_key_parse(text).key)
        if weakness and text != DEV_FIELD_KEY:
            problems.append(f"HUB_FIELD_KEYS entry {position} must be random bytes: {weakness}")
    if problems:
        raise ImproperlyConfigured("HUB_ENV=prod refuses to start: " + "; ".join(problems))


def _check_field_keys() -> None:
    from tenants.master_keys import master_key_parse

    for text in HUB_FIELD_KEYS:
        try:
            master_key_parse(text)
        except ValueError as exc:
            raise ImproperlyConfigured(f"HUB_FIELD_KEYS: {exc}") from None


def _check_identity() -> None:
    if IDENTITY_JWT_LEEWAY_SECONDS < 0:
        raise ImproperlyConfigured("IDENTITY_JWT_LEEWAY_SECONDS must be 0 or more")
    check, rest = IDENTITY_ORGANIZATION_CHECK, IDENTITY_ORGANIZATION_CHECK.replace("{id}", "")
    if check != "off" and (not check.startswith("/") or rest == check or "{" in rest or "}" in rest):
        raise ImproperlyConfigured(
            f"IDENTITY_ORGANIZATION_CHECK must be off or a path from / holding {{id}}, not {check!r}"
        )


def _check_trusted_proxies() -> None:
    from hub.client_address import trusted_proxies_parse

    try:
        trusted_proxies_parse(HUB_TRUSTED_PROXIES)
    except ValueError as exc:
        raise ImproperlyConfigured(f"HUB_TRUSTED_PROXIES: {exc}") from None


_check_field_keys()
_check_identity()
_check_trusted_proxies()
if IS_PROD:
    _refuse_unsafe_production_settings()
