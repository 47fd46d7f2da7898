"""Alarm e-mail over SMTP (seed F35): a test send for people, a background sender for alarms.

Alarms only queue mails (:mod:`mm_engine.outbox`); :class:`MailSender`, a thread of the engine
role, delivers them, retries transient failures with backoff, and turns a final failure into an
``EMAIL_ERROR`` alarm that is itself never mailed. Every SMTP step has a bounded timeout and the
thread can be interrupted mid-conversation, so neither ingest nor a service stop waits on a slow
mail server.

TLS (``smtp_secure``) means STARTTLS on the configured port, with the certificate verified
against the system's CAs plus, when set, the CA file named by ``$MM_SMTP_CAFILE`` (for a
company CA, and for the tests' self-signed server).
"""

from __future__ import annotations

import contextlib
import email.policy
import email.utils
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from mm_engine import outbox
from mm_engine.alarms import Alarm, Alarms, AlarmType
from mm_engine.config import Config
from mm_engine.db import Database
from mm_engine.errors import MMError, Refused
from mm_engine.text import N_, Msg, msg

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 10.0
CAFILE_ENV = "MM_SMTP_CAFILE"
# Seconds to wait after each failed attempt: 8 attempts spread over about an hour.
DEFAULT_BACKOFF: tuple[float, ...] = (30, 60, 120, 300, 600, 1200, 1800)
POLL_SECONDS = 5.0
DRAIN_SECONDS = 5.0
BATCH = 50
KEEP_DAYS = 30.0
PRUNE_EVERY_SECONDS = 3600.0
MASK = "********"


@dataclass(frozen=True)
class SmtpSettings:
    server: str
    port: int
    secure: bool
    user: str
    password: str = field(repr=False)
    sender: str
    recipients: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Config) -> SmtpSettings:
        return cls(
            server=str(config.get("smtp_server")),
            port=int(config.get("smtp_port")),
            secure=bool(config.get("smtp_secure")),
            user=str(config.get("smtp_user")),
            password=str(config.get("smtp_password")),
            sender=str(config.get("smtp_from")),
            recipients=split_recipients(str(config.get("smtp_to"))),
        )

    def missing(self, *, need_recipients: bool = True) -> list[str]:
        names = [("smtp_server", self.server), ("smtp_from", self.sender)]
        if need_recipients:
            names.append(("smtp_to", ";".join(self.recipients)))
        return [name for name, value in names if not value]


def split_recipients(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(";") if p.strip())


@dataclass(frozen=True)
class Delivery:
    """What the server answered to the message, and any recipients it refused."""

    reply: str
    refused: dict[str, str]


# the steps a SendError names besides the SMTP ones: settings missing, a mail not even built
CONFIG_STEP, MESSAGE_STEP, RCPT_STEP = "config", "message", "rcpt"


class SendError(MMError):
    """One failed delivery: at which SMTP step, whether retrying can help, and what to check."""

    def __init__(self, stage: str, message: str, hint: str, *, permanent: bool) -> None:
        super().__init__(message, hint)
        self.stage = stage
        self.permanent = permanent


def tls_context() -> ssl.SSLContext:
    """Verifying context: system CAs, plus ``$MM_SMTP_CAFILE`` when it names a file."""
    context = ssl.create_default_context()
    cafile = os.environ.get(CAFILE_ENV, "").strip()
    if cafile:
        context.load_verify_locations(cafile=cafile)
    return context


def build_message(
    settings: SmtpSettings, recipients: Sequence[str], subject: str, body: str
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject
    mail["Date"] = email.utils.formatdate(localtime=True)
    mail["Message-ID"] = email.utils.make_msgid(domain=_domain(settings.sender))
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to alarms
    mail.set_content(body, charset="utf-8", cte="quoted-printable")
    return mail


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or socket.gethostname()


_HINTS: dict[str, Msg] = {
    "connect": msg(
        "Check smtp_server/smtp_port: is the server running and reachable from this host?"
    ),
    "hello": msg("Check smtp_server/smtp_port: the server did not answer as an SMTP server."),
    "starttls": msg(
        "Check smtp_secure: the server must offer STARTTLS and show a certificate this host "
        "trusts (${env} can name an extra CA file).",
        env=CAFILE_ENV,
    ),
    "login": msg("Check smtp_user/smtp_password."),
    "mail": msg("Check smtp_from: the server refused it as the sender."),
    "rcpt": msg("Check smtp_to: the server refused the recipients."),
    "data": msg("The server refused the message itself; its log says why."),
}
# what failed at each step, with the server's answer as {detail}
_WHAT = {
    "connect": N_("Cannot connect to the SMTP server ({detail})."),
    "hello": N_("The SMTP server did not greet properly ({detail})."),
    "starttls": N_("TLS (STARTTLS) with the SMTP server failed ({detail})."),
    "login": N_("The SMTP server refused the login ({detail})."),
    "mail": N_("The SMTP server refused the sender ({detail})."),
    "rcpt": N_("The SMTP server refused every recipient ({detail})."),
    "data": N_("The SMTP server refused the message ({detail})."),
}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r}: {_reply(c, m)}" for r, (c, m) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return msg("no answer (timed out)")
    return str(exc) or type(exc).__name__


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


