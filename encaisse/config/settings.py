"""Settings for every environment, read from the process environment.

One module rather than a base/dev/prod tree: the differences between a laptop,
CI and production are a handful of environment variables (DATABASE_URL,
SECRET_KEY, DEBUG, EMAIL_URL-style SMTP settings), and each is named below.
"""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from encaisse.core.http import trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("ENCAISSE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing

DEBUG = os.environ.get("ENCAISSE_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("ENCAISSE_SECRET_KEY", "dev-only-not-secret-" + "x" * 40)
ALLOWED_HOSTS = os.environ.get("ENCAISSE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("ENCAISSE_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]
# The reverse proxies in front (comma-separated IPs or CIDRs): only from them is X-Forwarded-For believed
# (core.http.client_ip, for rate limits and the address kept with a signed mandate or a kept card).
ENCAISSE_TRUSTED_PROXIES = trusted_proxies(os.environ.get("ENCAISSE_TRUSTED_PROXIES", ""))

INSTALLED_APPS = [
    "encaisse.backoffice",  # first, so its admin/base_site.html overrides Django's
    "encaisse.backoffice.apps.BackofficeAdminConfig",  # django.contrib.admin with our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "crontask",
    "encaisse.core",
    "encaisse.parties",
    "encaisse.ledger",
    "encaisse.notifications",
    "encaisse.invoicing",
    "encaisse.payments",
    "encaisse.sepa",
    "encaisse.usage",
    "encaisse.collection",
    "encaisse.onboarding",
    "encaisse.api",
    "encaisse.portal",
    "encaisse.cli",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "encaisse.core.middleware.OriginMiddleware",
]

ROOT_URLCONF = "encaisse.config.urls"
WSGI_APPLICATION = "encaisse.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default (embedded, under var/); PostgreSQL when DATABASE_URL says so.
# IMMEDIATE transactions make SQLite take its write lock at BEGIN, so two
# writers queue instead of failing with "database is locked" mid-transaction.
# temp_store=MEMORY keeps statement journals in memory: once a savepoint's
# journal outgrew 64 KiB it went to a temporary file, and every later statement
# of the transaction wrote its pages there (840,000 writes for the 100,000-row
# UPDATE of a direct-debit export: 0.87 s instead of 0.46 s).
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'encaisse.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                         "PRAGMA temp_store=MEMORY;"),
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("ENCAISSE_TEST_SQLITE", "")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "encaisse" / "locale"]
TIME_ZONE = os.environ.get("ENCAISSE_TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"
# Where payers and customers reach this installation: pay links and emails carry full addresses.
ENCAISSE_BASE_URL = os.environ.get("ENCAISSE_BASE_URL", "http://127.0.0.1:8000")

# Background work: a database-backed queue in the application's own database,
# so a task enqueued inside a transaction is committed (or not) with it.
TASKS = {
    "default": {
        "BACKEND": os.environ.get("ENCAISSE_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Email (Django 6.1 mailers): SMTP in production when EMAIL_HOST is set, one file per
# message under var/mail otherwise; the back office's outbox shows every message either way.
if os.environ.get("EMAIL_HOST"):
    MAILERS = {"default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": int(os.environ.get("EMAIL_PORT", "587")),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": os.environ.get("EMAIL_USE_TLS", "1") == "1",
            "timeout": 30,  # a server that never answers must not hold a worker forever
        },
    }}
else:
    MAILERS = {"default": {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
    }}
DEFAULT_FROM_EMAIL = os.environ.get("ENCAISSE_FROM_EMAIL", "Encaisse <no-reply@encaisse.localhost>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# No card number or full IBAN may reach a log: every handler masks them (encaisse.core.logsafety).
# Django's own handlers are declared again (same levels and DEBUG rules as its defaults) only to
# carry that filter; the root handler stands in for Python's last resort (warnings and up, to stderr).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_card_data": {"()": "encaisse.core.logsafety.RedactCardData"},
        "require_debug_true": {"()": "django.utils.log.RequireDebugTrue"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}",
                          "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_card_data"]},
        "django.console": {"class": "logging.StreamHandler", "level": "INFO",
                           "filters": ["require_debug_true", "redact_card_data"]},
        "django.server": {"class": "logging.StreamHandler", "level": "INFO", "formatter": "django.server",
                          "filters": ["redact_card_data"]},
        "mail_admins": {"class": "encaisse.core.logsafety.AdminEmailHandler", "level": "ERROR",
                        "filters": ["require_debug_false", "redact_card_data"]},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "encaisse": {"level": os.environ.get("ENCAISSE_LOG_LEVEL", "INFO")},  # to the root's console
        "django": {"handlers": ["django.console", "mail_admins"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
