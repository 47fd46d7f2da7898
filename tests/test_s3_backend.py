"""The S3 storage type beyond the conformance suite: settings, layout in the bucket, and the ways a
real bucket differs from a folder (multipart uploads, pages of listings, credentials, endpoints).

Servers: moto (tests/stores/s3.py) and s3rver, a second S3 implementation that checks keys.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from mm_engine.errors import InvalidSetting
from mm_engine.storage import s3 as s3_backend
from mm_engine.storage.base import Accessibility
from mm_engine.storage.registry import fields, open_store, title
from tests.stores.s3 import FOLDER, S3RVER_BUCKET, S3Server
from tests.test_store_conformance import Generated

ROOT = Path(__file__).resolve().parents[1]


def keys_in(server: S3Server, bucket: str) -> list[str]:
    """Every key in the bucket, as any other S3 tool lists them."""
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


# -- settings ---------------------------------------------------------------------------------


def test_the_form_offers_the_seed_fields_with_the_secret_masked() -> None:
    assert title("s3") == "Amazon S3 (or S3-compatible)"
    by_name = {f.name: f for f in fields("s3")}
    assert list(by_name) == [
        "bucket",
        "folder",
        "access_key_id",
        "secret_access_key",
        "region",
        "endpoint_url",
    ]
    assert by_name["secret_access_key"].secret
    assert not by_name["access_key_id"].secret
    assert by_name["region"].default == "us-east-1"
    assert not by_name["folder"].required and not by_name["endpoint_url"].required


BASE = {"bucket": "acme-calls", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"bucket": ""}, "bucket", "Bucket is required"),
        ({"access_key_id": " "}, "access_key_id", "Access key ID is required"),
        ({"secret_access_key": ""}, "secret_access_key", "Secret access key is required"),
        ({"bucket": "s3://acme-calls/2026"}, "bucket", "Parent folder"),
        ({"bucket": "acme-calls/recordings"}, "bucket", "Parent folder"),
        ({"bucket": "a"}, "bucket", "3 to 63 characters"),
        ({"folder": "archive/../other"}, "folder", "'..'"),
        ({"endpoint_url": "minio.local:9000"}, "endpoint_url", "http:// or https://"),
        ({"region": "EU Frankfurt"}, "region", "eu-central-1"),
    ],
)
def test_bad_settings_name_the_field_and_say_what_is_wrong(
    changes: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(InvalidSetting) as caught:
        open_store("s3", {**BASE, **changes}, "archive")
    assert caught.value.key == field
    assert words in str(caught.value)


def test_defaults_fill_in_and_nothing_reaches_the_network() -> None:
    """Settings are checked and a store is made without a request: the client comes later."""
    store = open_store("s3", {**BASE, "folder": "/calls/2026/"}, "archive")
    assert store.name == "archive"
    assert store.region == "us-east-1"  # type: ignore[attr-defined]
    assert store.folder == "calls/2026"  # type: ignore[attr-defined]
    assert store.free_space() is None
    with pytest.raises(ValueError):
        store.stat("../other-folder/x.opus")
    with pytest.raises(ValueError):
        store.open("/calls/x.opus")
    with pytest.raises(ValueError):
        list(store.list("2026/../../x"))
    assert "s3cr3t" not in repr(store)


def test_importing_the_backend_does_not_load_boto3() -> None:
    code = (
        "import sys, mm_engine.storage.s3, mm_engine.storage.registry as r\n"
        "r.fields('s3'); r.title('s3')\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


# -- layout in the bucket ---------------------------------------------------------------------


def test_objects_land_under_the_parent_folder_as_in_primary_storage(
    moto_s3: S3Server, s3_bucket: str
) -> None:
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    store.put("2026/11/25/C0001-1.opus", io.BytesIO(b"one"), 3)
    store.put("2026/11/26/Zoë – 1.opus", io.BytesIO(b"two"), 3)
    assert keys_in(moto_s3, s3_bucket) == [
        f"{FOLDER}/2026/11/25/C0001-1.opus",
        f"{FOLDER}/2026/11/26/Zoë – 1.opus",
    ]
    # a store without a parent folder sees the same objects with the folder in their paths
    top = open_store("s3", moto_s3.settings(s3_bucket, folder=""), "top")
    assert sorted(o.path for o in top.list()) == keys_in(moto_s3, s3_bucket)
    with top.open(f"{FOLDER}/2026/11/25/C0001-1.opus") as fh:
        assert fh.read() == b"one"


def test_put_reports_what_the_bucket_holds_whatever_size_was_announced(
    moto_s3: S3Server, s3_bucket: str
) -> None:
    """Small objects go up in one PUT; a stream longer or shorter than announced is stored as
    it is, and put() says the size actually stored (the archive job compares it)."""
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    longer = bytes(range(256)) * (40 * 1024)  # 10 MiB: past the one-PUT limit
    assert store.put("longer.bin", io.BytesIO(longer), 100).size == len(longer)
    assert store.put("shorter.bin", io.BytesIO(b"12345"), 9).size == 5
    assert store.put("exact.bin", io.BytesIO(b"abc"), 3).size == 3
    sizes = {o.path: o.size for o in store.list()}
    assert sizes == {"longer.bin": len(longer), "shorter.bin": 5, "exact.bin": 3}
    with store.open("longer.bin") as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(longer).digest()


def test_list_stays_inside_the_folder_and_skips_folder_markers(
    moto_s3: S3Server, s3_bucket: str
) -> None:
    client = moto_s3.client()
    for key in (
        f"{FOLDER}-old/2026/x.opus",  # a sibling whose name starts the same
        "elsewhere/y.opus",
        f"{FOLDER}/2026/",  # what the AWS console's "Create folder" leaves
    ):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    store.put("2026/a.opus", io.BytesIO(b"a"), 1)
    assert [o.path for o in store.list()] == ["2026/a.opus"]
    assert [o.path for o in store.list("2026")] == ["2026/a.opus"]
    assert list(store.list("202")) == []  # a prefix is a folder, not the start of a name


def test_listing_many_pages(
    moto_s3: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 answers a listing a page at a time (1,000 keys); a big archive is listed whole.

    Pages are made small here so a few dozen objects span many of them.
    """
    monkeypatch.setattr(s3_backend, "LIST_PAGE", 7)
    client = moto_s3.client()
    names = [f"2026/01/{i // 10:02d}/call-{i:04d}.opus" for i in range(53)]
    for name in names:
        client.put_object(Bucket=s3_bucket, Key=f"{FOLDER}/{name}", Body=b"x")
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    assert sorted(o.path for o in store.list()) == names
    assert [o.path for o in store.list("2026/01/05")] == names[50:]
    assert [o.path for o in store.list("2026/01/02")] == names[20:30]


