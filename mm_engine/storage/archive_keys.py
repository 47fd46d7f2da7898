"""Archive keys: one file per key in the data directory's ``keys/`` folder, readable by hand.

An archive outlives the machine that wrote it, so its key must be easy to back up, to carry
and to read without mm: a key file is one line, ``mm-archive-key v1 <64 hex digits>``, named
``archive-<key id>.key`` (key id = first 8 bytes of SHA-256 of the key, in hex), mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from mm_engine.storage.crypt import KEY_BYTES, ArchiveKey, KeyFileError, KeyRing
from mm_engine.text import msg

KEY_FILE_TAG = "mm-archive-key v1"
_RESTORE_HINT = msg("Restore the keys/ folder from the data directory's backup.")


def format_key_file(key: ArchiveKey) -> str:
    return f"{KEY_FILE_TAG} {key.secret.hex()}\n"


def parse_key_file(text: str, where: str) -> ArchiveKey:
    tag, _, digits = text.strip().rpartition(" ")
    try:
        secret = bytes.fromhex(digits)
    except ValueError:
        secret = b""
    if tag != KEY_FILE_TAG or len(secret) != KEY_BYTES:
        raise KeyFileError(
            msg("{where} is not an mm archive key file.", where=where),
            msg(
                "A key file holds one line: '{tag} ' and {digits} hex digits.",
                tag=KEY_FILE_TAG,
                digits=2 * KEY_BYTES,
            ),
        )
    return ArchiveKey(secret)


class ArchiveKeys(KeyRing):
    """The archive keys in one folder (``<data dir>/keys``, or a copy of it on another machine)."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir

    def path_for(self, key_id: bytes | str) -> Path:
        hex_id = key_id.hex() if isinstance(key_id, bytes) else key_id.lower()
        return self.keys_dir / f"archive-{hex_id}.key"

    def create(self) -> ArchiveKey:
        """A new random key, written under a temporary name, fsynced, then linked into place.

        The link never replaces an existing file, and a half-written key is never visible under
        its real name: a lost key would mean lost archives.
        """
        key = ArchiveKey(os.urandom(KEY_BYTES))
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path_for(key.key_id)
        tmp = self.keys_dir / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(format_key_file(key))
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(self.keys_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return key

    def load(self, key_id: bytes | str) -> ArchiveKey:
        path = self.path_for(key_id)
        if not path.exists():
            hex_id = key_id.hex() if isinstance(key_id, bytes) else key_id
            raise KeyFileError(
                msg(
                    "Archive key {key_id} is not in {folder} (no {file}).",
                    key_id=hex_id,
                    folder=str(self.keys_dir),
                    file=path.name,
                ),
                _RESTORE_HINT,
            )
        key = self.from_file(path)
        if path != self.path_for(key.key_id):
            raise KeyFileError(
                msg(
                    "{path} holds key {key_id}, not the key its name says.",
                    path=str(path),
                    key_id=key.key_id_hex,
                ),
                _RESTORE_HINT,
            )
        return key

    @staticmethod
    def from_file(path: Path) -> ArchiveKey:
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            raise KeyFileError(
                msg("Key file {path} does not exist.", path=str(path)), _RESTORE_HINT
            ) from None
        except OSError as exc:
            raise KeyFileError(
                msg("Key file {path} cannot be read: {error}.", path=str(path), error=exc.strerror)
            ) from None
        return parse_key_file(text, str(path))
