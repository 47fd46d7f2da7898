"""Playing a recording on this server's audio output (seed F27).

miniaudio cannot decode Opus, so soundfile decodes it a block at a time on a decoder thread and
miniaudio's device thread pulls PCM from a short queue: the device thread never waits for I/O,
and a one-hour call is never held in memory. Front ends poll :meth:`Player.status`; every other
method returns at once except :meth:`Player.play` (it may open the audio device) and
:meth:`Player.stop` / :meth:`Player.close` (they release it), which belong in a worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from mm_engine.domain import Recording
from mm_engine.errors import InvalidInput, MMError
from mm_engine.text import N_, msg

SKIP_SECONDS = 10.0
BLOCK_SECONDS = 0.25  # one decoder read
QUEUE_SECONDS = 2.0  # decoded audio kept ahead of the device
DEVICE_BUFFER_MS = 100
BACKENDS_ENV = "MM_AUDIO_BACKENDS"  # e.g. "pulseaudio" or "alsa,pulseaudio"; "null" in tests

Samples = npt.NDArray[np.float32]  # shape (frames, channels)
Tap = Callable[[int, Samples], None]
NO_AUDIO_HINT = msg(
    "Download the recording and play it on your own computer, or forward your computer's "
    "sound to this server (README: 'Hearing playback over SSH')."
)


class PlayerState(StrEnum):
    READY = "ready"  # loaded, never started
    PLAYING = "playing"
    PAUSED = "paused"
    ENDED = "ended"  # played to the end; play starts again from the beginning
    STOPPED = "stopped"  # stopped by the person, back at the beginning, device released
    CLOSED = "closed"


@dataclass(frozen=True)
class PlayerStatus:
    """One consistent snapshot, what a front end draws."""

    state: PlayerState
    position_s: float
    duration_s: float
    volume: int  # percent, 0-100
    error: str = ""  # the decoder's failure, if the file broke off part way

    @property
    def fraction(self) -> float:
        return min(1.0, self.position_s / self.duration_s) if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class Replay:
    """What playing one recording needs, as :meth:`Session.replay` hands it out (audited)."""

    recording: Recording
    open_audio: Callable[[], BinaryIO]  # a new handle per call: player and waveform read apart


class NoAudioOutput(MMError):
    title = N_("No audio output")

    def __init__(self, detail: str = "") -> None:
        if detail:
            message = msg("No audio output on this server. ({detail})", detail=detail)
        else:
            message = msg("No audio output on this server.")
        super().__init__(message, NO_AUDIO_HINT)


_silencers: list[Any] = []  # the C callbacks must outlive every call into the libraries


def _silence_sound_libraries() -> None:
    """ALSA and JACK print their device probing failures to file descriptor 2, where the
    console draws the screen; give them handlers that print nothing (once per process)."""
    if _silencers:
        return
    _silencers.append(None)
    alsa_path = ctypes.util.find_library("asound")
    if alsa_path:
        try:
            alsa = ctypes.CDLL(alsa_path)
            handler_type = ctypes.CFUNCTYPE(
                None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
            )
            handler = handler_type(lambda *_args: None)
            alsa.snd_lib_error_set_handler(handler)
            _silencers.append(handler)
        except (OSError, AttributeError):
            pass
    jack_path = ctypes.util.find_library("jack")
    if jack_path:
        try:
            jack = ctypes.CDLL(jack_path)
            message_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
            quiet = message_type(lambda _text: None)
            jack.jack_set_error_function(quiet)
            jack.jack_set_info_function(quiet)
            _silencers.append(quiet)
        except (OSError, AttributeError):
            pass


def backends_from_environment() -> list[Any] | None:
    """The miniaudio backends named in ``MM_AUDIO_BACKENDS``, or None for the usual ones."""
    text = os.environ.get(BACKENDS_ENV, "").strip()
    if not text:
        return None
    import miniaudio  # type: ignore[import-untyped]

    known = {b.name.lower(): b for b in miniaudio.Backend}
    chosen = []
    for name in (n.strip().lower() for n in text.split(",")):
        if name not in known:
            raise InvalidInput(
                msg("{env}: {name!r} is not an audio backend.", env=BACKENDS_ENV, name=name),
                msg(
                    "Use one or more of {backends}, separated by ','.",
                    backends=", ".join(sorted(known)),
                ),
            )
        chosen.append(known[name])
    return chosen


class Player:
    """One recording on the audio output: play, pause, seek, volume, stop.

    ``backends`` are miniaudio backends to try (None: those in ``MM_AUDIO_BACKENDS``, else the
    platform's usual ones, never the silent null device); tests pass
    ``[miniaudio.Backend.NULL]``. ``tap`` sees every block sent
    to the device, after the volume, with its first frame number (meters, tests).
    """

    def __init__(
        self,
        open_audio: Callable[[], BinaryIO],
        *,
        backends: Sequence[Any] | None = None,
        tap: Tap | None = None,
    ) -> None:
        self._fh = open_audio()
        try:
            self._file = sf.SoundFile(self._fh)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            self._fh.close()
            raise MMError(
                msg("The recording's audio cannot be decoded: {error}", error=exc),
                msg("Run `mm recordings verify` on it; the stored file may be damaged."),
            ) from exc
        self.samplerate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        self.frames = int(self._file.frames)
        self._backends = list(backends) if backends is not None else None
        self._tap = tap
        self._block = max(1, int(self.samplerate * BLOCK_SECONDS))
        self._ahead = max(self._block, int(self.samplerate * QUEUE_SECONDS))
        self._cond = threading.Condition()
        self._device_lock = threading.Lock()  # one device open or close at a time
        self._device: Any = None
        self._queue: deque[Samples] = deque()
        self._queued = 0
        self._position = 0  # the next frame the device plays
        self._seek_to: int | None = 0
        self._generation = 0  # bumped by each seek: blocks decoded before it are dropped
        self._eof = False
        self._state = PlayerState.READY
        self._volume = 100
        self._error = ""
        self._decoder = threading.Thread(target=self._decode, name="mm-player-decoder", daemon=True)
        self._decoder.start()

    # -- what a person asks for ----------------------------------------------------------------
    def status(self) -> PlayerStatus:
        with self._cond:
            return PlayerStatus(
                self._state,
                self._position / self.samplerate,
                self.frames / self.samplerate,
                self._volume,
                self._error,
            )

    def play(self) -> None:
        """Start or resume; after the end or a stop, from the beginning again.

        Raises :class:`NoAudioOutput` when this server has no usable audio output.
        """
        with self._cond:
            self._require_open()
            if self._state in (PlayerState.ENDED, PlayerState.STOPPED):
                self._seek_locked(0)
            before, self._state = self._state, PlayerState.PLAYING  # the first pull counts
        try:
            self._open_device()
        except BaseException:
            with self._cond:
                if self._state is PlayerState.PLAYING:
                    self._state = before
            raise

    def pause(self) -> None:
        with self._cond:
            if self._state is PlayerState.PLAYING:
                self._state = PlayerState.PAUSED

    def toggle(self) -> None:
        """Pause when playing, otherwise play (may open the device, see :meth:`play`)."""
        with self._cond:
            playing = self._state is PlayerState.PLAYING
        if playing:
            self.pause()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` from the start (clamped to the recording)."""
        with self._cond:
            self._require_open()
            target = min(self.frames, max(0, round(seconds * self.samplerate)))
            self._seek_locked(target)
            if self._state is PlayerState.ENDED and target < self.frames:
                self._state = PlayerState.PAUSED

    def skip(self, seconds: float) -> None:
        """Move by ``seconds`` (negative: back)."""
        with self._cond:
            here = self._position / self.samplerate
        self.seek(here + seconds)

    def set_volume(self, percent: int) -> None:
        with self._cond:
            self._volume = min(100, max(0, int(percent)))

    def change_volume(self, delta: int) -> None:
        with self._cond:
            self._volume = min(100, max(0, self._volume + int(delta)))

    def stop(self) -> None:
        """Stop, go back to the beginning and release the audio device."""
        with self._cond:
            if self._state is PlayerState.CLOSED:
                return
            self._state = PlayerState.STOPPED
            self._seek_locked(0)
        self._close_device()

    def close(self) -> None:
        """Release the device, the decoder thread and the file; the player is done."""
        with self._cond:
            if self._state is PlayerState.CLOSED:
                return
            self._state = PlayerState.CLOSED
            self._cond.notify_all()
        self._close_device()
        self._decoder.join()
        self._file.close()
        self._fh.close()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the audio device ----------------------------------------------------------------------
    def _open_device(self) -> None:
        import miniaudio  # the cffi library loads only to play

        with self._device_lock:
            if self._device is not None:
                return
            backends = self._backends
            if backends is None:
                backends = backends_from_environment()
            _silence_sound_libraries()
            try:
                device = miniaudio.PlaybackDevice(
                    output_format=miniaudio.SampleFormat.FLOAT32,
                    nchannels=self.channels,
                    sample_rate=self.samplerate,
                    buffersize_msec=DEVICE_BUFFER_MS,
                    backends=backends,
                    # measured: at the default (highest) priority the PulseAudio backend stops
                    # asking for audio after its first two buffers in a container; the callback
                    # is Python under the GIL anyway
                    thread_prio=miniaudio.ThreadPriority.NORMAL,
                    app_name="mm",
                )
            except miniaudio.MiniaudioError as exc:
                raise NoAudioOutput() from exc
            if backends is None and device.backend == "Null":
                device.close()  # silence nobody hears is no output
                raise NoAudioOutput()
            feed = self._feed()
            next(feed)
            device.start(feed)
            self._device = device

    def _close_device(self) -> None:
        with self._device_lock:
            device, self._device = self._device, None
            if device is not None:
                device.close()

    def _feed(self) -> Generator[bytes, int, None]:
        """What miniaudio's device thread pulls: never ends (the device outlives a generator
        that stops), silence while paused or stopped."""
        frames = yield b""
        while True:
            frames = yield self._pull(frames)

    def _pull(self, frames: int) -> bytes:
        out: Samples = np.zeros((frames, self.channels), dtype=np.float32)
        with self._cond:
            if self._state is not PlayerState.PLAYING:
                return out.tobytes()
            start, filled = self._position, 0
            while filled < frames and self._queue:
                block = self._queue[0]
                take = min(frames - filled, len(block))
                out[filled : filled + take] = block[:take]
                if take == len(block):
                    self._queue.popleft()
                else:
                    self._queue[0] = block[take:]
                filled += take
            self._queued -= filled
            self._position += filled
            if not self._queue and self._eof and self._seek_to is None:
                self._state = PlayerState.ENDED
                self._position = max(self._position, self.frames)
            gain = self._volume / 100.0
            self._cond.notify_all()  # room for the decoder
        if gain != 1.0:
            out *= np.float32(gain)
        if self._tap is not None and filled:
            self._tap(start, out[:filled])
        return out.tobytes()

    # -- the decoder thread --------------------------------------------------------------------
    def _seek_locked(self, frame: int) -> None:
        self._queue.clear()
        self._queued = 0
        self._position = frame
        self._seek_to = frame
        self._eof = False
        self._generation += 1
        self._cond.notify_all()

    def _require_open(self) -> None:
        if self._state is PlayerState.CLOSED:
            raise MMError(
                msg("This player was closed."), msg("Open the recording again to play it.")
            )

    def _decode(self) -> None:
        while True:
            with self._cond:
                while (
                    self._state is not PlayerState.CLOSED
                    and self._seek_to is None
                    and (self._eof or self._queued >= self._ahead)
                ):
                    self._cond.wait()
                if self._state is PlayerState.CLOSED:
                    return
                target, self._seek_to = self._seek_to, None
                generation = self._generation
            try:
                if target is not None:
                    self._file.seek(target)
                block: Samples = self._file.read(self._block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
                with self._cond:
                    if generation == self._generation:
                        self._error = msg("The audio broke off: {error}", error=exc)
                        self._eof = True
                continue
            with self._cond:
                if generation != self._generation:
                    continue  # a seek came in while reading
                if len(block) == 0:
                    self._eof = True
                else:
                    self._queue.append(block)
                    self._queued += len(block)
