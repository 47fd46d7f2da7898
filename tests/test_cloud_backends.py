"""What the Google Cloud Storage and Azure Blob connectors do beyond the conformance suite.

Both run against their real emulators (tests/stores/gcs.py, tests/stores/azure.py): the
settings a person types are checked with messages that say what is wrong, a connection test
tells a read-only or expired token from a missing container, and objects land under the parent
folder where any other tool (here: the plain SDK) finds them.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import ANY

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mm_engine.errors import InvalidSetting
from mm_engine.storage.azure import AzureStore
from mm_engine.storage.base import Accessibility, ObjectInfo, Store
from mm_engine.storage.gcs import GCSStore
from mm_engine.storage.registry import open_store
from tests.conftest import ROOT
from tests.stores.azure import Azurite, container_sas
from tests.stores.gcs import GcsEmulator
from tests.stores.net import free_port


def diagnose(store: object) -> tuple[Accessibility, str]:
    """The connection test's verdict and the words a person is shown with it."""
    assert isinstance(store, (GCSStore, AzureStore))
    return store.diagnose()


# -- Google Cloud Storage ---------------------------------------------------------------------


def service_account_key(token_uri: str = "https://oauth2.googleapis.com/token") -> dict[str, str]:
    """A service-account key file as Google Cloud hands one out (with a fresh RSA key)."""
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    return {
        "type": "service_account",
        "project_id": "mm-test",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": "archiver@mm-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }


def gcs_settings(key: str, **more: str) -> dict[str, str]:
    return {"bucket": "mm-archive", "service_account_json": key, **more}


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("{not json", "is not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"type": "authorized_user", "client_id": "x"}', "has type 'authorized_user'"),
        ('{"type": "service_account", "project_id": "p"}', "lacks client_email and private_key"),
        (
            '{"type": "service_account", "client_email": "a@b.c", "private_key": ""}',
            "lacks private_key",
        ),
    ],
)
def test_a_bad_service_account_key_says_what_is_wrong(key: str, said: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        open_store("gcs", gcs_settings(key))
    assert caught.value.key == "service_account_json"
    assert said in str(caught.value)


def test_a_key_is_required_unless_an_emulator_endpoint_is_given(
    gcs_emulator: GcsEmulator,
) -> None:
    with pytest.raises(InvalidSetting) as caught:
        open_store("gcs", {"bucket": "mm-archive"})
    assert caught.value.key == "service_account_json"
    assert "required" in str(caught.value)
    store = open_store("gcs", {"bucket": "mm-archive", "endpoint": gcs_emulator.endpoint})
    assert isinstance(store, GCSStore)


def test_a_bucket_written_as_a_url_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidSetting) as caught:
        open_store("gcs", {"bucket": "gs://mm-archive", "endpoint": "http://127.0.0.1:1"})
    assert caught.value.key == "bucket"
    assert "without gs://" in str(caught.value)


def test_the_key_never_shows_in_the_store(gcs_emulator: GcsEmulator) -> None:
    key = service_account_key()
    store = open_store("gcs", gcs_settings(json.dumps(key), endpoint=gcs_emulator.endpoint))
    assert "PRIVATE KEY" not in repr(store)
    assert repr(store) == "GCSStore('gs://mm-archive/')"


def test_a_key_that_cannot_be_loaded_is_misconfigured(gcs_emulator: GcsEmulator) -> None:
    key = service_account_key()
    key["private_key"] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    store = open_store("gcs", gcs_settings(json.dumps(key), endpoint=gcs_emulator.endpoint))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.MISCONFIGURED
    assert "could not be loaded" in said


class TokenServer:
    """Stands in for Google's sign-in service (oauth2.googleapis.com), which cannot run here.

    A service-account key names the URL it trades its signed assertion at for an access token;
    this one answers with ``reply`` and records each request.
    """

    def __init__(self, status: int, reply: dict[str, Any]) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                owner.requests.append(self.rfile.read(length).decode())
                body = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def token_server(request: pytest.FixtureRequest) -> Iterator[TokenServer]:
    status, reply = request.param
    server = TokenServer(status, reply)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    "token_server", [(200, {"access_token": "ya29.test", "expires_in": 3600})], indirect=True
)
def test_a_key_given_with_an_endpoint_is_used_there(
    gcs_emulator: GcsEmulator, token_server: TokenServer
) -> None:
    bucket = gcs_emulator.new_bucket()
    key = json.dumps(service_account_key(token_server.url))
    store = open_store(
        "gcs", {"bucket": bucket, "service_account_json": key, "endpoint": gcs_emulator.endpoint}
    )
    assert store.test() == Accessibility.OK
    assert token_server.requests and "assertion=" in token_server.requests[0]


