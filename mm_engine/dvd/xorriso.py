"""xorriso as the DVD burner and reader: media state, appending sessions, reading and checking.

Every call runs one ``xorriso`` process with the same safe preamble (:data:`PREAMBLE`):

- ``-no_rc`` first, so no startup file on the machine changes what a run does;
- ``-pkt_output on``: every output line is tagged ``R:`` (result) or ``I:`` (messages), so the
  parser never mistakes a message for a result;
- ``-backslash_codes encode_output``: file names in results come back with control and 8-bit
  characters as backslash-octal codes, so any name (quotes, newlines, Unicode) parses exactly;
- ``-iso_rr_pattern off -disk_pattern off``: paths are taken literally, never as wildcards;
- ``-md5 on`` and ``-joliet on`` *before* the drive is acquired. Measured: with ``-md5 on``
  given after ``-dev``, the next session drops the recorded MD5 of every file from the older
  sessions, so they can no longer be checked;
- ``-return_with SORRY 32`` so a SORRY event gives a failing exit code (xorriso aborts on
  FAILURE by itself).

Runs that do not write end with ``-rollback_end``: xorriso ends a run by committing whatever is
pending, so a dry run that maps files and only asks ``-tell_media_space`` would otherwise burn
them (measured here).

The drive is a device such as ``/dev/sr0`` or ``stdio:/path/disc.iso``: an image file stands in
for a disc (tests; there is no optical hardware in this container). xorriso treats a DVD+RW and an
image file alike, as *overwriteable* media with an emulated table of contents, so sessions,
volume ids, free space and MD5 checks behave the same. Two differences: ``-close on`` has no
effect on overwriteable media (a DVD+RW is never "closed", it is full when its space is used up),
and on an image file the free space is the free space of the filesystem holding it, so a
``capacity`` in bytes can be given to stand for the disc size (4.7 GB for a DVD+RW).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from mm_engine.errors import MMError, Refused
from mm_engine.text import N_, msg

BLOCK = 2048  # bytes in one disc block ("s" in xorriso's sizes)
DVD_PLUS_RW_BYTES = 4_700_372_992  # a single-layer DVD+RW: 2,295,104 blocks

PREAMBLE = (
    "-no_rc",
    "-pkt_output",
    "on",
    "-report_about",
    "WARNING",
    "-return_with",
    "SORRY",
    "32",
    "-backslash_codes",
    "encode_output",
    "-local_charset",
    "UTF-8",
    "-iso_rr_pattern",
    "off",
    "-disk_pattern",
    "off",
    "-md5",
    "on",
    "-joliet",
    "on",
)

_SEVERE = re.compile(r"\b(SORRY|FAILURE|FATAL|MISHAP|ABORT)\b")
_DRIVE_GONE = (
    "Cannot acquire drive",
    "Neither stdio-path nor its directory exist",
    "Cannot access",
)
_NO_MEDIUM = ("not present", "No media", "no media", "No medium", "no medium")
_TOO_BIG = re.compile(r"Image size (\d+)s exceeds free space on media (-?\d+)s")


class MediaState(StrEnum):
    BLANK = "blank"  # nothing written: a session can be written from scratch
    APPENDABLE = "appendable"  # written, and a further session can be appended
    CLOSED = "closed"  # written and closed (or unreadable as an ISO image): no more sessions
    ABSENT = "absent"  # no disc in the drive
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Session:
    index: int  # 1-based, as -toc numbers them
    start_block: int
    blocks: int
    volume_id: str


@dataclass(frozen=True)
class MediaInfo:
    """What is in the drive, as xorriso sees it (``-toc`` and ``-tell_media_space``)."""

    drive: str
    state: MediaState
    media_type: str  # "DVD+RW", "DVD-R", "stdio file", ... (xorriso's "Media current")
    overwriteable: bool
    sessions: tuple[Session, ...]
    used_bytes: int
    free_bytes: int
    capacity_bytes: int

    @property
    def present(self) -> bool:
        return self.state is not MediaState.ABSENT

    @property
    def volume_id(self) -> str | None:
        """The newest session's volume id (None on a blank disc)."""
        return self.sessions[-1].volume_id if self.sessions else None

    @property
    def dvd_plus_rw(self) -> bool:
        return self.media_type.startswith("DVD+RW")

    @property
    def image_file(self) -> bool:
        """An image file standing in for a disc (``stdio:`` drive)."""
        return self.media_type == "stdio file"

    def to_dict(self) -> dict[str, object]:
        return {
            "drive": self.drive,
            "state": str(self.state),
            "media_type": self.media_type,
            "volume_id": self.volume_id,
            "sessions": len(self.sessions),
            "used_bytes": self.used_bytes,
            "free_bytes": self.free_bytes,
            "capacity_bytes": self.capacity_bytes,
        }


