"""Ogg/Opus encoding through the system libopus and libogg, loaded with ctypes.

The Opus encoder bundled in the soundfile wheel is 2.7× slower than Debian's libopus with the
same settings (docs/performance.md, "What limits ingest speed"), which kept ingest below its
throughput target. Writing the stream ourselves also lets the call details go into the comment
header as it is written, instead of rewriting the file afterwards.

The stream follows RFC 7845: an identification header (``OpusHead``) alone on the first page, a
comment header (``OpusTags``) on its own page(s), then one 20 ms packet per page slot. Granule
positions and pre-skip count 48 kHz samples whatever the input rate; the last page's granule
position is trimmed to the real end, so every decoder reports the exact length.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from mm_engine import __version__
from mm_engine.ingest.opus_tags import PADDING
from mm_engine.text import msg

__all__ = ["BITRATE", "EmptyAudioError", "OpusEncodeError", "OpusWriter", "available"]

RATES = (8000, 12000, 16000, 24000, 48000)
GRANULE_RATE = 48000  # RFC 7845: granule positions and pre-skip always count 48 kHz samples
FRAME_MS = 20
# 13 kbit/s is the seed's "about 100 KB per audio-minute" (docs/performance.md).
BITRATE = 13000
COMPLEXITY = 10
# Pages close after about a second of audio, as opusenc's default --max-delay does: a reader
# seeks to within a second, and the writer never holds more than a second of packets.
FRAMES_PER_PAGE = 1000 // FRAME_MS
MAX_PACKET = 4000  # libopus's recommended output buffer; a 20 ms packet is at most 1275 bytes

# opus_defines.h
_OPUS_OK = 0
_OPUS_APPLICATION_VOIP = 2048
_OPUS_SIGNAL_VOICE = 3001
_OPUS_SET_BITRATE = 4002
_OPUS_SET_VBR = 4006
_OPUS_SET_COMPLEXITY = 4010
_OPUS_SET_SIGNAL = 4024
_OPUS_GET_LOOKAHEAD = 4027

# sizeof(ogg_stream_state) is about 410 bytes on 64-bit builds; we never read its fields, so a
# generous opaque buffer keeps us independent of its exact layout.
_OGG_STREAM_STATE_SIZE = 4096


class OggPacket(ctypes.Structure):
    """libogg's ``ogg_packet``, field for field (``long`` is the C long of the platform)."""

    _fields_ = (
        ("packet", ctypes.c_void_p),
        ("bytes", ctypes.c_long),
        ("b_o_s", ctypes.c_long),
        ("e_o_s", ctypes.c_long),
        ("granulepos", ctypes.c_int64),
        ("packetno", ctypes.c_int64),
    )


class OggPage(ctypes.Structure):
    """libogg's ``ogg_page``, field for field."""

    _fields_ = (
        ("header", ctypes.c_void_p),
        ("header_len", ctypes.c_long),
        ("body", ctypes.c_void_p),
        ("body_len", ctypes.c_long),
    )


class OpusEncodeError(RuntimeError):
    """libopus or libogg refused: a bug or a broken library, never the caller's audio."""


class EmptyAudioError(ValueError):
    """No samples were written: an Opus stream needs at least one, and a recording of nothing
    is a broken input, not a short call."""


@dataclass(frozen=True)
class _Libs:
    opus: ctypes.CDLL
    ogg: ctypes.CDLL
    ctl_int: Any  # opus_encoder_ctl(st, request, opus_int32)
    ctl_ptr: Any  # opus_encoder_ctl(st, request, opus_int32 *)
    version: str


def _open_library(name: str, soname: str) -> ctypes.CDLL:
    found = ctypes.util.find_library(name)
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            pass
    return ctypes.CDLL(soname)


@functools.cache
def _load() -> _Libs | str:
    """The libraries with their prototypes declared, or why they could not be loaded.

    Cached either way: ``find_library`` runs ``ldconfig`` in a subprocess on Linux.
    """
    try:
        opus = _open_library("opus", "libopus.so.0")
        ogg = _open_library("ogg", "libogg.so.0")
        c_int, c_int32, c_void_p = ctypes.c_int, ctypes.c_int32, ctypes.c_void_p

        opus.opus_get_version_string.restype = ctypes.c_char_p
        opus.opus_get_version_string.argtypes = ()
        opus.opus_strerror.restype = ctypes.c_char_p
        opus.opus_strerror.argtypes = (c_int,)
        opus.opus_encoder_create.restype = c_void_p
        opus.opus_encoder_create.argtypes = (c_int32, c_int, c_int, ctypes.POINTER(c_int))
        opus.opus_encoder_destroy.restype = None
        opus.opus_encoder_destroy.argtypes = (c_void_p,)
        opus.opus_encode_float.restype = c_int32
        opus.opus_encode_float.argtypes = (c_void_p, c_void_p, c_int, c_void_p, c_int32)
        # opus_encoder_ctl is variadic: one fixed prototype per argument type keeps the call
        # correct on every ABI instead of relying on ctypes' default promotions.
        ctl_int = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_int32)(("opus_encoder_ctl", opus))
        ctl_ptr = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, ctypes.POINTER(c_int32))(
            ("opus_encoder_ctl", opus)
        )

        stream = c_void_p
        for fn, args in (
            (ogg.ogg_stream_init, (stream, c_int)),
            (ogg.ogg_stream_packetin, (stream, ctypes.POINTER(OggPacket))),
            (ogg.ogg_stream_flush, (stream, ctypes.POINTER(OggPage))),
            (ogg.ogg_stream_clear, (stream,)),
        ):
            fn.restype = c_int
            fn.argtypes = args
        version = opus.opus_get_version_string().decode("ascii", "replace")
    except (OSError, AttributeError) as exc:
        return f"system libopus/libogg not usable: {exc}"
    return _Libs(opus, ogg, ctl_int, ctl_ptr, version)


