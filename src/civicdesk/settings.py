"""Settings, read from the environment only.

Every value has a safe default for development. With ``CIVICDESK_ENV=production`` the
process refuses to start on an insecure setting (see ``docs/admin-guide.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent
# Where runtime state lives by default (SQLite file, uploaded media); `var/` under the
# working directory, so a checkout is self-contained.
VAR_DIR = Path(os.environ.get("CIVICDESK_VAR_DIR", Path.cwd() / "var")).resolve()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


ENVIRONMENT = os.environ.get("CIVICDESK_ENV", "development").strip().lower()
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"CIVICDESK_ENV must be 'development' or 'production', not {ENVIRONMENT!r}"
    )
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])

if PRODUCTION:
    problems = []
    if len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
    if DEBUG:
        problems.append("DEBUG must be off")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must name the host names the site is served under")
    if not env_bool("CIVICDESK_STAFF_MFA_REQUIRED", True):
        problems.append("CIVICDESK_STAFF_MFA_REQUIRED cannot be turned off")
    if "DATABASE_URL" not in os.environ:
        problems.append("DATABASE_URL must be set (PostgreSQL is the production engine)")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start in production mode: " + "; ".join(problems) + "."
        )
elif not SECRET_KEY:
    # Development only: a fixed, clearly-marked key so sessions survive restarts.
    SECRET_KEY = "development-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "civicdesk.accounts",
    "civicdesk.audit",
    "civicdesk.catalog",
    "civicdesk.geo",
    "civicdesk.servicerequests",
    "civicdesk.notifications",
    "civicdesk.open311",
    "civicdesk.portal",
    "civicdesk.console",
    "civicdesk.performance",
    "civicdesk.surveys",
    "civicdesk.ops",
    # Sign-in: allauth's login flow with multi-factor authentication (TOTP, WebAuthn
    # passkeys, recovery codes), optional single sign-on through the city's OpenID Connect
    # provider, per-device sessions; axes locks out repeated failures.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "civicdesk.audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "civicdesk.accounts.middleware.StaffSessionMiddleware",
    "civicdesk.accounts.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "civicdesk.urls"
WSGI_APPLICATION = "civicdesk.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/staff/"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out client outright
    "allauth.account.auth_backends.AuthenticationBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "civicdesk.ops.context_processors.site",
            ],
        },
    },
    {
        # Plain-text messages (email bodies, SMS): the same templates, without HTML escaping.
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database -------------------------------------------------------------------------
DEFAULT_SQLITE_PATH = VAR_DIR / "civicdesk.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers work while one writer writes; IMMEDIATE takes the write lock at
        # BEGIN so two writers queue instead of failing half-way with "database is locked".
        # Connections persist (CONN_MAX_AGE) so each keeps a warm page cache, with reads
        # through mmap.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000; PRAGMA cache_size=-32000; PRAGMA mmap_size=268435456;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background jobs ------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": os.environ.get("CIVICDESK_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# A task still marked running whose worker has not been heard from for this long is put back
# on the queue (its worker died mid-job). Workers beat every few seconds.
CIVICDESK_WORKER_STALE_SECONDS = env_int("CIVICDESK_WORKER_STALE_SECONDS", 120)
CIVICDESK_TASK_MAX_ATTEMPTS = env_int("CIVICDESK_TASK_MAX_ATTEMPTS", 5)
CIVICDESK_SLA_SWEEP_SECONDS = env_int("CIVICDESK_SLA_SWEEP_SECONDS", 300)

# --- 311 program rules ----------------------------------------------------------------
CIVICDESK_CITY_NAME = os.environ.get("CIVICDESK_CITY_NAME", "Prairie Falls")
# Days after closure during which a resident may reopen their request.
CIVICDESK_REOPEN_WINDOW_DAYS = env_int("CIVICDESK_REOPEN_WINDOW_DAYS", 14)
# Duplicate detection at intake: open requests of the same service this close, this recent.
CIVICDESK_DUPLICATE_RADIUS_M = env_int("CIVICDESK_DUPLICATE_RADIUS_M", 75)
CIVICDESK_DUPLICATE_WINDOW_HOURS = env_int("CIVICDESK_DUPLICATE_WINDOW_HOURS", 72)
# "Due soon" once less than this share of the service-level window is left (percent).
CIVICDESK_DUE_SOON_PERCENT = env_int("CIVICDESK_DUE_SOON_PERCENT", 25)

# --- Performance measurement -------------------------------------------------------------
# How often the daily rollups behind the dashboards are brought up to date (seconds).
CIVICDESK_ROLLUP_SECONDS = env_int("CIVICDESK_ROLLUP_SECONDS", 300)
# A phone request closed within this many minutes of the call, and never reopened, was
# resolved at first contact.
CIVICDESK_FIRST_CONTACT_MINUTES = env_int("CIVICDESK_FIRST_CONTACT_MINUTES", 30)
# The currency sign in budgets and reports.
CIVICDESK_CURRENCY_SYMBOL = os.environ.get("CIVICDESK_CURRENCY_SYMBOL", "$")

# --- Open311 ---------------------------------------------------------------------------
CIVICDESK_JURISDICTION_ID = os.environ.get("CIVICDESK_JURISDICTION_ID", "prairiefalls.example")
CIVICDESK_OPEN311_CONTACT = os.environ.get(
    "CIVICDESK_OPEN311_CONTACT", "311 Open Data Team, 311@prairiefalls.example"
)
CIVICDESK_OPEN311_KEY_SERVICE = os.environ.get(
    "CIVICDESK_OPEN311_KEY_SERVICE", "Ask the city's 311 team for an API key to post requests."
)

# --- Maps ------------------------------------------------------------------------------
# Map tiles come from the city's tile server (the library itself is vendored).
CIVICDESK_MAP_TILE_URL = os.environ.get(
    "CIVICDESK_MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
)
CIVICDESK_MAP_ATTRIBUTION = os.environ.get(
    "CIVICDESK_MAP_ATTRIBUTION", "© OpenStreetMap contributors"
)
CIVICDESK_MAP_CENTER = os.environ.get("CIVICDESK_MAP_CENTER", "40.0,-89.0")

# --- Notifications --------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "311@prairiefalls.example")
CIVICDESK_SMS_ADAPTER = os.environ.get(
    "CIVICDESK_SMS_ADAPTER", "civicdesk.notifications.sms.ConsoleSmsAdapter"
)
CIVICDESK_PUBLIC_URL = os.environ.get("CIVICDESK_PUBLIC_URL", "http://127.0.0.1:8000")
if PRODUCTION:
    # The console adapters print whole messages, residents' addresses and numbers included,
    # to the log: for a development machine only.
    _printing = [
        name
        for name, value in (
            ("EMAIL_BACKEND", EMAIL_BACKEND),
            ("CIVICDESK_SMS_ADAPTER", CIVICDESK_SMS_ADAPTER),
        )
        if "console" in value.lower()
    ]
    if _printing:
        raise ImproperlyConfigured(
            "Refusing to start in production mode: "
            + " and ".join(_printing)
            + " must name a real delivery service (the console ones print residents' "
            "contact details to the log)."
        )

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "America/Chicago")
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]  # the shared stylesheet, scripts and vendored libraries
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
CIVICDESK_MAX_UPLOAD_BYTES = env_int("CIVICDESK_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)

# --- Cache and rate limits --------------------------------------------------------------
# The cache holds rate-limit counters and used one-time codes. In-process by default (each
# web process counts on its own); production sets CIVICDESK_CACHE_URL=redis://host:6379/1.
CIVICDESK_CACHE_URL = os.environ.get("CIVICDESK_CACHE_URL", "")
if CIVICDESK_CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CIVICDESK_CACHE_URL,
        }
    }
elif CIVICDESK_CACHE_URL:
    raise ImproperlyConfigured(
        f"CIVICDESK_CACHE_URL must be a redis:// address, not {CIVICDESK_CACHE_URL!r}"
    )
# Per client address, written COUNT/PERIOD (s, m, h, d; "0" turns one off):
# requests reported on the public site, calls to the Open311 API, open-data downloads,
# survey access codes.
CIVICDESK_RATE_REPORT = os.environ.get("CIVICDESK_RATE_REPORT", "20/h")
CIVICDESK_RATE_API = os.environ.get("CIVICDESK_RATE_API", "600/m")
CIVICDESK_RATE_OPEN_DATA = os.environ.get("CIVICDESK_RATE_OPEN_DATA", "60/h")
# Survey access codes tried (it stops guessing codes printed on others' mail).
CIVICDESK_RATE_SURVEY_CODE = os.environ.get("CIVICDESK_RATE_SURVEY_CODE", "30/h")

# --- Backups --------------------------------------------------------------------------
# The age public keys (age1...) backups are encrypted to. Only the matching private keys,
# kept offline, can read a backup: the server that writes backups cannot read old ones.
CIVICDESK_BACKUP_RECIPIENTS = env_list("CIVICDESK_BACKUP_RECIPIENTS", [])

# --- Retention ------------------------------------------------------------------------
# How long personal data is kept, in days (0: keep). Applied by the "apply-retention" job.
# A reporter's contact details, counted from the day their request was closed:
CIVICDESK_RETAIN_CONTACTS_DAYS = env_int("CIVICDESK_RETAIN_CONTACTS_DAYS", 3 * 365)
# Notification delivery records (they hold addresses and phone numbers):
CIVICDESK_RETAIN_NOTIFICATIONS_DAYS = env_int("CIVICDESK_RETAIN_NOTIFICATIONS_DAYS", 365)
# Photos from the public, counted from the day their request was closed:
CIVICDESK_RETAIN_MEDIA_DAYS = env_int("CIVICDESK_RETAIN_MEDIA_DAYS", 5 * 365)
# Records of sign-in attempts (brute-force protection):
CIVICDESK_RETAIN_SIGN_IN_ATTEMPTS_DAYS = env_int("CIVICDESK_RETAIN_SIGN_IN_ATTEMPTS_DAYS", 90)

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL", False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Argon2id for every new or changed password; older hashes are upgraded at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Sessions: gone when the browser closes, after CIVICDESK_SESSION_IDLE_MINUTES without a
# request, and CIVICDESK_SESSION_MAX_HOURS after sign-in whatever happens.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CIVICDESK_SESSION_IDLE_MINUTES = env_int("CIVICDESK_SESSION_IDLE_MINUTES", 30)
CIVICDESK_SESSION_MAX_HOURS = env_int("CIVICDESK_SESSION_MAX_HOURS", 12)
SESSION_COOKIE_AGE = CIVICDESK_SESSION_MAX_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# Every staff role signs in with a second factor; setting this off is for a development
# machine only (refused in production).
CIVICDESK_STAFF_MFA_REQUIRED = env_bool("CIVICDESK_STAFF_MFA_REQUIRED", True)

# --- Sign-in (django-allauth) ------------------------------------------------------------
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
ACCOUNT_ADAPTER = "civicdesk.accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"login": "civicdesk.accounts.forms.LoginForm"}
MFA_FORMS = {"authenticate": "civicdesk.accounts.forms.AuthenticateForm"}
ACCOUNT_PREVENT_ENUMERATION = True
# allauth's own back-off on failed sign-ins and password resets (per address and account),
# in front of the lockout below.
ACCOUNT_RATE_LIMITS = {
    # Looser than the lockout below, so that a person who keeps failing sees the lockout page
    # (how long to wait) rather than allauth's shorter message.
    "login_failed": "20/m/ip,10/5m/key",
    "login": "30/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = f"{CIVICDESK_CITY_NAME} 311"
# A code from the 30 seconds before or after is accepted too (a phone's clock drifts, a code
# typed at the turn of the half-minute), as RFC 6238 advises; each code still works once.
MFA_TOTP_TOLERANCE = 1
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG  # WebAuthn on http://127.0.0.1 in development
MFA_RECOVERY_CODE_COUNT = 10
# Sessions are listed per device from sign-in; tracking every request would cost writes.
USERSESSIONS_TRACK_ACTIVITY = False
SOCIALACCOUNT_ADAPTER = "civicdesk.accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_ONLY = False
# A staff member signing in through the city's provider (with an address the provider has
# verified) is signed in to the staff account with that address; no account is created.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
# Single sign-on for staff through the city's OpenID Connect provider (Entra ID, Okta,
# Keycloak, Google Workspace...): set all three to turn it on.
CIVICDESK_OIDC_SERVER_URL = os.environ.get("CIVICDESK_OIDC_SERVER_URL", "")
CIVICDESK_OIDC_CLIENT_ID = os.environ.get("CIVICDESK_OIDC_CLIENT_ID", "")
CIVICDESK_OIDC_CLIENT_SECRET = os.environ.get("CIVICDESK_OIDC_CLIENT_SECRET", "")
CIVICDESK_OIDC_NAME = os.environ.get("CIVICDESK_OIDC_NAME", "City sign-in")
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if CIVICDESK_OIDC_SERVER_URL and CIVICDESK_OIDC_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": "city",
                "name": CIVICDESK_OIDC_NAME,
                "client_id": CIVICDESK_OIDC_CLIENT_ID,
                "secret": CIVICDESK_OIDC_CLIENT_SECRET,
                "settings": {"server_url": CIVICDESK_OIDC_SERVER_URL},
            }
        ],
        "OAUTH_PKCE_ENABLED": True,
    }

# --- Lockout (django-axes) ---------------------------------------------------------------
# After AXES_FAILURE_LIMIT failed sign-ins for one account from one address, that pair is
# locked for a cool-off that doubles with each further lockout (see accounts.lockout).
AXES_FAILURE_LIMIT = env_int("CIVICDESK_LOCKOUT_FAILURES", 5)
CIVICDESK_LOCKOUT_MINUTES = env_int("CIVICDESK_LOCKOUT_MINUTES", 15)
AXES_COOLOFF_TIME = "civicdesk.accounts.lockout.cooloff"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "civicdesk.accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "civicdesk.accounts.lockout.axes_username"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
