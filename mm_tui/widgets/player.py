"""The playback panel under the recordings list (F27): details, waveform, seek bar, volume.

Opening a recording, starting the audio device, drawing the waveform and releasing the device
run in thread workers that post messages; handlers here own the state. Pause, seek and volume
only flip the engine player's state under its lock, so they run on the spot. A timer polls the
player's status a few times a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from mm_engine.domain import Recording
from mm_engine.errors import InvalidInput, MMError
from mm_engine.playback import (
    SKIP_SECONDS,
    NoAudioOutput,
    Player,
    PlayerState,
    PlayerStatus,
    Replay,
)
from mm_engine.session import Operation, Session, allowed
from mm_engine.waveform import Peaks, compute_peaks
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.i18n import N_, _, error_text

BARS = " ▁▂▃▄▅▆▇█"
PEAK_BUCKETS = 1024  # resampled to the panel's width when drawn, so resizing costs nothing
VOLUME_STEP = 10
POLL_SECONDS = 0.2
STATE_WORDS = {  # translated where shown
    PlayerState.READY: N_("Ready"),
    PlayerState.PLAYING: N_("Playing"),
    PlayerState.PAUSED: N_("Paused"),
    PlayerState.ENDED: N_("Ended"),
    PlayerState.STOPPED: N_("Stopped"),
    PlayerState.CLOSED: N_("Closed"),
}

Levels = npt.NDArray[np.float32]


def clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def parse_position(text: str, duration_s: float) -> float:
    """Where "go to" should jump: ``1:23``, ``1:02:03``, ``83`` (seconds) or ``50%``."""
    value = text.strip()
    try:
        if value.endswith("%"):
            return duration_s * float(value[:-1]) / 100.0
        seconds = 0.0
        for part in value.split(":"):
            seconds = seconds * 60 + float(part)
        if not value or seconds < 0 or value.count(":") > 2:
            raise ValueError(value)
        return seconds
    except ValueError:
        raise InvalidInput(
            _("{text!r} is not a position.").format(text=text),
            _("Type m:ss, h:mm:ss, seconds, or a percentage."),
        ) from None


def fit(levels: Levels, width: int) -> Levels:
    """``levels`` resampled to ``width`` columns, each column the loudest of its stretch."""
    if width <= 0 or len(levels) == 0:
        return np.zeros(max(0, width), dtype=np.float32)
    if len(levels) >= width:
        edges = (np.arange(width, dtype=np.int64) * len(levels)) // width
        fitted: Levels = np.maximum.reduceat(levels, edges)
        return fitted
    return levels[(np.arange(width, dtype=np.int64) * len(levels)) // width]


def wave_rows(columns: Sequence[float] | Levels, height: int) -> list[str]:
    """Block-character bars, top row first, ``height`` rows tall; any audible column shows."""
    steps = 8 * height
    cells = []
    for value in columns:
        v = min(1.0, max(0.0, float(value)))
        n = round(v * steps)
        cells.append(1 if n == 0 and v > 0.02 else n)
    return [
        "".join(BARS[min(8, max(0, n - 8 * row))] for n in cells) for row in reversed(range(height))
    ]


class Waveform(Widget):
    """The recording's loudness over time; the played part in the accent colour. A click
    jumps there."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"waveform--played", "waveform--rest"}

    @dataclass
    class Clicked(Message):
        fraction: float

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.levels: Levels | None = None
        self.fraction = 0.0
        self.note = ""

    def show(self, levels: Levels | None, note: str = "") -> None:
        self.levels = levels
        self.note = note
        self.refresh()

    def move(self, fraction: float) -> None:
        if abs(fraction - self.fraction) * max(1, self.content_size.width) >= 0.5:
            self.fraction = fraction
            self.refresh()

    def render(self) -> RenderResult:
        width, height = self.content_size.width, max(1, self.content_size.height)
        if self.levels is None:
            return Text(self.note, style=self.get_component_rich_style("waveform--rest"))
        rows = wave_rows(fit(self.levels, width), height)
        played = round(self.fraction * width)
        on_style = self.get_component_rich_style("waveform--played")
        off_style = self.get_component_rich_style("waveform--rest")
        text = Text(no_wrap=True, overflow="crop")
        for i, row in enumerate(rows):
            if i:
                text.append("\n")
            text.append(row[:played], on_style)
            text.append(row[played:], off_style)
        return text

    def on_click(self, event: events.Click) -> None:
        width = self.content_size.width
        if width > 0 and self.levels is not None:
            self.post_message(self.Clicked(min(1.0, max(0.0, event.x / width))))