def _libs() -> _Libs:
    loaded = _load()
    if isinstance(loaded, str):
        raise OpusEncodeError(loaded)
    return loaded


def available() -> bool:
    """True when the system libopus and libogg can be loaded (Debian libopus0 and libogg0)."""
    return not isinstance(_load(), str)


def _opus_head(pre_skip: int, input_rate: int) -> bytes:
    # RFC 7845 5.1: version 1, one channel, pre-skip (48 kHz), input rate, gain 0, family 0
    return b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, input_rate, 0, 0)


def _opus_tags(vendor: str, comments: list[tuple[str, str]]) -> bytes:
    """RFC 7845 5.2, followed by zero padding.

    The padding is what mutagen leaves too (opus_tags.PADDING): a later correction of the
    call details then rewrites the comment pages in place instead of renumbering every page.
    """
    parts = [b"OpusTags", _counted(vendor.encode("utf-8")), struct.pack("<I", len(comments))]
    for key, value in comments:
        if not key or "=" in key or any(not 0x20 <= ord(c) <= 0x7D for c in key):
            raise ValueError(f"{key!r} is not a valid Opus comment name")
        parts.append(_counted(f"{key}={value}".encode()))
    parts.append(bytes(PADDING))
    return b"".join(parts)


def _counted(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


class OpusWriter:
    """Mono Ogg/Opus at the input rate, written a block at a time in flat memory.

    Encoder settings: VoIP application, voice signal, 13 kbit/s VBR, complexity 10, 20 ms
    frames. Use as a context manager: leaving the block normally completes the file; leaving
    it by an exception removes the partial file, so no truncated recording is ever mistaken
    for a whole one.
    """

    def __init__(
        self,
        path: Path,
        samplerate: int,
        comments: list[tuple[str, str]],
        vendor: str | None = None,
    ) -> None:
        if samplerate not in RATES:
            raise ValueError(
                f"Opus encodes at {', '.join(str(r) for r in RATES)} Hz, not {samplerate}"
            )
        self._lib = _libs()
        self.path = path
        self.samplerate = samplerate
        self._frame = samplerate * FRAME_MS // 1000
        self._scale = GRANULE_RATE // samplerate  # 48 kHz samples per input sample
        self._samples = 0  # input samples written so far
        self._packets = 0  # audio packets handed to libogg
        self._pending = np.zeros(0, dtype=np.float32)  # less than one frame
        self._closed = False
        self._encoder: int | None = None
        self._stream: ctypes.Array[ctypes.c_char] | None = None
        self._packet = OggPacket()
        self._page = OggPage()
        self._out = ctypes.create_string_buffer(MAX_PACKET)
        self._out_addr = ctypes.addressof(self._out)
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()/abort()
        try:
            self._lookahead = self._create_encoder()
            self._stream = ctypes.create_string_buffer(_OGG_STREAM_STATE_SIZE)
            if self._lib.ogg.ogg_stream_init(self._stream, secrets.randbits(31)) != 0:
                self._stream = None
                raise OpusEncodeError("ogg_stream_init failed")
            self._pre_skip = self._lookahead * self._scale
            if vendor is None:
                vendor = f"mm {__version__} ({self._lib.version})"
            self._headers(_opus_head(self._pre_skip, samplerate), _opus_tags(vendor, comments))
        except BaseException:
            self.abort()
            raise

    def _create_encoder(self) -> int:
        lib = self._lib
        error = ctypes.c_int(0)
        encoder = lib.opus.opus_encoder_create(
            self.samplerate, 1, _OPUS_APPLICATION_VOIP, ctypes.byref(error)
        )
        if error.value != _OPUS_OK or not encoder:
            raise OpusEncodeError(f"opus_encoder_create: {self._strerror(error.value)}")
        self._encoder = encoder
        for request, value in (
            (_OPUS_SET_BITRATE, BITRATE),
            (_OPUS_SET_VBR, 1),
            (_OPUS_SET_COMPLEXITY, COMPLEXITY),
            (_OPUS_SET_SIGNAL, _OPUS_SIGNAL_VOICE),
        ):
            rc = lib.ctl_int(encoder, request, value)
            if rc != _OPUS_OK:
                raise OpusEncodeError(f"opus_encoder_ctl({request}): {self._strerror(rc)}")
        lookahead = ctypes.c_int32(0)
        rc = lib.ctl_ptr(encoder, _OPUS_GET_LOOKAHEAD, ctypes.byref(lookahead))
        if rc != _OPUS_OK:
            raise OpusEncodeError(f"OPUS_GET_LOOKAHEAD: {self._strerror(rc)}")
        return int(lookahead.value)

    def _strerror(self, code: int) -> str:
        text: bytes = self._lib.opus.opus_strerror(code)
        return text.decode("ascii", "replace")

    def _headers(self, head: bytes, tags: bytes) -> None:
        # libogg puts the first packet alone on a b_o_s page; flushing after each header makes
        # the comment header end its page(s) and audio start on a fresh page, as RFC 7845 asks.
        for packetno, data in enumerate((head, tags)):
            buf = ctypes.create_string_buffer(data, len(data))
            pkt = OggPacket(ctypes.addressof(buf), len(data), int(packetno == 0), 0, 0, packetno)
            self._packetin(pkt)
            self._flush()

    def _packetin(self, pkt: OggPacket) -> None:
        if self._lib.ogg.ogg_stream_packetin(self._stream, pkt) != 0:
            raise OpusEncodeError("ogg_stream_packetin failed")

    def _flush(self) -> None:
        flush, page, write = self._lib.ogg.ogg_stream_flush, self._page, self._file.write
        while flush(self._stream, page):
            write(ctypes.string_at(page.header, page.header_len))
            write(ctypes.string_at(page.body, page.body_len))

    def write(self, mono: np.ndarray) -> None:
        """Encode every whole 20 ms frame of ``mono`` (float32, -1..1); keep the rest."""
        if self._closed:
            raise ValueError("write to a closed OpusWriter")
        data = np.asarray(mono, dtype=np.float32)
        if data.ndim != 1:
            raise ValueError(f"expected mono samples of shape (n,), got {data.shape}")
        self._samples += len(data)
        if len(self._pending):
            data = np.concatenate((self._pending, data))
        whole = len(data) // self._frame * self._frame
        if whole:
            block = np.ascontiguousarray(data[:whole])
            self._encode(block, whole // self._frame, last=False)
        self._pending = data[whole:].copy()

    def _encode(self, block: np.ndarray, frames: int, *, last: bool) -> None:
        """Encode ``frames`` consecutive frames of the contiguous float32 ``block``.

        One ctypes call per frame into libopus and one into libogg; pointers into the block
        avoid a numpy slice per frame.
        """
        encode = self._lib.opus.opus_encode_float
        packetin = self._lib.ogg.ogg_stream_packetin
        encoder, stream, pkt, out = self._encoder, self._stream, self._packet, self._out_addr
        frame = self._frame
        stride = frame * 4
        base = block.ctypes.data
        pkt.packet = out
        pkt.b_o_s = 0
        pkt.e_o_s = 0
        packets = self._packets
        granule_step = frame * self._scale
        for i in range(frames):
            size = encode(encoder, base + i * stride, frame, out, MAX_PACKET)
            if size < 0:
                raise OpusEncodeError(f"opus_encode_float: {self._strerror(size)}")
            packets += 1
            pkt.bytes = size
            pkt.packetno = packets + 1  # the two headers are packets 0 and 1
            if last and i == frames - 1:
                pkt.e_o_s = 1
                # RFC 7845 4.5: the final granule position trims the padding off the end.
                pkt.granulepos = self._pre_skip + self._samples * self._scale
            else:
                pkt.granulepos = packets * granule_step
            if packetin(stream, pkt) != 0:
                raise OpusEncodeError("ogg_stream_packetin failed")
            if packets % FRAMES_PER_PAGE == 0:
                self._flush()
        self._packets = packets

    def close(self) -> None:
        """Drain the encoder, write the e_o_s page and close the file: it is then complete.

        Raises EmptyAudioError (and removes the file) when no sample was written.
        """
        if self._closed:
            return
        try:
            if self._samples == 0:
                raise EmptyAudioError(
                    msg("{file}: no audio samples to encode", file=self.path.name)
                )
            # Enough frames that the decoder's output, minus pre-skip, covers every input
            # sample: the encoder's lookahead delays the signal by that much.
            needed = -(-(self._lookahead + self._samples) // self._frame)
            frames = needed - self._packets
            tail = np.zeros(frames * self._frame, dtype=np.float32)
            tail[: len(self._pending)] = self._pending
            self._pending = tail[:0]
            self._encode(tail, frames, last=True)
            self._flush()
            self._release()
            self._file.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Stop without completing the file and remove it."""
        self._closed = True
        self._release()
        self._file.close()
        self.path.unlink(missing_ok=True)

    def _release(self) -> None:
        if self._stream is not None:
            self._lib.ogg.ogg_stream_clear(self._stream)
            self._stream = None
        if self._encoder is not None:
            self._lib.opus.opus_encoder_destroy(self._encoder)
            self._encoder = None

    def __enter__(self) -> OpusWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # a writer dropped without close() must not leak the encoder's native memory
        if getattr(self, "_lib", None) is not None:
            self._release()
