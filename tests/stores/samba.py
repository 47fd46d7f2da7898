"""A real Samba ``smbd`` on 127.0.0.1, started for the test session (/work/shared/services.md).

Everything it keeps (config, password database, locks, logs) lives in one temp folder; the share
itself is a folder in /tmp owned by the test user, so a test can look at what a NAS user would
see on disk. smbd runs as root (so it can switch to the share's user), which CI and
./scripts/test do.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.stores.net import free_port, wait_port

USER = "mm-smb-test"
PASSWORD = "Archive-Pass-42"
SHARE = "Remote archive"  # a space in the name, as in the seed's example
READ_ONLY_SHARE = "Read only"  # the user may log in and read, not write


@dataclass
class Samba:
    port: int
    folder: Path  # the shared folder on this machine's disk
    read_only_folder: Path
    home: Path  # config, password database, logs
    proc: subprocess.Popen[bytes]
    started_in: float  # seconds from launch until it accepted connections
    share: str = SHARE
    user: str = USER
    password: str = PASSWORD
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / "log.smbd"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # workers of this smbd, if any outlived it
            os.killpg(self.proc.pid, signal.SIGKILL)
        for path in (self.home, self.folder, self.read_only_folder):
            shutil.rmtree(path, ignore_errors=True)


def ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "-M", "-s", "/usr/sbin/nologin", USER], capture_output=True, text=True
    )
    if result.returncode not in (0, 9):  # 9: made meanwhile by another test run
        raise RuntimeError(f"useradd {USER} failed: {result.stderr}")
    return pwd.getpwnam(USER)


STATE_DIRS = ("private", "lock", "state", "cache", "pid", "ncalrpc")


def config(home: Path, folder: Path, read_only: Path, port: int, max_protocol: str | None) -> str:
    lines = [
        "[global]",
        "server role = standalone server",
        "interfaces = 127.0.0.1",
        "bind interfaces only = yes",
        f"smb ports = {port}",
        "disable netbios = yes",
        "server min protocol = SMB2_10",
        *([f"server max protocol = {max_protocol}"] if max_protocol else []),
        f"passdb backend = tdbsam:{home}/passdb.tdb",
        *(
            f"{name} = {home}/{name.split()[0]}"
            for name in (
                "private dir",
                "lock directory",
                "state directory",
                "cache directory",
                "pid directory",
                "ncalrpc dir",
            )
        ),
        f"log file = {home}/log.%m",
        "log level = 1",
        "load printers = no",
        "printcap name = /dev/null",
        "disable spoolss = yes",
        "server smb encrypt = if_required",
        "",
        f"[{SHARE}]",
        f"path = {folder}",
        "read only = no",
        f"valid users = {USER}",
        f"force user = {USER}",
        "",
        f"[{READ_ONLY_SHARE}]",
        f"path = {read_only}",
        "read only = yes",
        f"valid users = {USER}",
        "",
    ]
    return "\n".join(lines)


def start_samba(max_protocol: str | None = None) -> Samba:
    """A new smbd with its shares on empty folders; ``max_protocol`` caps the dialect."""
    account = ensure_user()
    home = Path(tempfile.mkdtemp(prefix="mm-samba-home-"))
    folder = Path(tempfile.mkdtemp(prefix="mm-samba-share-"))  # in /tmp: the user can reach it
    read_only = Path(tempfile.mkdtemp(prefix="mm-samba-ro-"))
    try:
        return launch(home, folder, read_only, account, max_protocol)
    except BaseException:
        for path in (home, folder, read_only):
            shutil.rmtree(path, ignore_errors=True)
        raise


def launch(
    home: Path,
    folder: Path,
    read_only: Path,
    account: pwd.struct_passwd,
    max_protocol: str | None,
) -> Samba:
    for path in (folder, read_only):
        os.chown(path, account.pw_uid, account.pw_gid)
    for name in STATE_DIRS:
        (home / name).mkdir()
    port = free_port()
    conf = home / "smb.conf"
    conf.write_text(config(home, folder, read_only, port, max_protocol))
    subprocess.run(
        ["smbpasswd", "-c", str(conf), "-a", "-s", USER],
        input=f"{PASSWORD}\n{PASSWORD}\n".encode(),
        check=True,
        capture_output=True,
    )
    began = time.monotonic()
    with open(home / "smbd.out", "wb") as out:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            ["smbd", "--foreground", "--no-process-group", f"--configfile={conf}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # smbd signals its whole process group when it stops: give it its own
            start_new_session=True,
        )
    try:
        wait_port(port, proc)
    except BaseException as exc:
        proc.kill()
        proc.wait()
        said = (home / "smbd.out").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"smbd did not start: {exc}\n{said}") from exc
    return Samba(port, folder, read_only, home, proc, time.monotonic() - began)


@pytest.fixture(scope="session")
def samba() -> Iterator[Samba]:
    """smbd speaking SMB 2.1 up to 3.1.1 (encryption when the client asks for it)."""
    server = start_samba()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def samba_smb2_only() -> Iterator[Samba]:
    """An 'old NAS': smbd capped at SMB 2.1, so it cannot encrypt."""
    server = start_samba(max_protocol="SMB2_10")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def samba_smb3_0() -> Iterator[Samba]:
    """smbd capped at SMB 3.0: signs with AES-CMAC (3.1.1 signs with AES-GMAC, 2.1 with
    HMAC-SHA256)."""
    server = start_samba(max_protocol="SMB3_00")
    try:
        yield server
    finally:
        server.stop()
