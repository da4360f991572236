"""PNS Admin settings: one module, configured from the environment.

Every variable is documented in `.env.example`. A `.env` file beside `manage.py` is read when
present; real environment variables win over it. The defaults suit the embedded demo (SQLite,
local-memory cache); production sets `DEBUG=0` and must then provide `SECRET_KEY`.
"""

import os
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# pytest (8.2 and newer) sets PYTEST_VERSION for the whole run; tests get a throwaway key and
# plain static storage, and nothing else differs from production.
TESTING = "PYTEST_VERSION" in os.environ

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG off) needs a long random SECRET_KEY in the "
            "environment or in .env; see .env.example. For a local demo set DEBUG=1 instead."
        )
    # DEBUG and tests only.
    SECRET_KEY = "django-insecure-local-development-key-never-use-in-production"  # noqa: S105  # nosec B105

# Old keys, still accepted for sessions and signed values while a new SECRET_KEY takes over.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "groups.admin_site.PnsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    # Before staticfiles, so that `runserver` serves static files the way production does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "django_htmx",
    "django_tasks_db",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "groups",
]

MIDDLEWARE = [
    # First: its request id is on every log line of the request, and it times the whole.
    "groups.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "groups.two_factor.TwoFactorMiddleware",
    "groups.middleware.OversizeNumberMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into our lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pns_admin.urls"
WSGI_APPLICATION = "pns_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.i18n",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets pages read the last snapshot while a refresh writes the next one; IMMEDIATE
    # transactions take the writer lock up front instead of failing half-way with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # A 256 MB page cache (the default is 2 MB): a refresh writes a million index
            # entries in random order, and a small cache turns that into disk reads.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;"
            ),
        }
    )
    if TESTING:
        # A file, not memory: tests of concurrent refreshes use several connections.
        DATABASES["default"]["TEST"] = {
            "NAME": str(Path(tempfile.gettempdir()) / f"pns-admin-test-{os.getpid()}.sqlite3")
        }
# Each web worker keeps its connection (on SQLite, its page cache too) between requests.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ---------------------------------------------------------------------------------
# Local memory by default; `redis://127.0.0.1:6379/0` selects Django's built-in Redis backend.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sessions end after this many seconds (default 12 hours); login always starts a new session.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)

# Brute-force protection (django-axes): 5 failures for one user name from one address lock
# that pair out until the cool-off ends or an administrator unlocks it.
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "groups.audit.client_ip"
AXES_VERBOSE = False
# Addresses in X-Forwarded-For added by our own proxies; 0 means REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Security ------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind an HTTPS-terminating proxy set HTTPS=1: secure cookies, HSTS and the redirect follow.
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Our pages load scripts, styles and images from our own static files only and use no inline
# script or style (the browser tests run under this policy).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Internationalization ------------------------------------------------------------------
# The language follows the browser (Accept-Language) until the user picks one in the header.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / env.str("STATIC_ROOT", default="staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
if DEBUG or TESTING:
    # Files are served from the app folders here; STATIC_ROOT exists only after collectstatic.
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names need `collectstatic`; the demo and the tests serve the files
        # as they are.
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Logging -------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
# "plain" for people; "json" (one object per line) for a log collector.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not one of: plain, json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "groups.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "groups.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # urllib3 logs every request line at DEBUG; our client logs one line per call itself.
        "urllib3": {"level": "WARNING"},
        # django-axes reports every login attempt at INFO; our audit log records them once.
        "axes": {"level": "WARNING"},
    },
}

# Two-factor login (TOTP): on, superusers and tenant admins must set up an authenticator.
PNS_REQUIRE_2FA = env.bool("PNS_REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = "PNS Admin"

# /metrics answers only requests that carry `Authorization: Bearer <this token>`; unset, it
# is off (404). Scrape each instance; see docs/deploy.md for PROMETHEUS_MULTIPROC_DIR.
PNS_METRICS_TOKEN = env.str("PNS_METRICS_TOKEN", default="")

# --- Background tasks (django.tasks) ----------------------------------------------------------
# Refreshes run as tasks. "thread" (the embedded default): a thread of the web process, so a
# page can follow the progress without a worker to run. "database": django-tasks-db's queue in
# the database, run by `manage.py db_worker` (production, several app instances).
# "immediate": in the request itself (tests).
TASK_BACKENDS = {
    "thread": "groups.task_backends.ThreadBackend",
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
TASK_BACKEND = env.str("TASK_BACKEND", default="immediate" if TESTING else "thread")
if TASK_BACKEND not in TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"TASK_BACKEND={TASK_BACKEND!r} is not one of: {', '.join(TASK_BACKENDS)}."
    )
TASKS = {"default": {"BACKEND": TASK_BACKENDS[TASK_BACKEND]}}

# --- NXCloud PNS ---------------------------------------------------------------------------
PNS_DEFAULT_API_URL = "https://number.nxcloud.com/api/pns/"
# (connect, read) seconds for every NXCloud call.
PNS_TIMEOUT = (
    env.float("PNS_CONNECT_TIMEOUT", default=5.0),
    env.float("PNS_READ_TIMEOUT", default=30.0),
)
PNS_MAX_WORKERS = env.int("PNS_MAX_WORKERS", default=4)
# First retry after up to this many seconds (exponential backoff with jitter after that).
PNS_RETRY_BACKOFF = env.float("PNS_RETRY_BACKOFF", default=0.5)
# A running refresh that has not reported progress for this long is taken for dead.
PNS_SYNC_HEARTBEAT_TIMEOUT = env.int("PNS_SYNC_HEARTBEAT_TIMEOUT", default=180)
# Pages warn when a tenant's snapshot is older than this many minutes.
PNS_STALE_AFTER = timedelta(minutes=env.int("PNS_STALE_AFTER", default=15))
# Number history (what each refresh changed) is kept this many days; the scheduler prunes it.
PNS_HISTORY_DAYS = env.int("PNS_HISTORY_DAYS", default=180)
# A queued refresh that no task worker has started for this many minutes is abandoned.
PNS_QUEUE_TIMEOUT = timedelta(minutes=env.int("PNS_QUEUE_TIMEOUT", default=30))
# `manage.py pns_scheduler` refreshes a tenant whose snapshot is older than this (minutes)...
PNS_REFRESH_INTERVAL = timedelta(minutes=env.int("PNS_REFRESH_INTERVAL", default=10))
# ...and waits twice as long after each failure in a row, up to this (minutes).
PNS_REFRESH_MAX_BACKOFF = timedelta(minutes=env.int("PNS_REFRESH_MAX_BACKOFF", default=360))
# Fernet keys for access secrets at rest, newest first (`manage.py pns_rotate_keys`).
PNS_ENCRYPTION_KEYS = env.list("PNS_ENCRYPTION_KEYS", default=[])
# `make demo` prints a fresh random password unless this is set.
PNS_DEMO_PASSWORD = env.str("PNS_DEMO_PASSWORD", default="")
