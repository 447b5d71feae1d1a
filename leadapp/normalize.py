"""Normalizers for lead fields: each returns the canonical form or raises ValueError."""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

import phonenumbers
import regex
from email_validator import EmailNotValidError, validate_email

NAME_MAX_CHARS = 100
EMAIL_MAX_CHARS = 254
PHONE_MAX_CHARS = 32
# The longest textual IP address: an IPv6 address with an embedded IPv4 tail.
IP_MAX_CHARS = 45
# ASCII digits and the usual separators only: phonenumbers itself skips letters
# (vanity numbers), NUL and invisible characters, so it must never see them.
PHONE_ALLOWED = re.compile(r"[0-9 +().\-]+")
# Bidirectional formatting characters (ALM, LRM, RLM, embeddings, overrides, isolates): they
# reorder what the operator sees. ZWNJ and ZWJ are not among them; Persian spells with ZWNJ.
BIDI_FORMATTING = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)
# Every Unicode script (ISO 15924 codes, as the `regex` package names them) except Common,
# Inherited and Unknown, most used first; tests/test_normalize.py checks that every letter
# Unicode knows falls in one of them.
SCRIPT_CODES = (
    "LATN CYRL GREK ARMN HEBR ARAB HAN HIRA KANA HANG BOPO DEVA THAI GEOR CHER ADLM AGHB "
    "AHOM ARMI AVST BALI BAMU BASS BATK BENG BERF BHKS BRAH BRAI BUGI BUHD CAKM CANS "
    "CARI CHAM CHRS COPT CPMN CPRT DIAK DOGR DSRT DUPL EGYP ELBA ELYM ETHI GARA GLAG "
    "GONG GONM GOTH GRAN GUJR GUKH GURU HANO HATR HLUW HMNG HMNP HRKT HUNG ITAL JAVA "
    "JURC KALI KAWI KHAR KHMR KHOJ KITS KNDA KRAI KTHI LANA LAO LEPC LIMB LINA LINB LISU "
    "LYCI LYDI MAHJ MAKA MAND MANI MARC MEDF MEND MERC MERO MIAO MLYM MODI MONG MRO MTEI "
    "MULT MYMR NAGM NAND NARB NBAT NEWA NKO NSHU OGAM OLCK ONAO ORKH ORYA OSGE OSMA OUGR "
    "PALM PAUC PCUN PERM PHAG PHLI PHLP PHNX PRTI RJNG ROHG RUNR SAMR SARB SAUR SEAL "
    "SGNW SHAW SHRD SIDD SIDT SIND SINH SOGD SOGO SORA SOYO SUND SUNU SYLO SYRC TAGB "
    "TAKR TALE TALU TAML TANG TAVT TAYO TELU TFNG TGLG THAA TIBT TIRH TNSA TODR TOLS "
    "TOTO TUTG UGAR VAI VITH WARA WCHO XPEO XSUX YEZI YI ZANB "
)
SCRIPTS = tuple(SCRIPT_CODES.split())
_SCRIPT_PATTERNS = tuple((code, regex.compile(rf"\p{{sc={code}}}")) for code in SCRIPTS)
# The script combinations UTS #39's "highly restrictive" level treats as one writing system
# (Section 5.2): a text whose letters all fall in one of these sets is not mixed.
WRITING_SYSTEMS = (
    frozenset({"LATN", "HAN", "HIRA", "KANA"}),  # Japanese
    frozenset({"LATN", "HAN", "BOPO"}),  # Chinese
    frozenset({"LATN", "HAN", "HANG"}),  # Korean
)


def normalize_name(raw: str) -> str:
    """Trim a name and check its length and characters."""
    name = raw.strip()
    if not name:
        raise ValueError("Name must not be empty.")
    if len(name) > NAME_MAX_CHARS:
        raise ValueError(f"Name must be at most {NAME_MAX_CHARS} characters.")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
        raise ValueError("Name must not contain control characters.")
    if any(char in BIDI_FORMATTING for char in name):
        raise ValueError("Name must not contain bidirectional formatting characters.")
    if not any(unicodedata.category(char)[0] in "LN" for char in name):
        raise ValueError("Name must contain a letter or a digit.")
    return name


