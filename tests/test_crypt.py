"""The encrypted archive format (DESIGN.md section 5, docs/archive-format.md) and `mm decrypt`.

Every way a stored file can go wrong must be reported, never decrypted into something else:
flipped bits, reordered chunks, a cut at a chunk boundary (rclone crypt's gap), appended bytes,
a header from another file, the wrong key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from mm_engine.storage import LocalStore, Store
from mm_engine.storage.archive_keys import ArchiveKeys, format_key_file
from mm_engine.storage.crypt import (
    CHUNK_SIZE,
    HEADER_SIZE,
    SEALED_CHUNK_SIZE,
    SUFFIX,
    TAG_SIZE,
    ArchiveKey,
    ChunkAuthFailed,
    CryptError,
    KeyFileError,
    NotAnArchive,
    TrailingData,
    Truncated,
    UnknownVersion,
    WrongKey,
    decrypt_stream,
    decrypting_reader,
    encrypt_stream,
    encrypted_size,
    encrypting_reader,
    plaintext_size,
    read_header,
)
from mm_engine.storage.crypt_store import CryptStore

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors" / "archive-format-v1.json"
MM = Path(sys.executable).with_name("mm")

VECTOR_KEY = ArchiveKey(bytes(range(32)))
VECTOR_PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
KEY = ArchiveKey(bytes.fromhex("5a" * 32))
OTHER_KEY = ArchiveKey(bytes.fromhex("a5" * 32))


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def seal(plain: bytes, key: ArchiveKey = KEY) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plain), out, key)
    return out.getvalue()


def unseal(data: bytes, key: ArchiveKey = KEY) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, key)
    return out.getvalue()


def chunk_at(data: bytes, i: int) -> slice:
    start = HEADER_SIZE + i * SEALED_CHUNK_SIZE
    return slice(start, start + SEALED_CHUNK_SIZE)


def flip(data: bytes, pos: int) -> bytes:
    b = bytearray(data)
    b[pos] ^= 0x01
    return bytes(b)


# --- round trips -------------------------------------------------------------------------------

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 7]


@pytest.mark.parametrize("size", [*SIZES, 3_000_001])
def test_round_trip_through_streams(size: int) -> None:
    plain = os.urandom(size)
    data = seal(plain)
    assert len(data) == encrypted_size(size)
    assert plaintext_size(len(data)) == size
    assert unseal(data) == plain


def test_an_empty_file_still_has_one_sealed_final_chunk() -> None:
    assert len(seal(b"")) == HEADER_SIZE + TAG_SIZE


def test_two_encryptions_of_one_file_differ() -> None:
    # the random nonce prefix: no two files ever share a nonce under one key
    assert seal(b"same") != seal(b"same")


def test_sizes_no_writer_produces_are_reported_as_cut() -> None:
    for size in (0, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1, HEADER_SIZE + SEALED_CHUNK_SIZE + 3):
        with pytest.raises(Truncated):
            plaintext_size(size)


def test_short_reads_from_the_source_are_not_mistaken_for_the_end() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            piece = self.data.read(min(len(b), 1000))
            b[: len(piece)] = piece
            return len(piece)

    plain = os.urandom(2 * CHUNK_SIZE + 5)
    data = seal(plain)
    out = io.BytesIO()
    encrypt_stream(Trickle(plain), out, KEY)  # type: ignore[arg-type]
    assert unseal(out.getvalue()) == plain
    got = io.BytesIO()
    decrypt_stream(Trickle(data), got, KEY)  # type: ignore[arg-type]
    assert got.getvalue() == plain


# --- tampering ---------------------------------------------------------------------------------


def test_a_flipped_bit_in_the_magic_is_not_an_archive() -> None:
    with pytest.raises(NotAnArchive, match="not an mm encrypted archive"):
        unseal(flip(seal(b"x"), 0))


def test_an_unknown_version_is_named() -> None:
    data = bytearray(seal(b"x"))
    data[8] = 2
    with pytest.raises(UnknownVersion, match="version 2"):
        unseal(bytes(data))


def test_a_flipped_bit_in_the_key_id_is_a_wrong_key() -> None:
    with pytest.raises(WrongKey):
        unseal(flip(seal(b"x"), 9))


def test_a_flipped_bit_in_the_nonce_prefix_fails_chunk_0() -> None:
    with pytest.raises(ChunkAuthFailed, match="chunk 0") as info:
        unseal(flip(seal(pattern(2 * CHUNK_SIZE)), HEADER_SIZE - 1))
    assert info.value.chunk == 0


@pytest.mark.parametrize("chunk", [0, 1, 2])
@pytest.mark.parametrize("where", ["body", "tag"])
def test_a_flipped_bit_in_a_chunk_names_the_chunk(chunk: int, where: str) -> None:
    data = seal(pattern(2 * CHUNK_SIZE + 100))
    span = chunk_at(data, chunk)
    end = min(span.stop, len(data))
    pos = span.start + 10 if where == "body" else end - 3
    with pytest.raises(ChunkAuthFailed, match=f"chunk {chunk} ") as info:
        unseal(flip(data, pos))
    assert info.value.chunk == chunk


def test_reordered_chunks_are_detected() -> None:
    data = seal(pattern(3 * CHUNK_SIZE + 100))
    c0, c1 = data[chunk_at(data, 0)], data[chunk_at(data, 1)]
    swapped = data[:HEADER_SIZE] + c1 + c0 + data[chunk_at(data, 2).start :]
    with pytest.raises(ChunkAuthFailed, match="chunk 0"):
        unseal(swapped)


def test_a_cut_at_a_chunk_boundary_is_detected_as_truncated() -> None:
    # rclone crypt's gap: dropping whole trailing chunks leaves a file that still decrypts
    data = seal(pattern(3 * CHUNK_SIZE + 100))
    for kept in (1, 2, 3):
        cut = data[: HEADER_SIZE + kept * SEALED_CHUNK_SIZE]
        with pytest.raises(Truncated, match=f"after chunk {kept - 1}, which is not the final"):
            unseal(cut)


def test_a_cut_right_after_the_header_is_detected() -> None:
    with pytest.raises(Truncated, match="no final chunk after the header"):
        unseal(seal(b"")[:HEADER_SIZE])
    with pytest.raises(Truncated, match="header is cut short"):
        unseal(seal(b"")[: HEADER_SIZE - 3])


def test_a_cut_inside_a_chunk_fails_that_chunk() -> None:
    data = seal(pattern(2 * CHUNK_SIZE + 100))
    with pytest.raises(ChunkAuthFailed, match="chunk 1"):
        unseal(data[: HEADER_SIZE + SEALED_CHUNK_SIZE + 500])


def test_bytes_after_a_full_final_chunk_are_trailing_data() -> None:
    data = seal(pattern(CHUNK_SIZE))
    with pytest.raises(TrailingData, match=r"after the final chunk \(0\)"):
        unseal(data + b"garbage")


def test_bytes_after_a_short_final_chunk_fail_that_chunk() -> None:
    # without a length field the split point is unknown, so this is reported as damage
    data = seal(pattern(CHUNK_SIZE + 10))
    with pytest.raises(ChunkAuthFailed, match="chunk 1"):
        unseal(data + b"garbage")


def test_the_wrong_key_is_named_with_the_right_one() -> None:
    with pytest.raises(WrongKey) as info:
        unseal(seal(b"secret"), OTHER_KEY)
    assert KEY.key_id_hex in str(info.value)
    assert f"archive-{KEY.key_id_hex}.key" in info.value.hint


def test_a_header_swapped_from_another_file_is_detected() -> None:
    a, b = seal(pattern(1000)), seal(pattern(1000))
    with pytest.raises(ChunkAuthFailed, match="chunk 0"):
        unseal(b[:HEADER_SIZE] + a[HEADER_SIZE:])


def test_every_failure_is_a_crypt_error_with_a_hint() -> None:
    data = seal(pattern(CHUNK_SIZE + 1))
    for bad in (flip(data, 0), flip(data, 30), data[: HEADER_SIZE + SEALED_CHUNK_SIZE]):
        with pytest.raises(CryptError) as info:
            unseal(bad)
        assert info.value.hint
        assert info.value.exit_code == 1


# --- memory ------------------------------------------------------------------------------------


class Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def test_memory_stays_flat_for_a_200_mb_stream() -> None:
    size = 200 * 1024 * 1024
    tracemalloc.start()
    try:
        sealed = encrypting_reader(Zeros(size), KEY)  # type: ignore[arg-type]
        header = read_header(sealed)
        with decrypting_reader(sealed, KEY, header) as plain:
            total = 0
            while piece := plain.read(256 * 1024):
                total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 3 * 1024 * 1024, f"peak {peak} bytes"


# --- keys --------------------------------------------------------------------------------------


def test_a_created_key_is_one_line_of_hex_readable_by_its_owner_only(tmp_path: Path) -> None:
    keys = ArchiveKeys(tmp_path / "keys")
    key = keys.create()
    path = tmp_path / "keys" / f"archive-{key.key_id_hex}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"mm-archive-key v1 {key.secret.hex()}\n"
    assert key.key_id == hashlib.sha256(key.secret).digest()[:8]
    assert keys.load(key.key_id) == key == keys.load(key.key_id_hex)
    assert ArchiveKeys.from_file(path) == key
    assert [p.name for p in (tmp_path / "keys").iterdir()] == [path.name]
    assert key.secret.hex() not in repr(key)


def test_missing_and_malformed_key_files_are_clear(tmp_path: Path) -> None:
    keys = ArchiveKeys(tmp_path)
    with pytest.raises(KeyFileError, match=f"{KEY.key_id_hex} is not in"):
        keys.load(KEY.key_id)
    bad = tmp_path / "bad.key"
    bad.write_text("mm-archive-key v1 1234\n")
    with pytest.raises(KeyFileError, match="not an mm archive key file"):
        ArchiveKeys.from_file(bad)
    # a key file renamed to another key's id is not trusted
    keys.path_for(KEY.key_id).write_text(format_key_file(OTHER_KEY))
    with pytest.raises(KeyFileError, match="not the key its name says"):
        keys.load(KEY.key_id)


def test_decrypt_finds_the_key_in_a_keys_folder_by_its_id(tmp_path: Path) -> None:
    keys = ArchiveKeys(tmp_path)
    key = keys.create()
    keys.create()
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(seal(b"found", key)), out, keys)
    assert out.getvalue() == b"found"


# --- CryptStore --------------------------------------------------------------------------------


@pytest.fixture
def crypt_store(tmp_path: Path) -> CryptStore:
    return CryptStore(LocalStore(tmp_path / "archive"), KEY)


def test_crypt_store_is_a_store_over_local_storage(tmp_path: Path, crypt_store: CryptStore) -> None:
    store: Store = crypt_store
    plain = pattern(2 * CHUNK_SIZE + 10)
    info = store.put("2026/11/25/call.opus", io.BytesIO(plain), len(plain))
    assert (info.path, info.size) == ("2026/11/25/call.opus", len(plain))

    on_disk = tmp_path / "archive" / "2026" / "11" / "25" / f"call.opus{SUFFIX}"
    raw = on_disk.read_bytes()
    assert len(raw) == encrypted_size(len(plain))
    assert plain[:1000] not in raw
    assert unseal(raw) == plain  # a copied-off archive file stands alone

    with store.open("2026/11/25/call.opus") as fh:
        assert fh.read() == plain
    stat_info = store.stat("2026/11/25/call.opus")
    assert stat_info is not None and stat_info.size == len(plain)
    assert store.stat("2026/11/25/other.opus") is None
    assert [(o.path, o.size) for o in store.list("2026")] == [("2026/11/25/call.opus", len(plain))]
    store.remove("2026/11/25/call.opus")
    assert list(store.list()) == []
    assert not on_disk.exists()


def test_crypt_store_put_leaves_the_callers_stream_open(crypt_store: CryptStore) -> None:
    src = io.BytesIO(b"abc")
    crypt_store.put("a.opus", src)
    assert not src.closed


RANGES = [
    (0, None),
    (1, 10),
    (CHUNK_SIZE - 1, 2),
    (CHUNK_SIZE, None),
    (CHUNK_SIZE, 5),
    (CHUNK_SIZE + 1, CHUNK_SIZE),
    (2 * CHUNK_SIZE, None),
    (3 * CHUNK_SIZE + 99, None),
    (3 * CHUNK_SIZE + 100, None),
    (10 * CHUNK_SIZE, 5),
]


@pytest.mark.parametrize(("offset", "length"), RANGES)
def test_crypt_store_ranged_reads_match_the_plaintext(
    crypt_store: CryptStore, offset: int, length: int | None
) -> None:
    plain = os.urandom(3 * CHUNK_SIZE + 100)
    crypt_store.put("r.opus", io.BytesIO(plain))
    with crypt_store.open("r.opus", offset, length) as fh:
        got = fh.read()
    end = None if length is None else offset + length
    assert got == plain[offset:end]


def test_crypt_store_reads_a_damaged_archive_as_an_error(
    tmp_path: Path, crypt_store: CryptStore
) -> None:
    crypt_store.put("d.opus", io.BytesIO(pattern(2 * CHUNK_SIZE)))
    path = tmp_path / "archive" / f"d.opus{SUFFIX}"
    path.write_bytes(path.read_bytes()[: HEADER_SIZE + SEALED_CHUNK_SIZE])
    with pytest.raises(Truncated), crypt_store.open("d.opus") as fh:
        fh.read()
    assert crypt_store.is_permanent_error(Truncated("cut"))


def test_crypt_store_opens_files_under_an_older_key_from_its_keyring(tmp_path: Path) -> None:
    keys = ArchiveKeys(tmp_path / "keys")
    old, new = keys.create(), keys.create()
    inner = LocalStore(tmp_path / "archive")
    CryptStore(inner, old).put("old.opus", io.BytesIO(b"before rotation"))
    store = CryptStore(inner, new, keyring=keys)
    with store.open("old.opus") as fh:
        assert fh.read() == b"before rotation"
    with pytest.raises(WrongKey), CryptStore(inner, new).open("old.opus") as fh:
        fh.read()


# --- test vectors ------------------------------------------------------------------------------

VECTOR_PLAINTEXTS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "one-byte": lambda: b"a",
    "one-chunk": lambda: pattern(CHUNK_SIZE),
    "one-chunk-plus-one": lambda: pattern(CHUNK_SIZE + 1),
}


def compute_vectors() -> dict[str, Any]:
    vectors = []
    for name, make in VECTOR_PLAINTEXTS.items():
        plain = make()
        out = io.BytesIO()
        encrypt_stream(io.BytesIO(plain), out, VECTOR_KEY, nonce_prefix=VECTOR_PREFIX)
        data = out.getvalue()
        chunks = [data[chunk_at(data, i)] for i in range((len(data) - 1) // SEALED_CHUNK_SIZE + 1)]
        entry: dict[str, Any] = {
            "name": name,
            "plaintext_length": len(plain),
            "plaintext_sha256": hashlib.sha256(plain).hexdigest(),
            "ciphertext_length": len(data),
            "ciphertext_sha256": hashlib.sha256(data).hexdigest(),
            "header_hex": data[:HEADER_SIZE].hex(),
            "chunk_tags_hex": [c[-TAG_SIZE:].hex() for c in chunks if c],
        }
        if len(data) <= 256:
            entry["ciphertext_hex"] = data.hex()
        vectors.append(entry)
    return {
        "format": "mm encrypted archive v1 (docs/archive-format.md)",
        "plaintext_pattern": "empty; 'a'; otherwise byte i = i mod 251",
        "key_hex": VECTOR_KEY.secret.hex(),
        "key_id_hex": VECTOR_KEY.key_id_hex,
        "nonce_prefix_hex": VECTOR_PREFIX.hex(),
        "vectors": vectors,
    }


def test_the_committed_test_vectors_still_hold() -> None:
    """The format can never drift silently; MM_WRITE_VECTORS=1 rewrites the file on purpose."""
    computed = compute_vectors()
    if os.environ.get("MM_WRITE_VECTORS") == "1":
        VECTORS.parent.mkdir(exist_ok=True)
        VECTORS.write_text(json.dumps(computed, indent=2) + "\n", encoding="utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == computed


def test_the_committed_vectors_decrypt_with_the_docs_reference_decoder() -> None:
    """The decoder in docs/archive-format.md uses only `cryptography` and the written layout."""
    doc = (ROOT / "docs" / "archive-format.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- reference-decoder -->\s*```python\n(.*?)```", doc, re.S)
    assert match, "reference decoder block missing from docs/archive-format.md"
    namespace: dict[str, Any] = {}
    exec(match.group(1), namespace)
    committed = json.loads(VECTORS.read_text(encoding="utf-8"))
    key = bytes.fromhex(committed["key_hex"])
    for entry in committed["vectors"]:
        plain = VECTOR_PLAINTEXTS[entry["name"]]()
        out = io.BytesIO()
        encrypt_stream(io.BytesIO(plain), out, VECTOR_KEY, nonce_prefix=VECTOR_PREFIX)
        data = out.getvalue()
        assert hashlib.sha256(data).hexdigest() == entry["ciphertext_sha256"]
        assert namespace["decrypt_mmc"](data, key) == plain
    with pytest.raises(InvalidTag):
        namespace["decrypt_mmc"](data[: HEADER_SIZE + SEALED_CHUNK_SIZE], key)


# --- mm decrypt --------------------------------------------------------------------------------


def run_mm(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """No MM_HOME, HOME and XDG_DATA_HOME in tmp_path: any data directory would show up there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MM_")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """An archive file and its key, as copied to another machine: no data directory around."""
    work = tmp_path / "recovered"
    work.mkdir()
    keys = ArchiveKeys(tmp_path / "carried-keys")
    key = keys.create()
    plain = os.urandom(CHUNK_SIZE + 123)
    file = work / f"call.opus{SUFFIX}"
    file.write_bytes(seal(plain, key))
    return file, keys.path_for(key.key_id), plain


def no_database_anywhere(root: Path) -> bool:
    return not any(p.name.startswith("mm.db") for p in root.rglob("*"))


def test_mm_decrypt_needs_only_the_key_file(
    tmp_path: Path, bare_env: dict[str, str], archive: tuple[Path, Path, bytes]
) -> None:
    file, key_file, plain = archive
    result = run_mm(["decrypt", str(file), "--key", str(key_file)], file.parent, bare_env)
    assert result.returncode == 0, result.stderr
    out = file.with_suffix("")
    assert out.read_bytes() == plain
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert f"Decrypted {file} to {out} ({len(plain)} bytes)." in result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in file.parent.iterdir()) == ["call.opus", f"call.opus{SUFFIX}"]
    assert no_database_anywhere(tmp_path)
    assert not (tmp_path / "home").exists() and not (tmp_path / "xdg").exists()


def test_mm_decrypt_with_an_empty_mm_home_leaves_it_empty(
    tmp_path: Path, bare_env: dict[str, str], archive: tuple[Path, Path, bytes]
) -> None:
    file, key_file, plain = archive
    home = tmp_path / "empty-home"
    home.mkdir()
    env = {**bare_env, "MM_HOME": str(home)}
    out = tmp_path / "elsewhere.opus"
    result = run_mm(
        ["decrypt", str(file), "--key", str(key_file.parent), "--out", str(out)], tmp_path, env
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == plain
    assert list(home.iterdir()) == []
    assert no_database_anywhere(tmp_path)


def test_mm_decrypt_never_overwrites_without_force(
    tmp_path: Path, bare_env: dict[str, str], archive: tuple[Path, Path, bytes]
) -> None:
    file, key_file, plain = archive
    out = file.with_suffix("")
    out.write_bytes(b"keep me")
    result = run_mm(["decrypt", str(file), "--key", str(key_file)], tmp_path, bare_env)
    assert result.returncode == 3
    assert f"Error: {out} exists." in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == b"keep me"
    result = run_mm(["decrypt", str(file), "--key", str(key_file), "--force"], tmp_path, bare_env)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == plain


def test_mm_decrypt_reports_damage_and_the_wrong_key_and_writes_nothing(
    tmp_path: Path, bare_env: dict[str, str], archive: tuple[Path, Path, bytes]
) -> None:
    file, _key_file, _plain = archive
    other = tmp_path / "other.key"
    other.write_text(format_key_file(OTHER_KEY))
    result = run_mm(["decrypt", str(file), "--key", str(other)], tmp_path, bare_env)
    assert result.returncode == 1
    assert "Error: This file was encrypted with archive key" in result.stderr
    assert "Use the key file archive-" in result.stderr

    file.write_bytes(file.read_bytes()[: HEADER_SIZE + SEALED_CHUNK_SIZE])
    result = run_mm(["decrypt", str(file), "--key", str(_key_file)], tmp_path, bare_env)
    assert result.returncode == 1
    assert "Error: The archive is cut short" in result.stderr
    assert [p.name for p in file.parent.iterdir()] == [file.name]  # no output, no temp file


def test_mm_decrypt_needs_out_when_the_name_has_no_suffix(
    tmp_path: Path, bare_env: dict[str, str], archive: tuple[Path, Path, bytes]
) -> None:
    file, key_file, _plain = archive
    renamed = file.rename(tmp_path / "call.bin")
    result = run_mm(["decrypt", str(renamed), "--key", str(key_file)], tmp_path, bare_env)
    assert result.returncode == 2
    assert "Pass --out OUT." in result.stderr
    missing = run_mm(
        ["decrypt", str(renamed), "--key", str(tmp_path / "nope.key"), "--out", "x"],
        tmp_path,
        bare_env,
    )
    assert missing.returncode == 1
    assert "Error: Key file" in missing.stderr and "does not exist" in missing.stderr


def test_mm_decrypt_into_a_missing_folder_is_a_clear_error(
    tmp_path: Path, bare_env: dict[str, str], archive: tuple[Path, Path, bytes]
) -> None:
    file, key_file, _plain = archive
    out = tmp_path / "no-such-dir" / "call.opus"
    result = run_mm(
        ["decrypt", str(file), "--key", str(key_file), "--out", str(out)], tmp_path, bare_env
    )
    assert result.returncode == 1
    assert f"Error: Cannot write {out}" in result.stderr
    assert "Traceback" not in result.stderr