@pytest.mark.parametrize(
    "token_server",
    [(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})],
    indirect=True,
)
def test_a_key_google_refuses_is_denied_and_permanent(
    gcs_emulator: GcsEmulator, token_server: TokenServer
) -> None:
    key = json.dumps(service_account_key(token_server.url))
    store = open_store("gcs", gcs_settings(key, endpoint=gcs_emulator.endpoint))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.DENIED
    assert "refused the service-account key" in said
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)


def test_an_unreachable_sign_in_service_is_transient(gcs_emulator: GcsEmulator) -> None:
    key = json.dumps(service_account_key(f"http://127.0.0.1:{free_port()}/token"))
    store = open_store("gcs", gcs_settings(key, endpoint=gcs_emulator.endpoint))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.UNREACHABLE
    assert "Could not reach Google's sign-in service" in said
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert not store.is_permanent_error(caught.value)


def test_a_missing_bucket_is_misconfigured(gcs_emulator: GcsEmulator) -> None:
    store = open_store("gcs", {"bucket": "mm-no-such-bucket", "endpoint": gcs_emulator.endpoint})
    verdict, said = diagnose(store)
    assert verdict == Accessibility.MISCONFIGURED
    assert "'mm-no-such-bucket' does not exist" in said
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)


def test_an_unreachable_endpoint_is_named(gcs_unreachable_store: GCSStore) -> None:
    verdict, said = gcs_unreachable_store.diagnose()
    assert verdict == Accessibility.UNREACHABLE
    assert f"Could not reach {gcs_unreachable_store.endpoint}" in said


def test_gcs_objects_land_under_the_parent_folder(gcs_emulator: GcsEmulator) -> None:
    bucket = gcs_emulator.new_bucket()
    settings = {
        "bucket": bucket,
        "folder": "/Recordings/Archive/",
        "endpoint": gcs_emulator.endpoint,
    }
    store = open_store("gcs", settings)
    store.put("2026/03/02/C0001-1.opus", io.BytesIO(b"opus"), 4)
    assert store.test() == Accessibility.OK  # its probe object is gone again
    client = gcs_emulator.client()
    names = [blob.name for blob in client.list_blobs(bucket)]
    assert names == ["Recordings/Archive/2026/03/02/C0001-1.opus"]
    assert client.bucket(bucket).blob(names[0]).download_as_bytes() == b"opus"


# -- Azure Blob Storage -------------------------------------------------------------------------


def test_a_sas_token_with_a_leading_question_mark_or_as_a_url_works(azurite: Azurite) -> None:
    container = azurite.new_container()
    sas = container_sas(container)
    for given in (f"?{sas}", f"{azurite.endpoint}/{container}?{sas}"):
        store = open_store("azure", azurite.settings(container, given))
        assert store.test() == Accessibility.OK
        store.put("a.opus", io.BytesIO(given.encode()), len(given))
        with store.open("a.opus") as fh:
            assert fh.read() == given.encode()


def test_something_that_is_not_a_sas_token_is_refused(azurite: Azurite) -> None:
    with pytest.raises(InvalidSetting) as caught:
        open_store("azure", azurite.settings("recordings", "my-account-key=="))
    assert caught.value.key == "sas_token"
    assert "does not look like a SAS token" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("account", "My_Account", "3-24 lowercase letters and digits"),
        ("container", "Recordings", "3-63 lowercase letters"),
        ("container", "call--archive", "single dashes"),
        ("folder", "a/../b", "without empty parts"),
        ("endpoint", "blob.example.org", "must be a URL"),
    ],
)
def test_azure_settings_say_what_is_wrong(
    azurite: Azurite, field: str, value: str, said: str
) -> None:
    settings = azurite.settings("recordings", container_sas("recordings"))
    with pytest.raises(InvalidSetting) as caught:
        open_store("azure", {**settings, field: value})
    assert caught.value.key == field
    assert said in str(caught.value)


def test_the_default_endpoint_is_the_accounts_blob_service() -> None:
    store = open_store(
        "azure", {"account": "mmarchive", "container": "calls", "sas_token": "sv=1&sig=x"}
    )
    assert isinstance(store, AzureStore)
    assert store.endpoint == "https://mmarchive.blob.core.windows.net"
    assert "sig" not in repr(store)


def test_a_read_only_token_is_denied_and_names_what_it_lacks(azurite: Azurite) -> None:
    container = azurite.new_container()
    store = open_store("azure", azurite.settings(container, container_sas(container, "rl")))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.DENIED
    assert "lacks the write and delete permissions" in said
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)
    assert list(azurite.service().get_container_client(container).list_blobs()) == []