def _permanent(stage: str, exc: BaseException) -> bool:
    """Retrying helps against a busy or unreachable server, not against a refusal."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLError):
        return True
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return False
    # smtplib.SMTPException without a code: "No suitable authentication method found." etc.
    return stage in ("starttls", "login")


def _classify(stage: str, exc: BaseException, password: str) -> SendError:
    detail = _describe(exc)
    hint = _HINTS[stage]
    if stage == "login" and not isinstance(exc, smtplib.SMTPResponseException | OSError):
        hint = msg(
            "The server offers no login here: leave smtp_user empty, or set smtp_secure yes "
            "if it offers login only over TLS."
        )
    if password and password in detail:
        detail = detail.replace(password, MASK)
    message = Msg(_WHAT[stage], detail=detail)
    return SendError(stage, message, hint, permanent=_permanent(stage, exc))


class _SMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that remembers the host given to ``connect``.

    The connection is opened after construction, so another thread holds it (to cut it short)
    before the first byte; but plain ``connect`` leaves the name STARTTLS verifies empty.
    """

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        self._host = host
        return super().connect(host, port, source_address)


def deliver(
    settings: SmtpSettings,
    message: EmailMessage,
    recipients: Sequence[str],
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = SMTP_TIMEOUT,
    track: Callable[[smtplib.SMTP | None], None] | None = None,
) -> Delivery:
    """Send ``message`` in one SMTP conversation; raise :class:`SendError` naming the step.

    Steps are driven one by one (not ``sendmail``) so a failure says where it happened and
    the final answer of the server can be shown to a person testing the settings.
    ``track`` receives the live connection so another thread can cut it short.
    """
    stage = "connect"
    smtp = _SMTP(timeout=timeout)
    if track:
        track(smtp)
    ok = False
    try:
        smtp.connect(settings.server, settings.port)
        stage = "hello"
        smtp.ehlo_or_helo_if_needed()
        if settings.secure:
            stage = "starttls"
            smtp.starttls(context=ssl_context or tls_context())
            smtp.ehlo()
        if settings.user:
            stage = "login"
            smtp.login(settings.user, settings.password)
        stage = "mail"
        code, answer = smtp.mail(settings.sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, answer, settings.sender)
        stage = "rcpt"
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in recipients:
            code, answer = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, answer)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        stage = "data"
        code, answer = smtp.data(message.as_bytes(policy=email.policy.SMTP))
        if code != 250:
            raise smtplib.SMTPDataError(code, answer)
        ok = True
        return Delivery(
            reply=_reply(code, answer),
            refused={r: _reply(c, m) for r, (c, m) in refused.items()},
        )
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(stage, exc, settings.password) from None
    finally:
        if track:
            track(None)
        _close(smtp, polite=ok)


def _close(smtp: smtplib.SMTP, *, polite: bool) -> None:
    try:
        if polite:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


