"""Ogg/Opus through the system libopus (opus_writer): real files, read back by three decoders."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from mutagen.ogg import OggPage
from mutagen.oggopus import OggOpus

from mm_engine.engine import Engine
from mm_engine.ingest import opus_tags, opus_writer
from mm_engine.ingest.audio import AudioError, encode_opus, probe
from mm_engine.ingest.calldetails import read_call_details, read_opus_tags, write_opus_tags
from mm_engine.ingest.opus_writer import EmptyAudioError, OpusWriter
from mm_engine.ingest.pipeline import Outcome, Pipeline
from mm_engine.service import Service
from scripts.vmpro_sim import speechlike
from tests.audio_files import write_sidecar

OPUSDEC = shutil.which("opusdec") or "/usr/bin/opusdec"
OPUSINFO = shutil.which("opusinfo") or "/usr/bin/opusinfo"
TZ = timezone(timedelta(hours=1))
START = datetime(2026, 11, 25, 9, 30, 0, tzinfo=TZ)
COMMENTS = [
    ("call_id", "C-4711"),
    ("start", "2026-11-25T09:30:00+01:00"),
    ("parties", "+31205550100;201"),
    ("skill", "Vertrieb-Süd"),  # not ASCII: comments are UTF-8
    ("note", ""),  # an empty value is still written
]

needs_libopus = pytest.mark.skipif(
    not opus_writer.available(), reason="system libopus0/libogg0 not installed"
)
needs_opus_tools = pytest.mark.skipif(
    not Path(OPUSDEC).exists(), reason="opusdec (Debian opus-tools) not installed"
)


def speech(seconds: float, rate: int, seed: int = 7) -> np.ndarray:
    pcm = speechlike(seconds, rate, np.random.default_rng(seed))
    return (pcm.astype(np.float32) / 32768).astype(np.float32)


def encode(
    path: Path,
    audio: np.ndarray,
    rate: int,
    comments: list[tuple[str, str]] = COMMENTS,
    block: int = 12345,
) -> Path:
    """Encode in uneven blocks, so partial frames are carried from one write to the next."""
    with OpusWriter(path, rate, comments) as writer:
        for i in range(0, len(audio), block):
            writer.write(audio[i : i + block])
    return path


def opus_head(path: Path) -> tuple[int, int, int, int, int, int]:
    """(version, channels, pre-skip, input rate, gain, mapping family) from the OpusHead."""
    data = path.read_bytes()[:200]
    at = data.index(b"OpusHead") + 8
    fields: tuple[int, int, int, int, int, int] = struct.unpack("<BBHIhB", data[at : at + 11])
    return fields


def oggopus(path: Path) -> Any:
    """mutagen's view of the file (untyped, hence Any)."""
    return OggOpus(str(path))  # type: ignore[no-untyped-call]


def pages(path: Path) -> list[OggPage]:
    with open(path, "rb") as fh:
        out = []
        while True:
            try:
                out.append(OggPage(fh))  # type: ignore[no-untyped-call]
            except EOFError:
                return out


def envelope(audio: np.ndarray, rate: int) -> np.ndarray:
    """RMS per 20 ms: what a listener hears as the syllables, insensitive to codec phase."""
    win = rate // 50
    n = len(audio) // win * win
    rms: np.ndarray = np.sqrt((audio[:n].astype(np.float64).reshape(-1, win) ** 2).mean(axis=1))
    return rms


def assert_sounds_like(decoded: np.ndarray, original: np.ndarray, rate: int) -> None:
    """Same syllables at the same times and about the same loudness: fails for silence,
    noise, garbage or audio shifted in time."""
    n = min(len(decoded), len(original))
    a, b = envelope(decoded[:n], rate), envelope(original[:n], rate)
    assert np.corrcoef(a, b)[0, 1] > 0.9
    ratio = float(np.sqrt((decoded[:n] ** 2).mean() / (original[:n] ** 2).mean()))
    assert 0.5 < ratio < 2.0


