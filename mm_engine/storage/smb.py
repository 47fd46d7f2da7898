"""The ``smb`` storage type: a folder on a NAS or Windows share, over SMB 2 or 3 (seed F17).

The share is written ``host/Share/optional/folder`` (``\\\\host\\Share\\folder`` works too),
e.g. ``148.147.54.1/Remote archive``. With ``encrypt`` set to yes the connection must use SMB 3
encryption, and a NAS that cannot do it is reported as misconfigured rather than used in clear.

smbprotocol is imported only when a store first talks to its NAS. Each store keeps its own
connection pool (smbclient's pool is keyed on server and port and would otherwise hand one
store's logged-in session to another store with different credentials); ``close()`` ends it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from mm_engine.errors import InvalidSetting
from mm_engine.storage.base import Accessibility, ObjectInfo, bounded
from mm_engine.storage.fields import Field
from mm_engine.text import N_, Msg, msg

_T = TypeVar("_T")

KIND = "smb"
TITLE = N_("Network share (SMB/NAS)")

DEFAULT_PORT = 445
CONNECT_TIMEOUT = 5.0  # seconds: an unreachable NAS fails fast
TEMP_PREFIX = ".mm-tmp-"  # hidden name a file is written under before it is renamed into place
READ_BUFFER = 1 << 16
SMALL_READ = 1 << 20  # a ranged open() at most this long is read in one compound request
EXAMPLE = "148.147.54.1/Remote archive"

# characters SMB cannot carry in a file or folder name (':' would name an alternate data stream)
_BAD_NAME_CHARS = re.compile(r'[\\:*?"<>|\x00-\x1f]')
_BAD_SHARE_CHARS = re.compile(r'[\\/:*?"<>|\[\]=;,+\x00-\x1f]')
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$")

# NTSTATUS codes, as the NAS sends them
_LOGON_STATUSES = {
    0xC000006A,  # wrong password
    0xC000006D,  # logon failure
    0xC000006E,  # account restriction
    0xC000006F,  # invalid logon hours
    0xC0000070,  # invalid workstation
    0xC0000071,  # password expired
    0xC0000072,  # account disabled
    0xC0000193,  # account expired
    0xC0000224,  # password must change
    0xC0000234,  # account locked out
}
_ACCESS_STATUSES = {0xC0000022, 0xC0000061}  # access denied, privilege not held
_SHARE_STATUSES = {0xC00000CC, 0xC0000225}  # bad network name; 'not found' from the DFS lookup
_MISSING_STATUSES = {0xC0000034, 0xC000003A}  # object name / object path not found
_FULL_STATUSES = {0xC000007F}  # disk full
_GONE_STATUSES = {0xC00000C9, 0xC0000203, 0xC000035C}  # share/session deleted, session expired

_CANNOT_ENCRYPT = "encryption is required but the connection does not support it"

_DIALECTS = {
    0x0202: "SMB 2.0.2",
    0x0210: "SMB 2.1",
    0x0300: "SMB 3.0",
    0x0302: "SMB 3.0.2",
    0x0311: "SMB 3.1.1",
}


# -- errors -----------------------------------------------------------------------------------


class ShareUnreachable(ConnectionError):
    """The NAS could not be reached or the connection broke: worth trying again later."""


class ShareDenied(PermissionError):
    """The NAS refused the credentials or the access: trying again will not help."""


class ShareMisconfigured(OSError):
    """The settings cannot work (no such share, encryption the NAS cannot do)."""


# -- the share path setting -------------------------------------------------------------------


@dataclass(frozen=True)
class ShareAddress:
    host: str  # a name, IPv4 or IPv6 address (without brackets)
    share: str
    folder: tuple[str, ...] = ()  # sub-folders inside the share
    port: int | None = None  # when the path names one (host:port)


def _check_folder_name(part: str) -> None:
    if part in (".", ".."):
        raise ValueError(
            msg(
                "must not contain '{part}' as a folder name (e.g. {example}/recordings)",
                part=part,
                example=EXAMPLE,
            )
        )
    bad = _BAD_NAME_CHARS.search(part)
    if bad:
        raise ValueError(
            msg(
                "has a folder name with {char!r}, which SMB cannot store: {part!r}",
                char=bad.group(),
                part=part,
            )
        )


def _parse_host(text: str) -> tuple[str, int | None]:
    port_text = ""
    if text.startswith("["):  # [IPv6] or [IPv6]:port
        end = text.find("]")
        if end < 0:
            raise ValueError(
                msg("has an IPv6 address without its closing ']': {text!r}", text=text)
            )
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(msg("has something after the IPv6 address: {text!r}", text=text))
            port_text = rest[1:]
        if not _IPV6.match(host):
            raise ValueError(msg("has an IPv6 address that is not valid: {text!r}", text=text))
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:  # a bare IPv6 address
        host = text
        if not _IPV6.match(host):
            raise ValueError(msg("has an address that is not valid: {text!r}", text=text))
    else:
        host = text
    if not text.startswith("[") and ":" not in host and not _HOST_NAME.match(host):
        raise ValueError(
            msg(
                "must start with the NAS's address or name, not {host!r} (e.g. {example})",
                host=host,
                example=EXAMPLE,
            )
        )
    port: int | None = None
    if port_text or text.endswith(":"):
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(
                msg(
                    "has a port that is not a number from 1 to 65535: {port!r} "
                    "(e.g. 148.147.54.1:445/Remote archive)",
                    port=port_text,
                )
            )
        port = int(port_text)
    return host, port


def parse_share_path(value: str) -> ShareAddress:
    """``host/Share/sub/folder`` (or ``\\\\host\\Share\\sub``, ``//host/Share``, ``smb://…``).

    ValueError says what is wrong, in words that follow the field's label.
    """
    text = value.strip()
    if text.lower().startswith("smb:"):
        text = text[4:]
    text = text.replace("\\", "/").lstrip("/")
    parts = [p for p in text.split("/") if p.strip()]
    if len(parts) < 2:
        raise ValueError(
            msg(
                "must name the NAS and the share, written host/Share, "
                "e.g. {example} (or \\\\148.147.54.1\\Remote archive)",
                example=EXAMPLE,
            )
        )
    host, port = _parse_host(parts[0].strip())
    share = parts[1].strip()
    bad = _BAD_SHARE_CHARS.search(share)
    if bad or len(share) > 80 or share in (".", ".."):
        raise ValueError(
            msg(
                "has a share name SMB cannot use: {share!r} (a share name has at most 80 "
                'characters and none of \\ / : * ? " < > | [ ] = ; , +)',
                share=share,
            )
        )
    folder = tuple(parts[2:])
    for part in folder:
        _check_folder_name(part)
    return ShareAddress(host, share, folder, port)


def _check_share_path(value: str) -> str | None:
    try:
        parse_share_path(value)
    except ValueError as exc:
        return _said(exc)
    return None


def _said(exc: BaseException) -> str:
    """What ``exc`` says: its msg() when it was built from one (so it can be translated)."""
    if len(exc.args) == 1 and isinstance(exc.args[0], Msg):
        return exc.args[0]
    return str(exc)


def _check_port(value: str) -> str | None:
    if value.isdigit() and 0 < int(value) < 65536:
        return None
    return msg("must be a number from 1 to 65535 (SMB uses 445)")


FIELDS = (
    Field(
        "path",
        N_("Share path"),
        N_(
            "The NAS's address, the share and an optional folder in it, "
            "e.g. 148.147.54.1/Remote archive"
        ),
        check=_check_share_path,
    ),
    Field("username", N_("User name"), N_("An account on the NAS that may write to the share")),
    Field("password", N_("Password"), secret=True),
    Field(
        "domain",
        N_("Domain"),
        N_("Windows domain of the account; leave empty for an account on the NAS itself"),
        required=False,
    ),
    Field(
        "encrypt",
        N_("Require encryption"),
        N_("yes: use SMB 3 encryption and refuse a NAS that cannot do it"),
        default="no",
        choices=("yes", "no"),
    ),
    Field(
        "port",
        N_("Port"),
        N_("TCP port of the NAS (445 unless changed there)"),
        default="445",
        check=_check_port,
    ),
)


# -- the store --------------------------------------------------------------------------------


def _status(exc: BaseException) -> int | None:
    from smbprotocol.exceptions import SMBOSError, SMBResponseException

    if isinstance(exc, SMBOSError):
        return int(exc.ntstatus)
    if isinstance(exc, SMBResponseException):
        return int(exc.status)
    return None


class _Translating(io.RawIOBase):
    """A raw SMB file whose errors come out as the store's errors."""

    def __init__(self, store: SMBStore, raw: Any, path: str) -> None:
        self.store = store
        self.raw = raw
        self.path = path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self.raw.readinto(buffer))
        except Exception as exc:
            raise self.store.translate(exc, self.path) from exc

    def readall(self) -> bytes:
        try:
            return bytes(self.raw.readall())
        except Exception as exc:
            raise self.store.translate(exc, self.path) from exc

    def close(self) -> None:
        if not self.closed:
            try:
                self.raw.close()
            except Exception as exc:
                raise self.store.translate(exc, self.path) from exc
            finally:
                super().close()


