"""The console the way engineers reach it: a real sshd on 127.0.0.1, an ssh client in tmux.

sshd runs with a throwaway host key and a ``ForceCommand`` that starts ``mm`` — the restricted
account the README describes for people who should get the console and nothing else. The
client logs in with a test key, the console's login screen takes the mm account, a search
narrows the list, and the screen is captured as the engineer would see it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mm_engine.engine import Engine
from mm_engine.principal import SYSTEM, Role
from tests.conftest import AddRecording
from tests.stores.net import free_port, wait_port

PASSWORD = "correct horse"
SSHD = "/usr/sbin/sshd"


def _need(tool: str) -> None:
    if shutil.which(tool) is None and not Path(tool).exists():
        pytest.fail(f"{tool} is missing: ./scripts/test installs it (see scripts/test)")


@pytest.fixture
def sshd(tmp_path: Path, home: Path) -> Iterator[tuple[int, Path]]:
    """sshd on a free loopback port whose only command is `mm` on this data directory."""
    _need(SSHD)
    _need("ssh")
    conf_dir = tmp_path / "sshd"
    conf_dir.mkdir()
    host_key = conf_dir / "host_ed25519"
    client_key = conf_dir / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    authorized = conf_dir / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    authorized.chmod(0o600)
    mm = Path(sys.executable).with_name("mm")
    port = free_port()
    (conf_dir / "sshd_config").write_text(
        f"""
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {conf_dir}/sshd.pid
AuthorizedKeysFile {authorized}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
PrintMotd no
AllowTcpForwarding no
X11Forwarding no
ForceCommand env MM_HOME={home} TERM=$TERM {mm}
"""
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(conf_dir / "sshd_config")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, proc)  # type: ignore[arg-type]
        yield port, client_key
    finally:
        proc.terminate()
        proc.wait(10)


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)


def _type(socket: str, text: str) -> None:
    """Literal text, then a pause: over ssh, a key sent in the same burst can arrive as part of
    the text (Textual reads the burst as a paste)."""
    _tmux(socket, "send-keys", "-t", "mm", "-l", text)
    time.sleep(0.5)


def _wait_for(socket: str, text: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "mm").stdout
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; screen:\n{screen}")


def test_console_over_ssh_logs_in_and_searches(
    sshd: tuple[int, Path], engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    _need("tmux")
    engine.users.add(SYSTEM, "admin", Role.ADMINISTRATOR, PASSWORD)
    add_recording(call_id="SSH-ALPHA", parties=["4201"])
    add_recording(call_id="SSH-BRAVO", parties=["4202"])
    port, key = sshd
    socket = f"mm-ssh-{uuid.uuid4().hex[:8]}"
    ssh = (
        f"ssh -t -p {port} -i {key} -o StrictHostKeyChecking=no "
        f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1"
    )
    started = _tmux(
        socket, "new-session", "-d", "-s", "mm", "-x", "80", "-y", "24",
        "-e", "TERM=xterm-256color", ssh,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        _wait_for(socket, "Log in to mm")
        _type(socket, "admin")
        _tmux(socket, "send-keys", "-t", "mm", "Tab")
        _wait_for(socket, "admin")
        _type(socket, PASSWORD)
        _tmux(socket, "send-keys", "-t", "mm", "Enter")
        screen = _wait_for(socket, "4202")  # at 80 columns the parties show, not the call id
        assert "4201" in screen
        _tmux(socket, "send-keys", "-t", "mm", "/")
        _type(socket, "4201")
        _tmux(socket, "send-keys", "-t", "mm", "Enter")
        deadline = time.monotonic() + 20
        while "4202" in screen:
            assert time.monotonic() < deadline, f"the search did not narrow:\n{screen}"
            time.sleep(0.2)
            screen = _tmux(socket, "capture-pane", "-p", "-t", "mm").stdout
        assert "4201" in screen and "1–1 of 1" in screen
        (tmp_path / "screen.txt").write_text(screen)  # what the engineer saw, for a failure
        _tmux(socket, "send-keys", "-t", "mm", "C-q")
        deadline = time.monotonic() + 15
        while _tmux(socket, "has-session", "-t", "mm").returncode == 0:
            assert time.monotonic() < deadline, "ssh did not end when the console quit"
            time.sleep(0.2)
    finally:
        _tmux(socket, "kill-server")
    events = engine.audit.list().items
    searches = [e for e in events if e.user == "admin" and e.action == "search"]
    assert any("4201" in str(e.details) for e in searches), "the search was not audited"
