"""Authentication of stored recordings (seed F29): SHA-256 of the stored bytes, signed.

The installation's Ed25519 key lives in ``keys/signing.key`` (mode 0600). The signature covers
the hash and the call details, so neither the audio nor the catalogue row can change unseen.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mm_engine.domain import CALL_DETAIL_KEYS
from mm_engine.text import msg

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        return _hash_stream(fh, digest)


def _hash_stream(fh: BinaryIO, digest: Any) -> str:
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
    return str(digest.hexdigest())


def signed_message(sha256_hex: str, details: Mapping[str, Any]) -> bytes:
    """The canonical bytes that are signed: hash plus the call-detail keys, sorted JSON."""
    payload = {"sha256": sha256_hex, **{k: details.get(k) for k in CALL_DETAIL_KEYS}}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


class Signer:
    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self._private = self._load_or_create(keys_dir / "signing.key")
        self._public = self._private.public_key()
        raw = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self._public_by_id: dict[str, Ed25519PublicKey] = {self.key_id: self._public}

    @staticmethod
    def _load_or_create(path: Path) -> Ed25519PrivateKey:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(msg("{path} is not an Ed25519 key", path=path))
            return key
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return key

    def sign(self, sha256_hex: str, details: Mapping[str, Any]) -> str:
        signature = self._private.sign(signed_message(sha256_hex, details))
        return base64.b64encode(signature).decode()

    def verify(
        self, sha256_hex: str, details: Mapping[str, Any], signature: str, key_id: str
    ) -> bool | None:
        """True if genuine, False if altered, None if this installation lacks the key."""
        public = self._public_by_id.get(key_id)
        if public is None:
            return None
        try:
            public.verify(base64.b64decode(signature), signed_message(sha256_hex, details))
        except (InvalidSignature, ValueError):
            return False
        return True
