"""Playing a recording (F27): the engine's player on miniaudio's null device, which consumes
audio at the real rate without a sound card, and the waveform drawn from real Opus files."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import miniaudio  # type: ignore[import-untyped]
import numpy as np
import pytest
import soundfile as sf

from mm_engine.audit import AuditAction
from mm_engine.domain import Recording
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from mm_engine.playback import NoAudioOutput, Player, PlayerState, Samples
from mm_engine.principal import SYSTEM, Principal, ReplayScope, Rights, Role
from mm_engine.session import Session
from mm_engine.waveform import compute_peaks
from tests.conftest import AddRecording, opus_bytes

NULL = [miniaudio.Backend.NULL]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def tone_then_silence(seconds_tone: float, seconds_silence: float, freq: float = 440.0) -> bytes:
    rate = 8000
    t = np.arange(int(rate * seconds_tone)) / rate
    audio = np.concatenate(
        [0.3 * np.sin(2 * np.pi * freq * t), np.zeros(int(rate * seconds_silence))]
    ).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="OGG", subtype="OPUS")
    return buf.getvalue()


def long_recording(engine: Engine, add_recording: AddRecording, seconds: float) -> Recording:
    """A catalogued recording whose stored file is a ``seconds``-long tone. The file is swapped
    after cataloguing (so it would no longer verify): playback never checks signatures."""
    rec = add_recording(duration_s=seconds, call_id="LONG", parties=["201", "0301"])
    engine.store().put(rec.path, io.BytesIO(opus_bytes(440.0, seconds)))
    return rec


@pytest.fixture
def admin(engine: Engine) -> Session:
    return Session(engine, SYSTEM)


@pytest.fixture
def players() -> Iterator[list[Player]]:
    """Every player a test makes is closed, and its threads gone, when the test ends."""
    made: list[Player] = []
    before = set(threading.enumerate())
    yield made
    for player in made:
        player.close()
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == [], leftover


def open_player(
    made: list[Player],
    opener: Callable[[], BinaryIO],
    tap: Callable[[int, Samples], None] | None = None,
) -> Player:
    player = Player(opener, backends=NULL, tap=tap)
    made.append(player)
    return player


def test_a_recording_plays_and_pause_stops_the_clock(
    engine: Engine, add_recording: AddRecording, admin: Session, players: list[Player]
) -> None:
    rec = long_recording(engine, add_recording, 30)
    player = open_player(players, admin.replay(rec.id).open_audio)
    status = player.status()
    assert (status.state, status.position_s, status.duration_s) == (PlayerState.READY, 0, 30)
    player.play()
    wait_until(lambda: player.status().position_s >= 0.5, "playback advances")
    assert player.status().state is PlayerState.PLAYING
    player.pause()
    paused_at = player.status().position_s
    time.sleep(0.5)  # the device keeps pulling; a paused player hands it silence
    assert player.status().position_s == paused_at
    assert player.status().state is PlayerState.PAUSED
    player.play()
    wait_until(lambda: player.status().position_s > paused_at, "resume advances again")


def test_seeking_moves_the_position_and_stays_inside_the_recording(
    engine: Engine, add_recording: AddRecording, admin: Session, players: list[Player]
) -> None:
    rec = long_recording(engine, add_recording, 30)
    player = open_player(players, admin.replay(rec.id).open_audio)
    player.seek(20)
    assert player.status().position_s == 20
    player.skip(-10)
    assert player.status().position_s == 10
    player.skip(-60)
    assert player.status().position_s == 0
    player.seek(15.5)
    player.play()
    wait_until(lambda: player.status().position_s > 15.6, "plays on from the new position")
    assert player.status().position_s < 29
    player.skip(+60)  # past the end: clamped, and playback ends there
    wait_until(lambda: player.status().state is PlayerState.ENDED, "ends after seeking past")
    assert player.status().position_s == 30


def test_the_volume_scales_the_samples_sent_to_the_device(
    engine: Engine, add_recording: AddRecording, admin: Session, players: list[Player]
) -> None:
    rec = long_recording(engine, add_recording, 30)
    reference, _ = sf.read(io.BytesIO(opus_bytes(440.0, 30)), dtype="float32", always_2d=True)
    sent: list[tuple[int, Samples, int]] = []
    holder: list[Player] = []

    def tap(start: int, samples: Samples) -> None:
        sent.append((start, samples.copy(), holder[0].status().volume))

    player = open_player(players, admin.replay(rec.id).open_audio, tap)
    holder.append(player)
    player.set_volume(50)
    player.play()
    wait_until(lambda: sum(len(s) for _, s, _ in sent) >= 4000, "half a second sent")
    player.set_volume(0)
    count = len(sent)
    wait_until(lambda: len(sent) >= count + 3, "more blocks sent at volume 0")
    player.pause()
    at_half = [(start, s) for start, s, volume in sent[:count] if volume == 50]
    assert at_half, "no block was sent at 50 %"
    for start, samples in at_half:
        expected = reference[start : start + len(samples)] * 0.5
        np.testing.assert_allclose(samples, expected, atol=1e-6)
    assert np.abs(sent[-1][1]).max() == 0.0  # volume 0: silence
    assert np.abs(reference[: len(reference) // 2]).max() > 0.25  # the tone was loud


def test_reaching_the_end_stops_and_play_starts_again_from_the_beginning(
    add_recording: AddRecording, admin: Session, players: list[Player]
) -> None:
    rec = add_recording()  # one second
    player = open_player(players, admin.replay(rec.id).open_audio)
    player.play()
    wait_until(lambda: player.status().state is PlayerState.ENDED, "the end is reached")
    status = player.status()
    assert status.position_s == status.duration_s == 1.0
    assert status.fraction == 1.0
    player.play()
    assert player.status().state is PlayerState.PLAYING
    assert player.status().position_s < 1.0


def test_stop_rewinds_and_close_releases_every_thread(
    engine: Engine, add_recording: AddRecording, admin: Session, players: list[Player]
) -> None:
    rec = long_recording(engine, add_recording, 30)
    player = open_player(players, admin.replay(rec.id).open_audio)
    player.play()
    wait_until(lambda: player.status().position_s > 0.2, "playing")
    player.stop()
    assert (player.status().state, player.status().position_s) == (PlayerState.STOPPED, 0)
    player.play()
    assert player.status().state is PlayerState.PLAYING
    player.close()
    assert player.status().state is PlayerState.CLOSED
    # the `players` fixture asserts that no decoder or device thread is left


def test_a_replay_is_audited_with_the_call(
    engine: Engine, add_recording: AddRecording, admin: Session
) -> None:
    rec = add_recording(call_id="AUD-1", parties=["201"])
    replay = admin.replay(rec.id)
    assert replay.recording.id == rec.id
    with replay.open_audio() as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == rec.sha256
    event = engine.audit.list(limit=1).items[0]
    assert (event.user, event.action) == (SYSTEM.name, AuditAction.REPLAY)
    assert event.details["call_id"] == "AUD-1"


def test_an_end_user_cannot_play_a_recording_outside_their_scope(
    engine: Engine, add_recording: AddRecording
) -> None:
    mine = add_recording(parties=["201", "0301"])
    foreign = add_recording(parties=["999", "0399"])
    eve = Session(
        engine, Principal("eve", Role.END_USER, Rights(True, ReplayScope.MINE, extension="201"))
    )
    assert eve.replay(mine.id).recording.id == mine.id
    with pytest.raises(Refused, match=f"recording {foreign.id} is not in your recordings"):
        eve.replay(foreign.id)
    event = engine.audit.list(limit=1).items[0]
    assert (event.user, event.action, event.details["refused"]) == ("eve", "replay", True)
    off = Session(engine, Principal("olaf", Role.END_USER, Rights(False, ReplayScope.ALL)))
    with pytest.raises(Refused, match="replay is not enabled"):
        off.replay(mine.id)


def test_without_an_audio_output_the_player_says_so(
    add_recording: AddRecording, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This server's only output is a PulseAudio server that is not there (a socket path that
    does not exist): the real backend fails as it does on a server without sound."""
    monkeypatch.setenv("MM_AUDIO_BACKENDS", "pulseaudio")
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/mm-test/native")
    rec = add_recording()
    player = Player(admin.replay(rec.id).open_audio)
    try:
        with pytest.raises(NoAudioOutput, match="No audio output on this server") as exc:
            player.play()
        assert "Download the recording" in exc.value.hint
        assert player.status().state is PlayerState.READY
    finally:
        player.close()
    monkeypatch.setenv("MM_AUDIO_BACKENDS", "pulseaudio,gramophone")
    player = Player(admin.replay(rec.id).open_audio)
    try:
        with pytest.raises(InvalidInput, match="'gramophone' is not an audio backend"):
            player.play()
    finally:
        player.close()


