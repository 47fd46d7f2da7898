"""The Recordings tab's charts strip (`c`): recordings per day and storage use at a glance.

Bars start from zero, so a quiet day looks quiet (a sparkline scaled from the smallest day
would make 95 and 100 calls look like nothing and everything). The per-day counts are one
index walk and arrive first; the storage sum reads the whole catalogue and follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker

from mm_engine.session import Session
from mm_engine.stats import DayCount, StorageUse
from mm_tui.i18n import _
from mm_tui.widgets.forms import report_failure

DAYS = 30
BARS = " ▁▂▃▄▅▆▇█"


def human_bytes(size: float) -> str:
    """1.5 GB, 320 MB, 12 KB: three significant figures at most."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if value >= 100 or unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def bar_rows(values: Sequence[int], height: int, column: int) -> list[str]:
    """Bars from zero, ``column`` cells per value (a gap between bars from 3 cells up), top
    row first; any non-zero value shows at least the lowest eighth."""
    top = max(values, default=0)
    steps = 8 * height
    fill = column - 1 if column >= 3 else column
    cells = []
    for value in values:
        n = round(value / top * steps) if top else 0
        cells.append(1 if n == 0 and value > 0 else n)
    return [
        "".join((BARS[min(8, max(0, n - 8 * row))] * fill).ljust(column) for n in cells).rstrip()
        for row in reversed(range(height))
    ]


def days_left_text(use: StorageUse) -> str:
    if use.free_bytes is None:
        return _("free space unknown")
    if use.days_left is None:
        return _("nothing recorded in 30 days")
    rate = human_bytes(use.bytes_per_day)
    if use.days_left >= 3650:
        return _("over 10 years left at {rate}/day").format(rate=rate)
    return _("~{days} days left at {rate}/day").format(days=f"{use.days_left:,.0f}", rate=rate)


class DayBars(Widget):
    """One bar per day, the newest on the right."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"daybars--bar"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.counts: list[int] = []

    def show(self, counts: list[int]) -> None:
        self.counts = counts
        self.refresh()

    def render(self) -> RenderResult:
        if not self.counts:
            return ""
        width, height = self.content_size.width, max(1, self.content_size.height)
        column = max(1, width // len(self.counts))
        shown = self.counts[-(width // column) :] if width >= column else []
        style = self.get_component_rich_style("daybars--bar")
        return Text("\n".join(bar_rows(shown, height, column)), style=style, no_wrap=True)


class StorageBar(Widget):
    """Used against used + free, as one line of blocks."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"storagebar--used", "storagebar--free"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fraction: float | None = None

    def show(self, fraction: float | None) -> None:
        self.fraction = fraction
        self.refresh()

    def render(self) -> RenderResult:
        width = self.content_size.width
        if self.fraction is None:
            return Text("░" * width, style=self.get_component_rich_style("storagebar--free"))
        used = min(width, round(self.fraction * width))
        text = Text(no_wrap=True)
        text.append("█" * used, self.get_component_rich_style("storagebar--used"))
        text.append("░" * (width - used), self.get_component_rich_style("storagebar--free"))
        return text


class ChartsStrip(Horizontal):
    """Recordings per day (left) and storage use (right); :meth:`reload` fetches both."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    @dataclass
    class PerDayLoaded(Message):
        days: list[DayCount]

    @dataclass
    class StorageLoaded(Message):
        use: StorageUse

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.days: list[DayCount] = []
        self.storage: StorageUse | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="charts-days"):
            yield Static(_("Recordings per day: counting…"), id="charts-days-title", markup=False)
            yield DayBars(id="charts-bars")
            yield Static("", id="charts-days-axis", markup=False)
        with Vertical(id="charts-storage"):
            yield Static(_("Storage: measuring…"), id="charts-storage-title", markup=False)
            yield StorageBar(id="charts-storage-bar")
            yield Static("", id="charts-storage-used", markup=False)
            yield Static("", id="charts-storage-left", markup=False)

    def reload(self) -> None:
        self._per_day()
        self._storage()

    @work(thread=True, exclusive=True, exit_on_error=False, group="charts-days")
    def _per_day(self) -> None:
        self.post_message(self.PerDayLoaded(self.session.stats_per_day(DAYS)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="charts-storage")
    def _storage(self) -> None:
        self.post_message(self.StorageLoaded(self.session.stats_storage()))

    @on(Worker.StateChanged)
    def _failed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    @on(PerDayLoaded)
    def _show_days(self, message: PerDayLoaded) -> None:
        self.days = message.days
        counts = [d.recordings for d in message.days]
        today = counts[-1] if counts else 0
        peak = max(counts, default=0)
        peak_day = next((d.day for d in message.days if d.recordings == peak), None)
        title = _("Recordings/day, {days} days: {total} · today {today}").format(
            days=len(counts), total=f"{sum(counts):,}", today=f"{today:,}"
        )
        if peak and peak_day is not None:
            title += " · " + _("peak {peak} on {day}").format(
                peak=f"{peak:,}", day=f"{peak_day:%m-%d}"
            )
        self.query_one("#charts-days-title", Static).update(title)
        self.query_one(DayBars).show(counts)
        self._draw_axis()

    def on_resize(self) -> None:
        self._draw_axis()

    def _draw_axis(self) -> None:
        if not self.days:
            return
        axis = self.query_one("#charts-days-axis", Static)
        first, last = f"{self.days[0].day:%m-%d}", f"{self.days[-1].day:%m-%d}"
        width = axis.content_size.width
        bars = self.query_one(DayBars).content_size.width
        column = max(1, bars // len(self.days))
        span = min(width, column * len(self.days))
        axis.update(first + last.rjust(max(len(last), span - len(first))))

    @on(StorageLoaded)
    def _show_storage(self, message: StorageLoaded) -> None:
        use = self.storage = message.use
        total = use.used_bytes + (use.free_bytes or 0)
        fraction = use.used_bytes / total if use.free_bytes is not None and total else None
        title = (
            _("Call storage {percent} full").format(percent=f"{fraction:.0%}")
            if fraction is not None
            else _("Call storage")
        )
        self.query_one("#charts-storage-title", Static).update(title)
        self.query_one(StorageBar).show(fraction)
        free = (
            _("free unknown")
            if use.free_bytes is None
            else _("{size} free").format(size=human_bytes(use.free_bytes))
        )
        self.query_one("#charts-storage-used", Static).update(
            _("{size} used · {free}").format(size=human_bytes(use.used_bytes), free=free)
        )
        self.query_one("#charts-storage-left", Static).update(days_left_text(use))
