"""A stand-in for Google Drive v3 and Google's OAuth endpoints, in memory, on 127.0.0.1.

It exists because Google Drive cannot run locally: Google ships no emulator or server for Drive
(unlike S3, GCS and Azure Blob, whose backends are tested against real local servers), so the
``gdrive`` backend is tested against this double instead. It implements only what the backend
uses, the way Google documents it, and is strict where Google is strict:

- ``POST /token``: refresh-token grant (a wrong refresh token -> 400 ``invalid_grant``, a wrong
  client -> 401 ``invalid_client``) and device-code grant (``authorization_pending`` until a test
  calls :meth:`DriveDouble.approve`, ``slow_down``, ``access_denied``, ``expired_token``);
- ``POST /device/code``: a device code and user code for the device flow;
- ``/drive/v3/files``: list (``q`` by parent, name, mimeType, trashed; ``fields``; paging with
  ``pageToken``), create (folders), get with ``alt=media`` (honouring ``Range``), delete;
- ``/upload/drive/v3/files``: resumable uploads, new (POST) or overwrite (PATCH), chunks must be
  multiples of 256 KiB except the last, and content is committed only when the last chunk arrives;
- ``/drive/v3/about``: the storage quota.

Every Drive request needs ``Authorization: Bearer <a token this double issued>`` (else 401).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FOLDER_MIME = "application/vnd.google-apps.folder"
CHUNK_UNIT = 256 * 1024
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_SCOPES = {
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/drive.appdata",
}
DEFAULT_FIELDS = ("kind", "id", "name", "mimeType")

# status, JSON payload, extra headers, raw body
Answer = tuple[int, dict[str, Any] | None, dict[str, str] | None, bytes | None]


@dataclass
class Item:
    id: str
    name: str
    mime: str
    parents: list[str]
    data: bytes = b""
    modified: str = ""

    def resource(self, fields: tuple[str, ...]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime,
            "parents": list(self.parents),
            "modifiedTime": self.modified,
        }
        if self.mime != FOLDER_MIME:
            full["size"] = str(len(self.data))  # int64 values come as strings
        return {k: full[k] for k in fields if k in full}


@dataclass
class Session:
    fields: tuple[str, ...]
    target: str | None  # the file being overwritten, None for a new file
    name: str
    parents: list[str]
    received: bytearray = field(default_factory=bytearray)


@dataclass
class Device:
    device_code: str
    user_code: str
    state: str = "pending"  # pending | approved | denied | expired | used
    slow_downs: int = 0
    polls: int = 0


class DriveError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_LITERAL = r"'((?:[^'\\]|\\.)*)'"
_CLAUSES: list[tuple[str, re.Pattern[str]]] = [
    ("parent", re.compile(_LITERAL + r" in parents")),
    ("name", re.compile(r"name = " + _LITERAL)),
    ("mime", re.compile(r"mimeType = " + _LITERAL)),
    ("not_mime", re.compile(r"mimeType != " + _LITERAL)),
    ("trashed", re.compile(r"trashed = (true|false)")),
]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_query(q: str) -> list[tuple[str, str]]:
    """The clauses of a Drive query joined by ``and``; DriveError for anything else."""
    clauses: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    i = 0
    while i < len(q):
        ch = q[i]
        if quoted:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "'":
                quoted = False
        elif q.startswith(" and ", i):
            clauses.append("".join(current))
            current = []
            i += 5
            continue
        else:
            current.append(ch)
            quoted = ch == "'"
        i += 1
    clauses.append("".join(current))
    out: list[tuple[str, str]] = []
    for clause in clauses:
        for kind, pattern in _CLAUSES:
            match = pattern.fullmatch(clause.strip())
            if match:
                out.append((kind, _unescape(match.group(1))))
                break
        else:
            raise DriveError(400, "invalid", f"Invalid Value: this double cannot run {clause!r}")
    return out


def parse_fields(spec: str | None, default: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """Which file fields to return and whether nextPageToken was asked for."""
    if not spec:
        return default, True
    inner = re.search(r"files\(([^)]*)\)", spec)
    top = re.sub(r"files\([^)]*\)", "", spec)
    wants_token = "nextPageToken" in top.split(",")
    if inner is None:  # a single-file resource: the spec is the field list itself
        return tuple(f for f in spec.split(",") if f), wants_token
    return tuple(f for f in inner.group(1).split(",") if f), wants_token


class DriveDouble:
    """The state of one fake Google: accounts' files, tokens and device codes."""

    CLIENT_ID = "mm-test.apps.googleusercontent.com"
    CLIENT_SECRET = "mm-test-secret"
    REFRESH_TOKEN = "1//mm-test-refresh-token"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        self.items: dict[str, Item] = {"root": Item("root", "My Drive", FOLDER_MIME, [])}
        self.sessions: dict[str, Session] = {}
        self.refresh_tokens = {self.REFRESH_TOKEN}
        self.access_tokens: set[str] = set()
        self.devices: dict[str, Device] = {}
        self.token_lifetime = 3599  # what the token endpoint reports as expires_in
        self.page_size_cap = 1000
        self.quota_limit: int | None = 15 * 1024**3
        self.failures: list[tuple[int, str]] = []
        self.counts: dict[str, int] = {}
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> DriveDouble:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="drive-double", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def settings(self, folder: str, **overrides: str) -> dict[str, str]:
        """Connector settings for a gdrive store against this double."""
        return {
            "client_id": self.CLIENT_ID,
            "client_secret": self.CLIENT_SECRET,
            "refresh_token": self.REFRESH_TOKEN,
            "folder": folder,
            "api_base": self.url,
            "token_url": f"{self.url}/token",
            **overrides,
        }

    # -- what a test can do and see ------------------------------------------------------------

    def count(self, what: str) -> int:
        with self.lock:
            return self.counts.get(what, 0)

    def _bump(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far stops working (as when they expire)."""
        with self.lock:
            self.access_tokens.clear()

    def fail_next(self, status: int, reason: str = "backendError", times: int = 1) -> None:
        """The next Drive requests answer ``status`` (e.g. 503, 429) instead of working."""
        with self.lock:
            self.failures.extend([(status, reason)] * times)

    def named(self, name: str, mime: str | None = None) -> list[Item]:
        with self.lock:
            return [
                i
                for i in self.items.values()
                if i.name == name and (mime is None or i.mime == mime)
            ]

    def device(self, user_code: str) -> Device:
        with self.lock:
            return next(d for d in self.devices.values() if d.user_code == user_code)

    def approve(self, user_code: str) -> None:
        self.device(user_code).state = "approved"

    def deny(self, user_code: str) -> None:
        self.device(user_code).state = "denied"

    def expire(self, user_code: str) -> None:
        self.device(user_code).state = "expired"

    def slow_down(self, user_code: str, times: int = 1) -> None:
        self.device(user_code).slow_downs += times

    # -- OAuth ---------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if (form.get("client_id"), form.get("client_secret")) != (
            self.CLIENT_ID,
            self.CLIENT_SECRET,
        ):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            self._bump("refresh")
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            return 200, self._issue()
        if grant == DEVICE_GRANT:
            return self._device_token(form.get("device_code", ""))
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}

    def _issue(self) -> dict[str, Any]:
        token = f"ya29.double-{next(self.ids)}"
        self.access_tokens.add(token)
        return {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/drive.file",
        }

    def _device_token(self, device_code: str) -> tuple[int, dict[str, Any]]:
        dev = self.devices.get(device_code)
        if dev is None or dev.state == "used":
            return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
        dev.polls += 1
        if dev.slow_downs > 0:
            dev.slow_downs -= 1
            return 403, {"error": "slow_down", "error_description": "Forbidden"}
        if dev.state == "pending":
            return 428, {"error": "authorization_pending", "error_description": "Precondition"}
        if dev.state == "denied":
            return 403, {"error": "access_denied", "error_description": "Forbidden"}
        if dev.state == "expired":
            return 400, {"error": "expired_token", "error_description": "Bad Request"}
        dev.state = "used"
        refresh = f"1//double-refresh-{next(self.ids)}"
        self.refresh_tokens.add(refresh)
        return 200, {**self._issue(), "refresh_token": refresh}

    def device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.CLIENT_ID:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was"}
        if not set(form.get("scope", "").split()) <= DEVICE_SCOPES:
            return 400, {"error": "invalid_scope", "error_description": "Invalid device scope"}
        n = next(self.ids)
        dev = Device(f"AH-device-{n}", f"MMT-{n:04d}")
        self.devices[dev.device_code] = dev
        return 200, {
            "device_code": dev.device_code,
            "user_code": dev.user_code,
            "verification_url": f"{self.url}/device",
            "expires_in": 1800,
            "interval": 5,
        }

    # -- Drive ---------------------------------------------------------------------------------

    def _folder(self, item_id: str) -> Item:
        item = self.items.get(item_id)
        if item is None or item.mime != FOLDER_MIME:
            raise DriveError(404, "notFound", f"File not found: {item_id}.")
        return item

    def _file(self, item_id: str) -> Item:
        item = self.items.get(item_id)
        if item is None:
            raise DriveError(404, "notFound", f"File not found: {item_id}.")
        return item

    def list_files(self, params: dict[str, str]) -> dict[str, Any]:
        self._bump("list")
        matches = list(self.items.values())
        for kind, value in parse_query(params.get("q", "")):
            if kind == "parent":
                matches = [i for i in matches if value in i.parents]
            elif kind == "name":
                matches = [i for i in matches if i.name == value]
            elif kind == "mime":
                matches = [i for i in matches if i.mime == value]
            elif kind == "not_mime":
                matches = [i for i in matches if i.mime != value]
            elif kind == "trashed" and value == "true":
                matches = []
        matches.sort(key=lambda i: int(i.id) if i.id.isdigit() else 0)
        size = min(int(params.get("pageSize", "100")), self.page_size_cap)
        start = int(params.get("pageToken") or 0)
        page = matches[start : start + size]
        fields, wants_token = parse_fields(params.get("fields"), DEFAULT_FIELDS)
        out: dict[str, Any] = {"files": [i.resource(fields) for i in page]}
        if start + size < len(matches) and wants_token:
            out["nextPageToken"] = str(start + size)
        return out

    def create(self, meta: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        parents = list(meta.get("parents") or ["root"])
        for parent in parents:
            self._folder(parent)
        mime = str(meta.get("mimeType") or "application/octet-stream")
        item = Item(str(next(self.ids)), str(meta["name"]), mime, parents, modified=_now())
        self.items[item.id] = item
        self._bump("create_folder" if mime == FOLDER_MIME else "create_file")
        return item.resource(parse_fields(params.get("fields"), DEFAULT_FIELDS)[0])

    def delete(self, item_id: str) -> None:
        self._file(item_id)
        doomed = [item_id]
        while doomed:
            current = doomed.pop()
            self.items.pop(current, None)
            doomed.extend(i.id for i in self.items.values() if current in i.parents)

    def quota(self) -> dict[str, Any]:
        usage = sum(len(i.data) for i in self.items.values())
        quota: dict[str, str] = {"usage": str(usage)}
        if self.quota_limit is not None:
            quota["limit"] = str(self.quota_limit)
        return {"storageQuota": quota}

    def start_upload(self, target: str | None, meta: dict[str, Any], params: dict[str, str]) -> str:
        if params.get("uploadType") != "resumable":
            raise DriveError(400, "invalid", "This double only takes resumable uploads.")
        if target is not None:
            item = self._file(target)
            name, parents = item.name, item.parents
        else:
            name = str(meta.get("name") or "Untitled")
            parents = list(meta.get("parents") or ["root"])
            for parent in parents:
                self._folder(parent)
        upload_id = f"upload-{next(self.ids)}"
        fields = parse_fields(params.get("fields"), DEFAULT_FIELDS)[0]
        self.sessions[upload_id] = Session(fields, target, name, parents)
        self._bump("sessions")
        return upload_id

    def put_chunk(
        self, upload_id: str, content_range: str, body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        session = self.sessions.get(upload_id)
        if session is None:
            raise DriveError(404, "notFound", "No such upload session.")
        match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", content_range.strip())
        if match is None:
            raise DriveError(400, "badContent", f"Failed to parse Content-Range: {content_range}")
        first, last, total_s = match.groups()
        total = None if total_s == "*" else int(total_s)
        if first is not None:
            if int(first) != len(session.received) or int(last) - int(first) + 1 != len(body):
                raise DriveError(400, "badContent", "Content-Range does not fit the session.")
            final = total is not None and int(last) + 1 == total
            if not final and len(body) % CHUNK_UNIT:
                raise DriveError(400, "badContent", "Chunks must be multiples of 256 KiB.")
            session.received += body
        elif body:
            raise DriveError(400, "badContent", "A status query has no body.")
        if total is not None and len(session.received) > total:
            raise DriveError(400, "badContent", "More bytes than the total.")
        if total is None or len(session.received) < total:
            headers = {}
            if session.received:
                headers["Range"] = f"bytes=0-{len(session.received) - 1}"
            return 308, headers, None
        del self.sessions[upload_id]  # the last chunk: commit
        if session.target is not None and session.target in self.items:
            item = self.items[session.target]
            item.data, item.modified = bytes(session.received), _now()
            status = 200
        else:
            item = Item(
                str(next(self.ids)),
                session.name,
                "application/octet-stream",
                session.parents,
                bytes(session.received),
                _now(),
            )
            self.items[item.id] = item
            status = 200
        return status, {}, item.resource(session.fields)


def _handler(double: DriveDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(
            self,
            status: int,
            payload: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None,
            raw: bytes | None = None,
        ) -> None:
            body = (
                raw
                if raw is not None
                else (b"" if payload is None else json.dumps(payload).encode())
            )
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            view = memoryview(body)
            for start in range(0, len(view), 1 << 20):
                self.wfile.write(view[start : start + (1 << 20)])

        def _error(self, status: int, reason: str, message: str) -> None:
            self._reply(
                status,
                {
                    "error": {
                        "code": status,
                        "message": message,
                        "errors": [{"domain": "global", "reason": reason, "message": message}],
                    }
                },
            )

        def _route(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            body = self._body()
            try:
                if url.path in ("/token", "/device/code"):
                    form = dict(urllib.parse.parse_qsl(body.decode()))
                    call: Callable[[dict[str, str]], tuple[int, dict[str, Any]]] = (
                        double.token if url.path == "/token" else double.device_code
                    )
                    with double.lock:
                        status, payload = call(form)
                    self._reply(status, payload)
                    return
                if not url.path.startswith(("/drive/v3/", "/upload/drive/v3/")):
                    raise DriveError(404, "notFound", "Not Found")
                auth = self.headers.get("Authorization", "")
                with double.lock:  # the answer is made under the lock and sent after it
                    if auth.removeprefix("Bearer ") not in double.access_tokens:
                        double._bump("unauthorized")
                        raise DriveError(401, "authError", "Invalid Credentials")
                    if double.failures:
                        status, reason = double.failures.pop(0)
                        raise DriveError(status, reason, "The double was told to fail.")
                    answer = self._drive(method, url.path, params, body)
            except DriveError as exc:
                self._error(exc.status, exc.reason, str(exc))
                return
            self._reply(*answer)

        def _drive(self, method: str, path: str, params: dict[str, str], body: bytes) -> Answer:
            meta = json.loads(body or b"{}") if method in ("POST", "PATCH") else {}
            file_match = re.fullmatch(r"/(upload/)?drive/v3/files/([^/]+)", path)
            file_id = urllib.parse.unquote(file_match.group(2)) if file_match else ""
            if "upload_id" in params and path.startswith("/upload/"):
                if method == "DELETE":
                    double.sessions.pop(params["upload_id"], None)
                    return 499, None, None, None
                status, headers, resource = double.put_chunk(
                    params["upload_id"], self.headers.get("Content-Range", ""), body
                )
                return status, resource, headers, None
            if path == "/upload/drive/v3/files" and method == "POST":
                upload_id = double.start_upload(None, meta, params)
            elif file_match and file_match.group(1) and method == "PATCH":
                upload_id = double.start_upload(file_id, meta, params)
            elif path == "/drive/v3/files" and method == "GET":
                return 200, double.list_files(params), None, None
            elif path == "/drive/v3/files" and method == "POST":
                return 200, double.create(meta, params), None, None
            elif path == "/drive/v3/about" and method == "GET":
                return 200, double.quota(), None, None
            elif file_match and method == "DELETE":
                double.delete(file_id)
                return 204, None, None, None
            elif file_match and method == "GET":
                return self._get(file_id, params)
            else:
                raise DriveError(404, "notFound", f"This double has no {method} {path}")
            location = f"{double.url}{path}?uploadType=resumable&upload_id={upload_id}"
            return 200, None, {"Location": location}, None

        def _get(self, file_id: str, params: dict[str, str]) -> Answer:
            item = double._file(file_id)
            if params.get("alt") != "media":
                fields = parse_fields(params.get("fields"), DEFAULT_FIELDS)[0]
                return 200, item.resource(fields), None, None
            if item.mime == FOLDER_MIME:
                raise DriveError(403, "fileNotDownloadable", "Only files with binary content")
            data = item.data
            spec = self.headers.get("Range")
            if not spec:
                return 200, None, {"Content-Type": "application/octet-stream"}, data
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", spec.strip())
            if match is None:
                raise DriveError(400, "badRange", f"Cannot parse Range: {spec}")
            first = int(match.group(1))
            last = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            if first >= len(data):
                return 416, None, {"Content-Range": f"bytes */{len(data)}"}, b""
            span = {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
            return 206, None, span, data[first : last + 1]

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_PATCH(self) -> None:
            self._route("PATCH")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler
