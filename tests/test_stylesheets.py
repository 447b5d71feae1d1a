"""Every stylesheet the pages load, read by a real CSS parser (tinycss2): no parse error, no
block left open.

A browser forgives a broken stylesheet silently: an unclosed block swallows every rule after
it (the admin overview once lost its chart colours that way). CSS parsers forgive an unclosed
block at the end of the file too (the syntax says so), so the check adds a sentinel rule after
the file's text: it is a top-level rule only if every block closed before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tinycss2

STATIC = Path(__file__).resolve().parent.parent / "leadapp" / "web" / "static"
STYLESHEETS = sorted(STATIC.rglob("*.css"))
SENTINEL = ".stylesheet-sentinel-rule"
# At-rules whose block holds rules, not declarations.
RULE_BLOCKS = {"media", "supports", "layer", "container", "document"}


def problems(css: str) -> list[str]:
    """Every parse error of a stylesheet, as 'line:column message'."""
    found: list[str] = []

    def error(node: Any, message: str) -> None:
        found.append(f"{node.source_line}:{node.source_column} {message}")

    def tokens(values: list[Any]) -> None:
        for value in values or []:
            if value.type == "error":
                error(value, value.message)
            tokens(getattr(value, "content", None) or getattr(value, "arguments", None) or [])

    def declarations(rule: Any) -> None:
        for item in tinycss2.parse_blocks_contents(
            rule.content, skip_comments=True, skip_whitespace=True
        ):
            if item.type == "error":
                error(item, item.message)
            elif item.type == "declaration":
                tokens(item.value)
            else:
                # The pages use no CSS nesting: a rule inside a rule is a missing "}".
                error(item, f"a rule inside the block of {tinycss2.serialize(rule.prelude)!r}")

    def rules(items: list[Any]) -> None:
        for rule in items:
            if rule.type == "error":
                error(rule, rule.message)
                continue
            tokens(rule.prelude)
            if rule.content is None:
                continue
            if rule.type == "at-rule" and rule.lower_at_keyword in RULE_BLOCKS:
                rules(tinycss2.parse_rule_list(rule.content, True, True))
            else:
                declarations(rule)

    parsed = tinycss2.parse_stylesheet(
        css + "\n" + SENTINEL + " {}\n", skip_comments=True, skip_whitespace=True
    )
    last = parsed[-1] if parsed else None
    if (
        last is None
        or last.type != "qualified-rule"
        or tinycss2.serialize(last.prelude).strip() != SENTINEL
    ):
        found.append("a block is still open at the end of the file (a missing '}')")
    rules(parsed)
    return found


def test_the_pages_have_stylesheets() -> None:
    assert [path.name for path in STYLESHEETS] == ["style.css"]


@pytest.mark.parametrize("path", STYLESHEETS, ids=lambda path: path.name)
def test_stylesheet_parses_without_error(path: Path) -> None:
    assert problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        (".a { color: red; }\n.b { display: none;\n\n.c { color: blue; }\n", "missing '}'"),
        (".a { color: red; }\n.b { display: none;\n", "missing '}'"),
        (".a { color: red; }}\n", "Unmatched }"),
        (".a { content: 'open\n}\n", "Bad string token"),
        ("@media (max-width: 10rem) { .a { color: red; }\n", "missing '}'"),
    ],
)
def test_the_check_finds_broken_stylesheets(css: str, expected: str) -> None:
    assert any(expected in problem for problem in problems(css)), problems(css)


def test_the_check_accepts_a_sound_stylesheet() -> None:
    sound = ".a { color: red; }\n@media (max-width: 10rem) { .a { color: blue; } }\n"
    assert problems(sound) == []