# -- the waveform ------------------------------------------------------------------------------
def test_waveform_buckets_follow_a_real_tone_and_its_silence() -> None:
    data = tone_then_silence(1.0, 1.0)
    peaks = compute_peaks(lambda: io.BytesIO(data), 100)
    assert peaks is not None
    assert len(peaks) == 100 and peaks.duration_s == 2.0
    tone, quiet = peaks.levels()[:48], peaks.levels()[52:]
    assert tone.min() > 0.2 and tone.max() < 0.45  # the 0.3 sine, give or take the codec
    assert quiet.max() < 0.02
    assert peaks.lows[:48].max() < -0.2 and peaks.highs[:48].min() > 0.2  # both halves of a wave


def test_waveform_of_a_catalogued_recording_and_of_a_short_file(
    add_recording: AddRecording, admin: Session
) -> None:
    rec = add_recording()
    peaks = compute_peaks(admin.replay(rec.id).open_audio, 1024)
    assert peaks is not None and len(peaks) == 1024
    assert 0.2 < float(peaks.levels().mean()) < 0.45
    tiny = tone_then_silence(0.01, 0)  # 80 frames: fewer than the buckets asked for
    few = compute_peaks(lambda: io.BytesIO(tiny), 1024)
    assert few is not None and 0 < len(few) <= 80 + 312  # Opus pads to whole frames


def test_computing_a_waveform_can_be_cancelled() -> None:
    data = opus_bytes(440.0, 30)
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    assert compute_peaks(lambda: io.BytesIO(data), 100, cancelled) is None
    assert calls == 2
