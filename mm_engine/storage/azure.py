"""The ``azure`` storage type: an Azure Blob Storage container (F21), through azure-storage-blob.

The connector holds the storage account, the container, an optional parent folder and a SAS
token (it needs read, write, list and delete; Azure calls add and create optional extras).
Uploads of more than 4 MiB go as staged 4 MiB blocks that become the blob only when the block
list is committed at the end, so memory stays flat and a failed upload leaves the old blob (or
none): uncommitted blocks are invisible and Azure drops them after a week. Reads are ranged
downloads in 4 MiB chunks that the SDK pins to the blob's ETag. The SDK is imported only when
the store is first used; timeouts are short and retries few, so an unreachable account fails in
seconds and the retry wrapper decides what to do next.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import parse_qs

from mm_engine.errors import MMError
from mm_engine.storage.base import Accessibility, ObjectInfo, SizedSource, object_key
from mm_engine.storage.fields import Field, check_folder
from mm_engine.text import N_, msg

KIND = "azure"
TITLE = N_("Azure Blob Storage")

BLOCK = 4 * 1024 * 1024  # staged block size, single-put limit and download chunk
CONNECT_TIMEOUT = 5  # seconds
READ_TIMEOUT = 60
RETRIES = 1  # one more try after a second inside the SDK, for a block that failed once
PROBE_PREFIX = ".mm-test-"  # test() writes and removes one such object in the parent folder
TRANSIENT_STATUS = frozenset({408, 409, 412, 429})
# SAS permission letters the connector needs, and what each one is for
NEEDED = {"r": "read", "w": "write", "l": "list", "d": "delete"}
# error codes Azure gives when the token is fine but lacks a permission
MISSING_PERMISSION = frozenset(
    {"AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch"}
)

_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def _check_account(value: str) -> str | None:
    if not _ACCOUNT.fullmatch(value):
        return msg("must be the storage account's name: 3-24 lowercase letters and digits")
    return None


def _check_container(value: str) -> str | None:
    if not _CONTAINER.fullmatch(value):
        return msg(
            "must be 3-63 lowercase letters, digits and single dashes, starting and ending "
            "with a letter or digit"
        )
    return None


def _check_endpoint(value: str) -> str | None:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return msg("must be a URL such as https://myaccount.blob.core.windows.net")
    return None


def sas_query(value: str) -> str:
    """The SAS token's query string, whether given with a leading '?' or as a whole SAS URL."""
    value = value.strip()
    return value.split("?", 1)[1] if "?" in value else value


def _check_sas(value: str) -> str | None:
    fields = parse_qs(sas_query(value))
    if "sig" not in fields or "sv" not in fields:
        return msg(
            "does not look like a SAS token (it has no sv= and sig=): copy the whole token "
            "from 'Shared access tokens' on the container"
        )
    return None


FIELDS = (
    Field("account", N_("Storage account"), N_("The storage account's name"), check=_check_account),
    Field("container", N_("Container"), N_("The blob container's name"), check=_check_container),
    Field(
        "folder",
        N_("Parent folder"),
        N_("Folder inside the container that recordings go under; empty for the container's top"),
        required=False,
        check=check_folder,
    ),
    Field(
        "sas_token",
        N_("SAS token"),
        N_(
            "A SAS token for the container with read, write, list and delete permissions "
            "(a leading '?' or the whole SAS URL is fine)"
        ),
        secret=True,
        check=_check_sas,
    ),
    Field(
        "endpoint",
        N_("Endpoint"),
        N_(
            "Leave empty for https://ACCOUNT.blob.core.windows.net; set it for another cloud or "
            "an emulator (Azurite: http://127.0.0.1:10000/devstoreaccount1)"
        ),
        required=False,
        check=_check_endpoint,
    ),
)


def _code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


class _Download(io.RawIOBase):
    """The SDK's downloader as a file: it fetches the next chunk as the previous one is used."""

    def __init__(self, downloader: Any) -> None:
        self._downloader = downloader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        data: bytes = self._downloader.read(len(out))
        n = len(data)
        out[:n] = data
        return n


