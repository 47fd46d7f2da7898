"""Real audio inputs for tests, written with soundfile (libsndfile)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

SUBTYPES = {"pcm16": "PCM_16", "ulaw": "ULAW", "alaw": "ALAW"}


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)  # syllable-rate swell, so Opus has work to do
    mono = (0.4 * env * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def write_wav(
    path: Path, seconds: float = 2.0, rate: int = 8000, channels: int = 1, codec: str = "pcm16"
) -> Path:
    sf.write(str(path), tone(seconds, rate, channels), rate, subtype=SUBTYPES[codec])
    return path


def write_opus(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    sf.write(str(path), tone(seconds, rate), rate, format="OGG", subtype="OPUS")
    return path


def write_sidecar(audio: Path, **fields: Any) -> Path:
    doc = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
    side = audio.with_suffix(".json")
    side.write_text(json.dumps(doc), encoding="utf-8")
    return side
