"""The SMB/NAS storage type beyond the conformance suite, against real Samba servers.

What a person configuring a NAS connector meets: the share path written the ways people write
it, clear reasons when the settings cannot work (no such share, encryption the NAS cannot do,
a read-only share), and files laid out on the NAS's disk exactly as in the call storage.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from mm_engine.errors import InvalidSetting
from mm_engine.storage.base import READ_BACK, Accessibility
from mm_engine.storage.fields import validate
from mm_engine.storage.registry import open_store
from mm_engine.storage.smb import (
    FIELDS,
    ShareAddress,
    ShareDenied,
    ShareMisconfigured,
    SMBStore,
    parse_share_path,
)
from tests.conftest import ROOT
from tests.stores.net import free_port
from tests.stores.samba import READ_ONLY_SHARE, Samba
from tests.stores.smb import OpenSMB, settings_for

# -- the share path setting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("148.147.54.1/Remote archive", ShareAddress("148.147.54.1", "Remote archive")),
        (
            "148.147.54.1/Remote archive/calls/2026",
            ShareAddress("148.147.54.1", "Remote archive", ("calls", "2026")),
        ),
        (
            r"\\148.147.54.1\Remote archive\calls",
            ShareAddress("148.147.54.1", "Remote archive", ("calls",)),
        ),
        ("//nas.example.local/Archive/", ShareAddress("nas.example.local", "Archive")),
        ("smb://nas/Archive", ShareAddress("nas", "Archive")),
        ("  nas:4450/Archive  ", ShareAddress("nas", "Archive", (), 4450)),
        ("[fd00::5]:445/Archive", ShareAddress("fd00::5", "Archive", (), 445)),
        ("fd00::5/Archive", ShareAddress("fd00::5", "Archive")),
        ("NAS-01/Zoë's calls/通话", ShareAddress("NAS-01", "Zoë's calls", ("通话",))),
    ],
)
def test_share_path_forms(written: str, expected: ShareAddress) -> None:
    assert parse_share_path(written) == expected


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("148.147.54.1", "must name the NAS and the share, written host/Share, e.g. 148.147.54.1/"),
        ("", "Share path is required"),
        ("nas:99999/Archive", "port that is not a number from 1 to 65535"),
        ("nas:/Archive", "port that is not a number"),
        ("nas/Arch*ive", "share name SMB cannot use: 'Arch*ive'"),
        ("nas/Archive/../etc", "must not contain '..'"),
        ("nas/Archive/a:b", "folder name with ':'"),
        ("bad host!/Archive", "must start with the NAS's address or name, not 'bad host!'"),
        ("[fd00::5/Archive", "without its closing ']'"),
    ],
)
def test_share_path_mistakes_are_explained(written: str, says: str) -> None:
    settings = {"path": written, "username": "u", "password": "p"}
    with pytest.raises(InvalidSetting) as caught:
        validate(FIELDS, settings)
    assert caught.value.key == "path"
    assert says in str(caught.value)
    assert "Share path" in str(caught.value)


def test_other_settings_are_checked() -> None:
    base = {"path": "nas/Archive", "username": "u", "password": "p"}
    assert validate(FIELDS, base) == {**base, "domain": "", "encrypt": "no", "port": "445"}
    with pytest.raises(InvalidSetting, match="Port must be a number from 1 to 65535"):
        validate(FIELDS, {**base, "port": "http"})
    with pytest.raises(InvalidSetting, match="Require encryption must be one of: yes, no"):
        validate(FIELDS, {**base, "encrypt": "maybe"})
    with pytest.raises(InvalidSetting, match="Password is required"):
        validate(FIELDS, {**base, "password": ""})
    with pytest.raises(InvalidSetting, match="names port 4450 but Port is 446"):
        open_store("smb", {**base, "path": "nas:4450/Archive", "port": "446"})
    assert next(f for f in FIELDS if f.name == "password").secret


@pytest.mark.parametrize(
    "written",
    [
        r"\\127.0.0.1\{share}\unc form",
        "//127.0.0.1/{share}/slash form",
        "127.0.0.1:{port}/{share}/port in the path",
    ],
)
def test_each_path_form_reaches_the_share(samba: Samba, open_smb: OpenSMB, written: str) -> None:
    path = written.format(share=samba.share, port=samba.port)
    settings = settings_for(samba, path=path)
    if ":{port}" in written:
        del settings["port"]
    store = open_smb(settings)
    assert store.test() == Accessibility.OK
    store.put("a.opus", io.BytesIO(b"x"), 1)
    folder = written.replace("\\", "/").rsplit("/", 1)[1]
    assert (samba.folder / folder / "a.opus").read_bytes() == b"x"


# -- what the NAS user sees -------------------------------------------------------------------


def test_files_appear_on_the_nas_in_the_same_layout(samba: Samba, open_smb: OpenSMB) -> None:
    store = open_smb(settings_for(samba, "mm/site A"))
    paths = ["2026/11/25/call-1.opus", "2026/11/25/Zoë – 通话.opus", "2026/12/01/call-2.opus"]
    for number, path in enumerate(paths):
        store.put(path, io.BytesIO(f"audio {number}".encode()), None)
    on_disk = samba.folder / "mm" / "site A"
    found = sorted(
        os.path.relpath(os.path.join(d, f), on_disk) for d, _, fs in os.walk(on_disk) for f in fs
    )
    assert found == sorted(paths)  # no temp files left behind either
    assert (on_disk / "2026/11/25/Zoë – 通话.opus").read_bytes() == b"audio 1"

    store.remove("2026/12/01/call-2.opus")
    assert not (on_disk / "2026/12").exists()  # emptied folders are tidied away
    for path in paths[:2]:
        store.remove(path)
    assert on_disk.is_dir() and not any(on_disk.iterdir())  # but never the connector's folder


def test_files_put_on_the_nas_by_hand_are_listed(samba: Samba, open_smb: OpenSMB) -> None:
    store = open_smb(settings_for(samba, "by-hand"))
    assert store.test() == Accessibility.OK  # creates the folder
    folder = samba.folder / "by-hand" / "2025" / "01"
    folder.mkdir(parents=True)
    (folder / "old.opus").write_bytes(b"12345")
    [info] = store.list()
    assert (info.path, info.size) == ("2025/01/old.opus", 5)
    assert abs(info.mtime - (folder / "old.opus").stat().st_mtime) < 2


def test_a_missing_file_is_a_permanent_error(smb_store: SMBStore) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        smb_store.open("gone.opus")
    assert smb_store.is_permanent_error(caught.value)


# -- encryption ------------------------------------------------------------------------------


def test_encryption_on_request_uses_smb3(samba: Samba, open_smb: OpenSMB) -> None:
    store = open_smb(settings_for(samba, "encrypted", encrypt="yes"))
    status, detail = store.diagnose()
    assert status == Accessibility.OK
    assert "SMB 3.1.1 with encryption" in detail
    store.put("2026/a.opus", io.BytesIO(b"secret audio"), 12)
    with store.open("2026/a.opus") as fh:
        assert fh.read() == b"secret audio"
    assert (samba.folder / "encrypted" / "2026" / "a.opus").read_bytes() == b"secret audio"


def test_without_encryption_the_newest_dialect_is_used(samba: Samba, open_smb: OpenSMB) -> None:
    status, detail = open_smb(settings_for(samba, "plain")).diagnose()
    assert status == Accessibility.OK
    assert detail.endswith("over SMB 3.1.1")


def test_encryption_against_an_old_nas_is_misconfigured(
    samba_smb2_only: Samba, open_smb: OpenSMB
) -> None:
    store = open_smb(settings_for(samba_smb2_only, "enc", encrypt="yes"))
    status, detail = store.diagnose()
    assert status == Accessibility.MISCONFIGURED
    assert "Encryption was requested, but the NAS at 127.0.0.1" in detail
    assert "cannot encrypt: it does not offer SMB 3 (it speaks SMB 2.1)" in detail
    assert "set 'Require encryption' to no" in detail
    with pytest.raises(ShareMisconfigured) as caught:
        store.put("a.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)
    assert not (samba_smb2_only.folder / "enc").exists()  # nothing was sent in clear

    # the same old NAS without encryption is fine
    plain = open_smb(settings_for(samba_smb2_only, "plain"))
    status, detail = plain.diagnose()
    assert (status, detail.endswith("over SMB 2.1")) == (Accessibility.OK, True)
    plain.put("a.opus", io.BytesIO(b"x"), 1)
    assert (samba_smb2_only.folder / "plain" / "a.opus").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("server", "encrypt", "dialect"),
    [
        ("samba_smb2_only", "no", "SMB 2.1"),  # signed with HMAC-SHA256
        ("samba_smb3_0", "no", "SMB 3.0"),  # AES-CMAC
        ("samba", "no", "SMB 3.1.1"),  # AES-GMAC
        ("samba", "yes", "SMB 3.1.1 with encryption"),  # sealed, not signed
    ],
)
def test_recordings_larger_than_one_write_arrive_intact(
    request: pytest.FixtureRequest, open_smb: OpenSMB, server: str, encrypt: str, dialect: str
) -> None:
    """Writes are signed (or sealed) and sent by mm itself, several at a time: the NAS checks
    every signature and would refuse a wrong one, and the bytes must land in order."""
    samba: Samba = request.getfixturevalue(server)
    folder = f"big-{server}-{encrypt}"
    store = open_smb(settings_for(samba, folder, encrypt=encrypt))
    status, detail = store.diagnose()
    assert (status, detail.endswith(f"over {dialect}")) == (Accessibility.OK, True), detail
    audio = os.urandom(17 * (1 << 20) + 12_345)  # several writes, two in flight at a time
    stored = store.put("2026/11/26/long call.opus", io.BytesIO(audio), len(audio))
    assert stored.size == len(audio)
    assert stored.tail == audio[-READ_BACK:]  # read back from the NAS as the copy finished
    on_disk = samba.folder / folder / "2026" / "11" / "26" / "long call.opus"
    assert on_disk.read_bytes() == audio
    with store.open("2026/11/26/long call.opus") as fh:
        assert fh.read() == audio
    # a stream that cannot read into a buffer (an encrypting wrapper, a download) works too
    store.put("2026/copy.opus", _ReadOnly(audio), len(audio))
    assert (samba.folder / folder / "2026" / "copy.opus").read_bytes() == audio


class _ReadOnly(io.RawIOBase):
    """A stream with only ``read``, handing out uneven pieces."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else len(self._data), 100_003)
        piece = bytes(self._data[self._at : self._at + size])
        self._at += len(piece)
        return piece

    readinto = None  # type: ignore[assignment]


