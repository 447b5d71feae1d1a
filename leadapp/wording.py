"""Words for people: a count with its noun in the right number ("1 lead", "2 leads")."""

from __future__ import annotations


def plural(count: float, singular: str, plural_form: str | None = None) -> str:
    """The count and its noun: `singular` for exactly 1, else `plural_form` (default noun + s)."""
    number = f"{count:g}" if isinstance(count, float) else str(count)
    noun = singular if count == 1 else (plural_form or singular + "s")
    return f"{number} {noun}"
