"""The ``s3`` storage type: a bucket on Amazon S3 or an S3-compatible store (seed F22).

Objects are keyed ``<parent folder>/<path>``, so an archive mirrors the primary layout under the
connector's parent folder. boto3 is imported on first use, never when this module loads, so
listing storage types stays cheap.

Uploads stream through boto3's managed transfer: one request below ``PART_SIZE``, a multipart
upload above it, holding at most a couple of parts in memory. S3 makes an object visible only
once its upload completes, so a reader sees the old object or the whole new one; when the source
fails mid-way the multipart upload is aborted and nothing is left behind.

The client makes one attempt per request (the engine's retry wrapper decides about retries, using
``is_permanent_error``) and waits at most a few seconds for a connection.
"""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from mm_engine.storage.base import Accessibility, ObjectInfo
from mm_engine.storage.fields import Field
from mm_engine.text import N_, msg

KIND = "s3"
TITLE = N_("Amazon S3 (or S3-compatible)")

PART_SIZE = 8 * 1024 * 1024  # multipart threshold and part size
PARTS_IN_MEMORY = 2  # parts read ahead of the network, so memory stays flat
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
LIST_PAGE = 1000  # keys per listing request (S3's own maximum)
PROBE_PREFIX = ".mm-test-"  # test() writes and removes one such object in the parent folder

# answers meaning the key or the secret is wrong, or the key may not do this
DENIED_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "403",
    }
)
# answers meaning the bucket (or its region) is not what the settings say
MISCONFIGURED_CODES = frozenset(
    {
        "NoSuchBucket",
        "404",
        "PermanentRedirect",
        "301",
        "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException",
        "InvalidBucketName",
    }
)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# answers that say "not now": worth trying again later
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)

_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]")


def _check_bucket(value: str) -> str | None:
    if value.lower().startswith("s3://") or "/" in value:
        return msg("is only the bucket's name; put folders inside it in the Parent folder field")
    if not _BUCKET.fullmatch(value):
        return msg("must be 3 to 63 characters: letters, digits, dots, hyphens")
    return None


def _check_folder(value: str) -> str | None:
    if "\\" in value:
        return msg("uses '/' between folder names, not '\\'")
    if any(part in (".", "..") for part in value.strip("/").split("/")):
        return msg("must not contain '.' or '..' folders")
    return None


def _check_region(value: str) -> str | None:
    if _REGION.fullmatch(value):
        return None
    return msg("must look like us-east-1 or eu-central-1")


