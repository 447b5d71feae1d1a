"""The intake settings: LEADAPP_CHALLENGE, LEADAPP_CONSENT_TEXT, LEADAPP_DUPLICATES_ANONYMOUS."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadapp.config import ConfigError, load_config


def settings(tmp_path: Path, **environ: str) -> dict[str, object]:
    """load_config over a minimal environment."""
    return load_config(environ, tmp_path)


def test_defaults(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert config["LEADAPP_CHALLENGE"] is False
    assert config["LEADAPP_CONSENT_TEXT"] is None
    assert config["LEADAPP_DUPLICATES_ANONYMOUS"] == "reveal"


def test_values(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        LEADAPP_CHALLENGE=" ON ",
        LEADAPP_CONSENT_TEXT="  I agree to be contacted.\n",
        LEADAPP_DUPLICATES_ANONYMOUS="conceal",
    )
    assert config["LEADAPP_CHALLENGE"] is True
    assert config["LEADAPP_CONSENT_TEXT"] == "I agree to be contacted."
    assert config["LEADAPP_DUPLICATES_ANONYMOUS"] == "conceal"


def test_blank_consent_text_is_unset(tmp_path: Path) -> None:
    assert settings(tmp_path, LEADAPP_CONSENT_TEXT="   ")["LEADAPP_CONSENT_TEXT"] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADAPP_CHALLENGE", "yes"),
        ("LEADAPP_CHALLENGE", "1"),
        ("LEADAPP_DUPLICATES_ANONYMOUS", "hide"),
    ],
)
def test_unknown_words_are_refused_with_the_name(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(tmp_path, **{name: value})
