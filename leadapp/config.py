"""Configuration: reads the LEADAPP_* environment variables once, into Flask config keys.

It imports nothing of leadapp and writes no file: the development keys are the keyring's
(crypto.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import phonenumbers
from limits import parse_many
from limits.storage import SCHEMES as RATE_LIMIT_STORAGE_SCHEMES
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

DEFAULT_LEADS_LIMIT = "5 per minute;50 per hour"
DEFAULT_INTEGRATIONS_LIMIT = "6000 per minute"
MAX_BODY_BYTES = 16 * 1024
SQLITE_BUSY_TIMEOUT_SECONDS = 5
# libpq waits forever for a server that accepts the connection but never answers (a
# host that vanished, a partition); every request would hang, /healthz included.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# A pooled connection idle longer than this is checked (SELECT 1) before use.
POOL_PING_AFTER_IDLE_SECONDS = 1.0
# A Redis outage must cost a request milliseconds, not seconds.
REDIS_TIMEOUT_SECONDS = 0.25
# How long each process trusts its cached blocklist and API-key answers: a CLI change
# reaches every running process within this many seconds.
CACHE_SECONDS = 5.0
DEFAULT_TRUSTED_PROXY_NETWORKS = "127.0.0.0/8,::1/128"
DEFAULT_SHUTDOWN_SECONDS = 10
DEFAULT_AUTH_FAILURES_LIMIT = "10 per minute"


class ConfigError(RuntimeError):
    """The environment does not describe a configuration LeadApp can start with."""


def _split_list(value: str | None) -> list[str]:
    """Split a comma-separated setting into its non-empty, trimmed items."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _int_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    """Read a non-negative integer setting, or fail with a message naming it."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise ConfigError(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _rate_limit_setting(environ: Mapping[str, str], name: str, default: str) -> str:
    """Read a rate limit (limits' syntax, e.g. '5 per minute;50 per hour'), or fail naming it."""
    raw = environ.get(name, "").strip() or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a rate limit such as '10 per minute;100 per hour', got {raw!r}"
        ) from None
    return raw


def _database_url_setting(environ: Mapping[str, str], instance_path: Path) -> str:
    """The SQLAlchemy URL, refused when it does not parse or names no installed driver."""
    raw = environ.get("LEADAPP_DATABASE_URL", "").strip()
    if not raw:
        return f"sqlite:///{instance_path / 'leadapp.sqlite3'}"
    try:
        make_url(raw).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        # The URL is not echoed: it may carry a password.
        raise ConfigError(
            "LEADAPP_DATABASE_URL must be an SQLAlchemy database URL such as "
            "'postgresql+psycopg://user:password@host/db' with an installed driver"
        ) from None
    return raw


def _storage_uri_setting(environ: Mapping[str, str]) -> str:
    """The rate-limit storage URI, refused unless its scheme is one the limits package knows."""
    raw = environ.get("LEADAPP_RATELIMIT_STORAGE_URI", "").strip() or "memory://"
    scheme, separator, _rest = raw.partition("://")
    if not separator or scheme not in RATE_LIMIT_STORAGE_SCHEMES:
        raise ConfigError(
            "LEADAPP_RATELIMIT_STORAGE_URI must be a storage URI such as 'memory://' or "
            f"'redis://host:6379/0', got scheme {scheme if separator else raw!r}"
        )
    return raw


def _origins_setting(environ: Mapping[str, str]) -> list[str]:
    """LEADAPP_CORS_ORIGINS: origins exactly as browsers send them (scheme://host[:port])."""
    origins = _split_list(environ.get("LEADAPP_CORS_ORIGINS"))
    for origin in origins:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018  (raises ValueError on a malformed port)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.hostname
            or f"{parts.scheme}://{parts.netloc}" != origin
            or "@" in parts.netloc
        ):
            raise ConfigError(
                "LEADAPP_CORS_ORIGINS must list origins such as 'https://www.example.com' "
                f"(scheme, host, optional port; no path), got {origin!r}"
            )
    return origins


