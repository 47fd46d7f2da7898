"""A recording's shape for drawing: the lowest and highest sample in each of N equal buckets.

Decoded a block at a time, so an hour-long call costs a few seconds of CPU and a few hundred
kilobytes; meant for a worker thread, which can give up between blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from mm_engine.errors import MMError
from mm_engine.text import msg

BLOCK_FRAMES = 1 << 16

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Peaks:
    lows: Floats  # per bucket, -1..0 for a sane signal
    highs: Floats  # per bucket, 0..1
    duration_s: float

    def __len__(self) -> int:
        return len(self.highs)

    def levels(self) -> Floats:
        """How loud each bucket gets, 0..1: what a one-sided bar shows."""
        level: Floats = np.clip(np.maximum(np.abs(self.lows), np.abs(self.highs)), 0.0, 1.0)
        return level


def compute_peaks(
    open_audio: Callable[[], BinaryIO],
    buckets: int,
    cancelled: Callable[[], bool] | None = None,
) -> Peaks | None:
    """Min/max of each of ``buckets`` equal stretches of the audio (fewer for a file with
    fewer frames); None when ``cancelled`` said so between two blocks."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    with open_audio() as fh:
        try:
            audio = sf.SoundFile(fh)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise MMError(
                msg("The recording's audio cannot be decoded: {error}", error=exc),
                msg("Run `mm recordings verify` on it; the stored file may be damaged."),
            ) from exc
        with audio:
            frames = int(audio.frames)
            duration = frames / audio.samplerate if audio.samplerate else 0.0
            count = max(1, min(buckets, frames))
            lows: Floats = np.zeros(count, dtype=np.float32)
            highs: Floats = np.zeros(count, dtype=np.float32)
            if frames == 0:
                return Peaks(lows, highs, duration)
            # bucket i holds frames edges[i] <= f < edges[i + 1]; with count <= frames no bucket
            # is empty
            edges = (np.arange(count + 1, dtype=np.int64) * frames) // count
            pos = 0
            while True:
                if cancelled is not None and cancelled():
                    return None
                block = audio.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                n = len(block)
                if n == 0:
                    break
                low, high = block.min(axis=1), block.max(axis=1)
                first = min(int(np.searchsorted(edges, pos, side="right")) - 1, count - 1)
                last = min(int(np.searchsorted(edges, pos + n - 1, side="right")) - 1, count - 1)
                starts = np.maximum(edges[first : last + 1], pos) - pos
                span = slice(first, last + 1)
                lows[span] = np.minimum(lows[span], np.minimum.reduceat(low, starts))
                highs[span] = np.maximum(highs[span], np.maximum.reduceat(high, starts))
                pos += n
    return Peaks(lows, highs, duration)
