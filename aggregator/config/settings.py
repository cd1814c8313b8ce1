"""Settings for the open banking aggregator.

Everything configurable is read from the environment through the one ``env`` object below (django-environ).
Defaults run with no services at all: SQLite in ``var/`` and Celery's ``filesystem://`` broker in
``var/broker/``. Set ``DATABASE_URL`` / ``CELERY_BROKER_URL`` to run the same code on PostgreSQL and Redis.

``DJANGO_ENV`` selects the profile: ``local`` (default), ``test`` or ``production``. Production refuses to
start without a real ``SECRET_KEY`` and turns on the secure-cookie / HSTS / SSL settings.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="local")
if DJANGO_ENV not in {"local", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be local, test or production, not {DJANGO_ENV!r}")
IS_PRODUCTION = DJANGO_ENV == "production"

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A per-checkout secret generated on first run into an untracked file (never committed)."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if IS_PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in production (DJANGO_ENV=production).")
    SECRET_KEY = _local_secret_key()
elif IS_PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY is too weak for production: use at least 50 random characters.")

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public base URL of this deployment; used to build absolute callback URLs for banks and links in emails.
# Unset (and no PORT): the URL `make run` recorded in DATA_DIR/public_base_url, so that commands in a second
# terminal reach the server whatever its port (aggregator/base_url.py).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")
if not PUBLIC_BASE_URL and "PORT" not in os.environ and (DATA_DIR / "public_base_url").is_file():
    PUBLIC_BASE_URL = (DATA_DIR / "public_base_url").read_text().strip()
PUBLIC_BASE_URL = PUBLIC_BASE_URL or "http://127.0.0.1:" + env.str("PORT", default="8000")

INSTALLED_APPS = [
    # Django's admin on our admin site: guarded sign-in, TOTP for staff (aggregator/config/admin_site.py).
    "aggregator.config.apps.AggregatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's files from the pinned drf-spectacular-sidecar package: the docs page works offline.
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_celery_beat",
    "aggregator",
    "aggregator.payments",
    "aggregator.insights",
    "aggregator.webhooks",
    "aggregator.ledger",
    "aggregator.ops",
    "aggregator.privacy",
    "consent",
    "providers",
]

# The mock banks: on by default everywhere except production, where SANDBOX_ENABLED must opt in.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=not IS_PRODUCTION)
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("providers.sandbox")

# A PostgreSQL streaming replica for the read-only data API (aggregator/config/db_router.py, docs/deployment.md).
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")

MIDDLEWARE = [
    # The sandbox banks' simulated latency (SANDBOX_LATENCY_MS), before anything else runs.
    *(["providers.sandbox.latency.SandboxLatencyMiddleware"] if SANDBOX_ENABLED else []),
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # HEAD answers carry no body, whatever the view wrote (a body would corrupt a keep-alive connection).
    "aggregator.middleware.HeadResponseMiddleware",
    "aggregator.middleware.RequestIdMiddleware",
    # Read-only API requests read from the replica, pinned to the primary after a write (only with a replica).
    *(["aggregator.config.db_router.ReplicaPinMiddleware"] if DATABASE_REPLICA_URL else []),
    # Log context (request_id, tpp, consent_id) and request metrics by route name (aggregator/observability).
    "aggregator.observability.middleware.ObservabilityMiddleware",
    # Oversize bodies (413), deep JSON nesting and NUL characters (400) never reach a view (never a 5xx).
    "aggregator.config.input_guard.HostileInputMiddleware",
    # /oauth/token/ and /oauth/revoke_token/ answer RFC 6749 JSON whatever fails below them (503: DB busy).
    "consent.oauth_errors.OAuthJSONErrorMiddleware",
    # DPoP-Nonce on API answers when the DPoP check asks for it (consent/fapi/dpop.py).
    "consent.fapi.middleware.DPoPNonceMiddleware",
    # Under /api/: the one JSON error shape, never an HTML page.
    "aggregator.api.errors.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # /api/v1/accounts/ and /oauth/token (the other slash) are served as their canonical path; an unknown /api/
    # path is a JSON 404 naming the closest real one (aggregator/api/paths.py). Before APPEND_SLASH.
    "aggregator.api.paths.ApiPathMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session passed a second factor (the admin requires it, ADMIN_REQUIRE_2FA).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "aggregator.config.urls"
WSGI_APPLICATION = "aggregator.config.wsgi.application"
ASGI_APPLICATION = "aggregator.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "aggregator" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server, worker and beat share the embedded database. Transactions are
    # BEGIN IMMEDIATE: a deferred one that reads and then writes (a token refresh, a sync page) fails at once with
    # "database is locked" when another writer committed in between; an immediate one waits for the lock instead.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests on a file, not in memory: live-server threads then open their own connections instead of sharing
    # the test thread's one (which Django refuses to close from another thread).
    # One file per test process, so two test runs never destroy each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test_db_{os.getpid()}.sqlite3")}
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests: the replica alias reads the test database
    DATABASE_ROUTERS = ["aggregator.config.db_router.ReplicaRouter"]
# PostgreSQL sessions pooled per process (psycopg_pool, Django's "pool" option): a request, a task or a sync's
# step between two bank calls borrows a warm session and gives it back, instead of starting a new PostgreSQL
# backend (a process, its catalog caches; the partitioned table's cost most) each time. DATABASE_POOL_SIZE is the
# most sessions one process holds (0: no pool, CONN_MAX_AGE applies); a thread that finds them all lent waits
# up to DATABASE_POOL_TIMEOUT seconds. docs/deployment.md sizes it per process kind.
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=0)
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=30.0)
if DATABASE_POOL_SIZE < 0:
    raise ImproperlyConfigured(f"DATABASE_POOL_SIZE must be 0 (no pool) or more, not {DATABASE_POOL_SIZE}")
for _alias, _database in DATABASES.items():
    if DATABASE_POOL_SIZE and _database["ENGINE"] == "django.db.backends.postgresql":
        _database["CONN_MAX_AGE"] = 0  # the pool keeps the sessions; Django refuses both
        _database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
            "name": f"aggregator-{_alias}",
        }
# After a write, a client's reads stay on the primary this long (replication lag).
DATABASE_REPLICA_PIN_SECONDS = env.float("DATABASE_REPLICA_PIN_SECONDS", default=5.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://aggregator")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/me/consents/"
LOGOUT_REDIRECT_URL = "/"

# Email to users (the compliance clocks' warnings: reconfirm a consent, re-authenticate at a bank). Printed to the
# console locally; SMTP in production (EMAIL_HOST…). Tests use Django's in-memory outbox.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if IS_PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Open Banking Aggregator <no-reply@localhost>")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION

# --- Security -----------------------------------------------------------------------------------------
# Content-Security-Policy (django-csp 4) on every page: scripts, styles, fonts and images from this origin only
# (Swagger UI's icons are data: URIs), no inline script or style anywhere (our pages, the admin and Swagger UI
# load theirs from static files), no plugins, no framing, no <base> tricks. No form-action: the consent screen's
# form answers with a redirect to the TPP's redirect_uri, which form-action would block in Chromium.
# CSP_REPORT_ONLY=true sends it as Content-Security-Policy-Report-Only instead (to trial a change).
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"
    SILENCED_SYSTEM_CHECKS: list[str] = []

# The admin's URL prefix (default "admin/"): moving it off the well-known path keeps most scanners away.
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"
if ADMIN_URL == "/":
    raise ImproperlyConfigured("ADMIN_URL must not be empty (the admin cannot be mounted at the site root).")
# Staff must enter a TOTP code (django-otp) to use the admin. On by default in production unless DEBUG; off in
# local and test runs (bootstrap_demo's admin/admin signs in with a password only) unless set.
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=IS_PRODUCTION and not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Open Banking Aggregator")

# --- Celery -------------------------------------------------------------------------------------------
_BROKER_DIR = DATA_DIR / "broker"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacked task (its worker died) is redelivered after this many seconds; Redis's default is an hour. Matched to
    # the hard time limit: no live task runs longer. Tasks delayed longer than this (retry backoff, a bank's
    # Retry-After) may be delivered twice, which is harmless: a sync task finds its run done, or resumes it.
    # The stale-run reaper (aggregator.sync.reaper) recovers a dead worker's sync sooner still.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 5 * 60)
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# django-celery-beat's database schedule behind a database lock: any number of beats, one sends (config/beat.py).
CELERY_BEAT_SCHEDULER = "aggregator.config.beat:SingleBeatScheduler"
# One queue per kind of work, so each gets its own pool (docs/deployment.md). A worker started without -Q consumes
# every queue listed here (`make run`'s single worker); "celery" keeps tasks with no route.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", "sync", "webhooks", "maintenance")]
CELERY_TASK_ROUTES = {
    "aggregator.tasks.connection_sync_task": {"queue": "sync"},
    "webhooks.deliver": {"queue": "webhooks"},
    "aggregator.tasks.connections_dispatch_task": {"queue": "maintenance"},
    "aggregator.tasks.sync_runs_reap_task": {"queue": "maintenance"},
    "aggregator.privacy.tasks.retention_enforce_task": {"queue": "maintenance"},
    "consent.tasks.compliance_clocks_task": {"queue": "maintenance"},
    "insights.review_streams": {"queue": "maintenance"},
}
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST framework and OpenAPI ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DOT's bearer tokens with DOT's checks, plus DPoP-bound tokens (RFC 9449): consent/api_auth.py.
        "consent.api_auth.ConsentTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # One JSON error shape for every status; domain errors mapped to HTTP in one place.
    "EXCEPTION_HANDLER": "aggregator.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "tpp": env.str("API_THROTTLE_TPP", default="6000/min"),
        "consent": env.str("API_THROTTLE_CONSENT", default="600/min"),
        "consent_refresh": env.str("API_THROTTLE_CONSENT_REFRESH", default="3/hour"),
        # Consent management (POST/GET /api/v1/consents, GET/DELETE /api/v1/consents/{id}), per TPP.
        "consents": env.str("API_THROTTLE_CONSENTS", default="120/min"),
        # The public ledger endpoints (/ledger/…, /.well-known/ledger-keys), per client IP.
        "ledger": env.str("API_THROTTLE_LEDGER", default="600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Open Banking Aggregator API",
    "DESCRIPTION": "Consent-bound access to accounts, balances and transactions aggregated from banks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "ConsentStatusEnum": "consent.models.Consent.Status",
        "StreamFrequencyEnum": "aggregator.insights.models.RecurringStream.Frequency",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "OAUTH2_FLOWS": ["authorizationCode", "clientCredentials"],
    "OAUTH2_AUTHORIZATION_URL": "/oauth/authorize/",
    "OAUTH2_TOKEN_URL": "/oauth/token/",
    "OAUTH2_REFRESH_URL": "/oauth/token/",
    # Every operation names its scopes with extend_schema(auth=…), so the scheme itself is declared here once.
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "oauth2": {
                "type": "oauth2",
                "description": "Tokens from /oauth/token/. Data endpoints need a user token bound to an authorised "
                "consent (authorization code + PKCE S256); the consent resource needs a client-credentials token "
                "with scope `consents`.",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "/oauth/authorize/",
                        "tokenUrl": "/oauth/token/",
                        "refreshUrl": "/oauth/token/",
                        "scopes": {
                            "accounts": "Read the consented accounts",
                            "balances": "Read balances of the consented accounts",
                            "transactions": "Read transactions of the consented accounts",
                            "insights": "Read income and risk signals derived from the consented accounts",
                            "payments": "Make the one payment of an authorised payment consent and follow it",
                        },
                    },
                    "clientCredentials": {
                        "tokenUrl": "/oauth/token/",
                        "scopes": {"consents": "Create and manage consents"},
                    },
                },
            }
        }
    },
}

# --- OAuth2 for third-party apps (django-oauth-toolkit) ----------------------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "consent.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "consent.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "consent.RefreshToken"
OAUTH2_PROVIDER_GRANT_MODEL = "consent.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "consent.IDToken"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "consent.DeviceGrant"
# Consent-bound OAuth2 (consent/oauth.py), FAPI-inspired profile: see docs/security.md.
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "consent.oauth.ConsentOAuth2Validator",
    # Every consent is approved explicitly on our consent screen; never re-use an earlier approval.
    "REQUEST_APPROVAL_PROMPT": "force",
    "SCOPES": {
        "consents": "Create and manage consents (client credentials)",
        "accounts": "Read the consented accounts",
        "balances": "Read balances of the consented accounts",
        "transactions": "Read transactions of the consented accounts",
        "payments": "Make the one payment of an authorised payment consent and follow it",
        "insights": "Read income and risk signals derived from the consented accounts",
    },
    "DEFAULT_SCOPES": ["accounts"],
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if IS_PRODUCTION else ["https", "http"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": env.int("OAUTH_CODE_EXPIRE_SECONDS", default=60),
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_ACCESS_TOKEN_EXPIRE_SECONDS", default=5 * 60),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("OAUTH_REFRESH_TOKEN_EXPIRE_SECONDS", default=90 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # RFC 9700 (OAuth 2.0 Security BCP): no implicit/password grants, no PKCE "plain", no tokens in query
    # strings, RFC 9207 `iss` in authorization responses, tokens stored as hashes only.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": IS_PRODUCTION,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# --- App options: one namespaced dict per app, defaults declared once in each app's conf module ----------
# (providers/conf.py, aggregator/conf.py, consent/conf.py). Only what the environment sets goes in here.


def _set(**options: object) -> dict:
    return {key: value for key, value in options.items() if value is not None}


def _minutes(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


def _days(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(days=value)


AGGREGATOR = _set(
    # providers (adapters, HTTP client, credentials)
    ADAPTERS=env.list("AGGREGATOR_ADAPTERS", default=None),
    ADAPTER_ENTRY_POINT_GROUP=env.str("AGGREGATOR_ADAPTER_ENTRY_POINT_GROUP", default=None),
    # AGGREGATOR_INSTITUTIONS='{"albion": {"client_id": "…"}}': secrets of a real bank's client, per institution.
    INSTITUTIONS=env.json("AGGREGATOR_INSTITUTIONS", default=None),
    CREDENTIAL_KEYS=env.list("CREDENTIAL_KEYS", default=None),
    CONSENT_MAX_DAYS=env.int("CONSENT_MAX_DAYS", default=None),
    HTTP_CONNECT_TIMEOUT=env.float("HTTP_CONNECT_TIMEOUT", default=None),
    HTTP_READ_TIMEOUT=env.float("HTTP_READ_TIMEOUT", default=None),
    HTTP_MAX_RESPONSE_BYTES=env.int("HTTP_MAX_RESPONSE_BYTES", default=None),
    HTTP_MAX_RETRIES=env.int("HTTP_MAX_RETRIES", default=None),
    HTTP_MAX_RETRY_AFTER=env.float("HTTP_MAX_RETRY_AFTER", default=None),
    # Webhook URLs on loopback/private addresses (a TPP on this machine): local and test runs only.
    ALLOW_PRIVATE_DESTINATIONS=env.bool("ALLOW_PRIVATE_DESTINATIONS", default=DJANGO_ENV in {"local", "test"}),
    # aggregator (sync, data API, webhooks)
    SYNC_INTERVAL=_minutes(env.int("SYNC_INTERVAL_MINUTES", default=None)),
    SYNC_LEASE_SECONDS=env.float("SYNC_LEASE_SECONDS", default=None),
    ACCESS_LOG_FLUSH_SECONDS=env.float("API_ACCESS_LOG_FLUSH_SECONDS", default=None),
    DELTA_FEED_SAFETY_LAG_SECONDS=env.float("API_DELTA_FEED_SAFETY_LAG_SECONDS", default=None),
    WEBHOOK_TIMEOUT_SECONDS=env.float("WEBHOOK_TIMEOUT_SECONDS", default=None),
    WEBHOOK_MAX_ATTEMPTS=env.int("WEBHOOK_MAX_ATTEMPTS", default=None),
    # Client addresses (login lockouts): 0 = REMOTE_ADDR only. Behind N reverse proxies of ours that append to
    # CLIENT_IP_HEADER, set N (aggregator/client_address.py); a wrong N lets clients choose their address.
    TRUSTED_PROXY_COUNT=env.int("TRUSTED_PROXY_COUNT", default=None),
    CLIENT_IP_HEADER=env.str("CLIENT_IP_HEADER", default=None),
    # /metrics (docs/operations.md): a bearer token, and/or networks allowed without one (loopback locally).
    METRICS_TOKEN=env.str("METRICS_TOKEN", default=None),
    METRICS_ALLOWED_NETWORKS=env.list(
        "METRICS_ALLOWED_NETWORKS", default=[] if IS_PRODUCTION else ["127.0.0.1/32", "::1/128"]
    ),
    # Compliance clocks (docs/compliance.md): "sandbox" or "real" clock; one regime (UK/EU/US) for every bank.
    COMPLIANCE_CLOCK=env.str("COMPLIANCE_CLOCK", default=None),
    COMPLIANCE_REGIME=env.str("COMPLIANCE_REGIME", default=None),
    # Privacy (docs/privacy.md): export archives, their links, the pseudonym key, retention periods in days.
    PRIVACY_EXPORT_DIR=env.str("PRIVACY_EXPORT_DIR", default=None),
    PRIVACY_EXPORT_LINK_SECONDS=env.int("PRIVACY_EXPORT_LINK_SECONDS", default=None),
    PRIVACY_PSEUDONYM_KEY=env.str("PRIVACY_PSEUDONYM_KEY", default=None),
    RETENTION_ENDED_CONSENT_TRANSACTIONS=_days(env.int("RETENTION_ENDED_CONSENT_TRANSACTIONS_DAYS", default=None)),
    RETENTION_ACCESS_LOG=_days(env.int("RETENTION_ACCESS_LOG_DAYS", default=None)),
    RETENTION_SYNC_RUNS=_days(env.int("RETENTION_SYNC_RUNS_DAYS", default=None)),
    RETENTION_WEBHOOK_DELIVERIES=_days(env.int("RETENTION_WEBHOOK_DELIVERIES_DAYS", default=None)),
    RETENTION_EXPORT_ARCHIVES=_days(env.int("RETENTION_EXPORT_ARCHIVES_DAYS", default=None)),
)
if IS_PRODUCTION and not AGGREGATOR.get("CREDENTIAL_KEYS"):
    raise ImproperlyConfigured("CREDENTIAL_KEYS must be set in production (comma-separated Fernet keys).")

CONSENT = _set(
    AWAITING_TTL_MINUTES=env.int("CONSENT_AWAITING_TTL_MINUTES", default=None),
    LOGIN_MAX_FAILURES=env.int("LOGIN_MAX_FAILURES", default=None),
    LOGIN_LOCKOUT_SECONDS=env.int("LOGIN_LOCKOUT_SECONDS", default=None),
    # FAPI 2.0 for every TPP (PAR + private_key_jwt + DPoP): the production recommendation (README, security.md).
    FAPI2_REQUIRED=env.bool("FAPI2_REQUIRED", default=None),
    PAR_LIFETIME_SECONDS=env.int("PAR_LIFETIME_SECONDS", default=None),
    DPOP_NONCE_REQUIRED=env.bool("DPOP_NONCE_REQUIRED", default=None),
    LOGIN_BACKOFF_SECONDS=env.int("LOGIN_BACKOFF_SECONDS", default=None),
    LOGIN_CHALLENGE_ADDRESS_FAILURES=env.int("LOGIN_CHALLENGE_ADDRESS_FAILURES", default=None),
    LOGIN_CHALLENGE_USERNAME_FAILURES=env.int("LOGIN_CHALLENGE_USERNAME_FAILURES", default=None),
    LOGIN_CHALLENGE_BITS=env.int("LOGIN_CHALLENGE_BITS", default=None),
)

# The tamper-evident ledger (aggregator/ledger, docs/ledger.md). LEDGER_SIGNING_KEY: base64 of a 32-byte Ed25519
# seed (`python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`); unset, local and test runs
# derive one from SECRET_KEY.
LEDGER = _set(
    ORIGIN=env.str("LEDGER_ORIGIN", default=None),
    SIGNING_KEY=env.str("LEDGER_SIGNING_KEY", default=None),
    CHECKPOINT_EVERY_LEAVES=env.int("LEDGER_CHECKPOINT_EVERY_LEAVES", default=None),
    CHECKPOINT_EVERY_SECONDS=env.int("LEDGER_CHECKPOINT_EVERY_SECONDS", default=None),
)
if IS_PRODUCTION and not (LEDGER.get("SIGNING_KEY") and LEDGER.get("ORIGIN")):
    raise ImproperlyConfigured("LEDGER_SIGNING_KEY and LEDGER_ORIGIN must be set in production.")

# Base URL the sandbox adapters call. Defaults to this very server.
# SANDBOX_LATENCY_MS: every sandbox bank call waits this long first (a real bank's latency; benchmarks fleet).
SANDBOX_LATENCY_MS = env.int("SANDBOX_LATENCY_MS", default=0)
SANDBOX_BASE_URL = env.str("SANDBOX_BASE_URL", default=PUBLIC_BASE_URL.rstrip("/") + "/sandbox")

# LOG_FORMAT=json: one JSON object per line (production default); console: readable lines (local default). Every
# line carries the bound context (request_id, tpp, consent_id, connection_id, sync_run_id, task) and is redacted
# (aggregator/observability/logs.py); fields listed in docs/operations.md.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "console")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or console, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "aggregator.observability.logs.ContextFilter"},
        "redact": {"()": "aggregator.observability.logs.RedactFilter"},
    },
    "formatters": {
        "json": {"()": "aggregator.observability.logs.JsonFormatter"},
        "console": {"()": "aggregator.observability.logs.ConsoleFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context", "redact"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