def opusdec(path: Path, tmp_path: Path) -> tuple[np.ndarray, int]:
    out = tmp_path / f"{path.stem}-opusdec.wav"
    subprocess.run([OPUSDEC, "--quiet", str(path), str(out)], check=True, timeout=60)
    data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    assert data.shape[1] == 1
    return data[:, 0], rate


# -- the format -----------------------------------------------------------------------------------


@needs_libopus
@needs_opus_tools
@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_speech_decodes_in_libsndfile_opusdec_and_mutagen_with_exact_length_and_comments(
    tmp_path: Path, rate: int
) -> None:
    seconds = 7.013  # not a whole number of 20 ms frames
    original = speech(seconds, rate)
    assert len(original) % (rate // 50) != 0
    path = encode(tmp_path / f"speech-{rate}.opus", original, rate)

    info = sf.info(str(path))
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("OGG", "OPUS", 1, rate)
    assert abs(info.frames / rate - seconds) <= 0.02
    decoded, _ = sf.read(str(path), dtype="float32")
    assert_sounds_like(decoded, original, rate)

    by_opusdec, dec_rate = opusdec(path, tmp_path)
    assert dec_rate == rate  # opusdec decodes at the original rate the header records
    assert abs(len(by_opusdec) / dec_rate - seconds) <= 0.02
    assert_sounds_like(by_opusdec, original, rate)

    tagged = oggopus(path)
    assert tagged.info.channels == 1
    assert abs(tagged.info.length - seconds) <= 0.02
    assert tagged.tags.vendor.startswith("mm ") and "libopus" in tagged.tags.vendor
    version, channels, pre_skip, input_rate, gain, family = opus_head(path)
    assert (version, channels, input_rate, gain, family) == (1, 1, rate, 0, 0)
    assert pre_skip > 0
    assert read_opus_tags(path) == {k: v for k, v in COMMENTS}


@needs_libopus
@pytest.mark.parametrize("samples", [1, 159, 160, 161, 8000 * 3 + 17])
def test_final_granule_position_is_the_exact_input_length(tmp_path: Path, samples: int) -> None:
    """RFC 7845 end trimming: decoders drop the zero padding of the last frame."""
    audio = (0.3 * np.sin(np.arange(samples) * 0.2)).astype(np.float32)
    path = encode(tmp_path / "short.opus", audio, 8000, block=100)
    [*_, last] = pages(path)
    pre_skip = opus_head(path)[2]
    assert last.last and last.position == pre_skip + samples * 6  # 48 kHz / 8 kHz
    assert sf.info(str(path)).frames == samples
    assert oggopus(path).info.length == pytest.approx(samples / 8000)


@needs_libopus
def test_stream_layout_follows_rfc_7845(tmp_path: Path) -> None:
    """Headers alone on their pages, about a second of audio per page, e_o_s only at the end;
    opusinfo (the reference checker) finds nothing to warn about."""
    path = encode(tmp_path / "layout.opus", speech(12.5, 16000), 16000)
    stream = pages(path)
    head, tags, audio = stream[0], stream[1], stream[2:]
    assert head.first and head.packets[0].startswith(b"OpusHead") and len(head.packets) == 1
    assert tags.packets[0].startswith(b"OpusTags") and tags.complete and len(tags.packets) == 1
    assert not any(p.first for p in stream[1:]) and not any(p.last for p in stream[:-1])
    assert stream[-1].last
    assert len({p.serial for p in stream}) == 1
    assert [p.sequence for p in stream] == list(range(len(stream)))
    steps = np.diff([p.position for p in audio[:-1]])
    assert (steps == 48000).all()  # 50 packets of 20 ms per page
    if Path(OPUSINFO).exists():
        report = subprocess.run(
            [OPUSINFO, str(path)], capture_output=True, text=True, check=True, timeout=60
        )
        assert "WARNING" not in report.stdout + report.stderr
        assert "Playback length: 0m:12.5" in report.stdout


@needs_libopus
def test_block_sizes_do_not_change_the_audio(tmp_path: Path) -> None:
    """Partial frames are carried between writes: one sample at a time encodes the same."""
    original = speech(1.5, 8000)
    one = encode(tmp_path / "one.opus", original, 8000, block=len(original))
    small = encode(tmp_path / "small.opus", original, 8000, block=7)
    a, _ = sf.read(str(one), dtype="float32")
    b, _ = sf.read(str(small), dtype="float32")
    assert np.array_equal(a, b)


@needs_libopus
def test_empty_input_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.opus"
    writer = OpusWriter(path, 8000, COMMENTS)
    writer.write(np.zeros(0, dtype=np.float32))
    with pytest.raises(EmptyAudioError, match="no audio samples"):
        writer.close()
    assert not path.exists()


@needs_libopus
def test_failure_inside_the_block_removes_the_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "partial.opus"
    with pytest.raises(RuntimeError, match="reader died"), OpusWriter(path, 8000, []) as w:
        w.write(speech(2.0, 8000))
        raise RuntimeError("reader died")
    assert not path.exists()


@needs_libopus
def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="44100"):
        OpusWriter(tmp_path / "a.opus", 44100, [])
    with pytest.raises(ValueError, match="comment name"):
        OpusWriter(tmp_path / "b.opus", 8000, [("bad=key", "x")])
    assert not (tmp_path / "b.opus").exists()
    with OpusWriter(tmp_path / "c.opus", 8000, []) as writer:
        with pytest.raises(ValueError, match="mono"):
            writer.write(np.zeros((160, 2), dtype=np.float32))
        writer.write(np.zeros(160, dtype=np.float32))