CONSENT_TEXT_MAX_CHARS = 10_000
# Control characters other than tab and line breaks: a mistyped or mangled setting.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _consent_text_setting(environ: Mapping[str, str]) -> str | None:
    """LEADAPP_CONSENT_TEXT: unset, or a text without control characters, at most 10,000 long."""
    # Surrounding whitespace is the environment's, not the operator's wording.
    text = environ.get("LEADAPP_CONSENT_TEXT", "").strip() or None
    if text is not None and (len(text) > CONSENT_TEXT_MAX_CHARS or _CONTROL.search(text)):
        raise ConfigError(
            f"LEADAPP_CONSENT_TEXT must be at most {CONSENT_TEXT_MAX_CHARS} characters with no "
            "control characters"
        )
    return text


def load_config(environ: Mapping[str, str], instance_path: Path) -> dict[str, object]:
    """Translate the LEADAPP_* environment into Flask configuration keys.

    Every variable is checked here: a malformed one raises ConfigError naming it, so the
    app never starts with a setting silently ignored or turned off.
    """
    env = environ.get("LEADAPP_ENV", "development").strip() or "development"
    if env not in {"development", "production"}:
        raise ConfigError(f"LEADAPP_ENV must be 'development' or 'production', got {env!r}")

    encryption_keys = _split_list(environ.get("LEADAPP_ENCRYPTION_KEYS"))
    blind_index_key = environ.get("LEADAPP_BLIND_INDEX_KEY", "").strip()
    if env == "production":
        missing = [
            name
            for name, value in (
                ("LEADAPP_ENCRYPTION_KEYS", encryption_keys),
                ("LEADAPP_BLIND_INDEX_KEY", blind_index_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "LEADAPP_ENV=production refuses to start without explicit keys: set "
                + " and ".join(missing)
                + " (generate them with `flask --app leadapp keys generate`)."
            )
    # Left empty in development: the keyring fills them from the instance folder (crypto.py),
    # which also refuses a malformed key, naming its variable, as the factory starts.

    database_url = _database_url_setting(environ, instance_path)
    region = environ.get("LEADAPP_DEFAULT_REGION", "").strip().upper() or None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"LEADAPP_DEFAULT_REGION must be an ISO region code such as GB, got {region!r}"
        )
    storage_uri = _storage_uri_setting(environ)

    return {
        "LEADAPP_ENV": env,
        "LEADAPP_ENCRYPTION_KEYS": encryption_keys,
        "LEADAPP_BLIND_INDEX_KEY": blind_index_key,
        "LEADAPP_RATELIMIT_LEADS": _rate_limit_setting(
            environ, "LEADAPP_RATELIMIT_LEADS", DEFAULT_LEADS_LIMIT
        ),
        "LEADAPP_RATELIMIT_INTEGRATIONS": _rate_limit_setting(
            environ, "LEADAPP_RATELIMIT_INTEGRATIONS", DEFAULT_INTEGRATIONS_LIMIT
        ),
        "LEADAPP_TRUSTED_PROXIES": _int_setting(environ, "LEADAPP_TRUSTED_PROXIES", 0),
        "LEADAPP_DEFAULT_REGION": region,
        "LEADAPP_CORS_ORIGINS": _origins_setting(environ),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": storage_uri,
        "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
        "LEADAPP_CACHE_SECONDS": CACHE_SECONDS,
        **webhook_settings(environ),
        **_intake_settings(environ),
        **_deployment_settings(environ),
        **retention_settings(environ),
        **mail_settings(environ),
    }


def _choice_setting(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """Read a setting that is one of a few words (the first is the default)."""
    raw = environ.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _intake_settings(environ: Mapping[str, str]) -> dict[str, object]:
    """Bot defence, consent and duplicate disclosure (contract v2)."""
    return {
        "LEADAPP_CHALLENGE": _choice_setting(environ, "LEADAPP_CHALLENGE", ("off", "on")) == "on",
        "LEADAPP_CONSENT_TEXT": _consent_text_setting(environ),
        "LEADAPP_DUPLICATES_ANONYMOUS": _choice_setting(
            environ, "LEADAPP_DUPLICATES_ANONYMOUS", ("reveal", "conceal")
        ),
    }


# --- webhooks ----------------------------------------------------------------------------

DEFAULT_WEBHOOK_TIMEOUT = 10.0
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 12
DEFAULT_WEBHOOK_RETRY_SECONDS = 30.0
_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")


def _positive_number_setting(environ: Mapping[str, str], name: str, default: float) -> float:
    """Read a positive number of seconds (fractions allowed), or fail naming the setting."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not _SECONDS.fullmatch(raw) or float(raw) <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return float(raw)


def webhook_settings(environ: Mapping[str, str]) -> dict[str, object]:
    """The LEADAPP_WEBHOOK_* settings."""
    worker = environ.get("LEADAPP_WEBHOOK_WORKER", "").strip().lower() or "on"
    if worker not in {"on", "off"}:
        raise ConfigError(f"LEADAPP_WEBHOOK_WORKER must be 'on' or 'off', got {worker!r}")
    max_attempts = _int_setting(
        environ, "LEADAPP_WEBHOOK_MAX_ATTEMPTS", DEFAULT_WEBHOOK_MAX_ATTEMPTS
    )
    if max_attempts < 1:
        raise ConfigError("LEADAPP_WEBHOOK_MAX_ATTEMPTS must be at least 1")
    return {
        "LEADAPP_WEBHOOK_WORKER": worker == "on",
        "LEADAPP_WEBHOOK_TIMEOUT": _positive_number_setting(
            environ, "LEADAPP_WEBHOOK_TIMEOUT", DEFAULT_WEBHOOK_TIMEOUT
        ),
        "LEADAPP_WEBHOOK_MAX_ATTEMPTS": max_attempts,
        "LEADAPP_WEBHOOK_RETRY_SECONDS": _positive_number_setting(
            environ, "LEADAPP_WEBHOOK_RETRY_SECONDS", DEFAULT_WEBHOOK_RETRY_SECONDS
        ),
    }


def _deployment_settings(environ: Mapping[str, str]) -> dict[str, object]:
    """The v2 deployment settings: trusted proxy networks, shutdown bound, auth-failure limit."""
    networks_text = _split_list(
        environ.get("LEADAPP_TRUSTED_PROXY_NETWORKS", DEFAULT_TRUSTED_PROXY_NETWORKS)
    )
    networks = []
    for text in networks_text:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(
                f"LEADAPP_TRUSTED_PROXY_NETWORKS must list IP networks, got {text!r}"
            ) from None
    auth_failures = _rate_limit_setting(
        environ, "LEADAPP_RATELIMIT_AUTH_FAILURES", DEFAULT_AUTH_FAILURES_LIMIT
    )
    return {
        "LEADAPP_TRUSTED_PROXY_NETWORKS": tuple(networks),
        "LEADAPP_SHUTDOWN_SECONDS": _int_setting(
            environ, "LEADAPP_SHUTDOWN_SECONDS", DEFAULT_SHUTDOWN_SECONDS
        ),
        "LEADAPP_RATELIMIT_AUTH_FAILURES": auth_failures,
    }


def engine_options(database_url: str) -> dict[str, object]:
    """SQLAlchemy engine options for the configured database."""
    # hide_parameters: otherwise SQLAlchemy puts bound values (plaintext email and
    # phone, before encryption is visible) into exception text and logs.
    options: dict[str, object] = {"hide_parameters": True}
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    else:
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        # No pool_pre_ping (a round trip before every transaction): database.py checks
        # connections that idled POOL_PING_AFTER_IDLE_SECONDS, the same recovery for less.
        options["pool_size"] = 10
        options["max_overflow"] = 5
        options["pool_timeout"] = 5
    return options


def complete_config(config: dict[str, object]) -> None:
    """Fill the settings derived from others, once overrides (tests) are applied."""
    config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(str(config["SQLALCHEMY_DATABASE_URI"]))
    )
    # Off: leadapp/http/ratelimit.py owns the rate-limit headers (and Retry-After).
    config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if str(config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            },
        )


# --- retention ---------------------------------------------------------------------------

# Unset: nothing is erased automatically. A test may put a fraction of a day in the
# Flask config directly (create_app({"LEADAPP_RETENTION_DAYS": 2 / 86400})); the
# environment takes whole days only.
DEFAULT_RETENTION_DAYS: float | None = None


def retention_settings(environ: Mapping[str, str]) -> dict[str, object]:
    """LEADAPP_RETENTION_DAYS: unset, or a whole number of days of at least 1."""
    raw = environ.get("LEADAPP_RETENTION_DAYS", "").strip()
    if not raw:
        return {"LEADAPP_RETENTION_DAYS": DEFAULT_RETENTION_DAYS}
    if not re.fullmatch(r"[0-9]{1,6}", raw, re.ASCII) or int(raw) < 1:
        raise ConfigError(
            f"LEADAPP_RETENTION_DAYS must be a whole number of days (1-999999), got {raw!r}"
        )
    return {"LEADAPP_RETENTION_DAYS": float(int(raw))}


# --- mail (contract v3) ------------------------------------------------------------------

SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
DEFAULT_MAIL_NOTIFY_PER_HOUR = 30
DEFAULT_OPT_IN_DAYS = 7
_MAIL_ADDRESS = re.compile(r"[^\s@<>\"',;]+@[^\s@<>\"',;]+\.[^\s@<>\"',;]+")


def _url_parts(raw: str) -> SplitResult | None:
    """The parts of a URL, or None when it does not parse (a port that is not a number)."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    return parts


def _smtp_url_setting(environ: Mapping[str, str]) -> str | None:
    """LEADAPP_SMTP_URL: unset, or smtp://, smtp+starttls:// or smtps:// with a host."""
    raw = environ.get("LEADAPP_SMTP_URL", "").strip()
    if not raw:
        return None
    parts = _url_parts(raw)
    if (
        parts is None
        or parts.scheme not in SMTP_SCHEMES
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        # The value may hold a password: the message never repeats it.
        raise ConfigError(
            "LEADAPP_SMTP_URL must be smtp://, smtp+starttls:// or smtps:// "
            "[user[:password]@]host[:port]"
        )
    return raw


def _public_url_setting(environ: Mapping[str, str]) -> str | None:
    """LEADAPP_PUBLIC_URL: unset, or an http(s) base URL without query, kept without its '/'."""
    raw = environ.get("LEADAPP_PUBLIC_URL", "").strip()
    if not raw:
        return None
    parts = _url_parts(raw)
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ConfigError(
            f"LEADAPP_PUBLIC_URL must be an http(s) base URL such as "
            f"'https://leads.example.org', got {raw!r}"
        )
    return raw.rstrip("/")


def _positive_int_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    """Read a whole number of at least 1, or fail naming the setting."""
    value = _int_setting(environ, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value}")
    return value


def mail_settings(environ: Mapping[str, str]) -> dict[str, object]:
    """The mail settings: SMTP server, From, public URL, notification cap, opt-in days."""
    mail_from = environ.get("LEADAPP_MAIL_FROM", "").strip() or None
    if mail_from is not None and not _MAIL_ADDRESS.fullmatch(mail_from):
        raise ConfigError(
            f"LEADAPP_MAIL_FROM must be one email address such as 'leads@example.org', "
            f"got {mail_from!r}"
        )
    ca_file = environ.get("LEADAPP_SMTP_CA_FILE", "").strip() or None
    if ca_file is not None and not Path(ca_file).is_file():
        raise ConfigError(f"LEADAPP_SMTP_CA_FILE must name a readable PEM file, got {ca_file!r}")
    smtp_url = _smtp_url_setting(environ)
    if smtp_url and mail_from is None and environ.get("LEADAPP_ENV", "").strip() == "production":
        raise ConfigError(
            "LEADAPP_ENV=production refuses to start with LEADAPP_SMTP_URL and without "
            "LEADAPP_MAIL_FROM: set the From address of LeadApp's mail."
        )
    return {
        "LEADAPP_SMTP_URL": smtp_url,
        "LEADAPP_SMTP_CA_FILE": ca_file,
        "LEADAPP_MAIL_FROM": mail_from,
        "LEADAPP_PUBLIC_URL": _public_url_setting(environ),
        "LEADAPP_MAIL_NOTIFY_PER_HOUR": _positive_int_setting(
            environ, "LEADAPP_MAIL_NOTIFY_PER_HOUR", DEFAULT_MAIL_NOTIFY_PER_HOUR
        ),
        "LEADAPP_OPT_IN_DAYS": float(
            _positive_int_setting(environ, "LEADAPP_OPT_IN_DAYS", DEFAULT_OPT_IN_DAYS)
        ),
    }
