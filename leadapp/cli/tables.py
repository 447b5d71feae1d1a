"""How the command line lists things: timestamps, and aligned columns of plain text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import click

# A column: its header and width; a negative width aligns right; the last column is unpadded.
Column = tuple[str, int]


def when(value: object) -> str:
    """A timestamp for tables (UTC as stored, to the second), or '-'."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"  # type: ignore[attr-defined]


def _cell(value: object, width: int) -> str:
    """One cell, padded to its column's width (a negative width aligns right)."""
    return f"{value!s:>{-width}}" if width < 0 else f"{value!s:<{width}}"


def echo_table(
    columns: Sequence[Column], rows: Iterable[Sequence[object]], gap: str = "  "
) -> None:
    """Print the header line, then one line per row, each cell in its column."""
    widths = [width for _, width in columns]
    for row in [[header for header, _ in columns], *rows]:
        cells = [_cell(value, width) for value, width in zip(row[:-1], widths, strict=False)]
        click.echo(gap.join([*cells, str(row[-1])]))