@needs_libopus
@needs_opus_tools
def test_a_comment_over_64_kb_spans_pages_and_reads_back_whole(tmp_path: Path) -> None:
    big = "".join(chr(0x41 + i % 26) for i in range(150_000))  # more than two pages' worth
    comments = [*COMMENTS, ("mm_riff_bext", big)]
    original = speech(3.0, 8000)
    path = encode(tmp_path / "big.opus", original, 8000, comments=comments)
    header_pages = [p for p in pages(path)[1:] if p.position in (-1, 0)]
    assert len(header_pages) >= 3  # OpusTags continued over several pages
    assert read_opus_tags(path)["mm_riff_bext"] == big
    assert read_opus_tags(path)["call_id"] == "C-4711"
    decoded, _ = sf.read(str(path), dtype="float32")
    assert_sounds_like(decoded, original, 8000)
    by_opusdec, rate = opusdec(path, tmp_path)
    assert abs(len(by_opusdec) / rate - 3.0) <= 0.02


@needs_libopus
def test_comments_can_be_corrected_later_in_place(tmp_path: Path) -> None:
    """The comment header is padded as mutagen pads it, so a correction rewrites one page."""
    original = speech(4.0, 8000)
    path = encode(tmp_path / "fix.opus", original, 8000)
    before = [(p.sequence, p.position) for p in pages(path)]
    opus_tags.update_comments(path, {"skill": "support", "owner": "201"})
    assert [(p.sequence, p.position) for p in pages(path)] == before
    tags = read_opus_tags(path)
    assert tags["skill"] == "support" and tags["owner"] == "201" and tags["call_id"] == "C-4711"
    assert sf.info(str(path)).frames == len(original)


@needs_libopus
@pytest.mark.parametrize("rate", [8000, 16000])
def test_stored_size_is_about_100_kb_per_minute_of_speech(tmp_path: Path, rate: int) -> None:
    seconds = 120.0
    path = encode(tmp_path / "size.opus", speech(seconds, rate, seed=11), rate, block=rate * 10)
    kb_per_min = path.stat().st_size / 1000 / (seconds / 60)
    assert 60 <= kb_per_min <= 140


# -- encode_opus and the pipeline, with either encoder --------------------------------------------


