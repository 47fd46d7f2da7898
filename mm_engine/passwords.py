"""Password hashes: scrypt (cryptography) with a random salt, parameters stored with the hash.

Storing n, r and p in each hash lets a later release raise the cost: old hashes still verify
with their own parameters and are re-hashed at the next successful login
(:func:`needs_rehash`). A hash read back from the database is bounded before use, so an edited
row cannot make a login allocate gigabytes.

Format: ``scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>``.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mm_engine.errors import InvalidInput
from mm_engine.text import N_, Msg, msg

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True)
class ScryptParams:
    """Cost of one hash. The default follows OWASP's minimum for scrypt (128 MiB, ~0.3 s)."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.n > 2**20:
            raise ValueError(f"scrypt n must be a power of two up to 2**20, not {self.n}")
        if not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise ValueError(f"scrypt r={self.r} p={self.p} out of range")


DEFAULT_PARAMS = ScryptParams()


def check_new_password(password: str, what: str = N_("The password")) -> None:
    """Refuse a password that is too short or too long; ``what`` names it in the sentence (a
    constant marked with ``N_``, translated where the sentence is shown)."""
    subject = what if isinstance(what, Msg) else Msg(what)
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(
            msg(
                "{what} is too short: at least {min} characters are required.",
                what=subject,
                min=MIN_PASSWORD_CHARS,
            )
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(
            msg(
                "{what} is too long (more than {max} characters).",
                what=subject,
                max=MAX_PASSWORD_CHARS,
            )
        )


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(password.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, params)
    return f"{SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != SCHEME:
            return None
        return (
            ScryptParams(int(n), int(r), int(p)),
            base64.b64decode(salt, validate=True),
            base64.b64decode(key, validate=True),
        )
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    params, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, params), key)


def spend_like_verify(password: str, params: ScryptParams = DEFAULT_PARAMS) -> None:
    """Cost a failed login for an unknown name as much as one for a known name."""
    hmac.compare_digest(_derive(password, b"\0" * SALT_BYTES, params), b"\0" * KEY_BYTES)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True when ``stored`` is cheaper than ``params`` in any dimension (never downgrades)."""
    parsed = _parse(stored)
    if parsed is None:
        return True
    old = parsed[0]
    return old.n < params.n or old.r < params.r or old.p < params.p
