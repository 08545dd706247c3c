"""Settings for Jointly, read from the environment only.

Every value has a default that works on a fresh machine (the embedded
default: SQLite in the project folder, jobs run in-process), except that
DEBUG is off unless asked for: scripts/quickstart.sh and the test suite
(tests/debug_env.py) set DEBUG=1, and anything else must set SECRET_KEY, so
a deploy that forgets a setting never runs with the development key.
Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "jointly-insecure-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "jointly.jobs",
    "jointly.ops",
    "annotation",
    "review",
    "models_registry",
    "frontend",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jointly.middleware.RefuseNulMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # tasks/next and submit with an API token are answered here when they succeed;
    # everything else goes on down (see annotation/api/fast_lane.py).
    "annotation.api.fast_lane.FastLaneMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last: answers a locked-out sign-in (admin, sign-in page, auth/token/) with 429.
    "axes.middleware.AxesMiddleware",
]

# One cache shared by every web worker (throttles, login lockouts): Redis when
# REDIS_URL is set (CACHE_URL overrides it), else this process's memory.
CACHE_URL = os.environ.get("CACHE_URL", "") or os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL, "KEY_PREFIX": "jointly"}
        if CACHE_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# django-axes counts failed sign-ins per username and address in the shared cache;
# the first backend refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "jointly.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The shared cache when there is one (Redis); else the database, which every process shares too.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if CACHE_URL else "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(seconds=int(os.environ.get("AXES_COOLOFF_SECONDS", "900")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "jointly.token_api.lockout_response"
# Behind a TLS proxy the client address is in X-Forwarded-For; set AXES_IPWARE_PROXY_COUNT
# to the number of proxies in front of Jointly so it is read from there.
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_IPWARE_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]

ROOT_URLCONF = "jointly.urls"
WSGI_APPLICATION = "jointly.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# The embedded default is a SQLite file beside manage.py; PostgreSQL is what
# production and the test suite use.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server and an in-process job write
    # without "database is locked" errors; IMMEDIATE makes writers queue up
    # instead of failing when two transactions upgrade their locks at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # Progress of a running job is written through a second connection, so it commits
    # at once even while the job's own transaction is open (jointly/jobs/services.py).
    DATABASES["progress"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
# A connection kept between requests is checked before reuse: after a database
# restart the first request reconnects instead of failing.
for _alias in DATABASES.values():
    _alias["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# plotly.js for the dashboards comes from the `plotly` package (frontend/finders.py).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "frontend.finders.PackageFileFinder",
]

# Sign-in is the product's own page (frontend/); `/` sends each role where it works.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

# Uploaded images go through Django's storage API: local files by default,
# S3 (django-storages) when AWS_STORAGE_BUCKET_NAME is set.
if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    STORAGES = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

# Uploads: requests larger than this are refused before Django reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
MAX_IMAGE_UPLOAD_BYTES = int(os.environ.get("MAX_IMAGE_UPLOAD_BYTES", 64 * 1024 * 1024))
MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", 178_956_970))
MAX_COCO_UPLOAD_BYTES = int(os.environ.get("MAX_COCO_UPLOAD_BYTES", 1024 * 1024 * 1024))
# Every JSON body (jointly/json_input.py): larger ones get 413, deeper ones 400.
JSON_MAX_BODY_BYTES = int(os.environ.get("JSON_MAX_BODY_BYTES", 16 * 1024 * 1024))
JSON_MAX_DEPTH = 32
# The most keypoints one skeleton may have (COCO-17, hand-21 and face-68 are far below).
SKELETON_MAX_KEYPOINTS = 256
# Consensus: remove each annotator's learned systematic offset (e.g. hips clicked low) from their
# points; off, an offset only lowers that annotator's weight. Reports say which was done.
SUBTRACT_ANNOTATOR_OFFSETS = env_bool("SUBTRACT_ANNOTATOR_OFFSETS", False)

REST_FRAMEWORK = {
    # Token first: a request without credentials is then told how to authenticate
    # (401 with `WWW-Authenticate: Token`) instead of a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.api.authentication.PreparedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Writes per user, token requests and unknown tokens per address (jointly/throttles.py),
    # counted in CACHES["default"]: Redis in production, so all web workers share the counts.
    "DEFAULT_THROTTLE_CLASSES": ["jointly.throttles.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "write": os.environ.get("THROTTLE_WRITE", "1200/min"),
        "auth_token": os.environ.get("THROTTLE_AUTH_TOKEN", "30/min"),
        "bad_token": os.environ.get("THROTTLE_BAD_TOKEN", "30/min"),
        "account_creation": os.environ.get("THROTTLE_ACCOUNT_CREATION", "60/hour"),
    },
    # JSON only (bounded, jointly/json_input.py); the upload endpoints add multipart
    # themselves. No form parser: an HTML form's missing checkbox reads as `false`,
    # which turned an empty body into a deactivation.
    "DEFAULT_PARSER_CLASSES": ["jointly.parsers.BoundedJSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "jointly.api_errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Jointly API",
    "DESCRIPTION": "Keypoint annotation, consensus and QA review.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jointly.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {"ModelVersionStatusEnum": "models_registry.models.ModelVersion.Status"},
}

# RQ: with REDIS_URL set, jobs go to real queues served by
# `python manage.py rqworker default scoring gpu`. Without it (the embedded
# default) jointly.jobs runs them in-process, so a first run needs no server.
REDIS_URL = os.environ.get("REDIS_URL", "")
JOB_QUEUES = ("default", "scoring", "gpu")
RQ_QUEUES = {
    name: {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 3600}
    for name in JOB_QUEUES
}
# The worker records a killed work-horse on the job's row and reconciles rows with RQ.
RQ = {"WORKER_CLASS": "jointly.jobs.worker.JobRunWorker"}
# A job RQ has no record of (enqueue failed after the commit, Redis lost it) is queued
# again after this long, up to JOB_MAX_ATTEMPTS runs in all; then it is failed.
JOB_LOST_AFTER_SECONDS = int(os.environ.get("JOB_LOST_AFTER_SECONDS", "300"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "3"))

# HTTPS. With DEBUG off the defaults are the strict ones (`manage.py check --deploy` is
# clean); each is read from the environment under Django's own name, so a deployment
# on plain HTTP (a test box) sets SECURE_SSL_REDIRECT=0 SECURE_HSTS_SECONDS=0.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https makes
# Django trust the proxy's header. Only set it when a proxy always sets (or strips) that
# header: otherwise any client could claim HTTPS.
_proxy_header = env_list("SECURE_PROXY_SSL_HEADER", "")
if _proxy_header:
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https.")
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own loggers (4xx warnings of django.request) follow LOG_LEVEL too.
    "loggers": {"django": {"level": os.environ.get("LOG_LEVEL", "INFO")}},
}