# -- settings that cannot work ----------------------------------------------------------------


def test_an_unknown_share_is_misconfigured(samba: Samba, open_smb: OpenSMB) -> None:
    store = open_smb(settings_for(samba, path="127.0.0.1/No such share/calls"))
    status, detail = store.diagnose()
    assert status == Accessibility.MISCONFIGURED
    assert "The NAS at 127.0.0.1 has no share named 'No such share'" in detail
    with pytest.raises(ShareMisconfigured) as caught:
        store.put("a.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)


def test_a_read_only_share_is_denied(samba: Samba, open_smb: OpenSMB) -> None:
    store = open_smb(settings_for(samba, path=f"127.0.0.1/{READ_ONLY_SHARE}"))
    status, detail = store.diagnose()
    assert status == Accessibility.DENIED
    assert f"denied user '{samba.user}' access" in detail
    assert "Give this user write access to the share" in detail
    with pytest.raises(ShareDenied) as caught:
        store.put("a.opus", io.BytesIO(b"x"), 1)
    assert store.is_permanent_error(caught.value)


def test_a_wrong_password_is_denied_even_beside_a_good_login(
    samba: Samba, open_smb: OpenSMB
) -> None:
    good = open_smb(settings_for(samba, "shared"))
    good.put("a.opus", io.BytesIO(b"x"), 1)  # a logged-in session to the same server and port
    wrong = open_smb(settings_for(samba, "shared", password="guess"))
    status, detail = wrong.diagnose()
    assert status == Accessibility.DENIED
    assert f"refused to log in user '{samba.user}'" in detail
    with pytest.raises(ShareDenied):
        wrong.open("a.opus")


def test_an_unreachable_nas_says_where(open_smb: OpenSMB) -> None:
    port = free_port()  # nothing listens there
    store = open_smb({"path": f"127.0.0.1:{port}/Archive", "username": "u", "password": "p"})
    status, detail = store.diagnose()
    assert status == Accessibility.UNREACHABLE
    assert f"Cannot reach the NAS at 127.0.0.1:{port}" in detail
    assert "Check the address and port, and that the NAS is switched on" in detail


def test_closed_stores_connect_again(smb_store: SMBStore) -> None:
    smb_store.put("a.opus", io.BytesIO(b"x"), 1)
    smb_store.close()
    info = smb_store.stat("a.opus")
    assert info is not None and info.size == 1
    space = smb_store.free_space()
    assert space is not None and space > 0


# -- the SDK stays unloaded until needed -------------------------------------------------------


def test_importing_the_backend_does_not_import_smbprotocol() -> None:
    code = (
        "import sys\n"
        "import mm_engine.storage.smb as smb\n"
        "from mm_engine.storage.registry import fields, title\n"
        "assert title('smb') == 'Network share (SMB/NAS)' and fields('smb') == smb.FIELDS\n"
        "smb.from_settings({'path': 'nas/Archive', 'username': 'u', 'password': 'p'}, 'n')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('smbprotocol', 'smbclient')))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_a_store_on_the_whole_share(samba: Samba, open_smb: OpenSMB) -> None:
    """The seed's own example: ``IP/SharePath`` with no folder below the share."""
    store = open_smb(settings_for(samba, path=f"127.0.0.1/{samba.share}"))
    assert store.test() == Accessibility.OK
    store.put("whole-share-test/2026/a.opus", io.BytesIO(b"abc"), 3)
    store.put("whole-share-test.opus", io.BytesIO(b"top"), 3)
    assert (samba.folder / "whole-share-test" / "2026" / "a.opus").read_bytes() == b"abc"
    assert (samba.folder / "whole-share-test.opus").read_bytes() == b"top"
    assert [o.path for o in store.list("whole-share-test")] == ["whole-share-test/2026/a.opus"]
    store.remove("whole-share-test/2026/a.opus")
    store.remove("whole-share-test.opus")
    assert not (samba.folder / "whole-share-test").exists()
    assert not (samba.folder / "whole-share-test.opus").exists()
    assert samba.folder.is_dir()


def test_one_store_serves_several_threads(smb_store: SMBStore) -> None:
    """Archiving runs uploads side by side over the store's one connection."""
    files = {f"2026/0{n % 3}/call-{n}.opus": os.urandom(50_000 + n) for n in range(16)}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda item: smb_store.put(item[0], io.BytesIO(item[1])), files.items()))

    def read(path: str) -> bytes:
        with smb_store.open(path) as fh:
            data: bytes = fh.read()
            return data

    with ThreadPoolExecutor(4) as pool:
        assert dict(zip(files, pool.map(read, files), strict=True)) == files
    assert {o.path: o.size for o in smb_store.list()} == {p: len(d) for p, d in files.items()}