@dataclass(frozen=True)
class DiscFile:
    path: str  # absolute on the disc: "/2026/11/25/call.opus"
    size: int
    start_block: int
    blocks: int


@dataclass(frozen=True)
class SpaceCheck:
    free_bytes: int  # what the disc still takes
    needed_bytes: int  # what the pending session would use (xorriso's own estimate)

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.free_bytes


@dataclass(frozen=True)
class Md5Check:
    """The outcome of reading files back and comparing them with the MD5 recorded at writing."""

    mismatched: tuple[str, ...] = ()  # data differs from its recorded MD5 (or cannot be read)
    unchecked: tuple[str, ...] = ()  # asked for, but no MD5 is recorded for them
    recorded: Mapping[str, str] = field(default_factory=dict)  # path -> recorded MD5 (hex)

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.unchecked


class XorrisoError(MMError):
    """xorriso failed; ``messages`` holds what it said."""

    title = N_("DVD operation failed")

    def __init__(self, message: str, hint: str = "", messages: Sequence[str] = ()) -> None:
        super().__init__(message, hint)
        self.messages = tuple(messages)


class DriveUnavailable(XorrisoError):
    """No drive at that address, or it cannot be opened: waiting (or plugging it in) may help."""

    title = N_("DVD drive not available")


class NoMedium(DriveUnavailable):
    title = N_("No disc in the drive")


class DiscFull(Refused):
    """The session would not fit on the disc; nothing was written."""

    title = N_("Disc full")

    def __init__(self, volume_id: str | None, free_bytes: int, needed_bytes: int) -> None:
        if volume_id:
            said = msg(
                "The files do not fit on disc {volume_id}: they need {needed:,} bytes, "
                "{free:,} bytes are free. Nothing was written.",
                volume_id=volume_id,
                needed=needed_bytes,
                free=free_bytes,
            )
        else:
            said = msg(
                "The files do not fit on the disc: they need {needed:,} bytes, "
                "{free:,} bytes are free. Nothing was written.",
                needed=needed_bytes,
                free=free_bytes,
            )
        super().__init__(said, msg("Insert a blank DVD+RW, or write fewer files in this session."))
        self.volume_id = volume_id
        self.free_bytes = free_bytes
        self.needed_bytes = needed_bytes


@dataclass
class _Output:
    returncode: int
    results: list[str]
    infos: list[str]

    def severe(self) -> list[str]:
        return [line for line in self.infos if _SEVERE.search(line)]


# -- parsing ----------------------------------------------------------------------------------

_SIMPLE_ESCAPES = {
    "a": 7,
    "b": 8,
    "e": 27,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
}