@functools.lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    """The Unicode script of a character (ISO 15924 code), or None for Common/Inherited."""
    for code, pattern in _SCRIPT_PATTERNS:
        if pattern.match(char):
            return code
    return None


def letter_scripts(text: str) -> set[str]:
    """The scripts of the letters in a text (digits, marks and punctuation have none)."""
    if text.isascii():
        return {"LATN"} if any(char.isalpha() for char in text) else set()
    scripts = set()
    for char in text:
        if unicodedata.category(char)[0] == "L":
            script = script_of(char)
            if script is not None:
                scripts.add(script)
    return scripts


def is_mixed_script(text: str) -> bool:
    """Whether a text's letters mix writing systems (UTS #39, highly restrictive).

    One script is never mixed; several are mixed unless one of WRITING_SYSTEMS holds them all,
    so Japanese kanji with kana (and Latin) passes while a Cyrillic letter among Latin ones fails.
    """
    scripts = letter_scripts(text)
    return len(scripts) > 1 and not any(scripts <= system for system in WRITING_SYSTEMS)


def normalize_email(raw: str) -> str:
    """Validate and normalize a new lead's address (no DNS; one writing system before the @)."""
    email = normalize_email_lookup(raw)
    local = email.rpartition("@")[0]
    if is_mixed_script(unicodedata.normalize("NFKC", local)):
        raise ValueError(
            "The part before the @-sign mixes letters of different scripts"
            " (for example a Cyrillic letter among Latin ones)."
        )
    return email


def normalize_email_lookup(raw: str) -> str:
    """Validate an address's syntax (no DNS) and return email-validator's normalized form.

    Searches use this without the script rule, so a lead stored before the rule is still found.
    """
    if len(raw) > EMAIL_MAX_CHARS:
        raise ValueError(f"Email must be at most {EMAIL_MAX_CHARS} characters.")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"Not a valid email address: {error}") from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_match_key(email: str) -> str:
    """The form of a normalized email that duplicates and lookups compare: NFKC, lower-cased.

    NFKC folds fullwidth letters and ligatures (fullwidth a, the ffi ligature) into the letters
    they show; lower-casing can leave a string that NFKC would change again, hence the second pass.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).lower())


def legacy_email_match_key(email: str) -> str:
    """The match key before NFKC (lower-cased only): what email_bidx held up to revision 0005."""
    return email.lower()


def normalize_phone(raw: str, default_region: str | None) -> str:
    """Check a phone number's characters and validity and return it in E.164."""
    if len(raw) > PHONE_MAX_CHARS:
        raise ValueError(f"Phone must be at most {PHONE_MAX_CHARS} characters.")
    if not PHONE_ALLOWED.fullmatch(raw):
        raise ValueError("Phone may contain only digits, spaces and + ( ) - .")
    international = raw.lstrip().startswith("+")
    if not international and default_region is None:
        raise ValueError(
            "Phone must be in international format, starting with + and the country code."
        )
    try:
        number = phonenumbers.parse(raw, None if international else default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("Not a valid phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_ip(raw: str) -> str:
    """Parse a plain IPv4 or IPv6 address and return its compressed form (IPv4-mapped unwrapped)."""
    if "/" in raw or "%" in raw:
        raise ValueError("IP address must be a plain address, without prefix length or zone.")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise ValueError("Not a valid IPv4 or IPv6 address.") from None
    address = unwrap_ipv4_mapped(address)
    if address.is_unspecified or address.is_multicast:
        raise ValueError("IP address must not be unspecified or multicast.")
    return address.compressed


def unwrap_ipv4_mapped(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Return the IPv4 address inside an IPv4-mapped IPv6 address, else the address itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
