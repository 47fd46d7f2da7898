"""The ``gdrive`` storage type: a folder in My Drive, through the Drive v3 REST API (seed F18).

Authorization is OAuth 2.0: the connector keeps a refresh token obtained once with the device
flow (gdrive_auth.py) and trades it for short-lived access tokens, cached until shortly before
they expire and refreshed once when Drive answers 401.

Drive has folders, not keys: a store path such as ``2026/11/25/call.opus`` is kept as nested
folders under the connector's parent folder (``folder``, e.g. ``mm/archive``, created when
missing), and folder ids are cached per store. Drive allows several items with one name in a
folder, so folders are looked up before they are created (under a lock, once per store) and a
file that is written again is overwritten in place rather than added a second time.

Uploads are resumable sessions sent in 8 MiB chunks, so memory stays flat whatever the size, and
Drive only commits the content when the last chunk arrives: an interrupted upload leaves no new
file and an overwritten file keeps its old content. Ranged reads use HTTP ``Range``.

With the ``drive.file`` scope mm sees only what it created itself: a folder made by hand in the
Drive web page is invisible to it, and mm makes its own folder of that name beside it.

Only the standard library talks HTTP (http.client); nothing beyond it is imported.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import io
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from mm_engine.storage.base import Accessibility, ObjectInfo, bounded, fill
from mm_engine.storage.fields import Field
from mm_engine.storage.gdrive_auth import (
    REAUTHORIZE_HINT,
    TOKEN_URL,
    OAuthError,
    connect,
    refresh_access_token,
)
from mm_engine.text import N_, msg

KIND = "gdrive"
TITLE = N_("Google Drive")

API_BASE = "https://www.googleapis.com"
FOLDER_MIME = "application/vnd.google-apps.folder"
CHUNK_SIZE = 8 * 1024 * 1024  # a multiple of 256 KiB, as Drive requires for all but the last
TIMEOUT = 20.0  # seconds a single socket operation may take
TOKEN_MARGIN = 60.0  # refresh an access token this many seconds before Google says it expires
PAGE_SIZE = 1000
FILE_FIELDS = "id,name,mimeType,size,modifiedTime"
RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded")
# reasons mm gives to its own DriveErrors (Drive's come from its answer)
NO_SESSION = "noSession"
UPLOAD_STALLED = "uploadStalled"


def _check_folder(value: str) -> str | None:
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return msg("must be a folder path in My Drive, such as mm/archive")
    return None


def _check_url(value: str) -> str | None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return msg("must be an http(s) address")
    return None


FIELDS = (
    Field(
        "client_id",
        N_("OAuth client ID"),
        N_('From a Google Cloud OAuth client of type "TVs and Limited Input devices"'),
    ),
    Field(
        "client_secret",
        N_("OAuth client secret"),
        N_("The same OAuth client's secret"),
        secret=True,
    ),
    Field(
        "refresh_token",
        N_("Authorization"),
        N_("Obtained by authorizing the connector with a Google account (device sign-in)"),
        secret=True,
    ),
    Field(
        "folder",
        N_("Parent folder"),
        N_("Folder path in My Drive, such as mm/archive; created when missing"),
        check=_check_folder,
    ),
    Field(
        "api_base",
        N_("Drive API address"),
        N_("Leave empty for Google's"),
        required=False,
        default=API_BASE,
        check=_check_url,
    ),
    Field(
        "token_url",
        N_("Token address"),
        N_("Leave empty for Google's"),
        required=False,
        default=TOKEN_URL,
        check=_check_url,
    ),
)


class DriveError(OSError):
    """Drive answered with an HTTP error; ``status`` and ``reason`` say which."""

    def __init__(
        self, status: int, reason: str, message: str, hint: str = "", transient: bool = False
    ) -> None:
        super().__init__(msg("{message} {hint}", message=message, hint=hint) if hint else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.hint = hint
        self.transient = transient

    @property
    def permanent(self) -> bool:
        """Retrying cannot help (refused, malformed, gone)."""
        if self.transient or self.status in (308, 408, 429) or self.status >= 500:
            return False
        return not (self.status == 403 and self.reason in RATE_LIMIT_REASONS)

    @property
    def denied(self) -> bool:
        return self.status == 401 or (self.status == 403 and self.reason not in RATE_LIMIT_REASONS)


@dataclass
class _Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


def _drive_error(reply: _Reply, what: str) -> DriveError:
    error = reply.json().get("error")
    reason, message = "", ""
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        errors = error.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            reason = str(errors[0].get("reason") or "")
        reason = reason or str(error.get("status") or "")
    said = f"{reply.status} {reason}".strip() + (f": {message}" if message else "")
    hint: str = ""
    if reply.status == 401:
        hint = REAUTHORIZE_HINT
    elif (reply.status == 403 and reason in RATE_LIMIT_REASONS) or reply.status == 429:
        hint = msg("Drive is limiting requests; mm tries again later.")
    elif reply.status == 403:
        hint = msg(
            "The Google account does not allow this: check its Drive storage and that the "
            "authorization includes Google Drive access, then authorize again."
        )
    elif reply.status >= 500:
        hint = msg("Google Drive is having trouble; mm tries again later.")
    return DriveError(
        reply.status,
        reason,
        msg("Google Drive refused {what} ({said}).", what=what, said=said),
        hint,
    )


def _split(path: str) -> list[str]:
    """The parts of a store path; ValueError for absolute paths or '..'."""
    if PurePosixPath(path).is_absolute() or ".." in path.split("/"):
        raise ValueError(f"storage path must be relative and inside the store: {path!r}")
    return [p for p in path.split("/") if p not in ("", ".")]


def _quote(value: str) -> str:
    """A string literal for a Drive search query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _mtime(meta: Mapping[str, Any]) -> float:
    stamp = str(meta.get("modifiedTime") or "")
    if not stamp:
        return 0.0
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _newest(files: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Of several files with one name (Drive allows that), the one written last."""
    if not files:
        return None
    return max(files, key=lambda f: (str(f.get("modifiedTime") or ""), str(f.get("id"))))


def _committed(range_header: str | None) -> int:
    """How many bytes a 308 answer says Drive holds (``Range: bytes=0-N`` means N + 1)."""
    if not range_header or "-" not in range_header:
        return 0
    return int(range_header.rsplit("-", 1)[1]) + 1


class _Body(io.RawIOBase):
    """A streamed HTTP response body; closing it closes the connection."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self.conn = conn
        self.response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.response.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self.response.close()
            self.conn.close()
        super().close()


class DriveStore:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        folder: str,
        api_base: str = API_BASE,
        token_url: str = TOKEN_URL,
        name: str = "gdrive",
        chunk_size: int = CHUNK_SIZE,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if chunk_size <= 0 or chunk_size % (256 * 1024):
            raise ValueError("chunk_size must be a positive multiple of 256 KiB")
        self.name = name
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.base = tuple(p for p in folder.split("/") if p not in ("", "."))
        self.api_base = api_base.rstrip("/")
        self.token_url = token_url
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.clock = clock
        self._token_lock = threading.Lock()
        self._access: str | None = None
        self._expires_at = 0.0
        self._folder_lock = threading.Lock()
        self._folders: dict[tuple[str, ...], str] = {(): "root"}

    # -- HTTP ----------------------------------------------------------------------------------

    def _token(self, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one Drive just refused, so it is replaced."""
        with self._token_lock:
            if self._access is None or self._access == stale or self.clock() >= self._expires_at:
                token = refresh_access_token(
                    self.client_id,
                    self.client_secret,
                    self.refresh_token,
                    self.token_url,
                    self.timeout,
                )
                self._access = token.token
                self._expires_at = self.clock() + token.expires_in - TOKEN_MARGIN
            return self._access

    def _url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        url = path if "://" in path else self.api_base + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        return url

    def _send(
        self, method: str, url: str, body: bytes | memoryview, headers: Mapping[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send with a bearer token; on 401 refresh the token once and send again."""
        token = self._token()
        for attempt in (0, 1):
            conn, target = connect(url, self.timeout)
            try:
                conn.request(method, target, body, {**headers, "Authorization": f"Bearer {token}"})
                response = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            if response.status != 401 or attempt:
                return conn, response
            response.read()
            conn.close()
            token = self._token(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | memoryview = b"",
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> _Reply:
        conn, response = self._send(method, self._url(path, params), body, headers or {})
        try:
            reply = _Reply(response.status, response.msg, response.read())
        finally:
            conn.close()
        if reply.status not in ok:
            raise _drive_error(reply, what)
        return reply

    def _json_call(
        self, method: str, path: str, what: str, payload: Mapping[str, Any], **kw: Any
    ) -> _Reply:
        headers = {"Content-Type": "application/json; charset=UTF-8", **kw.pop("headers", {})}
        return self._call(
            method, path, what, body=json.dumps(payload).encode(), headers=headers, **kw
        )

    # -- folders and lookups -------------------------------------------------------------------

    def _children(self, parent: str, query: str = "") -> Iterator[dict[str, Any]]:
        q = f"{_quote(parent)} in parents and trashed = false"
        if query:
            q += " and " + query
        page = ""
        while True:
            params = {
                "q": q,
                "fields": f"nextPageToken,files({FILE_FIELDS})",
                "pageSize": str(PAGE_SIZE),
                "spaces": "drive",
            }
            if page:
                params["pageToken"] = page
            listing = msg("a folder listing")
            data = self._call("GET", "/drive/v3/files", listing, params=params).json()
            yield from data.get("files") or []
            page = str(data.get("nextPageToken") or "")
            if not page:
                return

    def _find_folder(self, parent: str, name: str) -> str | None:
        found = self._children(parent, f"name = {_quote(name)} and mimeType = '{FOLDER_MIME}'")
        ids = sorted(str(f["id"]) for f in found)
        return ids[0] if ids else None  # the same one every time, should there be two

    def _folder_id(self, parts: tuple[str, ...], create: bool) -> str | None:
        """The id of the folder ``parts`` below the parent folder (created if ``create``)."""
        full = self.base + parts
        if full in self._folders:
            return self._folders[full]
        lock = self._folder_lock if create else contextlib.nullcontext()
        with lock:
            parent = "root"
            for depth in range(1, len(full) + 1):
                key = full[:depth]
                known = self._folders.get(key)
                if known is None:
                    known = self._find_folder(parent, key[-1])
                if known is None:
                    if not create:
                        return None
                    meta = self._json_call(
                        "POST",
                        "/drive/v3/files",
                        msg("creating the folder {folder}", folder="/".join(key)),
                        {"name": key[-1], "mimeType": FOLDER_MIME, "parents": [parent]},
                        params={"fields": "id"},
                    ).json()
                    known = str(meta["id"])
                self._folders[key] = known
                parent = known
            return parent

    def _forget_folders(self) -> None:
        with self._folder_lock:
            self._folders = {(): "root"}

    def _files(self, folder: str, name: str) -> list[dict[str, Any]]:
        return list(
            self._children(folder, f"name = {_quote(name)} and mimeType != '{FOLDER_MIME}'")
        )

    def _lookup(self, path: str) -> tuple[dict[str, Any] | None, tuple[str, ...], str]:
        parts = _split(path)
        if not parts:
            raise ValueError("a file path is needed, not the store's root")
        folder_parts, name = tuple(parts[:-1]), parts[-1]
        folder = self._folder_id(folder_parts, create=False)
        meta = None if folder is None else _newest(self._files(folder, name))
        return meta, folder_parts, name

    # -- the Store interface -------------------------------------------------------------------

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        meta, folder_parts, name = self._lookup(path)
        for attempt in (0, 1):
            parent = self._folder_id(folder_parts, create=True)
            assert parent is not None
            try:
                session = self._start_upload(parent, name, meta)
                break
            except DriveError as exc:  # a cached folder deleted meanwhile: look again, once
                if exc.status != 404 or attempt:
                    raise
                self._forget_folders()
                meta, folder_parts, name = self._lookup(path)
        done = self._upload(session, stream)
        return ObjectInfo(path, int(done.get("size") or 0), _mtime(done))

    def _start_upload(self, parent: str, name: str, existing: dict[str, Any] | None) -> str:
        params = {"uploadType": "resumable", "fields": FILE_FIELDS}
        headers = {"X-Upload-Content-Type": "application/octet-stream"}
        if existing is None:
            reply = self._json_call(
                "POST",
                "/upload/drive/v3/files",
                msg("uploading {name}", name=name),
                {"name": name, "parents": [parent]},
                params=params,
                headers=headers,
            )
        else:
            reply = self._json_call(
                "PATCH",
                f"/upload/drive/v3/files/{urllib.parse.quote(str(existing['id']))}",
                msg("replacing {name}", name=name),
                {},
                params=params,
                headers=headers,
            )
        location = reply.headers.get("Location")
        if not location:
            raise DriveError(
                reply.status, NO_SESSION, msg("Google Drive opened no upload session.")
            )
        return location

    def _upload(self, session: str, stream: BinaryIO) -> dict[str, Any]:
        """Send ``stream`` in chunks; Drive commits the file with the last one."""
        buffer = memoryview(bytearray(self.chunk_size + 1))  # reused: memory stays flat
        offset = 0
        have = 0
        try:
            while True:
                # one byte more than a chunk tells whether this chunk is the last
                have += fill(stream, buffer[have:])
                last = have <= self.chunk_size
                chunk = buffer[:have] if last else buffer[: self.chunk_size]
                done = self._send_chunk(session, chunk, offset, offset + have if last else None)
                if last:
                    return done
                buffer[0] = buffer[self.chunk_size]  # the byte read ahead opens the next chunk
                have = 1
                offset += self.chunk_size
        except BaseException:
            with contextlib.suppress(Exception):  # best effort: Drive drops stale sessions
                self._call("DELETE", session, msg("cancelling an upload"), ok=(200, 204, 499))
            raise

    def _send_chunk(
        self, session: str, chunk: memoryview, start: int, total: int | None
    ) -> dict[str, Any]:
        end = start + len(chunk)
        held = start
        while True:
            piece = chunk[held - start :]
            if not piece:
                span = f"bytes */{total}"
            else:
                span = f"bytes {held}-{end - 1}/{'*' if total is None else total}"
            try:
                reply = self._call(
                    "PUT",
                    session,
                    msg("an upload chunk"),
                    body=piece,
                    headers={"Content-Range": span, "Content-Type": "application/octet-stream"},
                    ok=(200, 201, 308),
                )
            except DriveError as exc:
                if exc.status in (404, 410):  # the session expired: a new upload will do
                    exc.transient = True
                raise
            if reply.status != 308:
                return reply.json()
            now_held = _committed(reply.headers.get("Range"))
            if total is None and now_held == end:
                return {}
            if not held < now_held <= end:
                raise DriveError(
                    308,
                    UPLOAD_STALLED,
                    msg("Google Drive kept {held} of {sent} bytes sent.", held=now_held, sent=end),
                    msg("mm tries the upload again later."),
                    transient=True,
                )
            held = now_held

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        meta, _parts, _name = self._lookup(path)
        if meta is None:
            raise FileNotFoundError(errno.ENOENT, "no such file in Google Drive", path)
        size = int(meta.get("size") or 0)
        if length == 0 or offset >= size:
            return io.BytesIO(b"")
        last = size - 1 if length is None else min(size, offset + length) - 1
        headers = {} if offset == 0 and last == size - 1 else {"Range": f"bytes={offset}-{last}"}
        file_id = urllib.parse.quote(str(meta["id"]))
        url = self._url(f"/drive/v3/files/{file_id}", {"alt": "media"})
        conn, response = self._send("GET", url, b"", headers)
        if response.status not in (200, 206):
            reply = _Reply(response.status, response.msg, response.read())
            conn.close()
            if reply.status == 404:
                raise FileNotFoundError(errno.ENOENT, "no such file in Google Drive", path)
            if reply.status == 416:
                return io.BytesIO(b"")
            raise _drive_error(reply, msg("reading {path}", path=path))
        body: BinaryIO = io.BufferedReader(_Body(conn, response), 1 << 20)
        if response.status == 200 and offset:  # the Range was ignored: skip to the offset
            body.read(offset)
        return bounded(body, last - offset + 1)

    def stat(self, path: str) -> ObjectInfo | None:
        meta, _parts, _name = self._lookup(path)
        if meta is None:
            return None
        return ObjectInfo(path, int(meta.get("size") or 0), _mtime(meta))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        parts = tuple(_split(prefix))
        folder = self._folder_id(parts, create=False)
        if folder is None:
            return
        yield from self._walk([folder], "".join(p + "/" for p in parts))

    def _walk(self, folders: Sequence[str], rel: str) -> Iterator[ObjectInfo]:
        """Files below ``folders`` (one folder, or several of one name), then their subfolders."""
        files: dict[str, list[dict[str, Any]]] = {}
        subfolders: dict[str, list[str]] = {}
        for folder in folders:
            for item in self._children(folder):
                name = str(item.get("name"))
                if item.get("mimeType") == FOLDER_MIME:
                    subfolders.setdefault(name, []).append(str(item["id"]))
                else:
                    files.setdefault(name, []).append(item)
        for name in sorted(files):
            meta = _newest(files[name])
            assert meta is not None
            yield ObjectInfo(rel + name, int(meta.get("size") or 0), _mtime(meta))
        for name in sorted(subfolders):
            yield from self._walk(subfolders[name], rel + name + "/")

    def remove(self, path: str) -> None:
        """Delete the file (and any others of that name beside it); missing is not an error."""
        parts = _split(path)
        if not parts:
            raise ValueError("a file path is needed, not the store's root")
        folder = self._folder_id(tuple(parts[:-1]), create=False)
        for item in self._files(folder, parts[-1]) if folder else []:
            file_id = urllib.parse.quote(str(item["id"]))
            deleting = msg("deleting {path}", path=path)
            self._call("DELETE", f"/drive/v3/files/{file_id}", deleting, ok=(204, 404))

    def test(self) -> Accessibility:
        """Sign in, find (or create) the parent folder and list it."""
        try:
            folder = self._folder_id((), create=True)
            assert folder is not None
            next(iter(self._children(folder)), None)
        except OAuthError as exc:
            if exc.is_auth:
                return Accessibility.DENIED
            if exc.status == 0 or exc.status >= 500 or exc.status == 429:
                return Accessibility.UNREACHABLE
            return Accessibility.MISCONFIGURED
        except DriveError as exc:
            if exc.denied:
                return Accessibility.DENIED
            if not exc.permanent:
                return Accessibility.UNREACHABLE
            return Accessibility.MISCONFIGURED
        except ValueError:
            return Accessibility.MISCONFIGURED
        except (OSError, http.client.HTTPException):
            return Accessibility.UNREACHABLE
        return Accessibility.OK

    def free_space(self) -> int | None:
        """What the account's storage quota leaves, or None for an unlimited account."""
        quota = (
            self._call(
                "GET",
                "/drive/v3/about",
                msg("the storage quota"),
                params={"fields": "storageQuota"},
            )
            .json()
            .get("storageQuota")
            or {}
        )
        if not quota.get("limit"):
            return None
        return max(int(quota["limit"]) - int(quota.get("usage") or 0), 0)

    def is_permanent_error(self, exc: BaseException) -> bool:
        if isinstance(exc, OAuthError):
            return exc.is_auth or (400 <= exc.status < 500 and exc.status != 429)
        if isinstance(exc, DriveError):
            return exc.permanent
        return isinstance(exc, (FileNotFoundError, ValueError))


def from_settings(settings: Mapping[str, str], name: str) -> DriveStore:
    return DriveStore(
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
        refresh_token=settings["refresh_token"],
        folder=settings["folder"],
        api_base=settings.get("api_base") or API_BASE,
        token_url=settings.get("token_url") or TOKEN_URL,
        name=name,
    )
