"""Secrets at rest (DESIGN.md section 6): passwords in the database are sealed, never stored clear.

A stolen or copied ``mm.db`` (a backup, a support bundle) must not give away the SMTP password or
a connector's credentials. The key lives apart from the database, in ``keys/secrets.key`` (0600).
The construction is AES-256-GCM from ``cryptography`` with a random 96-bit nonce per value and the
value's *context* (e.g. ``config:smtp_password``) as associated data, so a sealed value copied
into another field does not open there.

Sealed text looks like ``enc:v1:<base64url(nonce || ciphertext+tag)>``; the version leaves room
for key rotation without guessing.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mm_engine.errors import MMError
from mm_engine.text import N_, msg

PREFIX = "enc:v1:"
KEY_FILE = "secrets.key"
NONCE_BYTES = 12


class SecretError(MMError):
    title = N_("Secret cannot be read")


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


class SecretBox:
    """Seal and open short secrets with the installation's secrets key.

    The key file is created on the first :meth:`seal`, never on :meth:`open`: opening without a
    key means the key was lost, and a fresh key would only hide that.
    """

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self.key_path = keys_dir / KEY_FILE
        self._aead: AESGCM | None = None

    def seal(self, plaintext: str, context: str = "") -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher().encrypt(nonce, plaintext.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, context: str = "") -> str:
        if not is_sealed(token):
            raise SecretError(msg("A stored secret is not in a known sealed format."))
        try:
            blob = base64.urlsafe_b64decode(token[len(PREFIX) :].encode("ascii"))
        except ValueError:
            raise SecretError(msg("A stored secret is damaged (not valid base64).")) from None
        nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        name = context or "unnamed"
        if self._aead is None and not self.key_path.exists():
            raise SecretError(
                msg(
                    "A stored secret ({name}) cannot be decrypted: the key {key} is missing.",
                    name=name,
                    key=self.key_path,
                ),
                msg("Restore keys/ from the backup, or set the secret again."),
            )
        try:
            plain = self._cipher().decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise SecretError(
                msg(
                    "A stored secret ({name}) cannot be decrypted with {key}: "
                    "the key was replaced or the value was damaged.",
                    name=name,
                    key=self.key_path,
                ),
                msg("Restore keys/ from the backup, or set the secret again."),
            ) from None
        return plain.decode()

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(self._load())
        return self._aead

    def _load(self) -> bytes:
        if not self.key_path.exists():
            self._create()
        raw = base64.urlsafe_b64decode(self.key_path.read_bytes().strip())
        if len(raw) != 32:
            raise SecretError(msg("{key} is not a 256-bit key.", key=self.key_path))
        return raw

    def _create(self) -> None:
        """Write the key under a unique name, then link it into place.

        ``link`` fails when the key already exists, so two processes sealing their first secret
        at the same moment end up sharing one key instead of one overwriting the other's.
        """
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.keys_dir / f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(tmp, self.key_path)
        finally:
            tmp.unlink(missing_ok=True)
