"""The ``gcs`` storage type: a Google Cloud Storage bucket (F20), through google-cloud-storage.

Objects live under ``gs://BUCKET/FOLDER/`` with the same layout as the primary storage. Uploads
go as one request up to 8 MiB and as a resumable upload in 8 MiB chunks above that, so memory
stays flat; an upload that fails before its last chunk is never finalised, so the old object
(or no object) stays. Reads are ranged downloads of 4 MiB pinned to the object's generation, so
a read never mixes two versions. The SDK is imported only when the store is first used, and
its own retries are off: the retry wrapper decides, and an unreachable endpoint fails at once.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO

from mm_engine.errors import InvalidSetting, MMError
from mm_engine.storage.base import Accessibility, ObjectInfo, SizedSource, object_key
from mm_engine.storage.fields import Field, check_folder
from mm_engine.text import N_, Msg, msg

KIND = "gcs"
TITLE = N_("Google Cloud Storage")

UPLOAD_CHUNK = 8 * 1024 * 1024  # resumable chunk: a multiple of 256 KiB, as GCS demands
READ_CHUNK = 4 * 1024 * 1024  # one ranged download
TIMEOUT = (5.0, 60.0)  # connect, read (seconds)
PROBE_PREFIX = ".mm-test-"  # test() writes and removes one such object in the parent folder
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
TRANSIENT_STATUS = frozenset({408, 409, 412, 429})
KEY_FIELDS = ("client_email", "private_key")

_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def _check_bucket(value: str) -> str | None:
    if value.startswith("gs://"):
        return msg("is the bucket's name alone, without gs://")
    if not _BUCKET.fullmatch(value) or len(value) > 222:
        return msg(
            "must be 3-63 lowercase letters, digits, dashes, underscores or dots, "
            "starting and ending with a letter or digit"
        )
    return None


def _check_endpoint(value: str) -> str | None:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return msg("must be a URL such as http://127.0.0.1:9023")
    return None


def key_problem(value: str) -> str | None:
    """What is wrong with a service-account key in JSON, or None when it looks usable."""
    try:
        info = json.loads(value)
    except ValueError as exc:
        return msg("is not valid JSON ({error}): paste the whole key file as downloaded", error=exc)
    if not isinstance(info, dict):
        return msg("must be a JSON object: paste the whole key file as downloaded")
    kind = info.get("type")
    if kind != "service_account":
        if kind:
            return msg(
                "has type {kind!r}, not 'service_account': create a JSON key for a service "
                "account (IAM > Service accounts > Keys) and paste that file",
                kind=kind,
            )
        return msg(
            "has no type, not 'service_account': create a JSON key for a service account "
            "(IAM > Service accounts > Keys) and paste that file"
        )
    missing = [name for name in KEY_FIELDS if not str(info.get(name) or "").strip()]
    if missing:
        return msg(
            "lacks {fields}: paste the whole key file as downloaded", fields=" and ".join(missing)
        )
    if "PRIVATE KEY" not in str(info["private_key"]):
        return msg(
            "has a private_key that is not a PEM key: paste the whole key file as downloaded"
        )
    return None


FIELDS = (
    Field("bucket", N_("Bucket"), N_("The bucket's name (without gs://)"), check=_check_bucket),
    Field(
        "folder",
        N_("Parent folder"),
        N_("Folder inside the bucket that recordings go under; empty for the bucket's top"),
        required=False,
        check=check_folder,
    ),
    Field(
        "service_account_json",
        N_("Service-account key (JSON)"),
        N_(
            "The JSON key file of a service account with the Storage Object Admin role on the "
            "bucket. Required for Google Cloud; may be left empty only together with an endpoint "
            "(an emulator), which is then used without credentials"
        ),
        secret=True,
        required=False,
        multiline=True,
        check=key_problem,
    ),
    Field(
        "endpoint",
        N_("Endpoint"),
        N_(
            "Leave empty for Google Cloud. A URL here (a storage emulator, or a private endpoint) "
            "is used instead; with no key given, requests go there without credentials"
        ),
        required=False,
        check=_check_endpoint,
    ),
)


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK error, when there is one."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


class _Source(SizedSource):
    """A SizedSource that also tells its position, which the GCS SDK asks for."""

    def tell(self) -> int:
        return self.count


class _Ranged(io.RawIOBase):
    """Bytes [start, end) of an object, fetched READ_CHUNK at a time as they are read."""

    def __init__(self, fetch: Callable[[int, int], bytes], start: int, end: int) -> None:
        self._fetch = fetch
        self._next = start
        self._end = end
        self._held = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._held:
            if self._next >= self._end:
                return 0
            stop = min(self._end, self._next + READ_CHUNK)
            data = self._fetch(self._next, stop)
            if not data:
                raise OSError(msg("the object ended before the expected length"))
            self._held = memoryview(data)
            self._next += len(data)
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._held))
        out[:n] = self._held[:n]
        self._held = self._held[n:]
        return n


class GCSStore:
    def __init__(
        self,
        bucket: str,
        folder: str = "",
        service_account_json: str = "",
        endpoint: str = "",
        name: str = KIND,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.folder = folder.strip("/")
        self.endpoint = endpoint.rstrip("/")
        self._key_json = service_account_json
        self._lock = threading.Lock()
        self._client_cache: Any = None

    def __repr__(self) -> str:  # never the key
        return f"GCSStore({self.where()!r})"

    def where(self, path: str = "") -> str:
        """The bucket and folder as a person would write them, for messages."""
        key = self._root + path if path else self._root
        return f"gs://{self.bucket}/{key}"

    @property
    def _root(self) -> str:
        return f"{self.folder}/" if self.folder else ""

    # -- the SDK ------------------------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:
            if self._client_cache is None:
                self._client_cache = self._make_client()
            return self._client_cache

    def _make_client(self) -> Any:
        from google.cloud import storage

        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        if self._key_json:
            from google.oauth2 import service_account

            info = json.loads(self._key_json)
            make = service_account.Credentials.from_service_account_info
            credentials: Any = make(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
            project = str(info.get("project_id") or "") or "-"
        else:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            project = "-"  # only bucket listing and creation need one; neither is used
        return storage.Client(project=project, credentials=credentials, client_options=options)

    def _bucket(self) -> Any:
        return self._client().bucket(self.bucket)

    def _key(self, path: str) -> str:
        return object_key(self._root, path)

    # -- the Store interface --------------------------------------------------------------------

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        blob = self._bucket().blob(self._key(path), chunk_size=UPLOAD_CHUNK)
        source = _Source(stream, size)
        blob.upload_from_file(source, size=size, retry=None, timeout=TIMEOUT)
        size_now = blob.size if blob.size is not None else source.count
        return ObjectInfo(path, int(size_now), _timestamp(blob.updated))

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        from google.api_core.exceptions import NotFound

        key = self._key(path)
        found = self._bucket().get_blob(key, retry=None, timeout=TIMEOUT)
        if found is None:
            raise FileNotFoundError(msg("{where} does not exist", where=self.where(path)))
        size = int(found.size or 0)
        start = min(max(offset, 0), size)
        end = size if length is None else min(size, start + max(length, 0))
        pinned = self._bucket().blob(key, generation=found.generation)

        def fetch(first: int, stop: int) -> bytes:
            try:
                data: bytes = pinned.download_as_bytes(
                    start=first,
                    end=stop - 1,
                    raw_download=True,
                    checksum=None,
                    retry=None,
                    timeout=TIMEOUT,
                )
            except NotFound as exc:
                raise FileNotFoundError(
                    msg("{where} was removed or replaced while being read", where=self.where(path))
                ) from exc
            return data

        return io.BufferedReader(_Ranged(fetch, start, end))

    def stat(self, path: str) -> ObjectInfo | None:
        found = self._bucket().get_blob(self._key(path), retry=None, timeout=TIMEOUT)
        if found is None:
            return None
        return ObjectInfo(path, int(found.size or 0), _timestamp(found.updated))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._key(prefix.strip("/")) + "/" if prefix.strip("/") else self._root
        root = self._root
        for blob in self._client().list_blobs(
            self.bucket, prefix=base, retry=None, timeout=TIMEOUT
        ):
            name = str(blob.name)[len(root) :]
            if not name or name.endswith("/") or name.startswith(PROBE_PREFIX):
                continue  # folder placeholders made by the console; a test() left behind
            yield ObjectInfo(name, int(blob.size or 0), _timestamp(blob.updated))

    def remove(self, path: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self._bucket().blob(self._key(path)).delete(retry=None, timeout=TIMEOUT)

    def diagnose(self) -> tuple[Accessibility, str]:
        """Whether objects can be listed, written, read and removed, and in words what was found.

        A small probe object is written in the parent folder and removed again, so a key that
        may read but not write (or not delete) is found now rather than at the first archive.
        """
        try:
            client = self._client()
        except (ValueError, KeyError) as exc:
            return (
                Accessibility.MISCONFIGURED,
                msg(
                    "The service-account key could not be loaded ({error}): paste the whole key "
                    "file again, or make a new key",
                    error=exc,
                ),
            )
        probe = self._bucket().blob(f"{self._root}{PROBE_PREFIX}{uuid.uuid4().hex}")

        def list_one() -> None:
            found = client.list_blobs(
                self.bucket, prefix=self._root, max_results=1, retry=None, timeout=TIMEOUT
            )
            next(iter(found), None)

        steps: list[tuple[Msg, Callable[[], object]]] = [
            (msg("list objects (storage.objects.list)"), list_one),
            (
                msg("create objects (storage.objects.create)"),
                lambda: probe.upload_from_string(b"mm storage test", retry=None, timeout=TIMEOUT),
            ),
            (
                msg("read objects (storage.objects.get)"),
                lambda: probe.download_as_bytes(retry=None, timeout=TIMEOUT),
            ),
            (
                msg("delete objects (storage.objects.delete)"),
                lambda: probe.delete(retry=None, timeout=TIMEOUT),
            ),
        ]
        for action, step in steps:
            try:
                step()
            except Exception as exc:
                verdict, said = self._verdict(exc, action)
                if step is steps[-1][1]:
                    said = msg(
                        "{problem} (the test object {name} is left behind: remove it by hand)",
                        problem=said,
                        name=probe.name,
                    )
                return verdict, said
        return (
            Accessibility.OK,
            msg("Wrote, read and removed a test object in {where}", where=self.where()),
        )

    def _verdict(self, exc: Exception, action: Msg) -> tuple[Accessibility, str]:
        from google.auth.exceptions import RefreshError, TransportError

        status = _status(exc)
        if isinstance(exc, RefreshError):
            if getattr(exc, "retryable", False):
                return (
                    Accessibility.UNREACHABLE,
                    msg("Google's sign-in service failed: {error}", error=exc),
                )
            return (
                Accessibility.DENIED,
                msg(
                    "Google refused the service-account key ({error}): it may have been deleted "
                    "or disabled; make a new key",
                    error=exc,
                ),
            )
        if status == 404:
            return (
                Accessibility.MISCONFIGURED,
                msg(
                    "Bucket {bucket!r} does not exist (or is not visible to this service "
                    "account): check the name",
                    bucket=self.bucket,
                ),
            )
        if status == 401:
            return Accessibility.DENIED, msg("Google refused the credentials: {error}", error=exc)
        if status == 403:
            return (
                Accessibility.DENIED,
                msg(
                    "The service account may not {action} in {where}: grant it the "
                    "Storage Object Admin role on the bucket",
                    action=action,
                    where=self.where(),
                ),
            )
        if status is not None and (status >= 500 or status in TRANSIENT_STATUS):
            return (
                Accessibility.UNREACHABLE,
                msg("Google Cloud Storage failed ({status}): {error}", status=status, error=exc),
            )
        if status is not None:
            return (
                Accessibility.MISCONFIGURED,
                msg("Google Cloud Storage refused ({status}): {error}", status=status, error=exc),
            )
        if isinstance(exc, TransportError):
            return (
                Accessibility.UNREACHABLE,
                msg("Could not reach Google's sign-in service: {error}", error=exc),
            )
        if isinstance(exc, OSError):
            where = self.endpoint or "storage.googleapis.com"
            return (
                Accessibility.UNREACHABLE,
                msg("Could not reach {where}: {error}", where=where, error=exc),
            )
        if isinstance(exc, ValueError):
            return Accessibility.MISCONFIGURED, str(exc)  # the SDK's own words
        return Accessibility.UNREACHABLE, msg("Google Cloud Storage failed: {error}", error=exc)

    def test(self) -> Accessibility:
        return self.diagnose()[0]

    def free_space(self) -> int | None:
        return None  # a bucket has no fixed size

    def is_permanent_error(self, exc: BaseException) -> bool:
        """Wrong key, no permission, no such bucket or object: permanent. Network, 5xx: not."""
        if isinstance(exc, (FileNotFoundError, PermissionError, ValueError, MMError)):
            return True
        status = _status(exc)
        if status is not None:
            return 400 <= status < 500 and status not in TRANSIENT_STATUS
        from google.auth.exceptions import RefreshError

        if isinstance(exc, RefreshError):
            return not getattr(exc, "retryable", False)
        return False


def from_settings(settings: Mapping[str, str], name: str) -> GCSStore:
    key = settings.get("service_account_json", "").strip()
    endpoint = settings.get("endpoint", "").strip()
    if not key and not endpoint:
        raise InvalidSetting(
            "service_account_json",
            msg("Service-account key (JSON) is required"),
            msg(
                "Paste the JSON key of a service account with the Storage Object Admin role "
                "on the bucket."
            ),
        )
    return GCSStore(
        settings["bucket"],
        folder=settings.get("folder", ""),
        service_account_json=key,
        endpoint=endpoint,
        name=name,
    )
