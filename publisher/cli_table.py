"""A plain text table for the command line: left-aligned columns, two spaces apart."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["print_table"]


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    print("\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                    .rstrip() for row in rows))