class AzureStore:
    def __init__(
        self,
        account: str,
        container: str,
        sas_token: str,
        folder: str = "",
        endpoint: str = "",
        name: str = KIND,
    ) -> None:
        self.name = name
        self.account = account
        self.container = container
        self.folder = folder.strip("/")
        self.endpoint = (endpoint or f"https://{account}.blob.core.windows.net").rstrip("/")
        self._sas = sas_query(sas_token)
        self._lock = threading.Lock()
        self._client_cache: Any = None

    def __repr__(self) -> str:  # never the token
        return f"AzureStore({self.where()!r})"

    def where(self, path: str = "") -> str:
        """The container and folder as a person would write them, for messages."""
        key = self._root + path if path else self._root
        return f"{self.endpoint}/{self.container}/{key}"

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
        from azure.core.credentials import AzureSasCredential
        from azure.storage.blob import ContainerClient, LinearRetry

        return ContainerClient(
            self.endpoint,
            self.container,
            credential=AzureSasCredential(self._sas),
            connection_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retry_policy=LinearRetry(backoff=1, random_jitter_range=0, retry_total=RETRIES),
            max_single_put_size=BLOCK,
            max_block_size=BLOCK,
            max_single_get_size=BLOCK,
            max_chunk_get_size=BLOCK,
        )

    def _key(self, path: str) -> str:
        return object_key(self._root, path)

    # -- the Store interface --------------------------------------------------------------------

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        source = SizedSource(stream, size)
        blob = self._client().get_blob_client(self._key(path))
        result = blob.upload_blob(source, length=size, overwrite=True, max_concurrency=1)
        return ObjectInfo(path, source.count, _timestamp(result.get("last_modified")))

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        blob = self._client().get_blob_client(self._key(path))
        if length is not None and length <= 0:
            if self.stat(path) is None:
                raise FileNotFoundError(msg("{where} does not exist", where=self.where(path)))
            return io.BytesIO(b"")
        try:
            downloader = blob.download_blob(offset=max(offset, 0), length=length, max_concurrency=1)
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(msg("{where} does not exist", where=self.where(path))) from exc
        except HttpResponseError as exc:
            if exc.status_code != 416:
                raise
            return io.BytesIO(b"")  # the blob is there, but ends before ``offset``
        return io.BufferedReader(_Download(downloader))

    def stat(self, path: str) -> ObjectInfo | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self._client().get_blob_client(self._key(path)).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return ObjectInfo(path, int(props.size), _timestamp(props.last_modified))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._key(prefix.strip("/")) + "/" if prefix.strip("/") else self._root
        root = self._root
        for blob in self._client().list_blobs(name_starts_with=base or None):
            name = str(blob.name)[len(root) :]
            if not name or name.endswith("/") or name.startswith(PROBE_PREFIX):
                continue  # folder placeholders; a test() left behind
            yield ObjectInfo(name, int(blob.size), _timestamp(blob.last_modified))

    def remove(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self._client().get_blob_client(self._key(path)).delete_blob()

    def diagnose(self) -> tuple[Accessibility, str]:
        """Whether blobs can be listed, written, read and removed, and in words what was found.

        A small probe blob is written in the parent folder and removed again, so a read-only
        token (or one without delete) is found now rather than at the first archive.
        """
        try:
            client = self._client()
        except ValueError as exc:
            return (
                Accessibility.MISCONFIGURED,
                msg(
                    "The endpoint {endpoint} is not usable: {error}",
                    endpoint=self.endpoint,
                    error=exc,
                ),
            )
        probe = client.get_blob_client(f"{self._root}{PROBE_PREFIX}{uuid.uuid4().hex}")

        def list_one() -> None:
            pages = client.list_blobs(name_starts_with=self._root or None, results_per_page=1)
            next(iter(pages), None)

        steps: list[tuple[str, Callable[[], object]]] = [
            ("l", list_one),
            ("w", lambda: probe.upload_blob(b"mm storage test", overwrite=True)),
            ("r", lambda: probe.download_blob().readall()),
            ("d", probe.delete_blob),
        ]
        for permission, step in steps:
            try:
                step()
            except Exception as exc:
                verdict, said = self._verdict(exc, permission)
                if step is steps[-1][1]:
                    said = msg(
                        "{problem} (the test blob {name} is left behind: remove it by hand)",
                        problem=said,
                        name=probe.blob_name,
                    )
                return verdict, said
        return (
            Accessibility.OK,
            msg("Wrote, read and removed a test blob in {where}", where=self.where()),
        )

    def _token_says(self) -> tuple[str, datetime | None]:
        """The permission letters and expiry written in the token (empty/None when it names a
        stored access policy instead, or they cannot be read)."""
        fields = parse_qs(self._sas)
        letters = fields.get("sp", [""])[0]
        expiry = None
        try:
            expiry = datetime.fromisoformat(fields["se"][0].replace("Z", "+00:00"))
            if expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=UTC)
        except (KeyError, ValueError):
            pass
        return letters, expiry

    def _verdict(self, exc: Exception, permission: str) -> tuple[Accessibility, str]:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        status, code = _status(exc), _code(exc)
        letters, expiry = self._token_says()
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return (
                Accessibility.UNREACHABLE,
                msg(
                    "Could not reach {endpoint} (check the account name and the network): {error}",
                    endpoint=self.endpoint,
                    error=exc,
                ),
            )
        if code == "ContainerNotFound" or (status == 404 and permission == "l"):
            return (
                Accessibility.MISCONFIGURED,
                msg(
                    "Container {container!r} does not exist in {endpoint}: create it, "
                    "or correct the name",
                    container=self.container,
                    endpoint=self.endpoint,
                ),
            )
        if status == 403 and code in MISSING_PERMISSION:
            lacking = [word for letter, word in NEEDED.items() if letters and letter not in letters]
            lacking = lacking or [NEEDED[permission]]
            if len(lacking) > 1:
                return (
                    Accessibility.DENIED,
                    msg(
                        "The SAS token lacks the {lacking} permissions ({refused} was refused): "
                        "make a token with read, write, list and delete permissions",
                        lacking=" and ".join(lacking),
                        refused=NEEDED[permission],
                    ),
                )
            return (
                Accessibility.DENIED,
                msg(
                    "The SAS token lacks the {lacking} permission ({refused} was refused): "
                    "make a token with read, write, list and delete permissions",
                    lacking=lacking[0],
                    refused=NEEDED[permission],
                ),
            )
        if status in (401, 403):
            if expiry is not None and expiry <= datetime.now(UTC):
                return (
                    Accessibility.DENIED,
                    msg(
                        "The SAS token expired on {expiry:%Y-%m-%d %H:%M} UTC: make a new one",
                        expiry=expiry,
                    ),
                )
            return (
                Accessibility.DENIED,
                msg(
                    "Azure refused the SAS token ({code}): it may be mistyped, expired, "
                    "revoked, or made for another account or container than {container!r}",
                    code=code or status,
                    container=self.container,
                ),
            )
        if status is not None and (status >= 500 or status in TRANSIENT_STATUS):
            return (
                Accessibility.UNREACHABLE,
                msg("Azure Blob Storage failed ({status}): {error}", status=status, error=exc),
            )
        if status is not None:
            return (
                Accessibility.MISCONFIGURED,
                msg("Azure Blob Storage refused ({code})", code=code or status),
            )
        return Accessibility.UNREACHABLE, msg("Azure Blob Storage failed: {error}", error=exc)

    def test(self) -> Accessibility:
        return self.diagnose()[0]

    def free_space(self) -> int | None:
        return None  # a container has no fixed size

    def is_permanent_error(self, exc: BaseException) -> bool:
        """Refused token or permission, no such container or blob: permanent. Network, 5xx: not."""
        if isinstance(exc, (FileNotFoundError, PermissionError, ValueError, MMError)):
            return True
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        if isinstance(exc, ClientAuthenticationError):
            return True
        status = _status(exc)
        if isinstance(exc, HttpResponseError) and status is not None:
            return 400 <= status < 500 and status not in TRANSIENT_STATUS
        return False


def from_settings(settings: Mapping[str, str], name: str) -> AzureStore:
    return AzureStore(
        settings["account"],
        settings["container"],
        settings["sas_token"],
        folder=settings.get("folder", ""),
        endpoint=settings.get("endpoint", ""),
        name=name,
    )
