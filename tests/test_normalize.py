"""Table-driven tests of every field normalizer."""

from __future__ import annotations

import pytest

from leadapp.normalize import (
    email_match_key,
    normalize_email,
    normalize_ip,
    normalize_name,
    normalize_phone,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("  Ada  ", "Ada"),
        ("\u00a0Zoë\t", "Zoë"),
        ("李小龍", "李小龍"),
        ("x" * 100, "x" * 100),
        (" " + "y" * 100 + " ", "y" * 100),
        ("محمد\u200cرضا", "محمد\u200cرضا"),  # ZWNJ is part of Persian spelling
    ],
)
def test_name_accepted(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\t\n", "empty"),
        ("x" * 101, "at most 100"),
        ("Ada\x00", "control"),
        ("Ada\nLovelace", "control"),
        ("Ada\x1b[31m", "control"),
        ("Ada\x7f", "control"),
        ("Ada\ud800", "control"),
    ],
)
def test_name_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_name(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada@EXAMPLE.COM", "Ada@example.com"),
        ("ann+x@example.com", "ann+x@example.com"),
        ("a.n.n@example.com", "a.n.n@example.com"),
        ("ada@bücher.de", "ada@bücher.de"),
        ("ada@BÜCHER.DE", "ada@bücher.de"),
        ("ada@xn--bcher-kva.de", "ada@bücher.de"),
        ("用户@例子.广告", "用户@例子.广告"),
    ],
)
def test_email_accepted(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@@example.com",
        "ada@example",
        "ada example@example.com",
        "ada@exa mple.com",
        "ada@example.com\n",
        "ada\x00@example.com",
        "a" * 245 + "@example.com",
        "ada@-example.com",
    ],
)
def test_email_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(raw)


def test_email_match_key_folds_case_but_not_tags_or_dots() -> None:
    assert email_match_key(normalize_email("Ada@Example.com")) == email_match_key(
        normalize_email("ada@example.COM")
    )
    assert email_match_key(normalize_email("ann+x@example.com")) != email_match_key(
        normalize_email("ann@example.com")
    )
    assert email_match_key(normalize_email("a.nn@example.com")) != email_match_key(
        normalize_email("ann@example.com")
    )


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+44 (20) 7946-0958", None, "+442079460958"),
        ("+44.20.7946.0958", None, "+442079460958"),
        ("+442079460958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("+1 650 253 0000", "GB", "+16502530000"),
        ("+33 1 42 68 53 00", None, "+33142685300"),
    ],
)
def test_phone_accepted(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        ("020 7946 0958", None, "international format"),
        ("+1 650 CALL NOW", None, "only digits"),
        ("+1 650 253 0000 x12", None, "only digits"),
        ("+1 650 253 0000 ext. 12", None, "only digits"),
        ("+44 20 7946\x000958", None, "only digits"),
        ("+44 20 7946\u200b0958", None, "only digits"),
        ("+44 20 7946 0958\u00a0", None, "only digits"),
        ("+44 ２０ 7946 0958", None, "only digits"),  # fullwidth digits
        ("+44 20 7946 09581", None, "valid"),
        ("+44 7700 900123", None, "valid"),  # possible but not assigned
        ("+999 123", None, "valid"),
        ("+", None, "valid"),
        ("1" * 33, "GB", "at most 32"),
        ("", "GB", "only digits"),
    ],
)
def test_phone_refused(raw: str, region: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_phone(raw, region)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::ffff:cb00:7107", "203.0.113.7"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
    ],
)
def test_ip_accepted(raw: str, expected: str) -> None:
    assert normalize_ip(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "203.0.113",
        "203.0.113.256",
        "203.0.113.7:8080",
        "[2001:db8::1]:443",
        "203.0.113.0/24",
        "2001:db8::/64",
        "fe80::1%eth0",
        "0.0.0.0",
        "::",
        "::ffff:0.0.0.0",
        "224.0.0.1",
        "ff02::1",
        " 203.0.113.7",
        "example.com",
        "０.0.0.1",
    ],
)
def test_ip_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_ip(raw)
