"""The keyring: encryption round trips, key rotation and keyed, stable blind indexes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask

from leadapp.crypto import InvalidKeyError, Keyring, development_keys, init_keyring
from leadapp.models.lead import BLIND_INDEX_COLUMNS
from leadapp.models.types import fernet_token_length


def new_key() -> str:
    """A fresh Fernet-format key."""
    return Fernet.generate_key().decode()


@pytest.fixture
def keyring() -> Keyring:
    """A keyring with one encryption key."""
    return Keyring([new_key()], new_key())


def test_round_trip(keyring: Keyring) -> None:
    for value in ["Ada", "ada@bücher.de", "+442079460958", "2001:db8::1", "李小龍"]:
        assert keyring.decrypt(keyring.encrypt(value)) == value


def test_two_encryptions_differ(keyring: Keyring) -> None:
    first, second = keyring.encrypt("ada@example.com"), keyring.encrypt("ada@example.com")
    assert first != second
    assert "ada" not in first


def test_blind_index_is_stable_32_bytes_and_keyed() -> None:
    index_key = new_key()
    one = Keyring([new_key()], index_key)
    same_key = Keyring([new_key()], index_key)
    other_key = Keyring([new_key()], new_key())
    value = "ada@example.com"
    assert len(one.blind_index("email", value)) == 32
    assert one.blind_index("email", value) == one.blind_index("email", value)
    # Independent of the encryption keys, so rotating those keeps duplicates detectable.
    assert one.blind_index("email", value) == same_key.blind_index("email", value)
    assert one.blind_index("email", value) != other_key.blind_index("email", value)
    assert one.blind_index("email", value) != one.blind_index("email", value + "x")


def test_blind_index_is_domain_separated(keyring: Keyring) -> None:
    value = "2001:db8::1"
    indexes = {field: keyring.blind_index(field, value) for field in BLIND_INDEX_COLUMNS}
    assert len(set(indexes.values())) == 3


def test_rotation_newest_encrypts_all_decrypt() -> None:
    old, new = new_key(), new_key()
    index_key = new_key()
    before = Keyring([old], index_key)
    token = before.encrypt("Ada")
    during = Keyring([new, old], index_key)
    assert during.decrypt(token) == "Ada"
    assert not during.is_current(token)
    rotated = during.rotate(token)
    assert during.is_current(rotated)
    after = Keyring([new], index_key)
    assert after.decrypt(rotated) == "Ada"
    with pytest.raises(InvalidToken):
        after.decrypt(token)


@pytest.mark.parametrize(
    ("encryption_keys", "index_key"),
    [([], "k"), (["not-a-key"], None), (None, "c2hvcnQ="), (None, "not base64!")],
)
def test_malformed_keys_are_refused(encryption_keys, index_key) -> None:
    encryption_keys = [new_key()] if encryption_keys is None else encryption_keys
    index_key = new_key() if index_key is None else index_key
    with pytest.raises(InvalidKeyError):
        Keyring(encryption_keys, index_key)


@pytest.mark.parametrize("plaintext_bytes", [0, 1, 15, 16, 17, 45, 400, 1016])
def test_token_length_fits_the_longest_plaintext(keyring: Keyring, plaintext_bytes: int) -> None:
    token = keyring.encrypt("é" * (plaintext_bytes // 2) + "x" * (plaintext_bytes % 2))
    assert len(token) <= fernet_token_length(plaintext_bytes)
    assert len(token) > fernet_token_length(plaintext_bytes) - 24


def test_development_keys_are_generated_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = development_keys(tmp_path)
    key_file = tmp_path / "dev-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "Generated development keys" in caplog.text
    second = development_keys(tmp_path)
    assert first["encryption_key"] == second["encryption_key"]
    assert first["blind_index_key"] == second["blind_index_key"]
    # The warning names the file, never the key.
    assert first["blind_index_key"] not in caplog.text
    assert first["encryption_key"] not in caplog.text


def test_keyring_takes_unset_keys_from_the_instance_folder(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(LEADAPP_ENCRYPTION_KEYS=[], LEADAPP_BLIND_INDEX_KEY="")
    keyring = init_keyring(app)
    dev_keys = development_keys(tmp_path)
    assert app.config["LEADAPP_ENCRYPTION_KEYS"] == [dev_keys["encryption_key"]]
    assert app.config["LEADAPP_BLIND_INDEX_KEY"] == dev_keys["blind_index_key"]
    same = Keyring([dev_keys["encryption_key"]], dev_keys["blind_index_key"])
    assert keyring.decrypt(same.encrypt("ada@example.com")) == "ada@example.com"
    assert keyring.blind_index("email", "ada") == same.blind_index("email", "ada")


def test_keyring_keeps_configured_keys_and_writes_no_file(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(LEADAPP_ENCRYPTION_KEYS=[new_key()], LEADAPP_BLIND_INDEX_KEY=new_key())
    init_keyring(app)
    assert not (tmp_path / "dev-keys.json").exists()