class SeekBar(Widget):
    """Progress, elapsed / total and the volume on one line; a click on the bar jumps there."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"seekbar--played", "seekbar--rest"}

    @dataclass
    class Clicked(Message):
        fraction: float

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status: PlayerStatus | None = None

    def show(self, status: PlayerStatus | None) -> None:
        if status == self.status:
            return  # the player ticks every 0.2 s, playing or not: redraw only on a change
        self.status = status
        self.refresh()

    def _label(self) -> str:
        s = self.status
        if s is None:
            return " -:-- / -:--  " + _("vol {volume}").format(volume="---")
        return f" {clock(s.position_s)} / {clock(s.duration_s)}  " + _("vol {volume}").format(
            volume=f"{s.volume}%"
        )

    def render(self) -> RenderResult:
        label = self._label()
        bar = max(0, self.content_size.width - len(label))
        fraction = self.status.fraction if self.status is not None else 0.0
        filled = round(fraction * bar)
        text = Text(no_wrap=True, overflow="crop")
        text.append("━" * filled, self.get_component_rich_style("seekbar--played"))
        text.append("─" * (bar - filled), self.get_component_rich_style("seekbar--rest"))
        text.append(label)
        return text

    def on_click(self, event: events.Click) -> None:
        bar = self.content_size.width - len(self._label())
        if bar > 0 and event.x < bar:
            self.post_message(self.Clicked(event.x / bar))


def describe(rec: Recording) -> str:
    """The call in one line, most telling first (the line is cut at the panel's width)."""
    d = rec.details
    parts = [
        _("call {call_id}").format(call_id=d.call_id),
        f"{d.start.astimezone():%Y-%m-%d %H:%M}",
        ", ".join(d.parties) or _("no parties"),
        d.direction.value,
    ]
    if d.agents:
        parts.append(_("agent {agents}").format(agents=", ".join(d.agents)))
    if d.target:
        parts.append(_("target {target}").format(target=d.target))
    if d.skill:
        parts.append(_("skill {skill}").format(skill=d.skill))
    return " · ".join(parts)


class PlayerPanel(Vertical):
    """Plays one recording at a time; focus it (it takes focus when playback starts) for its
    keys. Escape returns to the list; playback goes on."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play_pause", _("Play/pause"), id="player.play_pause"),
        Binding("left", "skip(-1)", _("-10s"), key_display="←", id="player.back"),
        Binding("right", "skip(1)", _("+10s"), key_display="→", id="player.forward"),
        Binding("plus,equals_sign", "volume(1)", _("Vol+"), key_display="+", id="player.louder"),
        Binding("minus", "volume(-1)", _("Vol-"), key_display="-", id="player.softer"),
        Binding("s", "stop", _("Stop"), id="player.stop"),
        Binding("g", "go_to", _("Go to"), id="player.go_to"),
        *(
            Binding(
                str(n),
                f"jump({n})",
                _("Jump to {percent}%").format(percent=n * 10),
                show=False,
                id=f"player.jump_{n}",
            )
            for n in range(10)
        ),
        Binding("escape", "leave", _("List"), id="player.leave"),
    ]

    @dataclass
    class Loaded(Message):
        replay: Replay
        player: Player
        autoplay: bool

    @dataclass
    class PeaksReady(Message):
        recording_id: int
        peaks: Peaks

    @dataclass
    class Started(Message):
        recording_id: int

    @dataclass
    class NoAudio(Message):
        recording_id: int
        message: str

    @dataclass
    class DownloadRequested(Message):
        """Asks the screen to download ``recording`` (the player cannot play it here)."""

        recording: Recording

    @dataclass
    class LeaveRequested(Message):
        """Asks the screen to give the focus back to the list."""

    def __init__(
        self, session: Session, *, backends: Sequence[Any] | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.session = session
        self.backends = backends
        self.player: Player | None = None
        self.recording: Recording | None = None
        self.no_audio = ""
        self.can_focus = False  # nothing to control until a recording is loaded

    def compose(self) -> ComposeResult:
        may_download = allowed(self.session.principal, Operation.DOWNLOAD)
        yield Static(
            _("Nothing playing: space plays the selected recording, w downloads it.")
            if may_download
            else _("Nothing playing: space plays the selected recording."),
            id="player-title",
            markup=False,
        )
        yield Waveform(id="player-wave")
        yield SeekBar(id="player-bar")
        yield Static("", id="player-message", markup=False)
        yield Input(placeholder=_("go to: m:ss, seconds or 50% (enter)"), id="player-goto")

    def on_mount(self) -> None:
        self.query_one("#player-message").display = False
        self.query_one("#player-goto").display = False
        self.set_interval(POLL_SECONDS, self._tick)

    def on_unmount(self) -> None:
        if self.player is not None:
            self.player.close()
            self.player = None

    # -- what the screen asks for ---------------------------------------------------------------
    def open(self, recording: Recording, autoplay: bool = True) -> None:
        """Load ``recording`` (audited as a replay) and, by default, play it."""
        if self.recording is not None and self.recording.id == recording.id and self.player:
            self.action_play_pause()
            self.focus()
            return
        self._say("")
        self.query_one("#player-title", Static).update(
            _("Opening {recording}…").format(recording=describe(recording))
        )
        self._load(recording.id, autoplay)

    def status(self) -> PlayerStatus | None:
        return self.player.status() if self.player is not None else None

    # -- keys ----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("play_pause", "skip", "volume", "stop", "go_to", "jump"):
            return True if self.player is not None else None
        return True

    def action_play_pause(self) -> None:
        if self.player is None:
            return
        status = self.player.status()
        if status.state is PlayerState.PLAYING:
            self.player.pause()
            self._tick()
        else:
            self._start(self.player, self.recording.id if self.recording else 0)

    def action_skip(self, direction: int) -> None:
        if self.player is not None:
            self.player.skip(direction * SKIP_SECONDS)
            self._tick()

    def action_volume(self, direction: int) -> None:
        if self.player is not None:
            self.player.change_volume(direction * VOLUME_STEP)
            self._tick()

    def action_stop(self) -> None:
        if self.player is not None:
            self._stop(self.player)

    def action_jump(self, tenth: int) -> None:
        if self.player is not None:
            self.player.seek(self.player.status().duration_s * tenth / 10)
            self._tick()

    def action_go_to(self) -> None:
        if self.player is None:
            return
        goto = self.query_one("#player-goto", Input)
        goto.value = ""
        goto.display = True
        goto.focus()

    def action_leave(self) -> None:
        goto = self.query_one("#player-goto", Input)
        if goto.display:
            goto.display = False
            self.focus()
            return
        self.post_message(self.LeaveRequested())

    @on(Input.Submitted, "#player-goto")
    def _go(self, event: Input.Submitted) -> None:
        event.stop()
        if self.player is None:
            return
        try:
            seconds = parse_position(event.value, self.player.status().duration_s)
        except InvalidInput as exc:
            self._say(error_text(exc))
            return
        self.player.seek(seconds)
        event.input.display = False
        self.focus()
        self._say("")
        self._tick()

    @on(Waveform.Clicked)
    @on(SeekBar.Clicked)
    def _clicked(self, event: Waveform.Clicked | SeekBar.Clicked) -> None:
        if self.player is not None:
            self.player.seek(self.player.status().duration_s * event.fraction)
            self._tick()

    # -- workers: I/O only, results as messages -------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="player-load")
    def _load(self, recording_id: int, autoplay: bool) -> None:
        replay = self.session.replay(recording_id)
        player = Player(replay.open_audio, backends=self.backends)
        if get_current_worker().is_cancelled:
            player.close()
            return
        self.post_message(self.Loaded(replay, player, autoplay))

    @work(thread=True, exit_on_error=False, group="player-device")
    def _start(self, player: Player, recording_id: int) -> None:
        try:
            player.play()
        except NoAudioOutput as exc:
            self.post_message(self.NoAudio(recording_id, error_text(exc)))
            return
        except MMError:
            if player.status().state is PlayerState.CLOSED:
                return  # replaced by another recording meanwhile
            raise
        self.post_message(self.Started(recording_id))

    @work(thread=True, exit_on_error=False, group="player-device")
    def _stop(self, player: Player) -> None:
        player.stop()

    @work(thread=True, exit_on_error=False, group="player-device")
    def _close(self, player: Player) -> None:
        player.close()

    @work(thread=True, exclusive=True, exit_on_error=False, group="player-peaks")
    def _peaks(self, replay: Replay) -> None:
        worker = get_current_worker()
        peaks = compute_peaks(
            replay.open_audio, PEAK_BUCKETS, cancelled=lambda: worker.is_cancelled
        )
        if peaks is not None and not worker.is_cancelled:
            self.post_message(self.PeaksReady(replay.recording.id, peaks))

    # -- state, owned here ---------------------------------------------------------------------
    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if self.player is not None:
            self._close(self.player)
        self.player = message.player
        self.recording = message.replay.recording
        self.no_audio = ""
        self.can_focus = True
        self.query_one(Waveform).show(None, _("Drawing the waveform…"))
        self._peaks(message.replay)
        if message.autoplay:
            self._start(message.player, message.replay.recording.id)
            self.focus()
        self._tick()
        self.refresh_bindings()

    @on(PeaksReady)
    def _draw_peaks(self, message: PeaksReady) -> None:
        if self.recording is None or message.recording_id != self.recording.id:
            return
        levels = message.peaks.levels()
        loudest = float(levels.max()) if len(levels) else 0.0
        scaled: Levels = levels / np.float32(loudest) if loudest > 0 else levels
        self.query_one(Waveform).show(scaled, "" if loudest > 0 else _("(silence)"))
        self._tick()

    @on(Started)
    def _started(self, message: Started) -> None:
        self._say("")
        self._tick()

    @on(NoAudio)
    def _no_audio(self, message: NoAudio) -> None:
        self.no_audio = message.message
        may_download = allowed(self.session.principal, Operation.DOWNLOAD)
        self._say(
            _("No audio output on this server: press w to download the recording instead.")
            if may_download
            else _("No audio output on this server.")
        )
        self._tick()
        recording = self.recording
        if recording is None or recording.id != message.recording_id:
            return
        if not may_download:
            self.app.push_screen(ErrorDialog(_("No audio output"), message.message))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(self.DownloadRequested(recording))

        self.app.push_screen(
            ConfirmDialog(
                _("No audio output"),
                _(
                    "No audio output on this server, so the recording cannot be played here "
                    "(README: 'Hearing playback over SSH').\n\n"
                    "Download call {call_id} instead, to play it on your own computer?"
                ).format(call_id=recording.details.call_id),
                yes_label=_("Download"),
            ),
            answered,
        )

    def _tick(self) -> None:
        status = self.status()
        self.query_one(SeekBar).show(status)
        if status is None or self.recording is None:
            return
        self.query_one(Waveform).move(status.fraction)
        word = _(STATE_WORDS[status.state])
        if self.no_audio and status.state is not PlayerState.PLAYING:
            word = _("No audio output")
        title = f"{word}  {describe(self.recording)}"
        if status.error:
            title = f"{word}  {status.error}"
        self.query_one("#player-title", Static).update(title)
        self.set_class(status.state is PlayerState.PLAYING, "-playing")

    def _say(self, text: str) -> None:
        message = self.query_one("#player-message", Static)
        message.update(text)
        message.display = bool(text)
