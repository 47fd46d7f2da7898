"""A stand-in for the PBX voicemail server: it writes call recordings into a handover folder.

It writes what a real server would, in every way docs/handover-format.md allows: WAV (PCM16,
µ-law, A-law; 8 or 16 kHz; mono or stereo) and Ogg/Opus, with call details in each carrier
(JSON or XML sidecar, RIFF ``mmcd`` chunk, RIFF LIST/INFO, Opus comments, the file name, or
nothing at all), finished by rename (the normal case) or grown slowly under the final name.

The audio is speech-like rather than a tone or noise, because Opus's size and speed depend on
the signal: two talkers at different pitch take turns in breath groups of syllables with vowel
formants, consonant bursts, pauses and a line-noise floor. It is rendered a block at a time
(wavetable synthesis, one table per syllable), so an hour-long recording takes seconds and a
few megabytes of memory.

Used three ways: ``scripts/vmpro-sim`` (a demo feed, ``./scripts/run --demo``), the tests
(``make_recording``), and the benchmarks (``speechlike``, ``--json-log``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from mm_engine.domain import CallDetails, Direction, OwnerKind
from mm_engine.ingest import filename, riff, sidecar
from mm_engine.ingest.calldetails import OUR_CHUNK, format_lines
from mm_engine.ingest.opus_tags import update_comments

# -- formats and carriers -----------------------------------------------------------------------


@dataclass(frozen=True)
class AudioFormat:
    codec: str  # "pcm16", "ulaw", "alaw" (WAV) or "opus" (Ogg)
    rate: int
    channels: int

    @property
    def name(self) -> str:
        layout = "mono" if self.channels == 1 else "stereo"
        return f"{self.codec}-{self.rate // 1000}k-{layout}"

    @property
    def suffix(self) -> str:
        return ".opus" if self.codec == "opus" else ".wav"

    @property
    def is_wav(self) -> bool:
        return self.codec != "opus"


WAV_SUBTYPES = {"pcm16": "PCM_16", "ulaw": "ULAW", "alaw": "ALAW"}
FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat(codec, rate, channels)
        for codec in ("pcm16", "ulaw", "alaw", "opus")
        for rate in (8000, 16000)
        for channels in (1, 2)
    )
}
# "none": no call details at all; mm falls back to the file name (as call id) and its time.
CARRIERS = ("json", "xml", "riff", "riff-info", "opus", "filename", "none")
MODES = ("rename", "slow")
# A tag no reader knows, in every carrier: readers must ignore unknown keys.
VENDOR_KEY, VENDOR_VALUE = "vm_server", "vmpro-sim/1"


def carrier_fits(carrier: str, fmt: AudioFormat) -> bool:
    if carrier in ("riff", "riff-info"):
        return fmt.is_wav
    if carrier == "opus":
        return not fmt.is_wav
    return True


def parse_format(fmt: str | AudioFormat) -> AudioFormat:
    if isinstance(fmt, AudioFormat):
        return fmt
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}") from None


# -- speech-like audio --------------------------------------------------------------------------

# (F1, F2, F3) in Hz of eight vowels: each syllable picks one, so the spectrum moves as in speech.
VOWELS = np.array(
    [
        [730, 1090, 2440],
        [270, 2290, 3010],
        [300, 870, 2240],
        [530, 1840, 2480],
        [660, 1720, 2410],
        [490, 1350, 1690],
        [640, 1190, 2390],
        [440, 1020, 2240],
    ],
    dtype=np.float64,
)
FORMANT_WIDTH = np.array([90.0, 130.0, 200.0])
FORMANT_GAIN = np.array([1.0, 0.7, 0.3])
TELEPHONE_TOP_HZ = 3400.0
TABLE = 512  # wavetable length: room for 255 harmonics, far more than a voice below 3.4 kHz
BLOCK_SECONDS = 10.0
NOISE_FLOOR = 10 ** (-60 / 20)  # a line is never digitally silent
CROSSTALK = 0.08  # how much of one party leaks into the other's channel

F32 = NDArray[np.float32]


@dataclass(frozen=True)
class Talker:
    f0: float  # mean pitch, Hz
    level: float  # RMS while talking, full scale = 1
    channel: int  # the call leg (channel) this party is recorded on
    formant_shift: float  # shorter vocal tracts raise every formant


def _talkers(rng: np.random.Generator) -> tuple[Talker, Talker]:
    low = Talker(float(rng.uniform(95, 135)), float(rng.uniform(0.06, 0.1)), 0, 1.0)
    high = Talker(float(rng.uniform(180, 240)), float(rng.uniform(0.05, 0.09)), 1, 1.15)
    if rng.random() < 0.5:  # either party may be the low voice
        low, high = replace(high, channel=0), replace(low, channel=1)
    return low, high


def _timeline(
    total: int, rate: int, rng: np.random.Generator
) -> Iterator[tuple[int, int, int, float]]:
    """Talk spurts as (first sample, length, talker 0/1, loudness), in order of start.

    Turn-taking with short gaps, the odd long pause (hold, looking something up) and
    back-channel "mm-hm"s overlapping the other talker.
    """
    t = int(rng.uniform(0.2, 1.0) * rate)
    who = int(rng.integers(2))
    while t < total:
        n = int(np.clip(rng.lognormal(np.log(1.8), 0.6), 0.3, 8.0) * rate)
        n = min(n, total - t)
        yield t, n, who, 1.0
        if n > rate and rng.random() < 0.15:
            at = t + int(rng.uniform(0.3, 0.8) * n)
            short = min(int(rng.uniform(0.25, 0.5) * rate), total - at)
            if short > 0:
                yield at, short, 1 - who, 0.5
        t += n
        if rng.random() < 0.05:
            t += int(rng.uniform(2.0, 6.0) * rate)
        else:
            t += int(rng.uniform(0.15, 0.9) * rate)
        if rng.random() < 0.65:
            who = 1 - who


def _spurt(n: int, rate: int, talker: Talker, rng: np.random.Generator) -> F32:
    """One breath group: syllables of 110-320 ms, each a voiced vowel (a harmonic wavetable
    read at the talker's moving pitch) or a fricative, with consonant bursts at onsets."""
    count = int(n / (0.11 * rate)) + 2
    lengths = (rng.uniform(0.11, 0.32, count) * rate).astype(np.int64)
    ends = np.cumsum(lengths)
    used = int(np.searchsorted(ends, n)) + 1
    lengths, ends = lengths[:used], ends[:used]
    lengths[-1] -= int(ends[-1] - n)
    starts = ends - lengths
    syl = np.repeat(np.arange(used), lengths)
    pos = ((np.arange(n) - starts[syl]) / lengths[syl]).astype(np.float32)

    t = np.arange(n, dtype=np.float64) / rate
    f0 = talker.f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.4, 1.2) * t + rng.uniform(0, 6)))
    f0 *= np.linspace(1.1, 0.9, n)  # declination over the phrase
    phase = (np.cumsum(f0) / rate + rng.uniform(0, 1)) % 1.0

    # one wavetable per syllable: harmonics of the talker's pitch under the vowel's formants
    top = min(TELEPHONE_TOP_HZ, 0.42 * rate)
    k = np.arange(1, TABLE // 2 + 1, dtype=np.float64)
    freq = k * talker.f0
    formants = VOWELS[rng.integers(0, len(VOWELS), used)] * talker.formant_shift
    gain = np.zeros((used, k.size))
    for j in range(3):
        distance = (freq - formants[:, j : j + 1]) / FORMANT_WIDTH[j]
        gain += FORMANT_GAIN[j] * np.exp(-(distance**2))
    gain = (gain + 0.03) / np.sqrt(k) * (freq * 1.2 < top)
    spectrum = np.zeros((used, TABLE // 2 + 1), dtype=np.complex128)
    spectrum[:, 1:] = -1j * gain
    tables = np.fft.irfft(spectrum, n=TABLE, axis=1)
    tables /= np.sqrt((tables**2).mean(axis=1, keepdims=True)) + 1e-12
    flat = tables.astype(np.float32).ravel()
    index = (phase * TABLE).astype(np.int64) % TABLE
    voiced_syl = rng.random(used) > 0.12
    voiced = flat[syl * TABLE + index] * voiced_syl[syl]

    loud = rng.uniform(0.5, 1.0, used).astype(np.float32)
    envelope = np.sqrt(np.maximum(np.sin(np.pi * pos), 0.0)) * loud[syl]
    hiss = rng.standard_normal(n, dtype=np.float32)
    hiss[1:] -= hiss[:-1].copy()  # first difference: the energy moves up, as in s, f, t
    burst = (rng.random(used) < 0.4)[syl] & (pos < 0.18)
    fricative = np.where(voiced_syl[syl], 0.35 * burst, 0.6).astype(np.float32)
    out: F32 = ((voiced + fricative * hiss * 0.5) * envelope).astype(np.float32)
    out *= np.float32(talker.level / (np.sqrt(np.mean(out**2)) + 1e-9))
    return out


def speechlike_blocks(
    duration_s: float,
    rate: int,
    rng: np.random.Generator,
    channels: int = 1,
    block_s: float = BLOCK_SECONDS,
) -> Iterator[NDArray[np.int16]]:
    """Int16 blocks of ``block_s`` (the last shorter), shape (frames, channels).

    Stereo records each party on its own leg with a little crosstalk, as a PBX does; mono is
    the mix. Only the audio of the spurts still being rendered is held, whatever the length.
    """
    total = round(duration_s * rate)
    block = max(1, int(block_s * rate))
    talkers = _talkers(rng)
    gains = np.full((2, channels), 1.0, dtype=np.float32)
    if channels == 2:
        gains = np.array([[1.0, CROSSTALK], [CROSSTALK, 1.0]], dtype=np.float32)
        if talkers[0].channel == 1:
            gains = gains[::-1].copy()
    pending = np.zeros((0, channels), dtype=np.float32)  # audio from sample `done` onwards
    done = 0

    def emit(upto: int) -> Iterator[NDArray[np.int16]]:
        nonlocal pending, done
        while upto - done >= block or (upto == total and done < total):
            n = min(block, total - done)
            if len(pending) < n:
                pending = np.concatenate([pending, np.zeros((n - len(pending), channels), "f4")])
            out = pending[:n] + rng.standard_normal((n, channels), dtype=np.float32) * NOISE_FLOOR
            pending = pending[n:]
            done += n
            yield (np.clip(out, -1.0, 1.0) * 32767).astype(np.int16)

    for start, n, who, loudness in _timeline(total, rate, rng):
        yield from emit(start)
        end = start + n - done
        if len(pending) < end:
            pending = np.concatenate([pending, np.zeros((end - len(pending), channels), "f4")])
        voice = _spurt(n, rate, talkers[who], rng) * loudness
        pending[start - done : end] += voice[:, None] * gains[who]
    yield from emit(total)


def speechlike(
    duration_s: float, rate: int, rng: np.random.Generator, channels: int = 1
) -> NDArray[np.int16]:
    """A whole recording in memory: shape (frames,) for mono, (frames, channels) otherwise."""
    blocks = list(speechlike_blocks(duration_s, rate, rng, channels))
    audio = np.concatenate(blocks) if blocks else np.zeros((0, channels), dtype=np.int16)
    return audio[:, 0] if channels == 1 else audio


# -- call details -------------------------------------------------------------------------------

HUNT_GROUPS = ("Sales", "Support", "Accounts", "Reception", "Vertrieb-Süd", "Service Desk")
GROUP_SKILLS = {
    "Sales": ("sales", "renewals"),
    "Support": ("support", "english", "deutsch"),
    "Accounts": ("billing",),
    "Reception": ("",),
    "Vertrieb-Süd": ("vertrieb", "deutsch"),
    "Service Desk": ("it", "complaints"),
}
ACCOUNT_CODES = ("4711", "1000", "2024", "7300", "PRJ-12")
LINES = tuple(f"Line {n}" for n in range(1, 9))
OWNER_KINDS = {
    Direction.INBOUND: (
        (OwnerKind.HUNT_GROUP, 0.45),
        (OwnerKind.USER, 0.35),
        (OwnerKind.LINE, 0.2),
    ),
    Direction.OUTBOUND: (
        (OwnerKind.USER, 0.6),
        (OwnerKind.ACCOUNT_CODE, 0.25),
        (OwnerKind.LINE, 0.15),
    ),
    Direction.INTERNAL: ((OwnerKind.USER, 0.8), (OwnerKind.HUNT_GROUP, 0.2)),
}


def _pick(rng: np.random.Generator, options: tuple[Any, ...]) -> Any:
    return options[int(rng.integers(len(options)))]


def _extension(rng: np.random.Generator) -> str:
    return str(int(rng.integers(201, 300)))


def _external(rng: np.random.Generator) -> str:
    style = rng.random()
    if style < 0.5:
        return "0" + str(int(rng.integers(20, 99))) + str(int(rng.integers(10**6, 10**7)))
    if style < 0.8:
        return "07700" + str(int(rng.integers(900000, 999999)))
    return "+49" + str(int(rng.integers(30, 89))) + str(int(rng.integers(10**6, 10**8)))


def random_duration(rng: np.random.Generator, lo: float = 2.0, hi: float = 3600.0) -> float:
    """Call lengths as a day of calls has them: median about a minute and a half, a long tail
    (one call in fifty runs 20 minutes to an hour), clipped to [lo, hi]."""
    long_call = rng.random() < 0.02
    value = rng.uniform(1200, 3600) if long_call else rng.lognormal(np.log(90), 1.0)
    return round(float(np.clip(value, lo, hi)), 2)


def random_details(rng: np.random.Generator, start: datetime) -> CallDetails:
    """Plausible details for a call that began at ``start``."""
    direction = Direction(
        str(rng.choice([d.value for d in Direction], p=[0.2, 0.45, 0.35]))  # internal, in, out
    )
    kinds, weights = zip(*OWNER_KINDS[direction], strict=True)
    kind = OwnerKind(str(rng.choice([k.value for k in kinds], p=list(weights))))
    agent = _extension(rng)
    agents = [agent] + ([_extension(rng)] if rng.random() < 0.1 else [])  # a transfer
    group = str(_pick(rng, HUNT_GROUPS))
    skill = ""
    if direction is Direction.INBOUND:
        caller = _external(rng)
        parties = [caller, *agents]
        target = group if kind is OwnerKind.HUNT_GROUP else agent
        if kind is OwnerKind.HUNT_GROUP:
            skill = str(_pick(rng, GROUP_SKILLS[group]))
    elif direction is Direction.OUTBOUND:
        callee = _external(rng)
        parties = [*agents, callee]
        target = callee
    else:
        other = _extension(rng)
        parties = [*agents, other]
        target = group if kind is OwnerKind.HUNT_GROUP else other
    owner = {
        OwnerKind.USER: agent,
        OwnerKind.HUNT_GROUP: group,
        OwnerKind.LINE: str(_pick(rng, LINES)),
        OwnerKind.ACCOUNT_CODE: str(_pick(rng, ACCOUNT_CODES)),
    }[kind]
    return CallDetails(
        call_id=str(int(rng.integers(10**9, 10**10))),
        start=start.replace(microsecond=0),
        direction=direction,
        parties=parties,
        agents=agents,
        owner=owner,
        owner_kind=kind,
        target=target,
        skill=skill,
        authenticated=bool(direction is Direction.INBOUND and rng.random() < 0.25),
    )


def _start_text(start: datetime, rng: np.random.Generator) -> str:
    """Servers differ in how they write times: with offset, in UTC, or as bare local time."""
    style = rng.random()
    if style < 0.6:
        return start.isoformat()
    if style < 0.8:
        return start.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return start.astimezone().replace(tzinfo=None).isoformat()


def _text_fields(details: CallDetails, rng: np.random.Generator) -> dict[str, str]:
    fields = details.to_text_fields()
    fields["start"] = _start_text(details.start, rng)
    fields[VENDOR_KEY] = VENDOR_VALUE
    return fields


# -- writing one recording ----------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenRecording:
    path: Path
    sidecar: Path | None
    # What mm must read back from the carriers written: for "filename" only the fields a
    # name carries, for "none" the name as call id and the start from the file's time.
    details: CallDetails
    fmt: str
    carrier: str
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sidecar": str(self.sidecar) if self.sidecar else None,
            "format": self.fmt,
            "carrier": self.carrier,
            "duration_s": self.duration_s,
            "details": self.details.to_dict(),
        }


def _write_audio(
    path: Path,
    fmt: AudioFormat,
    duration_s: float,
    rng: np.random.Generator,
    info: dict[str, str] | None = None,
) -> None:
    kwargs: dict[str, Any] = (
        {"format": "WAV", "subtype": WAV_SUBTYPES[fmt.codec]}
        if fmt.is_wav
        else {"format": "OGG", "subtype": "OPUS"}
    )
    with sf.SoundFile(str(path), "w", fmt.rate, fmt.channels, **kwargs) as out:
        for attr, value in (info or {}).items():  # libsndfile writes these as LIST/INFO
            setattr(out, attr, value)
        for block in speechlike_blocks(duration_s, fmt.rate, rng, fmt.channels):
            out.write(block)


def _embed(
    path: Path,
    fmt: AudioFormat,
    carrier: str,
    details: CallDetails,
    rng: np.random.Generator,
    extra_chunks: dict[str, bytes] | None,
) -> None:
    """Put the call details into the finished audio file, as the carrier asks."""
    chunks = [riff.chunk_bytes(cid, body) for cid, body in (extra_chunks or {}).items()]
    if carrier == "riff":
        text = format_lines(_text_fields(details, rng))
        chunks.append(riff.chunk_bytes(OUR_CHUNK, text.encode("utf-8")))
    if chunks:
        riff.append_chunks(path, chunks)
    if carrier == "opus":
        update_comments(path, _text_fields(details, rng))


def _unique(folder: Path, stem: str, suffix: str, side_suffix: str | None) -> Path:
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists() or (side_suffix and path.with_suffix(side_suffix).exists()):
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


def _choose_path(
    folder: Path, fmt: AudioFormat, carrier: str, details: CallDetails, side_suffix: str | None
) -> tuple[Path, CallDetails]:
    if carrier != "filename":
        return _unique(folder, details.call_id, fmt.suffix, side_suffix), details
    while True:  # the name is the carrier: on a clash move the start, never mangle the name
        path = folder / filename.make_name(details, fmt.suffix)
        if not path.exists():
            return path, details
        details = replace(details, start=details.start + timedelta(seconds=1))


def _expected(carrier: str, details: CallDetails, path: Path) -> CallDetails:
    if carrier == "filename":
        return CallDetails(
            call_id=details.call_id,
            start=details.start,
            direction=details.direction,
            owner=details.owner,
        )
    if carrier == "none":
        info = sf.info(str(path))
        ended = path.stat().st_mtime
        start = datetime.fromtimestamp(ended - info.frames / info.samplerate, UTC).astimezone()
        return CallDetails(call_id=path.stem, start=start)
    return details


def _copy_slowly(src: Path, dst: Path, seconds: float, step_s: float) -> None:
    """Grow ``dst`` in steps, as a server writing a recording in real time would.

    Steps are shorter than the default settle time (2 s), as any real writer's are.
    """
    size = src.stat().st_size
    steps = max(1, int(seconds / step_s))
    piece = max(1, -(-size // steps))
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while data := fin.read(piece):
            fout.write(data)
            fout.flush()
            if fin.tell() < size:
                time.sleep(step_s)


def make_recording(
    folder: Path,
    *,
    duration_s: float,
    fmt: str | AudioFormat,
    carrier: str,
    details: CallDetails | None = None,
    rng: np.random.Generator,
    mode: str = "rename",
    slow_seconds: float = 5.0,
    slow_step_s: float = 0.25,
    extra_chunks: dict[str, bytes] | None = None,
    name: str | None = None,
) -> WrittenRecording:
    """Write one recording (and its sidecar, if the carrier is one) into ``folder``.

    ``mode="rename"`` builds each file under a hidden ``.name`` and renames it into place,
    sidecar first; ``mode="slow"`` renames the sidecar into place, then grows the audio under
    its final name over ``slow_seconds``. ``extra_chunks`` (WAV only) appends RIFF chunks a
    reader does not know; ``name`` forces the file name.
    """
    audio_fmt = parse_format(fmt)
    if carrier not in CARRIERS:
        raise ValueError(f"unknown carrier {carrier!r}; one of: {', '.join(CARRIERS)}")
    if not carrier_fits(carrier, audio_fmt):
        raise ValueError(f"carrier {carrier!r} cannot be used with {audio_fmt.name}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of: {', '.join(MODES)}")
    if extra_chunks and not audio_fmt.is_wav:
        raise ValueError("extra RIFF chunks need a WAV format")
    if details is None:
        now = datetime.now().astimezone()
        details = random_details(rng, now - timedelta(seconds=duration_s + rng.uniform(1, 5)))
    side_suffix = {"json": ".json", "xml": ".xml"}.get(carrier)
    if name is not None:
        path = folder / name
    else:
        path, details = _choose_path(folder, audio_fmt, carrier, details, side_suffix)
    side = path.with_suffix(side_suffix) if side_suffix else None

    info = None
    if carrier == "riff-info":
        icmt = format_lines(_text_fields(details, rng))
        info = {"comment": icmt, "title": details.call_id, "date": details.start.isoformat()}

    made: list[Path] = []  # everything to take back if we are interrupted
    try:
        if side is not None:
            text = (
                sidecar.render_json(
                    details, lists_as_text=rng.random() < 0.3, extra={VENDOR_KEY: VENDOR_VALUE}
                )
                if carrier == "json"
                else sidecar.render_xml(details, extra={VENDOR_KEY: VENDOR_VALUE})
            )
            hidden_side = side.with_name("." + side.name)
            made += [hidden_side, side]
            hidden_side.write_text(text, encoding="utf-8")
            os.replace(hidden_side, side)
        if mode == "rename":
            hidden = path.with_name("." + path.name)
            made += [hidden, path]
            _write_audio(hidden, audio_fmt, duration_s, rng, info)
            _embed(hidden, audio_fmt, carrier, details, rng, extra_chunks)
            os.replace(hidden, path)
        else:
            with tempfile.TemporaryDirectory(prefix="vmpro-sim-") as tmp:
                staged = Path(tmp) / ("staged" + audio_fmt.suffix)
                _write_audio(staged, audio_fmt, duration_s, rng, info)
                _embed(staged, audio_fmt, carrier, details, rng, extra_chunks)
                made.append(path)
                _copy_slowly(staged, path, slow_seconds, slow_step_s)
    except BaseException:
        for leftover in made:
            leftover.unlink(missing_ok=True)
        raise
    expected = _expected(carrier, details, path)
    return WrittenRecording(path, side, expected, audio_fmt.name, carrier, duration_s)


# -- the command line ---------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM, turned into an exception so a half-written recording is cleaned up."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def _rotate(
    i: int, fmt_choice: str, carrier_choice: str, rng: np.random.Generator, late: bool
) -> tuple[AudioFormat, str]:
    """The format and carrier of the ``i``-th recording: fixed, rotating or random, and always
    a pair that fits (a chosen carrier limits the formats, a chosen format the carriers)."""
    fixed_carrier = carrier_choice not in ("rotate", "random")
    names = [n for n in FORMATS if not fixed_carrier or carrier_fits(carrier_choice, FORMATS[n])]
    if fmt_choice == "rotate":
        fmt = FORMATS[names[i % len(names)]]
    elif fmt_choice == "random":
        fmt = FORMATS[str(_pick(rng, tuple(names)))]
    else:
        fmt = FORMATS[fmt_choice]
    if fixed_carrier:
        return fmt, carrier_choice
    # a late arrival must carry its own date: its file time is the transfer time
    usable = [c for c in CARRIERS if carrier_fits(c, fmt) and not (late and c == "none")]
    offset = (i if carrier_choice == "rotate" else int(rng.integers(len(CARRIERS)))) % len(CARRIERS)
    return fmt, next(c for c in CARRIERS[offset:] + CARRIERS[:offset] if c in usable)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vmpro-sim",
        description="Write call recordings into a handover folder, as the voicemail server does.",
    )
    p.add_argument(
        "--handover", type=Path, required=True, metavar="DIR", help="the handover folder"
    )
    p.add_argument("--count", type=int, default=10, help="recordings to write; 0 = until Ctrl-C")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--rate",
        type=float,
        default=6.0,
        help="recordings per minute on average (Poisson arrivals; default 6)",
    )
    pace.add_argument("--fast", action="store_true", help="write as fast as possible")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="rename",
        help="rename: build under a hidden .name, then rename (default); "
        "slow: grow the file under its final name",
    )
    p.add_argument(
        "--slow-seconds", type=float, default=5.0, help="how long a slow write takes (default 5)"
    )
    p.add_argument(
        "--format",
        default="rotate",
        choices=["rotate", "random", *FORMATS],
        metavar="FORMAT",
        help="rotate (default), random, or one of: " + ", ".join(FORMATS),
    )
    p.add_argument(
        "--carrier",
        default="rotate",
        choices=["rotate", "random", *CARRIERS],
        metavar="CARRIER",
        help="where the call details go: rotate (default), random, or one of: "
        + ", ".join(CARRIERS),
    )
    p.add_argument("--duration", type=float, help="force every recording to this many seconds")
    p.add_argument("--min-duration", type=float, default=2.0, help="shortest call (default 2 s)")
    p.add_argument(
        "--max-duration", type=float, default=3600.0, help="longest call (default 3600 s)"
    )
    p.add_argument(
        "--late-fraction",
        type=float,
        default=0.0,
        help="share of late arrivals, dated 1 day to 6 weeks ago (default 0)",
    )
    p.add_argument(
        "--seed", type=int, help="same seed, same recordings (start times follow the clock)"
    )
    p.add_argument(
        "--json-log",
        action="store_true",
        help="print one JSON line per recording written (path, format, details)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.late_fraction <= 1.0:
        parser.error("--late-fraction must be between 0 and 1")
    if args.min_duration <= 0 or args.max_duration < args.min_duration:
        parser.error("need 0 < --min-duration <= --max-duration")
    if args.rate <= 0 or (args.duration is not None and args.duration <= 0):
        parser.error("--rate and --duration must be above 0")
    fixed = args.format in FORMATS and args.carrier in CARRIERS
    if fixed and not carrier_fits(args.carrier, FORMATS[args.format]):
        parser.error(f"carrier {args.carrier} cannot be used with format {args.format}")
    folder: Path = args.handover
    folder.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    pacing = np.random.default_rng(None if args.seed is None else [args.seed, 1 << 20])
    previous: CallDetails | None = None
    written = 0
    next_due = time.monotonic()
    try:
        while args.count == 0 or written < args.count:
            if not args.fast:
                time.sleep(max(0.0, next_due - time.monotonic()))
                next_due = max(next_due, time.monotonic()) + pacing.exponential(60.0 / args.rate)
            rng = np.random.default_rng(None if args.seed is None else [args.seed, written])
            late = rng.random() < args.late_fraction
            fmt, carrier = _rotate(written, args.format, args.carrier, rng, late)
            duration = (
                args.duration
                if args.duration is not None
                else random_duration(rng, args.min_duration, args.max_duration)
            )
            now = datetime.now().astimezone()
            start = now - timedelta(seconds=duration + rng.uniform(1, 5))
            if late:
                start -= timedelta(days=float(rng.uniform(1, 42)))
            details = random_details(rng, start)
            if previous is not None and not late and rng.random() < 0.05:
                details = replace(details, call_id=previous.call_id)  # next segment of a call
            rec = make_recording(
                folder,
                duration_s=duration,
                fmt=fmt,
                carrier=carrier,
                details=details,
                rng=rng,
                mode=args.mode,
                slow_seconds=args.slow_seconds,
            )
            previous = details
            written += 1
            if args.json_log:
                print(json.dumps({**rec.to_json(), "late": late}, ensure_ascii=False), flush=True)
            else:
                d = rec.details
                print(
                    f"{rec.path.name}  {rec.fmt} {rec.carrier} {duration:.1f} s "
                    f"{d.direction.value} {d.owner or '-'}",
                    flush=True,
                )
    except (KeyboardInterrupt, _Stop):
        print(f"vmpro-sim: stopped after {written} recording(s)", file=sys.stderr)
    except BrokenPipeError:  # whoever read --json-log went away: nobody is listening any more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


__all__ = [
    "CARRIERS",
    "FORMATS",
    "AudioFormat",
    "WrittenRecording",
    "build_parser",
    "carrier_fits",
    "main",
    "make_recording",
    "random_details",
    "random_duration",
    "speechlike",
    "speechlike_blocks",
]