def decode_backslashes(text: str) -> str:
    """Undo ``-backslash_codes encode_output``: ``\\ooo`` octal bytes, ``\\xhh``, ``\\\\``..."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            octal = text[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            hexa = text[i + 2 : i + 4]
            if nxt == "x" and len(hexa) == 2 and all(c in "0123456789abcdefABCDEF" for c in hexa):
                out.append(int(hexa, 16))
                i += 4
                continue
            if nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                i += 2
                continue
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def unquote(text: str) -> str:
    """A file name as xorriso prints it (shell quoting, e.g. ``'/a/it'"'"'s'``) made plain."""
    parts: list[str] = []
    i = 0
    text = text.strip()
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                end = len(text)
            parts.append(text[i + 1 : end])
            i = end + 1
        else:
            parts.append(ch)
            i += 1
    return decode_backslashes("".join(parts))


_PACKET = re.compile(r"^([RIM]):\d: ?(.*)$")
_SESSION = re.compile(r"^(?:ISO|Other) session\s*:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)s\s*,\s?(.*)$")
_BLOCKS = re.compile(r"(\d+)\s+readable\s*,\s*(\d+)\s+writable\s*,\s*(\d+)\s+overall")
_LBA = re.compile(r"^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(.*)$")
_MD5_LINE = re.compile(r"^([0-9a-f]{32})  (.*)$")


def parse_packets(stdout: str) -> tuple[list[str], list[str]]:
    """Result lines and message lines of a ``-pkt_output on`` run."""
    results: list[str] = []
    infos: list[str] = []
    for raw in stdout.splitlines():
        match = _PACKET.match(raw)
        if not match:
            continue
        (results if match.group(1) == "R" else infos).append(match.group(2))
    return results, infos


def _field(line: str, name: str) -> str | None:
    head, sep, value = line.partition(":")
    if sep and head.strip() == name:
        return value.strip()
    return None


def parse_media(drive: str, lines: Sequence[str], capacity: int | None = None) -> MediaInfo:
    """MediaInfo from the result lines of ``-toc -tell_media_space``."""
    media_type = ""
    status = ""
    readable = writable = 0
    nwa: int | None = None
    space: int | None = None
    sessions: list[Session] = []
    for line in lines:
        if (value := _field(line, "Media current")) is not None:
            media_type = value
        elif (value := _field(line, "Media status")) is not None:
            status = value
        elif (value := _field(line, "Media blocks")) is not None:
            if m := _BLOCKS.search(value):
                readable, writable = int(m.group(1)), int(m.group(2))
        elif (value := _field(line, "Media nwa")) is not None:
            nwa = int(value.rstrip("s") or 0)
        elif (value := _field(line, "Media space")) is not None:
            space = int(value.rstrip("s") or 0)
        elif m := _SESSION.match(line):
            sessions.append(
                Session(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4).strip())
            )
    overwriteable = "overwriteable" in media_type or "overwritable" in media_type
    kind = media_type.split(",")[0].strip()
    if "not present" in status:
        state = MediaState.ABSENT
    elif "blank" in status:
        state = MediaState.BLANK
    elif "appendable" in status:
        state = MediaState.APPENDABLE
    elif "closed" in status or "written" in status:
        state = MediaState.CLOSED
    else:
        state = MediaState.UNKNOWN
    if state is MediaState.ABSENT:
        return MediaInfo(drive, state, kind, overwriteable, (), 0, 0, capacity or 0)
    used = (nwa if nwa is not None and state is MediaState.APPENDABLE else readable) * BLOCK
    free = (space if space is not None else writable) * BLOCK
    if state is MediaState.CLOSED:
        free = 0
    if capacity is not None:
        free = max(0, min(free, capacity - used))
        total = capacity
    else:
        total = used + free
    return MediaInfo(drive, state, kind, overwriteable, tuple(sessions), used, max(free, 0), total)


def parse_lba(lines: Sequence[str]) -> list[DiscFile]:
    """DiscFiles from ``-find / -type f -exec report_lba``: one per file (extents summed)."""
    files: dict[str, DiscFile] = {}
    for line in lines:
        m = _LBA.match(line)
        if not m:
            continue
        path = unquote(m.group(5))
        start, blocks, size = int(m.group(2)), int(m.group(3)), int(m.group(4))
        known = files.get(path)
        if known is None:
            files[path] = DiscFile(path, size, start, blocks)
        else:  # a further extent of a large file
            files[path] = DiscFile(path, size, min(known.start_block, start), known.blocks + blocks)
    return sorted(files.values(), key=lambda f: f.path)


def parse_md5s(lines: Sequence[str]) -> dict[str, str]:
    """``{path: md5}`` from ``-exec get_md5`` lines (``<md5>  <encoded path>``)."""
    out: dict[str, str] = {}
    for line in lines:
        m = _MD5_LINE.match(line)
        if m:
            out[decode_backslashes(m.group(2))] = m.group(1)
    return out


def _disc_path(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


# -- the drive --------------------------------------------------------------------------------


class Xorriso:
    """One drive (or image file) driven through xorriso runs. Not thread-safe: one caller."""

    def __init__(
        self,
        drive: str,
        *,
        capacity: int | None = None,
        binary: str = "xorriso",
        timeout: float | None = None,
    ) -> None:
        if not drive:
            raise ValueError("a drive is needed, e.g. /dev/sr0 or stdio:/path/disc.iso")
        self.drive = drive
        self.capacity = capacity
        self.binary = binary
        self.timeout = timeout

    @property
    def is_image(self) -> bool:
        return self.drive.startswith("stdio:")

    def where(self) -> str:
        return self.drive[len("stdio:") :] if self.is_image else self.drive

    # running -------------------------------------------------------------------------------

    def _run(self, *args: str, ok: Sequence[int] = (0,)) -> _Output:
        cmd = [self.binary, *PREAMBLE, *args]
        try:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise XorrisoError(
                msg("The program {binary!r} was not found.", binary=self.binary),
                msg("Install the Debian package xorriso."),
            ) from None
        except subprocess.TimeoutExpired:
            raise XorrisoError(
                msg(
                    "The DVD drive {drive} did not answer within {timeout} seconds.",
                    drive=self.drive,
                    timeout=self.timeout,
                ),
                msg("Check the drive and the disc, then try again."),
            ) from None
        stdout = done.stdout.decode("utf-8", "surrogateescape")
        results, infos = parse_packets(stdout)
        infos += [
            line
            for line in done.stderr.decode("utf-8", "replace").splitlines()
            if _SEVERE.search(line)
        ]
        out = _Output(done.returncode, results, infos)
        if out.returncode not in ok:
            raise self._failure(out)
        return out

    def _failure(self, out: _Output) -> XorrisoError:
        said = out.severe() or out.infos[-3:] or [f"exit code {out.returncode}"]
        text = " ".join(said)
        if any(marker in text for marker in _NO_MEDIUM):
            return NoMedium(
                msg("There is no disc in the drive {drive}.", drive=self.drive),
                msg("Insert a DVD+RW."),
                said,
            )
        if any(marker in text for marker in _DRIVE_GONE):
            return DriveUnavailable(
                msg(
                    "The DVD drive {drive} cannot be opened: {said}",
                    drive=self.where(),
                    said=said[0],
                ),
                msg(
                    "Check that the drive is connected and the path is right; "
                    "`mm dvd status` lists the drives found."
                ),
                said,
            )
        return XorrisoError(
            msg("xorriso failed on {drive}: {said}", drive=self.drive, said="; ".join(said[:3])),
            msg("Check the disc (dirty, scratched or not a DVD+RW?) and try again."),
            said,
        )

    def _dev(self) -> tuple[str, str]:
        return ("-dev", self.drive)

    def _indev(self) -> tuple[str, str]:
        return ("-indev", self.drive)

    # reading the state --------------------------------------------------------------------

    def media_info(self) -> MediaInfo:
        """The medium in the drive: state, type, sessions, used and free bytes."""
        out = self._run(*self._dev(), "-toc", "-tell_media_space", "-rollback_end", ok=(0, 5, 32))
        info = parse_media(self.drive, out.results, self.capacity)
        if out.returncode != 0 and info.state is not MediaState.ABSENT:
            raise self._failure(out)  # an empty tray may complain; anything else is a failure
        return info

    def files(self) -> list[DiscFile]:
        """Every data file of the merged tree (the newest session's view), sorted by path."""
        out = self._run(*self._indev(), "-find", "/", "-type", "f", "-exec", "report_lba", "--")
        return parse_lba(out.results)

    def recorded_md5s(self) -> dict[str, str]:
        """``{path: md5}`` as recorded when the files were written (no data is read)."""
        out = self._run(*self._indev(), "-find", "/", "-type", "f", "-exec", "get_md5", "--")
        return parse_md5s(out.results)

    def extract(self, path: str, dest: Path, offset: int = 0, length: int | None = None) -> None:
        """Copy one file (or ``length`` bytes of it from ``offset``) off the disc to ``dest``.

        ``dest`` must not exist yet. FileNotFoundError when the disc has no such file.
        """
        iso = _disc_path(path)
        args = [*self._indev(), "-osirrox", "on"]
        if offset or length is not None:
            if length == 0:
                dest.write_bytes(b"")
                return
            size = length if length is not None else 1 << 62
            args += ["-extract_cut", iso, str(offset), str(size), str(dest)]
        else:
            args += ["-extract", iso, str(dest)]
        try:
            self._run(*args)
        except DriveUnavailable:
            raise
        except XorrisoError as exc:
            text = " ".join(exc.messages)
            if "Cannot find path" in text or "No such file" in text:
                raise FileNotFoundError(
                    msg("{path} is not on the disc in {drive}", path=iso, drive=self.drive)
                ) from None
            raise

    def read_bytes(self, path: str) -> bytes | None:
        """A small file's content (e.g. the disc marker), None when the disc has no such file."""
        with tempfile.TemporaryDirectory(prefix="mm-dvd-") as tmp:
            dest = Path(tmp) / "file"
            try:
                self.extract(path, dest)
            except FileNotFoundError:
                return None
            return dest.read_bytes() if dest.is_file() else None

    def check_md5(self, paths: Sequence[str] | None = None) -> Md5Check:
        """Read files back from the disc and compare them with the MD5 recorded at writing.

        With ``paths`` just those files (each must have a recorded MD5); without, every file on
        the disc. Only a mismatch is an outcome here; a drive failure raises.
        """
        recorded = self.recorded_md5s()
        if paths is None:
            args = ["-check_md5_r", "SORRY", "/", "--"]
            wanted = sorted(recorded)
        else:
            wanted = [_disc_path(p) for p in paths]
            if not wanted:
                return Md5Check(recorded=recorded)
            args = ["-check_md5", "SORRY", *wanted, "--"]
        out = self._run(*self._indev(), *args, ok=(0, 32))
        bad = [unquote(line.split(":", 1)[1]) for line in out.results if "MD5 MISMATCH" in line]
        if out.returncode == 32 and not bad and not any("MD5" in s for s in out.severe()):
            raise self._failure(out)
        unchecked = [p for p in wanted if p not in recorded]
        return Md5Check(tuple(bad), tuple(unchecked), recorded)

    def check_range(self, start_block: int, blocks: int) -> Md5Check:
        """Like :meth:`check_md5` for the files whose data lies in one block range (a session):
        only that session's data is read back."""
        out = self._run(
            *self._indev(),
            "-find",
            "/",
            "-type",
            "f",
            "-exec",
            "get_md5",
            "--",
            "-find",
            "/",
            "-type",
            "f",
            "-lba_range",
            str(start_block),
            str(blocks),
            "-exec",
            "check_md5",
            "SORRY",
            "--",
            ok=(0, 32),
        )
        recorded = parse_md5s(out.results)
        bad = [unquote(line.split(":", 1)[1]) for line in out.results if "MD5 MISMATCH" in line]
        if out.returncode == 32 and not bad and not any("MD5" in s for s in out.severe()):
            raise self._failure(out)
        return Md5Check(tuple(bad), (), recorded)

    # writing ------------------------------------------------------------------------------

    @staticmethod
    def _maps(files: Mapping[str, Path], trees: Sequence[Path]) -> list[str]:
        args: list[str] = []
        for tree in trees:
            args += ["-map", str(tree), "/"]
        for iso, source in files.items():
            args += ["-map", str(source), _disc_path(iso)]
        return args

    def space_check(
        self, files: Mapping[str, Path] | None = None, trees: Sequence[Path] = ()
    ) -> tuple[MediaInfo, SpaceCheck]:
        """What a session with these files would need, and what is free; nothing is written."""
        out = self._run(
            *self._dev(),
            "-toc",
            *self._maps(files or {}, trees),
            "-tell_media_space",
            "-rollback_end",
        )
        info = parse_media(self.drive, out.results, self.capacity)
        space = after = 0
        for line in out.results:
            if (value := _field(line, "Media space")) is not None:
                space = int(value.rstrip("s") or 0)
            elif (value := _field(line, "After commit")) is not None:
                after = int(value.rstrip("s") or 0)
        needed = max(0, space - after) * BLOCK
        return info, SpaceCheck(info.free_bytes, needed)

    def append(
        self,
        volume_id: str,
        files: Mapping[str, Path] | None = None,
        trees: Sequence[Path] = (),
        *,
        close: bool = False,
        expect_volume_id: str | None = None,
        expect_sessions: int | None = None,
    ) -> MediaInfo:
        """Write one session: ``files`` (disc path -> source file) and ``trees`` (folders merged
        onto the disc's root) under ``volume_id``; returns the medium as it is afterwards.

        A file already on the disc at the same path is replaced in the merged tree (its old
        bytes stay on the disc, hidden). ``expect_volume_id`` refuses to write unless the disc
        still carries that volume id (``-assert_volid``), so a disc swapped since it was looked
        at is not written to. ``expect_sessions`` also demands that many sessions on it (``-load
        session N``): -assert_volid passes a blank disc, which must not get a session meant for
        another (measured: a blank swapped in would become a second disc of that name). A
        session that does not fit raises DiscFull; nothing is written.
        """
        files = files or {}
        info, check = self.space_check(files, trees)
        if not check.fits:
            raise DiscFull(info.volume_id, check.free_bytes, check.needed_bytes)
        pre: list[str] = []
        if expect_sessions is not None:
            pre = ["-load", "session", str(expect_sessions)]
        if expect_volume_id is not None:
            pre += ["-assert_volid", expect_volume_id, "FATAL"]
        try:
            out = self._run(
                *pre,
                *self._dev(),
                "-volid",
                volume_id,
                *self._maps(files, trees),
                "-close",
                "on" if close else "off",
                "-commit",
                "-toc",
                "-tell_media_space",
                "-rollback_end",
            )
        except XorrisoError as exc:
            text = " ".join(exc.messages)
            if m := _TOO_BIG.search(text):
                raise DiscFull(
                    info.volume_id, max(0, int(m.group(2))) * BLOCK, int(m.group(1)) * BLOCK
                ) from exc
            swapped = "assert_volid" in text.replace("-", "_") or "Failed to find session" in text
            if expect_volume_id is not None and swapped:
                raise Refused(
                    msg(
                        "The disc in {drive} is no longer {volume_id}; nothing was written.",
                        drive=self.drive,
                        volume_id=expect_volume_id,
                    ),
                    msg("Insert the disc again, or a blank DVD+RW."),
                ) from exc
            raise
        return parse_media(self.drive, out.results, self.capacity)

    # destructive and mechanical -----------------------------------------------------------

    @staticmethod
    def blank_token(info: MediaInfo) -> str:
        """The confirmation :meth:`blank` demands for the disc now in the drive."""
        return f"BLANK {info.volume_id or 'UNLABELLED'}"

    def blank(self, confirm: str) -> MediaInfo:
        """Make the disc blank (``-blank as_needed``: on a DVD+RW the ISO image is invalidated,
        and a medium that needs formatting is formatted). Everything on it is lost, so
        ``confirm`` must equal :meth:`blank_token` of the disc in the drive; a blank disc is
        left alone."""
        info = self.media_info()
        if not info.present:
            raise NoMedium(
                msg("There is no disc in the drive {drive}.", drive=self.drive),
                msg("Insert a DVD+RW."),
            )
        if info.state is MediaState.BLANK:
            return info
        token = self.blank_token(info)
        if confirm != token:
            if info.volume_id:
                said = msg(
                    "Blanking erases everything on disc {volume_id}.", volume_id=info.volume_id
                )
            else:
                said = msg("Blanking erases everything on disc (no volume id).")
            raise Refused(said, msg("To go ahead, confirm with exactly: {token}", token=token))
        self._run("-outdev", self.drive, "-blank", "as_needed")
        return self.media_info()

    def eject(self) -> None:
        """Open the tray (``-eject all``). An image file cannot be ejected: nothing happens."""
        self._run(*self._dev(), "-eject", "all")


def which() -> str | None:
    """The xorriso program found on PATH, if any."""
    return shutil.which("xorriso")


def drive_exists(drive: str) -> bool:
    """Whether the drive's device node (or an image file's folder) is there at all."""
    if drive.startswith("stdio:"):
        return Path(drive[len("stdio:") :]).parent.is_dir()
    with contextlib.suppress(OSError):
        return os.path.exists(drive)
    return False
