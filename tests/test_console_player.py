"""The console's player panel and download dialog (F27, F28), driven through the real app at
80x24: real engine, real Opus files, miniaudio's null device for the sound."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from mm_engine.audit import AuditAction
from mm_engine.domain import Recording
from mm_engine.engine import Engine
from mm_engine.principal import ReplayScope, Rights, Role
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.download import DownloadDialog
from mm_tui.screens.main import MainScreen
from mm_tui.widgets.player import PlayerPanel, SeekBar, Waveform
from mm_tui.widgets.recordings_table import RecordingsTable
from tests.conftest import BASE_START, AddRecording, opus_bytes
from tests.test_console import FAST, account, log_in, run_async, settle

SMALL = (80, 24)


@pytest.fixture
def fast_engine(engine: Engine) -> Engine:
    engine.users.params = FAST
    return engine


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition`` holds; the deadline only guards against a hang."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await pilot.pause(0.05)


def text_of(app: MMApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def bar_text(app: MMApp) -> str:
    return app.screen.query_one(SeekBar).render().plain  # type: ignore[union-attr]


def minute_long(engine: Engine, add_recording: AddRecording) -> Recording:
    """A catalogued call whose stored audio is swapped for a one-minute tone (playback does not
    check signatures; a minute leaves room to seek)."""
    rec = add_recording(call_id="LONG-1", parties=["201", "0301"], agents=["Ann"], duration_s=60)
    engine.store().put(rec.path, io.BytesIO(opus_bytes(440.0, 60)))
    return rec


def audited(engine: Engine, user: str, action: AuditAction) -> list[dict[str, object]]:
    return [
        e.details
        for e in engine.audit.list(limit=500).items
        if e.user == user and e.action == action
    ]


@run_async
async def test_space_plays_the_selected_call_and_the_player_keys_drive_it(
    fast_engine: Engine, add_recording: AddRecording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_AUDIO_BACKENDS", "null")
    account(fast_engine, "alice", Role.STANDARD)
    minute_long(fast_engine, add_recording)
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        panel = app.screen.query_one(PlayerPanel)
        assert "space plays the selected recording, w downloads it" in text_of(app, "#player-title")
        actions = {b.binding.action for b in app.active_bindings.values()}
        assert {"play_selected", "download"} <= actions
        await pilot.press("space")
        await settle(pilot)
        await until(pilot, lambda: text_of(app, "#player-title").startswith("Playing"), "plays")
        assert "call LONG-1" in text_of(app, "#player-title")
        assert panel.has_focus  # its keys are in the footer now
        shown = {b.binding.description for b in app.active_bindings.values() if b.binding.show}
        assert {"Play/pause", "-10s", "+10s", "Vol+", "Vol-", "Stop", "Go to"} <= shown
        await until(pilot, lambda: app.screen.query_one(Waveform).levels is not None, "wave")
        wave = app.screen.query_one(Waveform).render().plain  # type: ignore[union-attr]
        assert set(wave) - {" ", "\n"} <= set("▁▂▃▄▅▆▇█") and "█" in wave
        await until(pilot, lambda: "0:00 / 1:00" not in bar_text(app), "elapsed moves")

        await pilot.press("space")  # pause: the clock stands still, so the numbers are exact
        await pilot.pause()
        assert text_of(app, "#player-title").startswith("Paused")
        before = panel.status()
        assert before is not None
        await pilot.press("right")
        await pilot.pause()
        after = panel.status()
        assert after is not None and after.position_s == pytest.approx(before.position_s + 10)
        assert f"0:{int(after.position_s):02d} / 1:00" in bar_text(app)
        await pilot.press("left", "left")
        await pilot.pause()
        assert "0:00 / 1:00" in bar_text(app)

        await pilot.press("minus", "minus")
        await pilot.pause()
        assert "vol 80%" in bar_text(app)
        await pilot.press("plus")
        await pilot.pause()
        assert "vol 90%" in bar_text(app)

        await pilot.press("g")  # go to a typed position
        goto = app.screen.query_one("#player-goto", Input)
        assert goto.has_focus
        goto.value = "0:45"
        await pilot.press("enter")
        await pilot.pause()
        assert "0:45 / 1:00" in bar_text(app)
        assert panel.has_focus and not goto.display
        await pilot.press("3")  # 30 %
        await pilot.pause()
        assert "0:18 / 1:00" in bar_text(app)

        await pilot.press("space")
        await until(pilot, lambda: text_of(app, "#player-title").startswith("Playing"), "again")
        await pilot.press("s")
        await settle(pilot)
        await until(pilot, lambda: text_of(app, "#player-title").startswith("Stopped"), "stop")
        assert "0:00 / 1:00" in bar_text(app)

        # at 80x24 the list still shows rows above the panel, and the panel fits above the footer
        table = app.screen.query_one(RecordingsTable)
        assert table.size.height >= 5
        assert panel.region.bottom <= SMALL[1] - 1
        await pilot.press("escape")
        await pilot.pause()
        assert table.has_focus
    assert len(audited(fast_engine, "alice", AuditAction.REPLAY)) == 1
    # leaving the console released the player: no decoder thread is left behind
    assert not [t for t in threading.enumerate() if t.name == "mm-player-decoder"]


@run_async
async def test_without_audio_output_the_panel_says_so_and_offers_the_download(
    fast_engine: Engine,
    add_recording: AddRecording,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The only output is a PulseAudio server that is not there: what a server without sound
    looks like to miniaudio's real backends."""
    monkeypatch.setenv("MM_AUDIO_BACKENDS", "pulseaudio")
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/mm-test/native")
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    rec = add_recording(call_id="QUIET-1")
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("space")
        await settle(pilot)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the offer")
        question = text_of(app, "#confirm-question")
        assert "No audio output on this server" in question
        assert "Download call QUIET-1 instead" in question
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, DownloadDialog)
        app.screen.query_one("#download-folder", Input).value = str(tmp_path / "dl")
        await pilot.press("enter")
        await settle(pilot)
        await until(pilot, lambda: "Wrote" in text_of(app, "#download-result"), "written")
        assert str(tmp_path / "dl" / "QUIET-1-1.opus") in text_of(app, "#download-result")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "No audio output on this server" in text_of(app, "#player-message")
        assert text_of(app, "#player-title").startswith("No audio output")
    data = (tmp_path / "dl" / "QUIET-1-1.opus").read_bytes()
    assert data == (fast_engine.store().root / rec.path).read_bytes()
    assert len(audited(fast_engine, "alice", AuditAction.DOWNLOAD)) == 1


