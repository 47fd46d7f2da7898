"""The installation's signing key (F29): private, stable, and the only one that verifies."""

from __future__ import annotations

import stat
from pathlib import Path

from mm_engine.signing import Signer

DETAILS = {"call_id": "C1", "start": "2026-11-20T14:05:00+01:00", "parties": ["201"]}


def test_key_is_created_private_and_reused(tmp_path: Path) -> None:
    first = Signer(tmp_path / "keys")
    key = tmp_path / "keys" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    signature = first.sign("ab" * 32, DETAILS)
    again = Signer(tmp_path / "keys")
    assert again.key_id == first.key_id
    assert again.verify("ab" * 32, DETAILS, signature, first.key_id) is True


def test_changed_hash_or_details_fail_and_a_foreign_key_cannot_verify(tmp_path: Path) -> None:
    signer = Signer(tmp_path / "a")
    signature = signer.sign("ab" * 32, DETAILS)
    assert signer.verify("cd" * 32, DETAILS, signature, signer.key_id) is False
    assert (
        signer.verify("ab" * 32, {**DETAILS, "parties": ["202"]}, signature, signer.key_id) is False
    )
    other = Signer(tmp_path / "b")
    assert other.verify("ab" * 32, DETAILS, signature, signer.key_id) is None
