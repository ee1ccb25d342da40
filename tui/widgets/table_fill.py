"""Refilling a DataTable with columns already as wide as their widest cell, so that no paint
shows a cell clipped.

Textual's DataTable (8.2) widens an auto-width column only when the table is next idle, and it
caches the cells and lines it paints under keys that leave out the column widths. A screen
update that lands between ``add_row`` and that idle paints the new cells at the old width (the
header's, for a table's first rows) and caches them; in a table whose size does not change
(``height: 1fr``) nothing clears that cache when the column then widens, so the clipped cell
(``edge`` for the host ``edge-1``) stays on screen until the cursor, the focus or the data
change. Whether that update lands first is a matter of timing, which is why it came and went.
Here every column gets its width before the rows go in, so the idle has nothing left to widen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def text_width(cell: str | Text) -> int:
    """Cells ``cell`` takes in a table: a str is read as markup, as DataTable reads it."""
    text = Text.from_markup(cell) if isinstance(cell, str) else cell
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)


def column_widths(labels: Sequence[str | Text], rows: Sequence[Sequence[str | Text]]
                  ) -> list[int]:
    """Each column's width: its label's or its widest cell's, whichever is wider."""
    return [max([text_width(label), *(text_width(cells[i]) for cells in rows if i < len(cells))])
            for i, label in enumerate(labels)]


def fill(table: DataTable[Any], rows: Sequence[tuple[str | None, Sequence[str | Text]]]) -> None:
    """Replace ``table``'s rows with ``rows`` ((key, cells) each), its columns (same labels and
    keys) sized to fit them; the cursor goes back to the first row, as ``clear`` leaves it."""
    columns = [(c.label, c.key.value) for c in table.ordered_columns]
    widths = column_widths([label for label, _ in columns], [cells for _, cells in rows])
    table.clear(columns=True)
    for (label, key), width in zip(columns, widths, strict=True):
        table.add_column(label, width=width, key=key)
    for key, cells in rows:
        table.add_row(*cells, key=key)