@run_async
async def test_the_download_dialog_warns_and_writes_the_page_as_a_zip(
    fast_engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.STANDARD)
    for i in range(3):
        add_recording(call_id=f"P-{i}", start=BASE_START + timedelta(minutes=i))
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "alice")
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, DownloadDialog)
        warning = text_of(app, "#download-warning")
        assert "Downloaded files leave the audit's control" in warning
        folder = app.screen.query_one("#download-folder", Input)
        assert folder.value == str(Path.home() / "mm-downloads")
        folder.value = str(tmp_path)
        await pilot.click("#download-page")
        await pilot.click("#download-go")
        await settle(pilot)
        await until(pilot, lambda: "Wrote" in text_of(app, "#download-result"), "written")
        result = text_of(app, "#download-result")
        assert "3 recording(s)" in result
        (written,) = tmp_path.glob("mm-recordings-*.zip")
        assert str(written) in result
        with zipfile.ZipFile(written) as archive:
            assert sorted(archive.namelist()) == [
                "P-0-1.opus",
                "P-1-1.opus",
                "P-2-1.opus",
                "index.html",
            ]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    assert len(audited(fast_engine, "alice", AuditAction.DOWNLOAD)) == 3


@run_async
async def test_an_end_user_without_the_download_right_is_not_offered_it(
    fast_engine: Engine, add_recording: AddRecording
) -> None:
    rights = Rights(replay_enabled=True, replay_scope=ReplayScope.MINE, extension="201")
    account(fast_engine, "eve", Role.END_USER, rights)
    add_recording(call_id="MINE", parties=["201"])
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await log_in(pilot, "eve")
        actions = {b.binding.action for b in app.active_bindings.values()}
        assert "play_selected" in actions
        assert "download" not in actions
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    assert audited(fast_engine, "eve", AuditAction.DOWNLOAD) == []
