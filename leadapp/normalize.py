"""Normalizers for lead fields: each returns the canonical form or raises ValueError."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

NAME_MAX_CHARS = 100
EMAIL_MAX_CHARS = 254
PHONE_MAX_CHARS = 32
# The longest textual IP address: an IPv6 address with an embedded IPv4 tail.
IP_MAX_CHARS = 45
# ASCII digits and the usual separators only: phonenumbers itself skips letters
# (vanity numbers), NUL and invisible characters, so it must never see them.
PHONE_ALLOWED = re.compile(r"[0-9 +().\-]+")


def normalize_name(raw: str) -> str:
    """Trim a name and check its length and characters."""
    name = raw.strip()
    if not name:
        raise ValueError("Name must not be empty.")
    if len(name) > NAME_MAX_CHARS:
        raise ValueError(f"Name must be at most {NAME_MAX_CHARS} characters.")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
        raise ValueError("Name must not contain control characters.")
    return name


def normalize_email(raw: str) -> str:
    """Validate an address's syntax (no DNS) and return email-validator's normalized form."""
    if len(raw) > EMAIL_MAX_CHARS:
        raise ValueError(f"Email must be at most {EMAIL_MAX_CHARS} characters.")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"Not a valid email address: {error}") from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_match_key(email: str) -> str:
    """The form of a normalized email that duplicate detection compares (case-insensitive)."""
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
