"""A DataTable for columns of fixed width holding one-line cells, that draws a page quickly.

A DataTable measures every cell it is given (to size columns that fit their content) and
draws each line through Rich's layout, cell by cell (Padding, Styled, line splitting, a
Style per segment, for every column, on screen or not): for a ``rich.text.Text`` cell about
10 µs to measure and 100 µs to draw, which a page of 100 rows × 11 columns pays on every
page change. A :class:`Cell` has nothing to measure (its column's width is fixed), and
:class:`CellTable` draws a body line straight from the cells that are in view, with the very
segments and styles the DataTable would give it (tests/test_console_recordings.py compares
the two for zebra rows, the cursor, hover, focus and sideways scrolling). Anything else (the
header, row labels, fixed rows or columns, rows taller than one line, other cursor types,
cells that are not :class:`Cell`) is drawn by the DataTable itself.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import Self

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import TextType
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import Column, ColumnKey


def _printable(text: str) -> str:
    """``text`` on one line: control characters (newlines, tabs…) become spaces."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else " " for c in text)


class Cell:
    """One line of ``text`` in ``style``, left aligned (or ``right``); ``str()`` gives the text."""

    __slots__ = ("right", "style", "text")

    def __init__(self, text: str, style: Style | None = None, *, right: bool = False) -> None:
        self.text = _printable(text)
        self.style = style
        self.right = right

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cell({self.text!r})"

    def fit(self, width: int) -> str:
        """The text cut or padded to ``width`` terminal cells."""
        text = self.text
        if self.right and (short := width - cell_len(text)) > 0:
            return " " * short + text
        return set_cell_size(text, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.fit(options.max_width), self.style)


@lru_cache(maxsize=8192)
def _meta(row: int, column: int, out_of_bounds: bool = False) -> Style:
    """The meta a DataTable puts on a cell's segments (its clicks and hovers read it)."""
    if out_of_bounds:
        return Style.from_meta({"row": row, "column": column, "out_of_bounds": True})
    return Style.from_meta({"row": row, "column": column})


@dataclass(frozen=True)
class _Look:
    """What drawing body lines needs, worked out once per repaint."""

    base: Style  # the table's own style
    rows: tuple[Style, Style]  # even, odd rows
    cell: dict[tuple[bool, bool], tuple[Style, Style]]  # (cursor, hover) -> component, post
    extend: dict[tuple[bool, bool], Style]  # (cursor, hover) -> right of the last column
    columns: tuple[tuple[int, int], ...]  # (x, width) of each column
    table_width: int
    padding: int