def test_reading_at_or_past_the_end_gives_nothing(moto_s3: S3Server, s3_bucket: str) -> None:
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    store.put("r.bin", io.BytesIO(b"0123456789"), 10)
    with store.open("r.bin", 10) as fh:
        assert fh.read() == b""
    with store.open("r.bin", 4, 0) as fh:
        assert fh.read() == b""
    with store.open("r.bin", 8, 100) as fh:
        assert fh.read() == b"89"
    with pytest.raises(FileNotFoundError):
        store.open("missing.bin", 0, 0)


# -- uploads ----------------------------------------------------------------------------------


def test_a_failed_multipart_upload_is_aborted(moto_s3: S3Server, s3_bucket: str) -> None:
    """Parts of an unfinished upload are billed until aborted: a failure must not leave them."""
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    source = Generated(40 << 20, fail_after=20 << 20)
    with pytest.raises(OSError, match="source went away"):
        store.put("big.opus", io.BufferedReader(source, 1 << 20))
    assert source.sent >= 16 << 20  # parts had gone up before the failure
    client = moto_s3.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert keys_in(moto_s3, s3_bucket) == []


def test_large_uploads_keep_memory_flat_on_a_second_s3_server(s3rver: S3Server) -> None:
    """Through s3rver (its own process): three times the data needs no more memory in Python."""
    store = open_store("s3", s3rver.settings(S3RVER_BUCKET, folder="flat"), "archive")
    assert store.test() == Accessibility.OK  # the client (and boto3's models) are loaded now
    peaks = {}
    for size in (24 << 20, 72 << 20):
        source = Generated(size, seed=size)
        tracemalloc.start()
        try:
            store.put(f"big/{size}.opus", io.BufferedReader(source, 1 << 20))
            peaks[size] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        digest = hashlib.sha256()
        with store.open(f"big/{size}.opus") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        assert digest.hexdigest() == source.digest.hexdigest()
    assert peaks[72 << 20] < peaks[24 << 20] + (4 << 20)
    assert peaks[72 << 20] < 40 << 20
    assert "flat/big/25165824.opus" in keys_in(s3rver, S3RVER_BUCKET)
    for size in peaks:
        store.remove(f"big/{size}.opus")
    assert list(store.list("big")) == []


# -- test() and errors ------------------------------------------------------------------------


def test_a_bucket_that_does_not_exist_is_misconfigured_and_permanent(moto_s3: S3Server) -> None:
    store = open_store("s3", moto_s3.settings("mm-no-such-bucket"), "archive")
    assert store.test() == Accessibility.MISCONFIGURED
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)
    assert "NoSuchBucket" in str(caught.value)


def test_the_connection_test_leaves_nothing_in_the_bucket(
    moto_s3: S3Server, s3_bucket: str
) -> None:
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    assert store.test() == Accessibility.OK
    assert keys_in(moto_s3, s3_bucket) == []


def test_credentials_in_the_environment_never_stand_in(
    s3rver: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own AWS variables (right for s3rver here) do not rescue a wrong key."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3rver.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3rver.secret)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    wrong = s3rver.settings(S3RVER_BUCKET, access_key_id="AKIAOTHER", secret_access_key="nope")
    assert open_store("s3", wrong, "archive").test() == Accessibility.DENIED
    assert open_store("s3", s3rver.settings(S3RVER_BUCKET), "archive").test() == Accessibility.OK


def test_a_ca_bundle_setting_does_not_break_an_http_endpoint(
    moto_s3: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", "/nonexistent/ca-bundle.pem")
    store = open_store("s3", moto_s3.settings(s3_bucket), "archive")
    assert store.test() == Accessibility.OK
    store.put("a.opus", io.BytesIO(b"a"), 1)
    with store.open("a.opus") as fh:
        assert fh.read() == b"a"


def test_which_errors_are_worth_retrying() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    store = open_store("s3", BASE, "archive")

    def answer(code: str, status: int) -> ClientError:
        body = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(body, "PutObject")

    for permanent in (
        answer("InvalidAccessKeyId", 403),
        answer("SignatureDoesNotMatch", 403),
        answer("AccessDenied", 403),
        answer("NoSuchBucket", 404),
        answer("InvalidArgument", 400),
        ValueError("bad path"),
    ):
        assert store.is_permanent_error(permanent), permanent
    for transient in (
        answer("SlowDown", 503),
        answer("InternalError", 500),
        answer("RequestTimeout", 400),
        answer("TooManyRequests", 429),
        answer("", 408),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
        OSError("the source went away"),
    ):
        assert not store.is_permanent_error(transient), transient