class Mail:
    """The engine's e-mail area: current SMTP settings and the synchronous test send."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def settings(self) -> SmtpSettings:
        return SmtpSettings.from_config(self.config)

    def test_email(
        self, *, ssl_context: ssl.SSLContext | None = None, timeout: float = SMTP_TIMEOUT
    ) -> Delivery:
        """Send a test message now, whatever ``send_email`` says; raise what went wrong."""
        settings = self.settings()
        missing = settings.missing()
        if missing:
            names = ", ".join(missing)
            raise Refused(
                msg("Cannot send a test e-mail: {names} is not set.", names=names)
                if len(missing) == 1
                else msg("Cannot send a test e-mail: {names} are not set.", names=names),
                msg("Set them first, e.g. `mm config set smtp_server mail.example.com`."),
            )
        host = socket.gethostname()
        profile = str(self.config.get("profile"))
        state = "on" if self.config.get("send_email") else "off (send_email is no)"
        body = (
            f"This is a test message from Media Manager (mm) on {host}.\n\n"
            f"Profile:        {profile or '(not set)'}\n"
            f"Data directory: {self.config.data_dir.root}\n"
            f"SMTP server:    {settings.server}:{settings.port}"
            f" ({'STARTTLS' if settings.secure else 'no TLS'},"
            f" {'login as ' + settings.user if settings.user else 'no login'})\n"
            f"Alarm e-mails:  {state}\n\n"
            "If you can read this, alarm e-mails reach you.\n"
        )
        subject = f"[mm {profile or host}] Test e-mail"
        message = build_message(settings, settings.recipients, subject, body)
        delivery = deliver(
            settings, message, settings.recipients, ssl_context=ssl_context, timeout=timeout
        )
        if delivery.refused:
            refused = "; ".join(f"{r}: {why}" for r, why in delivery.refused.items())
            raise SendError(
                RCPT_STEP,
                msg(
                    "The test e-mail was accepted ({reply}) but some recipients were "
                    "refused: {refused}.",
                    reply=delivery.reply,
                    refused=refused,
                ),
                _HINTS["rcpt"],
                permanent=True,
            )
        return delivery


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


class MailSender:
    """Delivers the outbox from a thread of the engine role.

    At-least-once: a row is marked sent after the server accepted it, so a crash in between
    sends that mail again at the next start (better twice than never for an alarm).
    """

    def __init__(
        self,
        db: Database,
        mail: Mail,
        alarms: Alarms,
        *,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        poll_seconds: float = POLL_SECONDS,
        drain_seconds: float = DRAIN_SECONDS,
        timeout: float = SMTP_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.db = db
        self.mail = mail
        self.alarms = alarms
        self.backoff = tuple(backoff)
        self.poll_seconds = poll_seconds
        self.drain_seconds = drain_seconds
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drain_until = 0.0
        self._aborted = False
        self._thread: threading.Thread | None = None
        self._live: smtplib.SMTP | None = None
        self._live_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._aborted = False
        self.alarms.subscribe(self._on_alarm)
        self._thread = threading.Thread(target=self._run, name="mm-mail-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Give queued mails a few seconds, then cut any conversation short and return."""
        thread = self._thread
        if thread is None:
            return
        self.alarms.unsubscribe(self._on_alarm)
        self._drain_until = time.monotonic() + self.drain_seconds
        self._stop.set()
        self._wake.set()
        thread.join(self.drain_seconds + 1)
        if thread.is_alive():
            self._abort()
            thread.join(self.timeout + 1)
        self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _on_alarm(self, _alarm: Alarm) -> None:
        self.wake()

    def _track(self, smtp: smtplib.SMTP | None) -> None:
        with self._live_lock:
            self._live = smtp

    def _abort(self) -> None:
        with self._live_lock:
            self._aborted = True
            sock = getattr(self._live, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        pruned_at = float("-inf")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                    self.prune()
                    pruned_at = time.monotonic()
                self.send_due()
            except Exception:
                log.exception("alarm e-mail sender failed; trying again shortly")
            self._wake.wait(self._pause())
        try:
            self.send_due()  # mails raised while stopping (the shutdown alarm), within the drain
        except Exception:
            log.exception("alarm e-mail sender failed while stopping")

    def prune(self, keep_days: float = KEEP_DAYS) -> int:
        """Forget mails sent or given up long ago; the alarms themselves stay."""
        cutoff = outbox.stamp(datetime.now(UTC) - timedelta(days=keep_days))
        return self.db.write(
            lambda c: (
                c.execute(
                    "DELETE FROM outbox WHERE next_attempt_at IS NULL"
                    " AND COALESCE(sent_at, failed_at, created_at) < ?",
                    (cutoff,),
                ).rowcount
            )
        )

    def _pause(self) -> float:
        """Until the next retry is due, but at least every poll (a CLI may have queued mail)."""
        row = self.db.query_one(
            "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE next_attempt_at IS NOT NULL"
        )
        if row is None or row["due"] is None:
            return self.poll_seconds
        wait = (_utc(row["due"]) - datetime.now(UTC)).total_seconds()
        return min(self.poll_seconds, max(wait, 0.05))

    # -- one pass ----------------------------------------------------------------------------
    def send_due(self) -> int:
        """Try every mail that is due once; returns how many were tried.

        Once stopping, only until the drain deadline, and not at all after an abort.
        """
        rows = self.db.query(
            "SELECT * FROM outbox WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?"
            " ORDER BY id LIMIT ?",
            (outbox.stamp(), BATCH),
        )
        if not rows:
            return 0
        if not self.mail.config.get("send_email"):
            self._give_up_quietly(
                [r["id"] for r in rows], msg("not sent: send_email was set to no")
            )
            return len(rows)
        try:
            settings: SmtpSettings | None = self.mail.settings()
            problem = ""
        except MMError as exc:  # e.g. the password cannot be decrypted
            settings, problem = None, exc.message
        if settings is not None and settings.missing(need_recipients=False):
            unset = ", ".join(settings.missing(need_recipients=False))
            problem = msg("{names} not set (see `mm config show`)", names=unset)
        tried = 0
        for row in rows:
            if self._aborted or (self._stop.is_set() and time.monotonic() > self._drain_until):
                break
            tried += 1
            if settings is None or problem:
                self._failed(row, SendError(CONFIG_STEP, problem, "", permanent=True))
                continue
            self._attempt(row, settings)
        return tried

    def _attempt(self, row: Any, settings: SmtpSettings) -> None:
        recipients = split_recipients(row["recipients"])
        subject, body = row["subject"], row["body"]
        if row["alarm_id"] is not None:
            with self.db.read() as conn:
                fresh = outbox.compose_for(conn, int(row["alarm_id"]))
            if fresh is not None:
                subject, body = fresh
        try:
            message = build_message(settings, recipients, subject, body)
            delivery = deliver(
                settings,
                message,
                recipients,
                ssl_context=self.ssl_context,
                timeout=self.timeout,
                track=self._track,
            )
        except SendError as err:
            self._failed(row, err)
            return
        except Exception as exc:  # a mail that cannot even be built must not block the queue
            log.exception("alarm e-mail %s cannot be sent", row["id"])
            problem = msg("{kind}: {error}", kind=type(exc).__name__, error=exc)
            self._failed(row, SendError(MESSAGE_STEP, problem, "", permanent=True))
            return
        refused = "; ".join(f"{r}: {why}" for r, why in delivery.refused.items())
        self.db.execute_write(
            "UPDATE outbox SET sent_at = ?, next_attempt_at = NULL, attempts = attempts + 1,"
            " subject = ?, body = ?, last_error = ? WHERE id = ?",
            (outbox.stamp(), subject, body, refused, row["id"]),
        )
        log.info("alarm e-mail %s sent to %s: %s", row["id"], row["recipients"], delivery.reply)
        if delivery.refused:
            self._raise_email_error(
                ";".join(delivery.refused),
                msg("recipients refused ({refused})", refused=refused),
                "rcpt",
            )

    def _failed(self, row: Any, err: SendError) -> None:
        attempts = int(row["attempts"]) + 1
        text = str(err)  # message and hint, in English: the outbox keeps text
        if not err.permanent and attempts <= len(self.backoff):
            retry_at = datetime.now(UTC) + timedelta(seconds=self.backoff[attempts - 1])
            self.db.execute_write(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
                (attempts, outbox.stamp(retry_at), text, row["id"]),
            )
            log.warning(
                "alarm e-mail %s not sent (attempt %d), retrying at %s: %s",
                row["id"],
                attempts,
                outbox.stamp(retry_at),
                text,
            )
            return
        self.db.execute_write(
            "UPDATE outbox SET attempts = ?, next_attempt_at = NULL, failed_at = ?,"
            " last_error = ? WHERE id = ?",
            (attempts, outbox.stamp(), text, row["id"]),
        )
        error: object = err  # its English is ``text``; a front end can translate it
        if not err.permanent:
            error = msg("{error} (gave up after {attempts} attempts)", error=err, attempts=attempts)
        self._raise_email_error(row["recipients"], error, err.stage)

    def _raise_email_error(self, recipients: str, error: object, stage: str) -> None:
        self.alarms.raise_(
            AlarmType.EMAIL_ERROR,
            recipients=recipients,
            error=error,
            dedupe=f"{recipients}|{stage}",
        )

    def _give_up_quietly(self, ids: list[int], reason: str) -> None:
        now = outbox.stamp()
        self.db.write(
            lambda c: c.executemany(
                "UPDATE outbox SET next_attempt_at = NULL, failed_at = ?, last_error = ?"
                " WHERE id = ?",
                [(now, reason, i) for i in ids],
            )
        )
