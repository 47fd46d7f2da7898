"""Alarm e-mail (F35) against a real SMTP server: aiosmtpd on 127.0.0.1, in this process.

Plain, STARTTLS with a self-signed certificate made here, and AUTH with right and wrong
passwords; retries while the server is down; ingest never waits for the network.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner, Result

from mm_engine.alarms import AlarmType
from mm_engine.engine import Engine
from mm_engine.mailer import CAFILE_ENV, MailSender, SendError
from mm_engine.service import Service
from mm_tui.cli import app
from tests.service_helpers import mm, start_service, stop_service, wait_for

USER, PASSWORD = "mm-alarms", "Right-Pa55word"
# AUTH without TLS is what a plain-text login test is about
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


# -- a real SMTP server ------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.login_data.decode() if isinstance(session.login_data, bytes) else None
        with self.lock:
            self.messages.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    parsed,
                    session.ssl is not None,
                    login,
                )
            )
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m.message["Subject"]) for m in self.messages]


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False lets aiosmtpd answer 535; handled=True would drop the connection silently
    if ok:
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)


@dataclass
class Server:
    port: int
    inbox: Inbox
    controller: Controller | None = None

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with cryptography."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mm test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


StartServer = Callable[..., Server]


@pytest.fixture
def smtp(certificate: Certificate) -> Iterator[StartServer]:
    """Start an SMTP server: ``smtp(tls=..., auth=..., port=...)``; all stop at teardown."""
    servers: list[Server] = []

    def start(*, tls: bool = False, auth: bool = False, port: int | None = None) -> Server:
        server = Server(port or free_port(), Inbox())
        kwargs: dict[str, Any] = {}
        if tls:
            kwargs.update(tls_context=certificate.server_context(), require_starttls=True)
        if auth:
            kwargs.update(authenticator=authenticator, auth_required=True)
            kwargs.update(auth_require_tls=tls)
        server.controller = Controller(
            server.inbox, hostname="127.0.0.1", port=server.port, ready_timeout=10, **kwargs
        )
        server.controller.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def configure(engine: Engine, port: int, **settings: str) -> None:
    values = {
        "profile": "site-a",
        "smtp_server": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_from": "mm@example.com",
        "smtp_to": "ops@example.com;oncall@example.org",
        **settings,
    }
    values.setdefault("send_email", "yes")
    send = values.pop("send_email")
    for key, value in values.items():
        engine.config.set(key, value)
    engine.config.set("send_email", send)  # last: changes before it are not mailed


def outbox(home: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "mm.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY id")]
    finally:
        conn.close()


def sender(engine: Engine, **kwargs: Any) -> MailSender:
    kwargs.setdefault("timeout", 5.0)
    return MailSender(engine.db, engine.mail, engine.alarms, **kwargs)


def raise_low_disk(engine: Engine) -> None:
    engine.alarms.raise_(AlarmType.DISK_SPACE_ERROR, "low", gb=3)


def email_errors(engine: Engine) -> list[dict[str, Any]]:
    return [a for a in engine.alarms.list() if a["type"] == "EMAIL_ERROR"]


# -- delivery ----------------------------------------------------------------------------------


def test_a_new_alarm_is_mailed_to_every_recipient_with_its_details(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port)
    engine.alarms.raise_(AlarmType.DISK_SPACE_ERROR, "low", gb=3)
    assert sender(engine).send_due() == 2  # the configuration change, then the disk alarm

    mails = [m for m in server.inbox.messages if "DISK_SPACE_ERROR" in str(m.message["Subject"])]
    assert len(mails) == 1
    mail = mails[0]
    assert mail.mail_from == "mm@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "oncall@example.org"]
    assert mail.message["From"] == "mm@example.com"
    assert mail.message["To"] == "ops@example.com, oncall@example.org"
    assert mail.message["Subject"] == (
        "[mm site-a] MAJOR DISK_SPACE_ERROR: "
        "Not enough space on the local disk available for Media Manag…"
    )
    body = mail.message.get_body()
    assert body is not None
    text = body.get_content()
    alarm = next(a for a in engine.alarms.list() if a["type"] == "DISK_SPACE_ERROR")
    for expected in (
        f"Date:           {alarm['raised_at']}",
        "Severity:       major",
        "Type:           DISK_SPACE_ERROR",
        "Will attempt to free 3 GB.",
        "Count:          1",
        f"Host:           {socket.gethostname()}",
        f"Data directory: {home}",
        f"mm alarms ack {alarm['id']}",
    ):
        assert expected in text
    rows = outbox(home)
    assert all(r["sent_at"] and r["next_attempt_at"] is None for r in rows)


def test_repeats_of_an_alarm_send_no_second_mail(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port)
    mailer = sender(engine)
    mailer.send_due()
    before = len(server.inbox.messages)
    raise_low_disk(engine)
    raise_low_disk(engine)
    mailer.send_due()
    raise_low_disk(engine)
    assert mailer.send_due() == 0
    assert len(server.inbox.messages) == before + 1
    assert [a["count"] for a in engine.alarms.list() if a["type"] == "DISK_SPACE_ERROR"] == [3]


def test_the_mail_shows_the_count_reached_while_it_waited(
    engine: Engine, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port)
    for _ in range(4):
        raise_low_disk(engine)
    sender(engine).send_due()
    text = server.inbox.messages[-1].message.get_body().get_content()  # type: ignore[union-attr]
    assert "Count:          4" in text


def test_no_mail_is_queued_while_send_email_is_no(engine: Engine, home: Path) -> None:
    configure(engine, free_port(), send_email="no")
    raise_low_disk(engine)
    assert outbox(home) == []


def test_switching_send_email_off_drops_mails_still_waiting(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port)
    raise_low_disk(engine)
    engine.config.set("send_email", "no")
    sender(engine).send_due()
    assert server.inbox.messages == []
    assert all(r["failed_at"] and "send_email" in r["last_error"] for r in outbox(home))
    assert email_errors(engine) == []


def test_a_missing_smtp_server_is_a_visible_failure(engine: Engine, home: Path) -> None:
    configure(engine, free_port(), smtp_server="")
    sender(engine).send_due()
    (row,) = outbox(home)
    assert row["failed_at"] and row["attempts"] == 1
    (alarm,) = email_errors(engine)
    assert "smtp_server not set" in alarm["message"]


def test_old_sent_and_given_up_mails_are_pruned_but_waiting_ones_kept(
    engine: Engine, home: Path
) -> None:
    configure(engine, free_port())
    for n in range(3):
        engine.alarms.raise_(AlarmType.FILE_ERROR, "delete", reason=f"r{n}")
    ids = [r["id"] for r in outbox(home)]
    old = "2020-01-01T00:00:00.000+00:00"
    engine.db.execute_write(
        "UPDATE outbox SET sent_at = ?, next_attempt_at = NULL WHERE id = ?", (old, ids[0])
    )
    engine.db.execute_write(
        "UPDATE outbox SET failed_at = ?, next_attempt_at = NULL WHERE id = ?", (old, ids[1])
    )
    engine.db.execute_write("UPDATE outbox SET created_at = ? WHERE id = ?", (old, ids[2]))
    assert sender(engine).prune() == 2
    assert [r["id"] for r in outbox(home)] == ids[2:]


def test_starttls_delivers_with_a_verified_certificate(
    engine: Engine, smtp: StartServer, certificate: Certificate
) -> None:
    server = smtp(tls=True)
    configure(engine, server.port, smtp_secure="yes")
    raise_low_disk(engine)
    sender(engine, ssl_context=certificate.client_context()).send_due()
    assert len(server.inbox.messages) == 2
    assert all(m.tls for m in server.inbox.messages)


def test_an_untrusted_certificate_fails_for_good_with_a_visible_alarm(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp(tls=True)
    configure(engine, server.port, smtp_secure="yes")
    sender(engine).send_due()  # production default: verify against the system's CAs
    assert server.inbox.messages == []
    (row,) = outbox(home)
    assert row["failed_at"] and row["attempts"] == 1
    (alarm,) = email_errors(engine)
    assert "TLS (STARTTLS)" in alarm["message"] and "Check smtp_secure" in alarm["message"]


def test_login_with_the_right_password_delivers(engine: Engine, smtp: StartServer) -> None:
    server = smtp(auth=True)
    configure(engine, server.port, smtp_user=USER, smtp_password=PASSWORD)
    raise_low_disk(engine)
    sender(engine).send_due()
    assert len(server.inbox.messages) == 2
    assert {m.login for m in server.inbox.messages} == {USER}


def test_login_over_starttls_delivers(
    engine: Engine, smtp: StartServer, certificate: Certificate
) -> None:
    server = smtp(tls=True, auth=True)
    configure(engine, server.port, smtp_secure="yes", smtp_user=USER, smtp_password=PASSWORD)
    sender(engine, ssl_context=certificate.client_context()).send_due()
    (mail,) = server.inbox.messages
    assert mail.tls and mail.login == USER


def test_a_wrong_password_raises_an_alarm_that_is_not_mailed(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp(auth=True)
    configure(engine, server.port, smtp_user=USER, smtp_password="wrong-Secret-77")
    raise_low_disk(engine)
    mailer = sender(engine, backoff=(0.01,) * 5)
    assert mailer.send_due() == 2
    assert server.inbox.messages == []
    rows = outbox(home)
    assert [(r["attempts"], r["sent_at"]) for r in rows] == [(1, None), (1, None)]
    assert all(r["failed_at"] for r in rows)  # a refused login is not retried
    (alarm,) = email_errors(engine)
    assert alarm["count"] == 2  # one alarm for the same failure, counted
    assert "refused the login (535" in alarm["message"]
    assert "Check smtp_user/smtp_password" in alarm["message"]
    assert "ops@example.com;oncall@example.org" in alarm["message"]
    assert len(outbox(home)) == 2, "the failure alarm itself must not be queued for mail"
    everything = json.dumps([engine.alarms.list(), outbox(home)])
    assert "wrong-Secret-77" not in everything


# -- retries and never blocking ------------------------------------------------------------------


def test_the_sender_retries_while_the_server_is_down_and_delivers_once_it_is_up(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    port = free_port()
    configure(engine, port)
    mailer = sender(engine, backoff=(0.2,) * 50, poll_seconds=0.2)
    mailer.start()
    try:
        raise_low_disk(engine)
        wait_for(lambda: all(r["attempts"] >= 2 for r in outbox(home)), timeout=10)
        assert "Cannot connect to the SMTP server" in outbox(home)[0]["last_error"]
        server = smtp(port=port)
        wait_for(lambda: all(r["sent_at"] for r in outbox(home)), timeout=10)
    finally:
        mailer.stop()
    assert sorted(s.split(":")[0] for s in server.inbox.subjects()) == [
        "[mm site-a] INFO CONFIGURATION_CHANGED",
        "[mm site-a] MAJOR DISK_SPACE_ERROR",
    ]
    assert email_errors(engine) == []


def test_when_retries_run_out_the_failure_becomes_an_alarm(engine: Engine, home: Path) -> None:
    configure(engine, free_port())
    mailer = sender(engine, backoff=(0.05, 0.05), poll_seconds=0.1)
    mailer.start()
    try:
        wait_for(lambda: bool(email_errors(engine)), timeout=10)
    finally:
        mailer.stop()
    (row,) = outbox(home)
    assert row["attempts"] == 3 and row["failed_at"] and row["sent_at"] is None
    (alarm,) = email_errors(engine)
    assert "gave up after 3 attempts" in alarm["message"]
    assert "Check smtp_server/smtp_port" in alarm["message"]
    assert len(outbox(home)) == 1


def test_raising_an_alarm_never_waits_for_the_mail_server(engine: Engine, home: Path) -> None:
    # A server that accepts TCP connections (the kernel does) but never says a word.
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        mute.setblocking(False)
        configure(engine, mute.getsockname()[1])
        raise_low_disk(engine)
        assert len(outbox(home)) == 2
        with pytest.raises(BlockingIOError):
            mute.accept()  # raise_ queued the mail without connecting anywhere

        mailer = sender(engine, timeout=30.0, drain_seconds=0.5)
        mailer.start()
        try:
            wait_for(lambda: _accepted(mute), timeout=10)  # the sender is now stuck in a greeting
            engine.alarms.raise_(AlarmType.FILE_ERROR, "delete", reason="disk gone")
            assert len(outbox(home)) == 3  # queued while the sender waits on the server
        finally:
            began = time.monotonic()
            mailer.stop()
            stopped_after = time.monotonic() - began
    assert stopped_after < 10, "stop must cut a hanging SMTP conversation short"
    assert all(r["sent_at"] is None and r["failed_at"] is None for r in outbox(home))


_held: list[socket.socket] = []


def _accepted(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    _held.append(conn)  # keep it open (and silent) until the test ends
    return True


@pytest.fixture(autouse=True)
def _close_held() -> Iterator[None]:
    yield
    while _held:
        _held.pop().close()


def test_mail_queued_by_another_process_is_sent_by_the_running_sender(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port)
    mailer = sender(engine, poll_seconds=0.2)
    mailer.start()
    try:
        wait_for(lambda: len(server.inbox.messages) == 1, timeout=10)
        # another process (here: a second Engine on the same database) raises an alarm
        with Engine(home) as other:
            other.alarms.raise_(AlarmType.FILE_ERROR, "delete", reason="no such file")
        wait_for(lambda: len(server.inbox.messages) == 2, timeout=10)
    finally:
        mailer.stop()
    assert "FILE_ERROR" in server.inbox.subjects()[1]


def test_service_start_and_stop_run_the_sender(
    engine: Engine, home: Path, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port)
    service = Service(engine)
    service.start()
    try:
        wait_for(lambda: any("SYSTEM_RESTART" in s for s in server.inbox.subjects()), timeout=10)
    finally:
        service.stop()
    assert any("Service shutdown" in s for s in server.inbox.subjects())


# -- the real service, end to end ------------------------------------------------------------------


def test_the_headless_service_mails_its_start_alarm(home: Path, smtp: StartServer) -> None:
    from tests.test_service import configure as configure_service

    server = smtp()
    configure_service(home)
    for key, value in (
        ("smtp_server", "127.0.0.1"),
        ("smtp_port", str(server.port)),
        ("smtp_from", "mm@example.com"),
        ("smtp_to", "ops@example.com;oncall@example.org"),
        ("send_email", "yes"),
    ):
        assert mm(home, "config", "set", key, value).returncode == 0
    proc = start_service(home)
    try:
        wait_for(lambda: any("SYSTEM_RESTART" in s for s in server.inbox.subjects()), timeout=30)
    finally:
        assert stop_service(proc) == 0
    subjects = server.inbox.subjects()
    # queued by the `mm config set` process, sent by the service
    assert any("CONFIGURATION_CHANGED" in s for s in subjects)
    started = next(m for m in server.inbox.messages if "Service started" in m.message["Subject"])
    assert started.rcpt_tos == ["ops@example.com", "oncall@example.org"]
    assert any("Service shutdown" in s for s in subjects), "the stop drains the outbox"


# -- `mm alarms test-email` ------------------------------------------------------------------------


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_test_email_reports_the_servers_answer_even_with_send_email_no(
    engine: Engine, smtp: StartServer
) -> None:
    server = smtp()
    configure(engine, server.port, send_email="no")
    result = cli("alarms", "test-email")
    assert result.exit_code == 0, result.stderr
    assert "250 Message accepted for delivery" in result.stdout
    (mail,) = server.inbox.messages
    assert mail.message["Subject"] == "[mm site-a] Test e-mail"
    assert mail.rcpt_tos == ["ops@example.com", "oncall@example.org"]
    assert "send_email is no" in mail.message.get_body().get_content()  # type: ignore[union-attr]

    as_json = json.loads(cli("alarms", "test-email", "--json").stdout)
    assert as_json == {
        "sent": True,
        "reply": "250 Message accepted for delivery",
        "server": f"127.0.0.1:{server.port}",
        "recipients": ["ops@example.com", "oncall@example.org"],
    }


def test_test_email_with_a_wrong_password_says_what_to_check(
    engine: Engine, smtp: StartServer
) -> None:
    server = smtp(auth=True)
    configure(engine, server.port, smtp_user=USER, smtp_password="wrong-Secret-77")
    result = cli("alarms", "test-email")
    assert result.exit_code == 1
    assert "refused the login (535" in result.stderr
    assert "Check smtp_user/smtp_password" in result.stderr
    assert "wrong-Secret-77" not in result.stderr + result.stdout


def test_test_email_with_nothing_listening_says_what_to_check(engine: Engine) -> None:
    configure(engine, free_port())
    result = cli("alarms", "test-email")
    assert result.exit_code == 1
    assert "Cannot connect to the SMTP server" in result.stderr
    assert "Check smtp_server/smtp_port" in result.stderr


def test_test_email_over_starttls_trusts_the_ca_file_named_in_the_environment(
    engine: Engine, smtp: StartServer, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = smtp(tls=True)
    configure(engine, server.port, smtp_secure="yes")
    untrusted = cli("alarms", "test-email")
    assert untrusted.exit_code == 1
    assert "Check smtp_secure" in untrusted.stderr
    monkeypatch.setenv(CAFILE_ENV, str(certificate.cert))
    trusted = cli("alarms", "test-email")
    assert trusted.exit_code == 0, trusted.stderr
    assert server.inbox.messages[-1].tls


def test_test_email_refuses_without_server_sender_and_recipients(engine: Engine) -> None:
    result = cli("alarms", "test-email")
    assert result.exit_code == 3
    assert "smtp_server, smtp_from, smtp_to are not set" in result.stderr
    engine.config.set("smtp_server", "127.0.0.1")
    engine.config.set("smtp_to", "ops@example.com")
    result = cli("alarms", "test-email")
    assert result.exit_code == 3
    assert "smtp_from is not set" in result.stderr


def test_test_email_does_not_hang_on_a_silent_server(engine: Engine) -> None:
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(1)
        configure(engine, mute.getsockname()[1], send_email="no")
        with pytest.raises(SendError) as err:
            engine.mail.test_email(timeout=0.5)
    assert "no answer (timed out)" in err.value.message
    assert "Check smtp_server/smtp_port" in err.value.hint
