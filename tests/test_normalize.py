"""Table-driven tests of every field normalizer."""

from __future__ import annotations

import pytest
from flask import Flask

from leadapp.normalize import (
    SCRIPTS,
    email_match_key,
    is_mixed_script,
    normalize_email,
    normalize_ip,
    normalize_name,
    normalize_phone,
    script_of,
)
from tests.support.builders import lead_payload
from tests.support.client import post_lead


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
        ("山田たろう@example.jp", "山田たろう@example.jp"),
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


def test_every_letter_unicode_knows_has_a_listed_script() -> None:
    """SCRIPTS is written out by hand; a letter outside it would pass the mixed-script check."""
    import sys
    import unicodedata

    import regex

    listed = regex.compile("[" + "".join(rf"\p{{sc={code}}}" for code in SCRIPTS) + "]")
    unlisted = [
        f"U+{point:04X}"
        for point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(point))[0] == "L"
        and not listed.match(chr(point))
        and not regex.match(r"[\p{sc=Zyyy}\p{sc=Zinh}]", chr(point))
    ]
    assert unlisted == []


@pytest.mark.parametrize(
    ("text", "mixed"),
    [
        ("ada", False),
        ("\u0430\u043d\u044f", False),
        ("\u0430da", True),
        ("ada\u03bf", True),
        ("やまだ", False),
        ("ada.2024_x", False),
        ("\uff41\uff44\uff41", False),
        ("ａ\u0430", True),
        # UTS #39 "highly restrictive": three writing systems made of several scripts (v3).
        ("山田たろう", False),  # Japanese: Han with Hiragana
        ("ヤマダー", False),  # Katakana; the prolonged sound mark is Common
        ("yamada山田タロウたろう", False),  # Latin, Han, Katakana, Hiragana
        ("王ㄅㄆ", False),  # Chinese: Han with Bopomofo
        ("wang王ㄅ", False),
        ("김철수漢", False),  # Korean: Hangul with Han
        ("kim김철수漢", False),
        ("ada山田", False),  # Latin with Han belongs to all three
        # ... and only those: a script from another system still mixes.
        ("山田\u0430", True),  # Han with Cyrillic
        ("たろう김", True),  # Hiragana with Hangul: Japanese and Korean
        ("ㄅタ", True),  # Bopomofo with Katakana: Chinese and Japanese
        ("김ㄅ", True),  # Hangul with Bopomofo
        ("山田たろう\u0430", True),  # Japanese plus one Cyrillic letter
        ("kim김\u03b1", True),  # Korean plus one Greek letter
        ("\u0430\u03b1", True),  # Cyrillic with Greek
        ("ada\u05d0", True),  # Latin with Hebrew
    ],
)
def test_mixed_script(text: str, mixed: bool) -> None:
    assert is_mixed_script(text) is mixed


@pytest.mark.parametrize(
    ("email", "status"),
    [
        ("山田たろう@example.jp", 201),
        ("wang王ㄅ@example.cn", 201),
        ("kim김철수漢@example.kr", 201),
        ("p\u0430ypal@example.com", 422),
        ("山田\u0430@example.jp", 422),
        ("たろう김@example.jp", 422),
    ],
)
def test_writing_systems_through_post_leads(app: Flask, email: str, status: int) -> None:
    """The script rule as a client sees it: the UTS #39 writing systems are 201, the rest 422."""
    response = post_lead(app, lead_payload(email=email))
    assert response.status_code == status, response.get_json()
    if status == 201:
        assert response.get_json()["email"] == email
    else:
        assert "scripts" in response.get_json()["errors"]["email"][0]


def test_script_of_common_characters_is_none() -> None:
    assert script_of("1") is None and script_of("-") is None and script_of("a") == "LATN"


def test_email_match_key_folds_compatibility_forms() -> None:
    assert email_match_key(normalize_email("\uff41\uff44\uff41@example.com")) == "ada@example.com"
    assert email_match_key(normalize_email("O\ufb03ce@example.com")) == "office@example.com"
    assert email_match_key(normalize_email("\u0430\u043d\u044f@example.com")) == (
        "\u0430\u043d\u044f@example.com"
    )


@pytest.mark.parametrize("raw", ["\u200b", "A\u202eB", "\u2067x", "---"])
def test_deceptive_names_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"bidirectional|letter or a digit"):
        normalize_name(raw)
