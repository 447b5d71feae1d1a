"""The factory and the configuration it reads from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadapp import create_app, crypto
from leadapp.config import ConfigError, load_config
from leadapp.http import auth_failures, ratelimit
from leadapp.services import caches, consent, stats


def test_factory_applies_overrides(database_url: str) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url


def test_defaults_with_no_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADAPP_ENCRYPTION_KEYS")
    monkeypatch.delenv("LEADAPP_BLIND_INDEX_KEY")
    config = load_config({}, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'leadapp.sqlite3'}"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["LEADAPP_RATELIMIT_LEADS"] == "5 per minute;50 per hour"
    assert config["LEADAPP_RATELIMIT_INTEGRATIONS"] == "6000 per minute"
    assert config["LEADAPP_TRUSTED_PROXIES"] == 0
    assert config["LEADAPP_DEFAULT_REGION"] is None
    assert config["LEADAPP_CORS_ORIGINS"] == []
    assert config["MAX_CONTENT_LENGTH"] == 16 * 1024
    # No keys: the keyring takes development keys (test_crypto.py); config writes no file.
    assert config["LEADAPP_ENCRYPTION_KEYS"] == []
    assert config["LEADAPP_BLIND_INDEX_KEY"] == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "LEADAPP_ENCRYPTION_KEYS and LEADAPP_BLIND_INDEX_KEY"),
        ({"LEADAPP_ENCRYPTION_KEYS": "k"}, "LEADAPP_BLIND_INDEX_KEY"),
        ({"LEADAPP_BLIND_INDEX_KEY": "k"}, "LEADAPP_ENCRYPTION_KEYS"),
    ],
)
def test_production_refuses_to_start_without_keys(
    tmp_path: Path, environ: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=f"refuses to start without explicit keys: set {missing}"):
        load_config({"LEADAPP_ENV": "production", **environ}, tmp_path)
    assert not (tmp_path / "dev-keys.json").exists()


def test_production_refuses_smtp_without_a_from_address(tmp_path: Path) -> None:
    keys = {"LEADAPP_ENCRYPTION_KEYS": "k", "LEADAPP_BLIND_INDEX_KEY": "k"}
    production = {"LEADAPP_ENV": "production", **keys}
    smtp = {"LEADAPP_SMTP_URL": "smtp+starttls://user:s3cret@smtp.example.net"}
    with pytest.raises(ConfigError, match="without LEADAPP_MAIL_FROM") as refused:
        load_config({**production, **smtp}, tmp_path)
    assert "s3cret" not in str(refused.value)
    with_from = load_config(
        {**production, **smtp, "LEADAPP_MAIL_FROM": "leads@example.org"}, tmp_path
    )
    assert with_from["LEADAPP_MAIL_FROM"] == "leads@example.org"
    # In development a missing From is allowed: mail goes from leadapp@<SMTP host> (mail.md).
    assert load_config(smtp, tmp_path)["LEADAPP_MAIL_FROM"] is None


def test_a_malformed_smtp_url_is_named_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LEADAPP_SMTP_URL") as refused:
        load_config({"LEADAPP_SMTP_URL": "smtps://user:s3cret@mail.example:port"}, tmp_path)
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LEADAPP_ENV": "staging"}, "LEADAPP_ENV"),
        ({"LEADAPP_TRUSTED_PROXIES": "-1"}, "LEADAPP_TRUSTED_PROXIES"),
        ({"LEADAPP_TRUSTED_PROXIES": "one"}, "LEADAPP_TRUSTED_PROXIES"),
        ({"LEADAPP_DEFAULT_REGION": "XX"}, "LEADAPP_DEFAULT_REGION"),
    ],
)
def test_malformed_settings_are_named(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ, tmp_path)


def test_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    config = load_config(
        {
            "LEADAPP_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "LEADAPP_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
            "LEADAPP_TRUSTED_PROXIES": "1",
            "LEADAPP_DEFAULT_REGION": "gb",
            "LEADAPP_CORS_ORIGINS": "https://a.example, https://b.example",
            "LEADAPP_ENCRYPTION_KEYS": "new, old",
            "LEADAPP_BLIND_INDEX_KEY": "index",
        },
        tmp_path,
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert config["LEADAPP_TRUSTED_PROXIES"] == 1
    assert config["LEADAPP_DEFAULT_REGION"] == "GB"
    assert config["LEADAPP_CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert config["LEADAPP_ENCRYPTION_KEYS"] == ["new", "old"]


def test_the_factory_creates_every_piece_of_per_app_state(database_url: str) -> None:
    """Built with the app, never on first use, and never shared between two apps."""
    settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url}
    one, two = create_app(settings), create_app(settings)
    for name in (
        crypto.EXTENSION_NAME,
        caches.APIKEY_CACHE,
        caches.BLOCKLIST_CACHE,
        consent.CACHE_EXTENSION,
        stats.CACHE_EXTENSION,
        auth_failures.LIMITS_EXTENSION,
        ratelimit.RESET_TIMES_EXTENSION,
    ):
        assert name in one.extensions, name
        assert one.extensions[name] is not two.extensions[name], name
