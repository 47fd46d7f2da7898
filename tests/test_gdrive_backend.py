"""The Google Drive backend and the device sign-in, beyond the shared conformance suite.

Google Drive cannot run locally, so these run against tests/drive_double.py, an HTTP double of
the Drive v3 and OAuth endpoints on 127.0.0.1 (a fresh one per test, since tests change its
state); the backend speaks real HTTP to it.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mm_engine.errors import MMError
from mm_engine.storage.base import Accessibility
from mm_engine.storage.gdrive import DriveError, DriveStore
from mm_engine.storage.gdrive_auth import (
    OAuthError,
    poll_device_flow,
    start_device_flow,
)
from mm_engine.storage.registry import open_store
from tests.drive_double import FOLDER_MIME, DriveDouble
from tests.stores.net import free_port


@pytest.fixture
def double() -> Iterator[DriveDouble]:
    d = DriveDouble().start()
    try:
        yield d
    finally:
        d.stop()


def store(double: DriveDouble, folder: str = "mm/archive", **kw: object) -> DriveStore:
    s = double.settings(folder)
    return DriveStore(
        s["client_id"],
        s["client_secret"],
        s["refresh_token"],
        folder,
        api_base=s["api_base"],
        token_url=s["token_url"],
        **kw,  # type: ignore[arg-type]
    )


def read(s: DriveStore, path: str) -> bytes:
    with s.open(path) as fh:
        data: bytes = fh.read()
        return data


# -- device sign-in -----------------------------------------------------------------------------


def test_device_flow_waits_for_approval_then_the_connector_works(double: DriveDouble) -> None:
    code = start_device_flow(double.CLIENT_ID, device_url=f"{double.url}/device/code")
    assert code.verification_url == f"{double.url}/device"
    assert code.user_code and code.interval == 5

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the person approves while the third wait runs
            double.approve(code.user_code)

    refresh = poll_device_flow(
        double.CLIENT_ID,
        double.CLIENT_SECRET,
        code.device_code,
        code.interval,
        token_url=f"{double.url}/token",
        sleep=sleep,
    )
    assert sleeps == [5, 5, 5]
    assert double.device(code.user_code).polls == 3  # pending, pending, approved

    settings = double.settings("mm/archive", refresh_token=refresh)
    connector = open_store("gdrive", settings, "drive")
    assert connector.test() == Accessibility.OK
    connector.put("2026/03/02/call.opus", io.BytesIO(b"opus"), 4)
    with connector.open("2026/03/02/call.opus") as fh:
        assert fh.read() == b"opus"


def test_slow_down_makes_polling_wait_five_seconds_longer(double: DriveDouble) -> None:
    code = start_device_flow(double.CLIENT_ID, device_url=f"{double.url}/device/code")
    double.slow_down(code.user_code)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            double.approve(code.user_code)

    poll_device_flow(
        double.CLIENT_ID,
        double.CLIENT_SECRET,
        code.device_code,
        code.interval,
        token_url=f"{double.url}/token",
        sleep=sleep,
    )
    assert sleeps == [5, 10, 10]


def test_declined_sign_in_says_so_and_what_to_do(double: DriveDouble) -> None:
    code = start_device_flow(double.CLIENT_ID, device_url=f"{double.url}/device/code")
    double.deny(code.user_code)
    with pytest.raises(MMError) as caught:
        poll_device_flow(
            double.CLIENT_ID,
            double.CLIENT_SECRET,
            code.device_code,
            code.interval,
            token_url=f"{double.url}/token",
            sleep=lambda _s: None,
        )
    assert isinstance(caught.value, OAuthError) and caught.value.error == "access_denied"
    assert "declined access to Google Drive" in caught.value.message
    assert "Allow" in caught.value.hint


def test_expired_code_says_start_again(double: DriveDouble) -> None:
    code = start_device_flow(double.CLIENT_ID, device_url=f"{double.url}/device/code")
    double.expire(code.user_code)
    with pytest.raises(OAuthError) as caught:
        poll_device_flow(
            double.CLIENT_ID,
            double.CLIENT_SECRET,
            code.device_code,
            code.interval,
            token_url=f"{double.url}/token",
            sleep=lambda _s: None,
        )
    assert caught.value.error == "expired_token"
    assert "expired" in caught.value.message and "again" in caught.value.hint


def test_polling_stops_at_the_deadline_when_nobody_approves(double: DriveDouble) -> None:
    code = start_device_flow(double.CLIENT_ID, device_url=f"{double.url}/device/code")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OAuthError) as caught:
        poll_device_flow(
            double.CLIENT_ID,
            double.CLIENT_SECRET,
            code.device_code,
            code.interval,
            token_url=f"{double.url}/token",
            sleep=sleep,
            deadline=60.0,
            clock=lambda: now[0],
        )
    assert caught.value.error == "expired_token"
    assert double.device(code.user_code).polls == 12  # every 5 s for a minute, then no more


def test_wrong_oauth_client_is_named(double: DriveDouble) -> None:
    with pytest.raises(OAuthError) as caught:
        start_device_flow("someone-else", device_url=f"{double.url}/device/code")
    assert caught.value.error == "invalid_client"
    assert "TVs and Limited Input devices" in caught.value.hint


def test_sign_in_without_a_network_says_so() -> None:
    with pytest.raises(OAuthError) as caught:
        start_device_flow("c", device_url=f"http://127.0.0.1:{free_port()}/device/code")
    assert "Cannot reach Google's sign-in service" in caught.value.message
    assert "internet connection" in caught.value.hint


# -- folders ------------------------------------------------------------------------------------


def test_folders_are_created_once_and_reused(double: DriveDouble) -> None:
    s = store(double)
    for name in ("a.opus", "b.opus", "c.opus"):
        s.put(f"2026/03/02/{name}", io.BytesIO(b"x"), 1)
    s.put("2026/03/02/a.opus", io.BytesIO(b"again"), 5)  # an overwrite, not a second file
    for name in ("mm", "archive", "2026", "03", "02"):
        assert len(double.named(name, FOLDER_MIME)) == 1, name
    assert len(double.named("a.opus")) == 1
    assert double.count("create_folder") == 5

    # a new store (as after a restart) finds the folders instead of making them again
    again = store(double)
    again.put("2026/03/02/d.opus", io.BytesIO(b"d"), 1)
    assert double.count("create_folder") == 5
    assert sorted(o.path for o in again.list("2026/03")) == [
        "2026/03/02/a.opus",
        "2026/03/02/b.opus",
        "2026/03/02/c.opus",
        "2026/03/02/d.opus",
    ]
    assert read(again, "2026/03/02/a.opus") == b"again"


def test_a_folder_deleted_in_drive_is_made_again(double: DriveDouble) -> None:
    s = store(double)
    s.put("2026/01/a.opus", io.BytesIO(b"a"), 1)
    [folder] = double.named("2026", FOLDER_MIME)
    with double.lock:
        double.delete(folder.id)  # someone tidied up in the Drive web page
    s.put("2026/01/b.opus", io.BytesIO(b"b"), 1)
    assert [o.path for o in s.list()] == ["2026/01/b.opus"]


def test_listing_follows_pages(double: DriveDouble) -> None:
    double.page_size_cap = 2
    s = store(double)
    names = [f"2026/05/{i:02d}.opus" for i in range(7)]
    for name in names:
        s.put(name, io.BytesIO(b"x"), 1)
    assert [o.path for o in s.list()] == names


def test_two_files_of_one_name_read_the_newest_and_remove_both(double: DriveDouble) -> None:
    s = store(double)
    s.put("dup.opus", io.BytesIO(b"old"), 3)
    [parent] = double.named("archive", FOLDER_MIME)
    with double.lock:  # another program added a second file of that name
        made = double.create({"name": "dup.opus", "parents": [parent.id]}, {"fields": "id"})
        double.items[made["id"]].data = b"newer"
    assert read(s, "dup.opus") == b"newer"
    assert [o.path for o in s.list()] == ["dup.opus"]
    s.remove("dup.opus")
    assert double.named("dup.opus") == []
    assert s.stat("dup.opus") is None


# -- uploads ------------------------------------------------------------------------------------


def test_uploads_of_exact_chunks_and_empty_files(double: DriveDouble) -> None:
    chunk = 256 * 1024
    s = store(double, chunk_size=chunk)
    exact = bytes(range(256)) * (2 * chunk // 256)  # two whole chunks and nothing more
    s.put("exact.bin", io.BytesIO(exact), None)
    assert read(s, "exact.bin") == exact
    s.put("empty.bin", io.BytesIO(b""), 0)
    assert s.stat("empty.bin").size == 0  # type: ignore[union-attr]
    assert read(s, "empty.bin") == b""
    with s.open("exact.bin", chunk - 3, 6) as fh:
        assert fh.read() == exact[chunk - 3 : chunk + 3]


def test_an_interrupted_upload_leaves_no_session_open(double: DriveDouble) -> None:
    class Failing(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.sent >= 600 * 1024:
                raise OSError("the recording went away")
            buffer[: len(buffer)] = b"\0" * len(buffer)
            self.sent += len(buffer)
            return len(buffer)

    s = store(double, chunk_size=256 * 1024)
    with pytest.raises(OSError, match="went away"):
        s.put("gone.opus", io.BufferedReader(Failing(), 64 * 1024))
    assert double.count("sessions") == 1
    assert double.sessions == {}  # cancelled, not left to expire
    assert double.named("gone.opus") == []


# -- tokens -------------------------------------------------------------------------------------


def test_access_token_is_reused_until_it_expires(double: DriveDouble) -> None:
    now = [1000.0]
    s = store(double, clock=lambda: now[0])
    s.put("a.opus", io.BytesIO(b"a"), 1)
    s.stat("a.opus")
    assert double.count("refresh") == 1
    now[0] += 3600  # an hour later the token has expired: a new one, before Drive refuses it
    assert read(s, "a.opus") == b"a"
    assert double.count("refresh") == 2
    assert double.count("unauthorized") == 0


def test_a_refused_access_token_is_refreshed_once(double: DriveDouble) -> None:
    s = store(double)
    s.put("a.opus", io.BytesIO(b"a"), 1)
    double.revoke_access_tokens()
    s.put("b.opus", io.BytesIO(b"b"), 1)
    assert double.count("unauthorized") == 1
    assert double.count("refresh") == 2
    assert sorted(o.path for o in s.list()) == ["a.opus", "b.opus"]


def test_a_revoked_authorization_tells_the_user_to_authorize_again(double: DriveDouble) -> None:
    settings = double.settings("mm/archive", refresh_token="1//revoked")
    s = open_store("gdrive", settings, "drive")
    assert s.test() == Accessibility.DENIED
    with pytest.raises(OAuthError) as caught:
        s.put("a.opus", io.BytesIO(b"a"), 1)
    assert caught.value.error == "invalid_grant"
    assert "Authorize the Google Drive connector again" in str(caught.value)
    assert s.is_permanent_error(caught.value)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "permanent"),
    [
        (503, "backendError", False),
        (500, "internalError", False),
        (429, "rateLimitExceeded", False),
        (403, "userRateLimitExceeded", False),
        (403, "insufficientFilePermissions", True),
        (400, "invalid", True),
    ],
)
def test_drive_errors_are_transient_or_permanent(
    double: DriveDouble, status: int, reason: str, permanent: bool
) -> None:
    s = store(double)
    s.test()  # folders and token in place: the next request is the upload
    double.fail_next(status, reason)
    with pytest.raises(DriveError) as caught:
        s.put("a.opus", io.BytesIO(b"a"), 1)
    assert caught.value.status == status and caught.value.reason == reason
    assert s.is_permanent_error(caught.value) is permanent
    s.put("a.opus", io.BytesIO(b"a"), 1)  # the next attempt goes through
    assert read(s, "a.opus") == b"a"


def test_test_reports_each_state(double: DriveDouble) -> None:
    assert store(double).test() == Accessibility.OK
    double.fail_next(403, "insufficientPermissions")
    assert store(double).test() == Accessibility.DENIED
    double.fail_next(503, "backendError")
    assert store(double).test() == Accessibility.UNREACHABLE
    wrong_api = double.settings("mm/archive", api_base=f"{double.url}/not-drive")
    assert open_store("gdrive", wrong_api, "d").test() == Accessibility.MISCONFIGURED


def test_free_space_is_the_quota_left(double: DriveDouble) -> None:
    s = store(double)
    s.put("a.opus", io.BytesIO(b"12345"), 5)
    assert s.free_space() == 15 * 1024**3 - 5
    double.quota_limit = None  # an account without a limit
    assert s.free_space() is None


def test_settings_are_checked() -> None:
    base = {"client_id": "c", "client_secret": "s", "refresh_token": "r"}
    with pytest.raises(MMError, match="folder"):
        open_store("gdrive", {**base, "folder": "../up"})
    with pytest.raises(MMError, match="api_base"):
        open_store("gdrive", {**base, "folder": "mm", "api_base": "ftp://example.com"})
    s = open_store("gdrive", {**base, "folder": "/mm/archive/"})
    assert isinstance(s, DriveStore) and s.base == ("mm", "archive")
    assert s.api_base == "https://www.googleapis.com"


def test_importing_the_backend_loads_no_http_library_beyond_the_standard_library() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import mm_engine.storage.gdrive, mm_engine.storage.gdrive_auth\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(','.join(sorted(n for n in new if n not in sys.stdlib_module_names)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "mm_engine"
