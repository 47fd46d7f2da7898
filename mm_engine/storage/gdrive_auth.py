"""Signing in to Google Drive over SSH: the OAuth 2.0 device authorization flow (RFC 8628).

The seed (F18) asks for a browser redirect to ``https://<FQDN>:49001/Callback``; an operator on an
SSH console has no browser on the server, so mm uses the device flow instead. The console and the
CLI (``mm connectors authorize``) call :func:`start_device_flow`, show the person the
``verification_url`` and ``user_code``, then call :func:`poll_device_flow` while the person
approves on a phone or laptop; the refresh token it returns is stored, sealed, as the connector's
``refresh_token`` setting. The Drive backend (gdrive.py) later trades that refresh token for
short-lived access tokens with :func:`refresh_access_token`.

The Google OAuth client must be of type "TVs and Limited Input devices"; the device flow only
grants a few scopes, among them ``drive.file`` (files this app created), which is all mm needs.

Only the standard library talks HTTP here (http.client), so importing this module is cheap.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mm_engine.errors import MMError
from mm_engine.text import N_, msg

DEVICE_URL = "https://oauth2.googleapis.com/device/code"
TOKEN_URL = "https://oauth2.googleapis.com/token"
DRIVE_SCOPE = "https://www.googleapis.com/auth/drive.file"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 20.0  # seconds for one request; every call here is small
DEFAULT_CODE_LIFETIME = 1800  # Google's device codes last 30 minutes
SLOW_DOWN_STEP = 5  # RFC 8628 section 3.5: add 5 seconds to the interval on slow_down
MAX_NETWORK_FAILURES = 3  # consecutive failed polls before giving up
# error codes mm gives to its own OAuthErrors (Google's come from its answer)
UNREACHABLE = "unreachable"
NO_REFRESH_TOKEN = "no_refresh_token"
EXPIRED_TOKEN = "expired_token"

REAUTHORIZE_HINT = msg(
    "Authorize the Google Drive connector again (console: Connectors, or "
    "`mm connectors authorize NAME`) and save the new authorization."
)


class OAuthError(MMError):
    """Google's sign-in service refused a request; ``error`` is the OAuth error code."""

    title = N_("Google sign-in failed")

    def __init__(self, error: str, status: int, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.error = error
        self.status = status

    @property
    def is_auth(self) -> bool:
        """The credentials themselves were refused: retrying cannot help."""
        return self.error in ("invalid_grant", "invalid_client", "unauthorized_client") or (
            self.status in (401, 403)
        )


@dataclass(frozen=True)
class DeviceCode:
    """What to show the person (URL and code) and what to poll with (device code, interval)."""

    verification_url: str
    user_code: str
    device_code: str
    interval: int
    expires_in: int


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: float


def connect(url: str, timeout: float = TIMEOUT) -> tuple[http.client.HTTPConnection, str]:
    """A connection to ``url``'s host and the path-with-query to send; ValueError if not http(s)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return conn, target


def post_form(
    url: str, fields: Mapping[str, str], timeout: float = TIMEOUT
) -> tuple[int, dict[str, Any]]:
    """POST form fields; the status and the JSON answer ({} when the body is not JSON)."""
    conn, target = connect(url, timeout)
    try:
        body = urllib.parse.urlencode(fields).encode()
        conn.request(
            "POST",
            target,
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        data = {}
    return response.status, data if isinstance(data, dict) else {}


def _oauth_error(status: int, data: Mapping[str, Any], action: str) -> OAuthError:
    """``action`` is a msg() phrase ("getting an access token") that goes into the sentence."""
    error = str(data.get("error") or f"http_{status}")
    detail = str(data.get("error_description") or "").strip()
    said = f"{error}: {detail}" if detail else error
    if error == "invalid_grant":
        return OAuthError(
            error,
            status,
            msg(
                "Google refused the saved Drive authorization while {action} ({said}); it was "
                "revoked, expired, or belongs to another OAuth client.",
                action=action,
                said=said,
            ),
            REAUTHORIZE_HINT,
        )
    if status >= 500 or status == 429:
        return OAuthError(
            error,
            status,
            msg(
                "Google's sign-in service is not available right now while {action} ({said}).",
                action=action,
                said=said,
            ),
            msg("This usually passes; mm tries again later."),
        )
    if error in ("invalid_client", "unauthorized_client"):
        return OAuthError(
            error,
            status,
            msg(
                "Google does not accept this OAuth client while {action} ({said}).",
                action=action,
                said=said,
            ),
            msg(
                "Check the client ID and client secret: the OAuth client must be of type "
                '"TVs and Limited Input devices" in the Google Cloud console.'
            ),
        )
    return OAuthError(
        error,
        status,
        msg("Google's sign-in service refused {action} ({said}).", action=action, said=said),
        REAUTHORIZE_HINT,
    )


def start_device_flow(
    client_id: str,
    device_url: str = DEVICE_URL,
    scope: str = DRIVE_SCOPE,
    timeout: float = TIMEOUT,
) -> DeviceCode:
    """Ask Google for a user code; show ``verification_url`` and ``user_code`` to the person."""
    try:
        status, data = post_form(device_url, {"client_id": client_id, "scope": scope}, timeout)
    except OSError as exc:
        raise _unreachable(exc) from exc
    if status != 200 or "device_code" not in data:
        raise _oauth_error(status, data, msg("starting the device sign-in"))
    return DeviceCode(
        verification_url=str(data.get("verification_url") or data.get("verification_uri") or ""),
        user_code=str(data["user_code"]),
        device_code=str(data["device_code"]),
        interval=int(data.get("interval") or 5),
        expires_in=int(data.get("expires_in") or DEFAULT_CODE_LIFETIME),
    )


def poll_device_flow(
    client_id: str,
    client_secret: str,
    device_code: str,
    interval: int,
    token_url: str = TOKEN_URL,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = TIMEOUT,
) -> str:
    """Wait for the person to approve, then return the refresh token.

    Polls every ``interval`` seconds (5 more after each ``slow_down``) until Google answers with
    tokens, the person declines (``access_denied``), the code expires (``expired_token``, or
    ``deadline``, a ``clock()`` value, passes; by default 30 minutes from now). Failures raise
    :class:`OAuthError` saying what happened and what to do.
    """
    if deadline is None:
        deadline = clock() + DEFAULT_CODE_LIFETIME
    wait = float(max(interval, 1))
    fields = {
        "client_id": client_id,
        "client_secret": client_secret,
        "device_code": device_code,
        "grant_type": DEVICE_GRANT,
    }
    network_failures = 0
    while True:
        if clock() + wait > deadline:
            raise _expired()
        sleep(wait)
        try:
            status, data = post_form(token_url, fields, timeout)
        except OSError as exc:
            network_failures += 1
            if network_failures >= MAX_NETWORK_FAILURES:
                raise _unreachable(exc) from exc
            continue
        network_failures = 0
        if status == 200 and data.get("refresh_token"):
            return str(data["refresh_token"])
        error = str(data.get("error") or "")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            wait += SLOW_DOWN_STEP
            continue
        if error == "access_denied":
            raise OAuthError(
                error,
                status,
                msg(
                    "The Google account declined access to Google Drive, so the connector has no "
                    "authorization."
                ),
                msg("Start the authorization again and choose Allow on the Google page."),
            )
        if error == EXPIRED_TOKEN:
            raise _expired()
        if status == 200:
            raise OAuthError(
                NO_REFRESH_TOKEN,
                status,
                msg("Google approved the sign-in but sent no refresh token."),
                msg(
                    "Remove mm's access in the Google account (Security, Third-party access) and "
                    "authorize again."
                ),
            )
        raise _oauth_error(status, data, msg("finishing the device sign-in"))


def _unreachable(exc: OSError) -> OAuthError:
    return OAuthError(
        UNREACHABLE,
        0,
        msg("Cannot reach Google's sign-in service ({error}).", error=exc),
        msg("Check this server's internet connection and try the authorization again."),
    )


def _expired() -> OAuthError:
    return OAuthError(
        EXPIRED_TOKEN,
        400,
        msg("The sign-in code expired before it was approved."),
        msg("Start the authorization again and enter the new code within its time limit."),
    )


def refresh_access_token(
    client_id: str,
    client_secret: str,
    refresh_token: str,
    token_url: str = TOKEN_URL,
    timeout: float = TIMEOUT,
) -> AccessToken:
    """Trade the stored refresh token for an access token (OAuthError when refused)."""
    status, data = post_form(
        token_url,
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        },
        timeout,
    )
    if status != 200 or not data.get("access_token"):
        raise _oauth_error(status, data, msg("getting an access token"))
    return AccessToken(str(data["access_token"]), float(data.get("expires_in") or 3600))
