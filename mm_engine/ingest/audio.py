"""Decode a handover recording and encode it to mono Ogg/Opus, a block at a time.

Streaming keeps memory flat whatever the length: a one-hour recording never sits in memory.
Both encoders work at the input rate, so 8 kHz calls stay 8 kHz.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from mm_engine.ingest import opus_tags, opus_writer
from mm_engine.text import Msg, msg, msgn

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
# The fallback encoder's bitrate: about 13 kbit/s, i.e. the seed's ~100 KB per audio-minute, on
# libsndfile's straight-line scale (services.md); opus_writer.BITRATE is the same figure.
COMPRESSION_LEVEL = 0.97
BLOCK_SECONDS = 10
# AudioError.stage: the input is not audio we can read, or it could not be written as Opus
PARSE = "parse"
ENCODE = "encode"


class AudioError(Exception):
    """The input is not audio we can read (parse) or could not be written as Opus (encode)."""

    def __init__(self, message: str, *, stage: str, codec: str = "") -> None:
        super().__init__(message)
        self.message = message  # a msg(), the reason a person reads
        self.stage = stage  # "parse" or "encode"
        self.codec = codec


@dataclass(frozen=True)
class AudioInfo:
    container: str
    codec: str
    samplerate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def probe(path: Path) -> AudioInfo:
    if path.stat().st_size == 0:
        raise AudioError(msg("the file is empty (0 bytes)"), stage=PARSE)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            msg("not a readable audio file ({error})", error=exc), stage=PARSE
        ) from None
    codec = f"{info.format}/{info.subtype}"
    if info.samplerate not in OPUS_RATES:
        raise AudioError(
            msg(
                "sample rate {rate} Hz is not supported (accepted: {accepted} Hz)",
                rate=info.samplerate,
                accepted=", ".join(str(r) for r in OPUS_RATES),
            ),
            stage=ENCODE,
            codec=codec,
        )
    if info.channels not in (1, 2):
        raise AudioError(
            msgn("{count} channels are not supported (mono or stereo)", info.channels),
            stage=ENCODE,
            codec=codec,
        )
    return AudioInfo(info.format, info.subtype, info.samplerate, info.channels, info.frames)


def encode_opus(
    src: Path, dst: Path, info: AudioInfo, comments: list[tuple[str, str]] | None = None
) -> float:
    """Write ``src`` as mono Ogg/Opus carrying ``comments`` to ``dst``; returns the duration
    actually decoded (s).

    The decoded frame count, not the header's claim, is the truth: a truncated WAV yields
    the audio that is there.

    The encoder is the system libopus through :mod:`opus_writer` (2.7× faster than the one in
    the soundfile wheel), with the comments written as part of the stream. Where the system
    libopus0/libogg0 cannot be loaded, libsndfile (soundfile) encodes instead, at about the
    same bitrate, and mutagen then rewrites the comment header: slower, but the same audio
    format and the same comments, so the service keeps ingesting on a machine set up by hand.
    """
    codec = f"{info.container}/{info.codec}"
    if opus_writer.available():
        frames = _encode_native(src, dst, info, comments or [])
    else:
        frames = _encode_soundfile(src, dst, info)
        if frames and comments is not None:
            try:
                opus_tags.update_comments(dst, dict(comments))
            except ValueError as exc:
                raise AudioError(_said(exc), stage=ENCODE, codec=codec) from None
    if frames == 0:
        raise AudioError(msg("the file holds no audio frames"), stage=PARSE, codec=codec)
    return frames / info.samplerate


def _mono_blocks(reader: sf.SoundFile, info: AudioInfo) -> Iterator[np.ndarray]:
    for data in reader.blocks(
        blocksize=info.samplerate * BLOCK_SECONDS, dtype="float32", always_2d=True
    ):
        yield data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)


def _encode_native(src: Path, dst: Path, info: AudioInfo, comments: list[tuple[str, str]]) -> int:
    """Frames encoded; 0 (and no output file) when the input holds no audio."""
    frames = 0
    try:
        with (
            sf.SoundFile(str(src)) as reader,
            opus_writer.OpusWriter(dst, info.samplerate, comments) as writer,
        ):
            for mono in _mono_blocks(reader, info):
                writer.write(mono)
                frames += len(mono)
    except opus_writer.EmptyAudioError:
        return 0
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(_said(exc), stage=ENCODE, codec=_codec(info)) from None
    return frames


def _encode_soundfile(src: Path, dst: Path, info: AudioInfo) -> int:
    frames = 0
    try:
        with (
            sf.SoundFile(str(src)) as reader,
            sf.SoundFile(
                str(dst),
                "w",
                samplerate=info.samplerate,
                channels=1,
                format="OGG",
                subtype="OPUS",
                compression_level=COMPRESSION_LEVEL,
            ) as writer,
        ):
            for mono in _mono_blocks(reader, info):
                writer.write(mono)
                frames += len(mono)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(_said(exc), stage=ENCODE, codec=_codec(info)) from None
    return frames


def _codec(info: AudioInfo) -> str:
    return f"{info.container}/{info.codec}"


def _said(exc: BaseException) -> str:
    """What ``exc`` says: the engine's msg() when it carries one (translated where shown),
    else a library's own words."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, Msg) else str(exc)