class CellTable(DataTable[Cell]):
    """A DataTable whose body lines of :class:`Cell` skip Rich's layout, and whose column
    order is worked out once, not for every row added and line drawn."""

    _columns_in_order: list[Column] | None = None
    _look: _Look | None = None
    _plain: bool | None = None  # what _simple() says, for this repaint
    _header: tuple[Hashable, Strip] | None = None  # the last header line drawn, and for what

    @property
    def ordered_columns(self) -> list[Column]:
        if self._columns_in_order is None or len(self._columns_in_order) != len(self.columns):
            self._columns_in_order = super().ordered_columns
        return self._columns_in_order

    def add_column(
        self,
        label: TextType,
        *,
        width: int | None = None,
        key: str | None = None,
        default: Cell | None = None,
    ) -> ColumnKey:
        self._columns_in_order = self._header = None
        return super().add_column(label, width=width, key=key, default=default)

    def remove_column(self, column_key: ColumnKey | str) -> None:
        self._columns_in_order = self._header = None
        super().remove_column(column_key)

    def clear(self, columns: bool = False) -> Self:
        if columns:
            self._columns_in_order = self._header = None
        return super().clear(columns)

    def notify_style_update(self) -> None:
        self._header = None
        super().notify_style_update()

    def render_lines(self, crop: Region) -> list[Strip]:
        # styles, focus, size, rows or columns may have changed since the last repaint
        self._look = self._plain = None
        return super().render_lines(crop)

    def _simple(self) -> bool:
        """Whether every body line is one the quick way can draw (once per repaint)."""
        if self._plain is None:
            self._plain = (
                self.cursor_type == "row"
                and not self.fixed_rows
                and not self.fixed_columns
                and all(row.height == 1 and row.label is None for row in self.rows.values())
            )
        return self._plain

    def _work_out_look(self) -> _Look:
        base = self.rich_style
        show_cursor, show_hover = self.show_cursor, self._show_hover_cursor
        cell: dict[tuple[bool, bool], tuple[Style, Style]] = {}
        extend: dict[tuple[bool, bool], Style] = {}
        for cursor in (False, True):
            for hover in (False, True):
                cell[cursor, hover] = self._get_styles_to_render_cell(
                    False,
                    False,
                    False,
                    hover,
                    cursor,
                    show_cursor,
                    show_hover,
                    self.cursor_foreground_priority == "css",
                    self.cursor_background_priority == "css",
                )
                extend[cursor, hover] = self._get_styles_to_render_cell(
                    False, False, False, hover, cursor, show_cursor, show_hover, False, False
                )[0]
        columns, x = [], 0
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            columns.append((x, width))
            x += width
        return _Look(
            base=base,
            rows=(self._get_row_style(0, base), self._get_row_style(1, base)),
            cell=cell,
            extend=extend,
            columns=tuple(columns),
            table_width=x,
            padding=self.cell_padding,
        )

    def render_line(self, y: int) -> Strip:
        header = self.header_height if self.show_header else 0
        scroll_x, scroll_y = self.scroll_offset
        if y < header:
            return self._header_line(y, scroll_x)
        row_index = y - header + scroll_y
        if row_index >= self.row_count or not self._simple():
            return super().render_line(y)
        cells = self.get_row_at(row_index)
        if not all(isinstance(cell, Cell) for cell in cells):
            return super().render_line(y)
        look = self._look = self._look or self._work_out_look()
        width = self.size.width
        cursor = row_index == self.cursor_coordinate.row
        hover = row_index == self.hover_coordinate.row
        component, post = look.cell[cursor, hover]
        row_style = look.rows[row_index % 2]
        styled = row_style + component
        # the cells in view, from the first one that shows, and what is right of the last
        segments: list[Segment] = []
        start = None
        right = scroll_x + width
        for column_index, ((x, cell_width), cell) in enumerate(
            zip(look.columns, cells, strict=True)
        ):
            if x + cell_width <= scroll_x:
                continue
            if x >= right:
                break
            if start is None:
                start = x
            pre = styled + _meta(row_index, column_index)
            segments += _cell_segments(cell, cell_width, look.padding, pre, post)
        else:
            if start is None:
                start = look.table_width
            extend = row_style + look.extend[cursor, hover] + _meta(row_index, 0, True)
            segments.append(Segment(" " * max(0, width - look.table_width), extend))
        assert start is not None
        line = Strip(segments).crop(scroll_x - start, right - start)
        return line.adjust_cell_length(width, look.base).simplify()

    def _header_line(self, y: int, scroll_x: int) -> Strip:
        """The DataTable's header line, drawn again only when what it shows may differ (the
        DataTable draws it afresh after every added row)."""
        if not self._simple():
            return super().render_line(y)
        key = (
            y,
            scroll_x,
            self.size.width,
            self.get_pseudo_class_state(),
            self.rich_style,
            self.show_cursor,
            self._show_hover_cursor,
            self.hover_coordinate.row == -1,
            tuple(column.get_render_width(self) for column in self.ordered_columns),
        )
        if self._header is None or self._header[0] != key:
            self._header = (key, super().render_line(y))
        return self._header[1]


def _cell_segments(cell: Cell, width: int, padding: int, pre: Style, post: Style) -> list[Segment]:
    """What Styled(Padding(cell, (0, padding)), pre, post) draws in ``width`` cells."""
    padding = min(padding, width // 2)
    text = cell.fit(width - 2 * padding)
    edge, body = pre, pre + cell.style
    if post:  # Segment.apply_style's post_style step
        edge, body = edge + post if edge else post, body + post if body else post
    if not padding:
        return [Segment(text, body)]
    space = " " * padding
    return [Segment(space, edge), Segment(text, body), Segment(space, edge)]
