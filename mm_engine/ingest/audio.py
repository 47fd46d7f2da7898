"""Decode a handover recording and encode it to mono Ogg/Opus, a block at a time.

Streaming keeps memory flat whatever the length: a one-hour recording never sits in memory.
libsndfile (through soundfile) encodes at the input rate, so 8 kHz calls stay 8 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
# About 16 kbit/s, the design's target, on libsndfile's straight-line scale (services.md).
COMPRESSION_LEVEL = 0.96
BLOCK_SECONDS = 10


class AudioError(Exception):
    """The input is not audio we can read (parse) or could not be written as Opus (encode)."""

    def __init__(self, message: str, *, stage: str, codec: str = "") -> None:
        super().__init__(message)
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
        raise AudioError("the file is empty (0 bytes)", stage="parse")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"not a readable audio file ({exc})", stage="parse") from None
    codec = f"{info.format}/{info.subtype}"
    if info.samplerate not in OPUS_RATES:
        raise AudioError(
            f"sample rate {info.samplerate} Hz is not supported "
            f"(accepted: {', '.join(str(r) for r in OPUS_RATES)} Hz)",
            stage="encode",
            codec=codec,
        )
    if info.channels not in (1, 2):
        raise AudioError(
            f"{info.channels} channels are not supported (mono or stereo)",
            stage="encode",
            codec=codec,
        )
    return AudioInfo(info.format, info.subtype, info.samplerate, info.channels, info.frames)


def encode_opus(src: Path, dst: Path, info: AudioInfo) -> float:
    """Write ``src`` as mono Ogg/Opus to ``dst``; returns the duration actually decoded (s).

    The decoded frame count, not the header's claim, is the truth: a truncated WAV yields
    the audio that is there.
    """
    block = info.samplerate * BLOCK_SECONDS
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
            for data in reader.blocks(blocksize=block, dtype="float32", always_2d=True):
                mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
                writer.write(mono)
                frames += len(mono)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(str(exc), stage="encode", codec=f"{info.container}/{info.codec}") from None
    if frames == 0:
        raise AudioError(
            "the file holds no audio frames", stage="parse", codec=f"{info.container}/{info.codec}"
        )
    return frames / info.samplerate