def test_a_token_without_delete_is_denied_and_says_what_it_left(azurite: Azurite) -> None:
    container = azurite.new_container()
    store = open_store("azure", azurite.settings(container, container_sas(container, "racwl")))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.DENIED
    assert "lacks the delete permission" in said
    assert "is left behind: remove it by hand" in said
    assert list(store.list()) == []  # the leftover probe is not taken for a recording


def test_an_expired_token_is_denied_with_its_date(azurite: Azurite) -> None:
    container = azurite.new_container()
    sas = container_sas(container, expires_in=timedelta(hours=-1))
    store = open_store("azure", azurite.settings(container, sas))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.DENIED
    assert "The SAS token expired on" in said
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)


def test_a_missing_container_is_misconfigured(azurite: Azurite) -> None:
    container = f"mm-never-made-{uuid.uuid4().hex[:8]}"  # a valid token for it, no container
    store = open_store("azure", azurite.settings(container, container_sas(container)))
    verdict, said = diagnose(store)
    assert verdict == Accessibility.MISCONFIGURED
    assert f"Container '{container}' does not exist" in said
    with pytest.raises(Exception) as caught:
        store.put("x.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)


def test_an_unreachable_account_is_named(azure_unreachable_store: AzureStore) -> None:
    verdict, said = azure_unreachable_store.diagnose()
    assert verdict == Accessibility.UNREACHABLE
    assert f"Could not reach {azure_unreachable_store.endpoint}" in said


def test_azure_blobs_land_under_the_parent_folder(azurite: Azurite) -> None:
    container = azurite.new_container()
    sas = container_sas(container)
    store = open_store("azure", azurite.settings(container, sas, folder="/Recordings/Archive/"))
    store.put("2026/03/02/C0001-1.opus", io.BytesIO(b"opus"), 4)
    assert store.test() == Accessibility.OK  # its probe blob is gone again
    client = azurite.service().get_container_client(container)
    names = [blob.name for blob in client.list_blobs()]
    assert names == ["Recordings/Archive/2026/03/02/C0001-1.opus"]
    assert client.download_blob(names[0]).readall() == b"opus"


def test_a_failed_big_upload_leaves_no_blob_only_invisible_blocks(azurite: Azurite) -> None:
    container = azurite.new_container()
    store = open_store("azure", azurite.settings(container, container_sas(container)))

    class Failing(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            if self.sent >= 9 << 20:  # two 4 MiB blocks are staged by then
                raise OSError("the source went away")
            n = min(len(buffer), 1 << 16)
            buffer[:n] = b"\x01" * n
            self.sent += n
            return n

    with pytest.raises(OSError):
        store.put("big.opus", io.BufferedReader(Failing()), 16 << 20)
    client = azurite.service().get_container_client(container)
    assert list(client.list_blobs()) == []
    staged = list(client.list_blobs(include=["uncommittedblobs"]))
    assert [blob.name for blob in staged] == ["archive/calls/big.opus"]


# -- both ----------------------------------------------------------------------------------------


@pytest.fixture(params=["gcs", "azure"])
def cloud_store(request: pytest.FixtureRequest) -> Store:
    result: Store = request.getfixturevalue(f"{request.param}_store")
    return result


def test_empty_objects_and_reads_past_the_end(cloud_store: Store) -> None:
    for size in (0, None):
        cloud_store.put("empty.opus", io.BytesIO(b""), size)
        assert cloud_store.stat("empty.opus") == ObjectInfo("empty.opus", 0, ANY)
        with cloud_store.open("empty.opus") as fh:
            assert fh.read() == b""
        with cloud_store.open("empty.opus", 0, 10) as fh:
            assert fh.read() == b""
    cloud_store.put("abc.opus", io.BytesIO(b"abc"), 3)
    with cloud_store.open("abc.opus", 3) as fh:
        assert fh.read() == b""
    with cloud_store.open("abc.opus", 10, 4) as fh:
        assert fh.read() == b""


def test_a_source_shorter_than_its_size_is_not_stored(cloud_store: Store) -> None:
    with pytest.raises(OSError, match="ended after 3 of 5 bytes"):
        cloud_store.put("short.opus", io.BytesIO(b"abc"), 5)
    big = 9 << 20  # past the single-request limit: chunks or blocks
    with pytest.raises(OSError, match=f"ended after {big - 1} of {big} bytes"):
        cloud_store.put("short.opus", io.BytesIO(b"x" * (big - 1)), big)
    assert cloud_store.stat("short.opus") is None


def test_importing_the_backends_does_not_import_the_sdks() -> None:
    code = (
        "import sys\n"
        "from mm_engine.storage import registry\n"
        "for kind in ('gcs', 'azure'):\n"
        "    registry.fields(kind); registry.title(kind)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('google', 'azure'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""