def _check_endpoint(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return msg("must start with http:// or https://")
    if len(value.split("://", 1)[1].strip("/")) == 0:
        return msg("needs a host name after http:// or https://")
    return None


FIELDS = (
    Field(
        "bucket",
        N_("Bucket"),
        N_("The bucket's name, e.g. acme-call-archive"),
        check=_check_bucket,
    ),
    Field(
        "folder",
        N_("Parent folder"),
        N_("Folder inside the bucket for the recordings; empty for the bucket's top level"),
        required=False,
        check=_check_folder,
    ),
    Field(
        "access_key_id",
        N_("Access key ID"),
        N_("Of a key allowed s3:ListBucket, GetObject, PutObject, DeleteObject, GetBucketLocation"),
    ),
    Field("secret_access_key", N_("Secret access key"), secret=True),
    Field(
        "region",
        N_("Region"),
        N_("The bucket's region"),
        default="us-east-1",
        check=_check_region,
    ),
    Field(
        "endpoint_url",
        N_("Endpoint URL"),
        N_("Only for S3-compatible stores (MinIO, Wasabi, Ceph …); empty for Amazon S3"),
        required=False,
        check=_check_endpoint,
    ),
)


def _parts(path: str, *, allow_empty: bool) -> list[str]:
    """``path`` as folder names, refused (ValueError) when it is absolute or climbs out."""
    if path.startswith("/") or "\\" in path:
        raise ValueError(f"storage path must be relative and inside the store: {path!r}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"storage path must be relative and inside the store: {path!r}")
    if not parts and not allow_empty:
        raise ValueError("storage path is empty")
    return parts


def _code(exc: BaseException) -> tuple[str, int]:
    """The S3 error code and HTTP status of a botocore ClientError ('', 0 for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


class _Rejoined(io.RawIOBase):
    """Bytes already read from a stream, followed by the rest of it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self.head = memoryview(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Reach(io.RawIOBase):
    """``stream`` as boto3 reads it, remembering how far into it any read reached: after a
    successful upload that is the object's size, so no HEAD request has to ask for it.
    Closing it leaves ``stream`` open: it belongs to the caller."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self.stream = stream
        self.start = stream.tell() if stream.seekable() else 0
        self.reach = self.start
        self._at = self.start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._at += n
        self.reach = max(self.reach, self._at)
        return n

    def read(self, size: int = -1) -> bytes:  # whole blocks, without readinto's extra copy
        data = self.stream.read(size)
        self._at += len(data)
        self.reach = max(self.reach, self._at)
        return data

    def seekable(self) -> bool:
        return self.stream.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._at = self.stream.seek(offset, whence)
        return self._at

    def tell(self) -> int:
        return self._at

    @property
    def sent(self) -> int:
        return self.reach - self.start


class _Body(io.RawIOBase):
    """A GET response's streaming body as a plain binary file; closing it frees the connection."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self.body.read(len(view))
        n = len(data)
        view[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self.body.close()
        super().close()


class S3Store:
    def __init__(
        self,
        bucket: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        folder: str = "",
        region: str = "us-east-1",
        endpoint_url: str = "",
        name: str = "s3",
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.folder = "/".join(_parts(folder.strip("/"), allow_empty=True))
        self.root = f"{self.folder}/" if self.folder else ""
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/")
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client_obj: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.endpoint_url or "aws"
        return f"S3Store({self.name!r}, {where}, bucket={self.bucket!r}, folder={self.folder!r})"

    # -- the client ----------------------------------------------------------------------------

    def _client(self) -> Any:
        """One boto3 client per store, made on first use with only these settings' credentials."""
        with self._lock:
            if self._client_obj is None:
                self._client_obj = self._make_client()
            return self._client_obj

    def _make_client(self) -> Any:
        import boto3.session
        from botocore.config import Config

        custom = bool(self.endpoint_url)
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"total_max_attempts": 1, "mode": "standard"},
            signature_version="s3v4",
            # the endpoint comes from the settings, never from AWS_ENDPOINT_URL or ~/.aws/config
            ignore_configured_endpoint_urls=True,
            s3={"addressing_style": "path" if custom else "auto"},
            # S3-compatible stores often reject the newer streamed checksums
            request_checksum_calculation="when_required" if custom else "when_supported",
            response_checksum_validation="when_required" if custom else "when_supported",
        )
        # Keys are passed explicitly, so credentials from the environment or ~/.aws never apply.
        session = boto3.session.Session(
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            aws_session_token=None,
            region_name=self.region,
        )
        # A CA bundle (AWS_CA_BUNDLE) means nothing to a plain http endpoint: do not apply it.
        verify: bool | None = False if self.endpoint_url.startswith("http://") else None
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url or None,
            config=config,
            verify=verify,
        )

    @staticmethod
    def _transfer_config() -> Any:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=2,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        config.max_in_memory_upload_chunks = PARTS_IN_MEMORY
        config.max_request_queue_size = PARTS_IN_MEMORY
        return config

    def _key(self, path: str) -> str:
        return self.root + "/".join(_parts(path, allow_empty=False))

    # -- the Store protocol --------------------------------------------------------------------

    def put(self, path: str, stream: BinaryIO, size: int | None = None) -> ObjectInfo:
        key = self._key(path)
        shown = "/".join(_parts(path, allow_empty=False))
        if size is not None and size < PART_SIZE:
            # one PUT: boto3's transfer manager would start its threads for every file
            data = stream.read(PART_SIZE)
            if len(data) < PART_SIZE:
                self._client().put_object(Bucket=self.bucket, Key=key, Body=data)
                return ObjectInfo(shown, len(data), time.time())
            stream = io.BufferedReader(_Rejoined(data, stream))  # longer than it said: multipart
        source = _Reach(stream)
        self._client().upload_fileobj(source, self.bucket, key, Config=self._transfer_config())
        # S3 stores an upload whole or not at all, so what was read is what it holds
        return ObjectInfo(shown, source.sent, time.time())

    def open(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        key = self._key(path)
        if length == 0:
            if self.stat(path) is None:
                raise FileNotFoundError(
                    msg("{name}: no such object: {path}", name=self.name, path=path)
                )
            return io.BytesIO(b"")
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        try:
            response = self._client().get_object(**args)
        except Exception as exc:
            code, status = _code(exc)
            if code in MISSING_CODES or (status == 404 and code != "NoSuchBucket"):
                raise FileNotFoundError(
                    msg("{name}: no such object: {path}", name=self.name, path=path)
                ) from None
            if code == "InvalidRange" or status == 416:  # the object ends before ``offset``
                return io.BytesIO(b"")
            raise
        return io.BufferedReader(_Body(response["Body"]), 1 << 16)

    def stat(self, path: str) -> ObjectInfo | None:
        key = self._key(path)
        try:
            head = self._client().head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            code, status = _code(exc)
            if code in MISSING_CODES or (status == 404 and code != "NoSuchBucket"):
                return None
            raise
        return ObjectInfo(
            "/".join(_parts(path, allow_empty=False)),
            int(head["ContentLength"]),
            head["LastModified"].timestamp(),
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        parts = _parts(prefix, allow_empty=True)
        start = self.root + "".join(f"{p}/" for p in parts)
        pages = self._client().get_paginator("list_objects_v2")
        paging = {"PageSize": LIST_PAGE}
        for page in pages.paginate(Bucket=self.bucket, Prefix=start, PaginationConfig=paging):
            for item in page.get("Contents", ()):
                key: str = item["Key"]
                rel = key[len(self.root) :]
                # folder placeholders made by consoles, and test()'s probe while it exists
                if not rel or key.endswith("/") or rel.startswith(PROBE_PREFIX):
                    continue
                yield ObjectInfo(rel, int(item["Size"]), item["LastModified"].timestamp())

    def remove(self, path: str) -> None:
        key = self._key(path)
        try:
            self._client().delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _code(exc)[0] != "NoSuchKey":  # some S3-compatible stores say so; S3 does not
                raise

    def test(self) -> Accessibility:
        """Whether these settings reach the bucket and may write and delete in the folder.

        Asks for the bucket's location, then writes and removes a small probe object, so a key
        that may only read is reported as denied before any archive job relies on it.
        """
        probe = f"{self.root}{PROBE_PREFIX}{uuid.uuid4().hex}"
        try:
            client = self._client()
            client.get_bucket_location(Bucket=self.bucket)
            client.put_object(Bucket=self.bucket, Key=probe, Body=b"mm connection test")
            client.delete_object(Bucket=self.bucket, Key=probe)
        except Exception as exc:
            return self._accessibility(exc)
        return Accessibility.OK

    @staticmethod
    def _accessibility(exc: BaseException) -> Accessibility:
        from botocore.exceptions import BotoCoreError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        code, status = _code(exc)
        if code in DENIED_CODES or status == 403:
            return Accessibility.DENIED
        if code in MISCONFIGURED_CODES or status in (301, 400, 404):
            return Accessibility.MISCONFIGURED
        if isinstance(exc, (BotoConnectionError, HTTPClientError, ConnectionError, TimeoutError)):
            return Accessibility.UNREACHABLE
        if isinstance(exc, BotoCoreError):  # e.g. no credentials, a malformed endpoint
            return Accessibility.MISCONFIGURED
        return Accessibility.UNREACHABLE

    def free_space(self) -> int | None:
        return None

    def is_permanent_error(self, exc: BaseException) -> bool:
        """Wrong keys, a missing bucket and refused requests stay so; network trouble passes."""
        if isinstance(exc, (ValueError, FileNotFoundError, PermissionError)):
            return True
        code, status = _code(exc)
        if code or status:
            if code in TRANSIENT_CODES or status in (408, 429) or status >= 500:
                return False
            return code in DENIED_CODES or code in MISCONFIGURED_CODES or 300 <= status < 500
        from botocore.exceptions import (
            BotoCoreError,
            ChecksumError,
            HTTPClientError,
            IncompleteReadError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        transient = (BotoConnectionError, HTTPClientError, IncompleteReadError, ChecksumError)
        if isinstance(exc, transient):
            return False
        # no credentials, bad parameters, a malformed endpoint: nothing a retry would change
        return isinstance(exc, BotoCoreError)


def from_settings(settings: Mapping[str, str], name: str) -> S3Store:
    return S3Store(
        settings["bucket"],
        settings["access_key_id"],
        settings["secret_access_key"],
        folder=settings.get("folder", ""),
        region=settings.get("region", "") or "us-east-1",
        endpoint_url=settings.get("endpoint_url", ""),
        name=name,
    )