@pytest.fixture(params=["system libopus", "soundfile fallback"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "system libopus":
        if not opus_writer.available():
            pytest.skip("system libopus0/libogg0 not installed")
    else:
        monkeypatch.setattr(opus_writer, "available", lambda: False)
    name: str = request.param
    return name


def wav(path: Path, seconds: float, rate: int, channels: int = 1) -> Path:
    audio = speech(seconds, rate)
    if channels == 2:
        audio = np.stack([audio, 0.1 * audio], axis=1)
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


def test_encode_opus_leaves_a_tagged_file_with_either_encoder(tmp_path: Path, encoder: str) -> None:
    src = wav(tmp_path / "in.wav", 5.01, 16000, channels=2)
    dst = tmp_path / "out.opus"
    duration = encode_opus(src, dst, probe(src), COMMENTS)
    assert duration == pytest.approx(5.01)
    assert read_opus_tags(dst) == dict(COMMENTS)
    vendor = oggopus(dst).tags.vendor
    assert vendor.startswith("mm ") == (encoder == "system libopus")
    info = sf.info(str(dst))
    assert (info.channels, info.samplerate) == (1, 16000)
    assert abs(info.frames / 16000 - 5.01) <= 0.02


def test_both_encoders_write_identical_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not opus_writer.available():
        pytest.skip("system libopus0/libogg0 not installed")
    src = wav(tmp_path / "in.wav", 1.0, 8000)
    native = tmp_path / "native.opus"
    encode_opus(src, native, probe(src), COMMENTS)
    monkeypatch.setattr(opus_writer, "available", lambda: False)
    fallback = tmp_path / "fallback.opus"
    encode_opus(src, fallback, probe(src), COMMENTS)
    assert list(oggopus(native).tags) == list(oggopus(fallback).tags)


def test_a_wav_with_no_frames_is_a_parse_error(tmp_path: Path, encoder: str) -> None:
    src = tmp_path / "hollow.wav"
    sf.write(str(src), np.zeros(0, dtype=np.int16), 8000, subtype="PCM_16")
    dst = tmp_path / "out.opus"
    with pytest.raises(AudioError, match="no audio frames") as caught:
        encode_opus(src, dst, probe(src), COMMENTS)
    assert caught.value.stage == "parse"


@pytest.fixture
def ingest(engine: Engine) -> Callable[[Path], Path]:
    """Ingest one handover file; the stored recording's path."""
    folder = engine.data_dir.root / "handover"
    engine.config.set("handover_folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    pipeline: Pipeline = Service(engine).pipeline()

    def run(src: Path) -> Path:
        target = folder / src.name
        shutil.move(src, target)
        side = src.with_suffix(".json")
        if side.exists():
            shutil.move(side, target.with_suffix(".json"))
        result = pipeline.ingest(target)
        assert result.outcome is Outcome.INGESTED, result.reason
        row = engine.db.query_one(
            "SELECT path FROM recordings WHERE id = ?", (result.recording_id,)
        )
        assert row is not None
        return engine.store().root / str(row["path"])

    return run


def test_pipeline_stores_a_tagged_recording_with_either_encoder(
    tmp_path: Path, encoder: str, ingest: Callable[[Path], Path]
) -> None:
    src = wav(tmp_path / "call.wav", 3.33, 8000)
    write_sidecar(src, call_id="C-77", start=START, direction="inbound", skill="billing")
    stored = ingest(src)
    tags = read_opus_tags(stored)
    assert tags["call_id"] == "C-77" and tags["skill"] == "billing"
    assert tags["direction"] == "inbound" and tags["owner"] == ""  # unset keys written empty
    assert oggopus(stored).tags.vendor.startswith("mm ") == (encoder == "system libopus")
    assert abs(sf.info(str(stored)).frames / 8000 - 3.33) <= 0.02


def test_write_opus_tags_and_the_encoder_agree(
    tmp_path: Path, ingest: Callable[[Path], Path]
) -> None:
    """Re-tagging a stored file with the same details changes no comment."""
    if not opus_writer.available():
        pytest.skip("system libopus0/libogg0 not installed")
    src = wav(tmp_path / "again.wav", 1.0, 8000)
    write_sidecar(src, call_id="C-78", start=START, parties=["201", "202"])
    parsed = read_call_details(src, 1.0)
    stored = ingest(src)
    before = list(oggopus(stored).tags)
    write_opus_tags(stored, parsed.details, parsed.extra_tags)
    assert list(oggopus(stored).tags) == before