class SMBStore:
    def __init__(
        self,
        address: ShareAddress,
        username: str,
        password: str,
        *,
        domain: str = "",
        encrypt: bool = False,
        port: int = DEFAULT_PORT,
        name: str = "smb",
        timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.address = address
        self.name = name
        self.username = username
        self.password = password
        self.domain = domain
        self.encrypt = encrypt
        self.port = address.port or port
        self.timeout = timeout
        self.share_unc = rf"\\{address.host}\{address.share}"
        self.root_unc = "\\".join((self.share_unc, *address.folder))
        self._connections: dict[str, Any] = {}  # this store's own smbclient connection pool
        self._folders: set[str] = set()  # folders made or found by put(); remove() forgets them
        self._lock = threading.Lock()
        self._buffers = threading.local()  # put()'s write buffer, one per thread, kept

    def __repr__(self) -> str:
        return f"SMBStore({self.where()!r}, user={self.username!r})"

    def where(self) -> str:
        """The share as a person would write it, for messages."""
        host = f"[{self.address.host}]" if ":" in self.address.host else self.address.host
        return "/".join((f"{host}:{self.port}", self.address.share, *self.address.folder))

    # -- connection ---------------------------------------------------------------------------

    def _kwargs(self) -> dict[str, Any]:
        """What every smbclient call gets: credentials, port and this store's own pool."""
        user = f"{self.domain}\\{self.username}" if self.domain else self.username
        return {
            "username": user,
            "password": self.password,
            "port": self.port,
            # None (not False) when not required: a NAS that insists on encryption still works
            "encrypt": True if self.encrypt else None,
            "connection_timeout": self.timeout,
            "connection_cache": self._connections,
        }

    def _connect(self) -> Any:
        """The logged-in session with the share connected; registered again on every call."""
        import smbclient
        from smbclient import ClientConfig
        from smbprotocol.exceptions import BadNetworkName, SMBConnectionClosed
        from smbprotocol.tree import TreeConnect

        kwargs = self._kwargs()
        kwargs.pop("connection_cache")
        with self._lock:
            try:
                self._own_connection()
                session = smbclient.register_session(
                    self.address.host, connection_cache=self._connections, **kwargs
                )
            except (SMBConnectionClosed, TimeoutError, ConnectionError) as exc:
                raise ShareUnreachable(
                    msg(
                        "Cannot set up SMB with {host}:{port}: the connection ended before the "
                        "NAS answered ({error}). Check the address and port, and that the NAS "
                        "is switched on and offers SMB 2 or 3",
                        host=self.address.host,
                        port=self.port,
                        error=exc,
                    )
                ) from exc
            except Exception as exc:
                if _CANNOT_ENCRYPT not in str(exc):
                    raise
                error = self._cannot_encrypt()
                self._drop()  # smbprotocol keeps the half-made session and would reuse it in clear
                raise error from exc
            if self.encrypt and not session.encrypt_data:
                error = self._cannot_encrypt()
                self._drop()
                raise error
            if not any(t.share_name == self.share_unc for t in session.tree_connect_table.values()):
                tree = TreeConnect(session, self.share_unc)
                try:
                    tree.connect(require_secure_negotiate=ClientConfig().require_secure_negotiate)
                except BadNetworkName:
                    raise self._no_such_share() from None
        return session

    def _own_connection(self) -> None:
        """Open this store's connection under a client GUID of its own (smbclient would use
        one GUID for the whole process). Samba hands every connection of one client GUID to
        the same smbd process (SMB 3 multichannel), so the archive job's parallel copies
        would share one server process, and a connection opened while that process was busy
        could wait for its session forever (seen in the bench)."""
        from smbprotocol.connection import Connection

        key = f"{self.address.host.lower()}:{self.port}"
        existing = self._connections.get(key)
        if existing is not None and existing.transport.connected:
            return
        connection = Connection(uuid.uuid4(), self.address.host, self.port, require_signing=True)
        connection.connect(timeout=self.timeout)
        self._connections[key] = connection

    def _cannot_encrypt(self) -> ShareMisconfigured:
        dialect = self._dialect()
        if dialect:
            return ShareMisconfigured(
                msg(
                    "Encryption was requested, but the NAS at {host}:{port} cannot encrypt: it "
                    "does not offer SMB 3 (it speaks {dialect}). Turn on SMB 3 on the NAS, or "
                    "set 'Require encryption' to no",
                    host=self.address.host,
                    port=self.port,
                    dialect=dialect,
                )
            )
        return ShareMisconfigured(
            msg(
                "Encryption was requested, but the NAS at {host}:{port} cannot encrypt: it "
                "does not offer SMB 3. Turn on SMB 3 on the NAS, or set 'Require encryption' "
                "to no",
                host=self.address.host,
                port=self.port,
            )
        )

    def _no_such_share(self) -> ShareMisconfigured:
        return ShareMisconfigured(
            msg(
                "The NAS at {host} has no share named {share!r}. Check the share name (the "
                "part after the address in the share path) and that this user may see it",
                host=self.address.host,
                share=self.address.share,
            )
        )

    def close(self) -> None:
        """Log off and close this store's connections (a later call connects again)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        import smbclient

        smbclient.reset_connection_cache(fail_on_error=False, connection_cache=self._connections)

    def __enter__(self) -> SMBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors -------------------------------------------------------------------------------

    def translate(self, exc: BaseException, path: str = "") -> BaseException:
        """``exc`` from smbprotocol as one of this module's errors (or FileNotFoundError)."""
        from smbprotocol.exceptions import SMBAuthenticationError, SMBConnectionClosed, SMBException

        if isinstance(exc, (ShareUnreachable, ShareDenied, ShareMisconfigured)):
            return exc
        where = f"{self.address.host}:{self.port}"
        status = _status(exc)
        text = str(exc)
        if status in _LOGON_STATUSES or isinstance(exc, SMBAuthenticationError):
            return ShareDenied(
                msg(
                    "The NAS at {where} refused to log in user {user!r}. Check the user name, "
                    "password and domain",
                    where=where,
                    user=self.username,
                )
            )
        if status in _ACCESS_STATUSES:
            return ShareDenied(
                msg(
                    "The NAS at {where} denied user {user!r} access to {path}. Give this user "
                    "write access to the share",
                    where=where,
                    user=self.username,
                    path=self._shown(path),
                )
            )
        if status in _SHARE_STATUSES:
            return self._no_such_share()
        if _CANNOT_ENCRYPT in text:
            return self._cannot_encrypt()
        if status in _FULL_STATUSES:
            return OSError(
                errno.ENOSPC,
                msg("The share {where} is full", where=self.where()),
                self._shown(path),
            )
        if status in _GONE_STATUSES:
            return ShareUnreachable(
                msg("The NAS at {where} ended the session; it will be opened again", where=where)
            )
        if status in _MISSING_STATUSES or (
            isinstance(exc, OSError) and exc.errno == errno.ENOENT and status is not None
        ):
            return FileNotFoundError(
                errno.ENOENT, msg("No such file on the share"), self._shown(path)
            )
        if isinstance(exc, ValueError) and text.startswith("Failed to connect"):
            cause = exc.__cause__ or exc
            return ShareUnreachable(
                msg(
                    "Cannot reach the NAS at {where} ({error}). Check the address and port, and "
                    "that the NAS is switched on and reachable from this server",
                    where=where,
                    error=cause,
                )
            )
        if isinstance(exc, (SMBConnectionClosed, TimeoutError, ConnectionError, EOFError)) or (
            isinstance(exc, SMBException) and "timeout" in text.lower()
        ):
            return ShareUnreachable(
                msg("The connection to the NAS at {where} broke: {error}", where=where, error=exc)
            )
        return exc

    def _shown(self, path: str) -> str:
        return f"{self.where()}/{path}" if path else self.where()

    def _dialect(self) -> str:
        connection = next(iter(self._connections.values()), None)
        value = getattr(connection, "dialect", None)
        return _DIALECTS.get(value, "") if isinstance(value, int) else ""

    def is_permanent_error(self, exc: BaseException) -> bool:
        exc = self.translate(exc)
        if isinstance(exc, ShareUnreachable):
            return False
        return isinstance(exc, (ShareDenied, ShareMisconfigured, FileNotFoundError, ValueError))

    def _call(self, path: str, fn: Any, *args: Any, **extra: Any) -> Any:
        """``fn(*args)`` from smbclient with this store's session, errors translated."""
        try:
            self._connect()
            return fn(*args, **self._kwargs(), **extra)
        except Exception as exc:
            raise self.translate(exc, path) from exc

    def _run(self, path: str, fn: Callable[[], _T]) -> _T:
        """``fn()`` (this store's own requests, :mod:`smb_transfer`), errors translated."""
        try:
            return fn()
        except Exception as exc:
            raise self.translate(exc, path) from exc

    # -- paths --------------------------------------------------------------------------------

    def _parts(self, path: str) -> list[str]:
        if path.startswith(("/", "\\")):
            raise ValueError(f"storage path must be relative and inside the store: {path!r}")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        for part in parts:
            if part == "..":
                raise ValueError(f"storage path must be relative and inside the store: {path!r}")
            bad = _BAD_NAME_CHARS.search(part)
            if bad:
                raise ValueError(
                    f"storage path has {bad.group()!r}, which SMB cannot store: {path!r}"
                )
        return parts

    def _unc(self, path: str) -> str:
        parts = self._parts(path)
        if not parts:
            raise ValueError("storage path is empty")
        return "\\".join((self.root_unc, *parts))

    # -- the Store interface ------------------------------------------------------------------

    def _tree(self) -> Any:
        session = self._connect()
        for tree in session.tree_connect_table.values():
            if tree.share_name == self.share_unc:
                return tree
        raise ShareUnreachable(
            msg("The NAS at {where} dropped the share; it will be opened again", where=self.where())
        )

    def _name(self, parts: list[str]) -> str:
        """A path as the share knows it: relative to the share, ``\\``-separated."""
        return "\\".join((*self.address.folder, *parts))

    def _make_folder(self, path: str, parts: list[str]) -> None:
        """Make the folder of ``parts`` unless this store made or found it already."""
        import smbclient

        folder = self._name(parts)
        if folder in self._folders:
            return
        unc = "\\".join((self.share_unc, folder)) if folder else self.share_unc
        self._call(path, smbclient.makedirs, unc, exist_ok=True)
        self._folders.add(folder)

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        import smbclient

        from mm_engine.storage.smb_transfer import create_for_write, write_and_rename

        parts = self._parts(path)
        if not parts:
            raise ValueError("storage path is empty")
        folder = parts[:-1]
        temp = self._name([*folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}"])
        self._make_folder(path, folder)
        try:
            try:
                handle = self._run(path, lambda: create_for_write(self._tree(), temp))
            except FileNotFoundError:  # a remove() tidied the folder away meanwhile
                self._folders.clear()
                self._make_folder(path, folder)
                handle = self._run(path, lambda: create_for_write(self._tree(), temp))
            buffer = self._buffer(handle)
            written, mtime, tail = self._run(
                path, lambda: write_and_rename(handle, self._name(parts), stream, buffer)
            )
        except BaseException:
            self._folders.clear()
            # gone already, or the NAS is gone: nothing more to tidy
            with contextlib.suppress(Exception):
                self._call(path, smbclient.remove, "\\".join((self.share_unc, temp)))
            raise
        return ObjectInfo(path, written, _timestamp(mtime), tail)

    def _buffer(self, handle: Any) -> bytearray:
        """This thread's buffer for :func:`write_and_rename` on ``handle``, made once: filling
        a new 8 MiB buffer for every recording would cost more than writing it."""
        from mm_engine.storage.smb_transfer import write_size

        size = write_size(handle.tree_connect.session.connection)
        buffer: bytearray | None = getattr(self._buffers, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self._buffers.buffer = bytearray(size)
        return buffer

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        import smbclient

        from mm_engine.storage.smb_transfer import read_range

        target = self._unc(path)
        if length is not None and 0 < length <= SMALL_READ:
            # one round trip (open, read, close): how the archive job checks each copy's tail
            name = self._name(self._parts(path))
            data = self._run(path, lambda: read_range(self._tree(), name, offset, length))
            return io.BytesIO(data)
        raw = self._call(path, smbclient.open_file, target, "rb", buffering=0, share_access="rd")
        if offset:
            raw.seek(offset)  # only moves the file position: no request
        return bounded(io.BufferedReader(_Translating(self, raw, path), READ_BUFFER), length)

    def stat(self, path: str) -> ObjectInfo | None:
        import smbclient

        try:
            st = self._call(path, smbclient.stat, self._unc(path))
        except FileNotFoundError:
            return None
        if st.st_file_attributes & 0x10:  # a folder, not a file
            return None
        return ObjectInfo(path, int(st.st_size), float(st.st_mtime))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        parts = self._parts(prefix)
        start = "\\".join((self.root_unc, *parts))
        yield from self._walk(start, "/".join(parts))

    def _walk(self, folder: str, rel: str) -> Iterator[ObjectInfo]:
        import smbclient

        try:
            with self._call(rel, smbclient.scandir, folder) as entries:
                found = [(e.name, e.smb_info) for e in self._translated(entries, rel)]
        except FileNotFoundError:
            return
        folders = []
        for name, info in sorted(found, key=lambda item: item[0]):
            child = f"{rel}/{name}" if rel else name
            if info.file_attributes & 0x10:
                folders.append((f"{folder}\\{name}", child))
            elif not name.startswith(TEMP_PREFIX):
                yield ObjectInfo(child, int(info.end_of_file), _timestamp(info.last_write_time))
        for path, child in folders:
            yield from self._walk(path, child)

    def _translated(self, entries: Iterator[Any], rel: str) -> Iterator[Any]:
        while True:
            try:
                entry = next(entries)
            except StopIteration:
                return
            except Exception as exc:
                raise self.translate(exc, rel) from exc
            yield entry

    def remove(self, path: str) -> None:
        import smbclient

        target = self._unc(path)
        self._folders.clear()
        with contextlib.suppress(FileNotFoundError):
            self._call(path, smbclient.remove, target)
        # tidy folders left empty, never the store's own folder
        parts = self._parts(path)[:-1]
        while parts:
            try:
                self._call(path, smbclient.rmdir, "\\".join((self.root_unc, *parts)))
            except OSError:
                break
            parts.pop()

    def diagnose(self) -> tuple[Accessibility, str]:
        """Whether the share can be written to, and in words what was found."""
        import smbclient

        probe = f"{self.root_unc}\\{TEMP_PREFIX}probe-{uuid.uuid4().hex}"
        try:
            session = self._connect()
            self._call("", smbclient.makedirs, self.root_unc, exist_ok=True)
            raw = self._call("", smbclient.open_file, probe, "wb", buffering=0)
            raw.close()
            self._call("", smbclient.remove, probe)
        except Exception as exc:
            translated = self.translate(exc)
            if isinstance(translated, ShareDenied):
                return Accessibility.DENIED, _said(translated)
            if isinstance(translated, ShareMisconfigured):
                return Accessibility.MISCONFIGURED, _said(translated)
            if isinstance(translated, ShareUnreachable):
                return Accessibility.UNREACHABLE, _said(translated)
            return (
                Accessibility.UNREACHABLE,
                msg("The NAS at {where} failed: {error}", where=self.where(), error=translated),
            )
        if session.encrypt_data:
            return (
                Accessibility.OK,
                msg(
                    "Connected to {where} over {dialect} with encryption",
                    where=self.where(),
                    dialect=self._dialect(),
                ),
            )
        return (
            Accessibility.OK,
            msg("Connected to {where} over {dialect}", where=self.where(), dialect=self._dialect()),
        )

    def test(self) -> Accessibility:
        return self.diagnose()[0]

    def free_space(self) -> int | None:
        import smbclient
        from smbprotocol.exceptions import SMBOSError

        try:
            result = self._call("", smbclient.stat_volume, self.share_unc)
        except SMBOSError:  # the NAS does not answer volume queries
            return None
        return int(result.caller_available_size)


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def from_settings(settings: Mapping[str, str], name: str) -> SMBStore:
    address = parse_share_path(settings["path"])
    port = int(settings.get("port") or DEFAULT_PORT)
    if address.port is not None and port not in (DEFAULT_PORT, address.port):
        raise InvalidSetting(
            "port",
            msg(
                "the share path names port {path_port} but Port is {port}",
                path_port=address.port,
                port=port,
            ),
            msg("Give the port in one place only"),
        )
    return SMBStore(
        address,
        settings["username"],
        settings["password"],
        domain=settings.get("domain", ""),
        encrypt=settings.get("encrypt", "no") == "yes",
        port=port,
        name=name,
    )
