"""Call details from every carrier (docs/handover-format.md), on real files written to disk."""

from __future__ import annotations

import base64
import json
import os
import struct
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.oggopus import OggOpus

from mm_engine.domain import CallDetails, Direction, OwnerKind
from mm_engine.ingest import riff
from mm_engine.ingest.calldetails import (
    CallDetailsError,
    format_lines,
    read_call_details,
    read_opus_tags,
    sidecar_for,
    write_opus_tags,
)
from mm_engine.ingest.opus_tags import update_comments
from scripts.vmpro_sim import make_recording, speechlike

CET = timezone(timedelta(hours=1))
START = datetime(2026, 11, 20, 14, 5, 0, tzinfo=CET)
FULL = CallDetails(
    call_id="4711002",
    start=START,
    direction=Direction.INBOUND,
    parties=["02012345678", "201"],
    agents=["201"],
    owner="Sales",
    owner_kind=OwnerKind.HUNT_GROUP,
    target="Sales",
    skill="renewals",
    authenticated=True,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def local_tz() -> Iterator[None]:
    """Run with the machine's clock in New York, so "local time" is visibly not UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def wav(path: Path, seconds: float = 1.0, rate: int = 8000, subtype: str = "PCM_16") -> Path:
    audio = speechlike(seconds, rate, np.random.default_rng(1))
    sf.write(str(path), audio, rate, subtype=subtype)
    return path


def add_mmcd(path: Path, fields: dict[str, str]) -> None:
    riff.append_chunks(path, [riff.chunk_bytes("mmcd", format_lines(fields).encode("utf-8"))])


def duration(path: Path) -> float:
    info = sf.info(str(path))
    return float(info.frames / info.samplerate)


def read(path: Path) -> CallDetails:
    return read_call_details(path, duration(path)).details


# -- every carrier, as the voicemail-server simulator writes it ----------------------------------


@pytest.mark.parametrize(
    ("carrier", "fmt"),
    [
        ("json", "pcm16-8k-mono"),
        ("xml", "ulaw-16k-stereo"),
        ("riff", "alaw-8k-stereo"),
        ("riff-info", "pcm16-16k-mono"),
        ("opus", "opus-16k-mono"),
        ("filename", "ulaw-8k-mono"),
        ("filename", "opus-8k-stereo"),
        ("none", "alaw-16k-mono"),
        ("none", "opus-16k-stereo"),
    ],
)
def test_every_carrier_round_trips_through_the_simulator(
    tmp_path: Path, rng: np.random.Generator, carrier: str, fmt: str
) -> None:
    rec = make_recording(tmp_path, duration_s=1.5, fmt=fmt, carrier=carrier, rng=rng)
    parsed = read_call_details(rec.path, duration(rec.path))

    got, want = parsed.details, rec.details
    assert abs((got.start - want.start).total_seconds()) < 0.001
    assert got.start.tzinfo is not None
    assert got.to_dict() | {"start": ""} == want.to_dict() | {"start": ""}
    assert parsed.sidecar == rec.sidecar
    source = {"none": "filename"}.get(carrier, carrier)
    assert parsed.sources["call_id"] == source
    if carrier == "none":
        assert parsed.sources["start"] == "file"


def test_every_call_detail_survives_each_full_carrier(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    for n, (carrier, fmt) in enumerate(
        [
            ("json", "pcm16-8k-mono"),
            ("xml", "pcm16-8k-mono"),
            ("riff", "ulaw-8k-mono"),
            ("riff-info", "alaw-8k-mono"),
            ("opus", "opus-8k-mono"),
        ]
    ):
        details = replace(FULL, call_id=f"{FULL.call_id}-{n}")
        rec = make_recording(
            tmp_path, duration_s=1.0, fmt=fmt, carrier=carrier, details=details, rng=rng
        )
        assert read(rec.path) == details, carrier


# -- precedence ---------------------------------------------------------------------------------


def test_precedence_is_decided_per_field(tmp_path: Path) -> None:
    audio = wav(tmp_path / "NAME-1_20260101T100000+0100_internal_299.wav")
    add_mmcd(
        audio,
        {
            "call_id": "RIFF-1",
            "direction": "outbound",
            "skill": "riff-skill",
            "owner": "201",
            "parties": "201;0301234567",
        },
    )
    (tmp_path / f"{audio.stem}.json").write_text(
        json.dumps({"skill": "sidecar-skill", "owner": "", "agents": None}), encoding="utf-8"
    )

    parsed = read_call_details(audio, duration(audio))

    d = parsed.details
    assert (d.skill, d.call_id, d.direction, d.owner) == (
        "sidecar-skill",
        "RIFF-1",
        Direction.OUTBOUND,
        "201",
    )
    assert d.parties == ["201", "0301234567"]
    assert d.start == datetime(2026, 1, 1, 10, 0, tzinfo=CET)  # only the name has a start
    assert d.agents == [] and d.owner_kind is None and d.authenticated is False
    assert parsed.sources == {
        "skill": "json",
        "call_id": "riff",
        "direction": "riff",
        "owner": "riff",
        "parties": "riff",
        "start": "filename",
        "agents": "default",
        "owner_kind": "default",
        "target": "default",
        "authenticated": "default",
    }
    assert parsed.sidecar == tmp_path / f"{audio.stem}.json"


def test_the_mmcd_chunk_beats_list_info_and_icmt_lines_beat_inam(tmp_path: Path) -> None:
    audio = tmp_path / "x.wav"
    with sf.SoundFile(str(audio), "w", 8000, 1, subtype="PCM_16") as out:
        out.comment = "direction=inbound\ncall_id=ICMT-ID\nskill=info-skill"
        out.title = "INAM-ID"
        out.date = "2026-01-02T03:04:05+00:00"
        out.write(speechlike(1.0, 8000, np.random.default_rng(2)))
    add_mmcd(audio, {"direction": "outbound"})

    parsed = read_call_details(audio, 1.0)

    assert parsed.details.direction is Direction.OUTBOUND
    assert parsed.details.call_id == "ICMT-ID"
    assert parsed.details.skill == "info-skill"
    assert parsed.details.start == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parsed.sources["direction"] == "riff" and parsed.sources["start"] == "riff-info"


def test_inam_and_icrd_carry_call_id_and_start_but_a_bare_date_is_no_start(
    tmp_path: Path,
) -> None:
    audio = wav(tmp_path / "plain.wav")
    riff.append_chunks(audio, [riff.info_list({"INAM": "TITLE-9", "ICRD": "2026-01-02"})])
    mtime = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
    os.utime(audio, (mtime, mtime))

    parsed = read_call_details(audio, 1.0)

    assert parsed.details.call_id == "TITLE-9" and parsed.sources["call_id"] == "riff-info"
    assert parsed.details.start == datetime(2026, 3, 4, 5, 6, 6, tzinfo=UTC)
    assert parsed.sources["start"] == "file"


def test_opus_comments_beat_the_file_name(tmp_path: Path) -> None:
    audio = tmp_path / "N-1_20260101T100000Z_inbound_201.opus"
    sf.write(
        str(audio),
        speechlike(1.0, 16000, np.random.default_rng(3)),
        16000,
        format="OGG",
        subtype="OPUS",
    )
    update_comments(audio, {"OWNER": "Support", "owner_kind": "hunt_group"})

    d = read(audio)

    assert (d.call_id, d.direction, d.owner, d.owner_kind) == (
        "N-1",
        Direction.INBOUND,
        "Support",
        OwnerKind.HUNT_GROUP,
    )


def test_sidecar_for_prefers_json_and_needs_the_same_name(tmp_path: Path) -> None:
    audio = wav(tmp_path / "call.wav")
    assert sidecar_for(audio) is None
    (tmp_path / "call.xml").write_text("<call/>", encoding="utf-8")
    assert sidecar_for(audio) == tmp_path / "call.xml"
    (tmp_path / "call.json").write_text("{}", encoding="utf-8")
    assert sidecar_for(audio) == tmp_path / "call.json"
    (tmp_path / "other.json").write_text('{"call_id": "no"}', encoding="utf-8")
    assert read(audio).call_id == "call"


# -- the file name and the file itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "call_id", "start", "direction", "owner"),
    [
        (
            "C-77_20261120T140500+0100_inbound_Sales Team.wav",
            "C-77",
            START,
            "inbound",
            "Sales Team",
        ),
        ("A_B_20261120T130500Z_outbound.wav", "A_B", START, "outbound", ""),
        (
            "Q_20261120T130500+0000_internal_hunt_group_1.wav",
            "Q",
            START,
            "internal",
            "hunt_group_1",
        ),
        ("Gespräch_通话_№5.wav", "Gespräch_通话_№5", None, "internal", ""),
        (
            "C1_20261320T140500_inbound_201.wav",
            "C1_20261320T140500_inbound_201",
            None,
            "internal",
            "",
        ),
        (
            "C1_20261120T140500+0100_sideways_201.wav",
            "C1_20261120T140500+0100_sideways_201",
            None,
            "internal",
            "",
        ),
    ],
)
def test_file_name_convention_and_its_tolerant_fallback(
    tmp_path: Path, name: str, call_id: str, start: datetime | None, direction: str, owner: str
) -> None:
    audio = wav(tmp_path / name)
    parsed = read_call_details(audio, 1.0)
    assert parsed.details.call_id == call_id
    assert parsed.details.direction.value == direction
    assert parsed.details.owner == owner
    if start is None:
        assert parsed.sources["start"] == "file"
    else:
        assert parsed.details.start == start


def test_start_without_offset_is_local_time(tmp_path: Path, local_tz: None) -> None:
    audio = wav(tmp_path / "a.wav")
    (tmp_path / "a.json").write_text('{"start": "2026-07-01T10:00:00"}', encoding="utf-8")
    named = wav(tmp_path / "B7_20260115T100000_inbound.wav")

    summer, winter = read(audio).start, read(named).start

    assert summer.utcoffset() == timedelta(hours=-4)  # New York in July
    assert summer.astimezone(UTC) == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
    assert winter.utcoffset() == timedelta(hours=-5)


def test_start_falls_back_to_file_time_minus_length_in_local_time(
    tmp_path: Path, local_tz: None
) -> None:
    audio = wav(tmp_path / "noinfo.wav", seconds=3.0)
    ended = datetime(2026, 2, 10, 17, 30, 0, tzinfo=UTC).timestamp()
    os.utime(audio, (ended, ended))

    parsed = read_call_details(audio, 3.0)

    assert parsed.details.start == datetime(2026, 2, 10, 17, 29, 57, tzinfo=UTC)
    assert parsed.details.start.utcoffset() == timedelta(hours=-5)
    assert parsed.sources["start"] == "file"


def test_fields_nobody_gives_get_the_documented_defaults(tmp_path: Path) -> None:
    parsed = read_call_details(wav(tmp_path / "bare.wav"), 1.0)
    d = parsed.details
    assert d.call_id == "bare"
    assert d.direction is Direction.INTERNAL
    assert (d.parties, d.agents, d.owner, d.target, d.skill) == ([], [], "", "", "")
    assert d.owner_kind is None and d.authenticated is False
    assert parsed.sources["direction"] == "default" and parsed.sidecar is None


# -- value forms --------------------------------------------------------------------------------


def test_lists_booleans_and_case_are_read_as_documented(tmp_path: Path) -> None:
    audio = wav(tmp_path / "forms.wav")
    (tmp_path / "forms.json").write_text(
        json.dumps(
            {
                "Parties": "201; 0301234567;;",
                "agents": [201, "202;203"],
                "DIRECTION": "Outbound",
                "owner_kind": "Hunt-Group",
                "authenticated": "yes",
                "owner": 250,
                "mailbox": {"anything": "goes"},
            }
        ),
        encoding="utf-8",
    )
    d = read(audio)
    assert d.parties == ["201", "0301234567"]
    assert d.agents == ["201", "202", "203"]
    assert d.direction is Direction.OUTBOUND and d.owner_kind is OwnerKind.HUNT_GROUP
    assert d.authenticated is True and d.owner == "250"


def test_xml_lists_as_items_or_text_and_namespaces_are_ignored(tmp_path: Path) -> None:
    audio = wav(tmp_path / "ns.wav")
    (tmp_path / "ns.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<c:call xmlns:c="urn:vm">'
        "<c:call_id>X-1</c:call_id><c:parties><c:p>201</c:p><c:p>202</c:p></c:parties>"
        "<c:agents>201;202</c:agents><c:skill>Beschwerde-Süd</c:skill>"
        "<c:authenticated>false</c:authenticated><c:unknown>ignored</c:unknown></c:call>",
        encoding="utf-8",
    )
    d = read(audio)
    assert (d.call_id, d.parties, d.agents, d.skill) == (
        "X-1",
        ["201", "202"],
        ["201", "202"],
        "Beschwerde-Süd",
    )


def test_unicode_file_names_find_their_sidecar(tmp_path: Path) -> None:
    audio = wav(tmp_path / "Gespräch_通话_№5.wav")
    (tmp_path / "Gespräch_通话_№5.json").write_text(
        json.dumps({"owner": "Zoë", "target": "Vertrieb-Süd"}, ensure_ascii=False),
        encoding="utf-8",
    )
    parsed = read_call_details(audio, 1.0)
    assert parsed.details.owner == "Zoë" and parsed.details.target == "Vertrieb-Süd"
    assert parsed.details.call_id == "Gespräch_通话_№5"


# -- invalid input ------------------------------------------------------------------------------


def _write_invalid(tmp_path: Path, carrier: str, key: str, value: object) -> Path:
    if carrier == "opus":
        audio = tmp_path / "bad.opus"
        sf.write(
            str(audio),
            speechlike(1.0, 8000, np.random.default_rng(4)),
            8000,
            format="OGG",
            subtype="OPUS",
        )
        update_comments(audio, {key: str(value)})
        return audio
    audio = wav(tmp_path / "bad.wav")
    if carrier == "json":
        (tmp_path / "bad.json").write_text(json.dumps({key: value}), encoding="utf-8")
    elif carrier == "xml":
        (tmp_path / "bad.xml").write_text(f"<call><{key}>{value}</{key}></call>", "utf-8")
    elif carrier == "riff":
        add_mmcd(audio, {key: str(value)})
    else:
        riff.append_chunks(audio, [riff.info_list({"ICMT": f"{key}={value}"})])
    return audio


@pytest.mark.parametrize(
    ("carrier", "label", "key", "value"),
    [
        ("json", "JSON sidecar bad.json", "direction", "sideways"),
        ("json", "JSON sidecar bad.json", "parties", {"a": 1}),
        ("json", "JSON sidecar bad.json", "owner", True),
        ("json", "JSON sidecar bad.json", "start", "2026-11-20"),
        ("xml", "XML sidecar bad.xml", "start", "yesterday"),
        ("riff", "RIFF 'mmcd' chunk", "owner_kind", "boss"),
        ("riff-info", "RIFF LIST/INFO chunk", "authenticated", "maybe"),
        ("opus", "Opus comments", "direction", "up"),
    ],
)
def test_an_invalid_value_names_the_file_the_carrier_and_the_key(
    tmp_path: Path, carrier: str, label: str, key: str, value: object
) -> None:
    audio = _write_invalid(tmp_path, carrier, key, value)
    with pytest.raises(CallDetailsError) as caught:
        read_call_details(audio, 1.0)
    message = str(caught.value)
    assert message.startswith(f"{audio.name}: {label}: invalid '{key}'")
    assert caught.value.key == key and caught.value.carrier == carrier


def test_an_invalid_value_that_a_higher_carrier_overrides_is_harmless(tmp_path: Path) -> None:
    audio = wav(tmp_path / "ok.wav")
    add_mmcd(audio, {"direction": "sideways", "skill": "kept"})
    (tmp_path / "ok.json").write_text('{"direction": "inbound"}', encoding="utf-8")
    d = read(audio)
    assert d.direction is Direction.INBOUND and d.skill == "kept"


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("m.json", b'{"call_id": "x",', "not valid JSON"),
        ("m.json", b'["call_id", "x"]', "expected an object"),
        ("m.json", b'{"call_id": "caf\xe9"}', "not UTF-8"),
        ("m.xml", b"<call><direction>inbound</call>", "not well-formed XML"),
        ("m.xml", b'<!DOCTYPE c [<!ENTITY a "aaaa">]><call><skill>&a;</skill></call>', "DOCTYPE"),
    ],
)
def test_a_malformed_sidecar_is_an_error_naming_it(
    tmp_path: Path, name: str, content: bytes, what: str
) -> None:
    audio = wav(tmp_path / "m.wav")
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CallDetailsError, match=f"^m.wav: .*sidecar {name} is malformed: .*{what}"):
        read_call_details(audio, 1.0)


def test_a_json_sidecar_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    audio = wav(tmp_path / "bom.wav")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + b'{"call_id": "BOM-1"}')
    assert read(audio).call_id == "BOM-1"


@pytest.mark.parametrize(
    "content", [b"", b"RIFF", b"RIFF\x10\x00\x00\x00WAVE", b"OggS" + b"\x00" * 40, b"hello\n"]
)
def test_a_file_that_is_not_audio_still_reads_its_sidecar_and_name(
    tmp_path: Path, content: bytes
) -> None:
    audio = tmp_path / "C9_20261120T140500+0100_outbound.wav"
    audio.write_bytes(content)
    (tmp_path / f"{audio.stem}.json").write_text('{"skill": "s"}', encoding="utf-8")
    d = read_call_details(audio, 0.0).details
    assert (d.call_id, d.start, d.direction, d.skill) == ("C9", START, Direction.OUTBOUND, "s")


# -- RIFF chunks: kept, tolerated, never the audio ----------------------------------------------


def test_unknown_riff_chunks_are_kept_for_the_stored_opus_file(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    bext = b"Originator: VMPro 12.1\0odd"  # odd length: pad byte follows
    blob = bytes(range(256)) * 320  # 80 KiB: too large to keep
    rec = make_recording(
        tmp_path,
        duration_s=1.0,
        fmt="ulaw-8k-mono",
        carrier="riff",
        rng=rng,
        extra_chunks={"bext": bext, "cue ": b"\x00" * 28, "blob": blob},
    )
    extra = read_call_details(rec.path, 1.0).extra_tags

    assert base64.b64decode(extra["mm_riff_bext"]) == bext
    assert base64.b64decode(extra["mm_riff_cue"]) == b"\x00" * 28
    assert extra["mm_riff_blob_skipped"] == "81920 bytes"
    assert not any(
        key.startswith(("mm_riff_fmt", "mm_riff_data", "mm_riff_mmcd", "mm_riff_LIST"))
        for key in extra
    )

    stored = tmp_path / "stored.opus"
    sf.write(str(stored), speechlike(1.0, 8000, rng), 8000, format="OGG", subtype="OPUS")
    write_opus_tags(stored, rec.details, extra)
    assert base64.b64decode(read_opus_tags(stored)["mm_riff_bext"]) == bext


def _chunks_of(path: Path) -> dict[str, tuple[int, int]]:
    scanned = riff.scan(path)
    assert scanned is not None
    return {c.id: (c.offset, c.size) for c in scanned.chunks}


def test_a_cut_off_mmcd_chunk_is_ignored_not_half_read(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    rec = make_recording(tmp_path, duration_s=1.0, fmt="pcm16-8k-mono", carrier="riff", rng=rng)
    offset, size = _chunks_of(rec.path)["mmcd"]
    data = rec.path.read_bytes()
    rec.path.write_bytes(data[: offset + size // 2])  # "call_id=12345…" would be a wrong id

    parsed = read_call_details(rec.path, 1.0)

    assert parsed.details.call_id == rec.path.stem and parsed.sources["call_id"] == "filename"


def test_details_before_the_audio_survive_a_file_cut_in_the_audio(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    rec = make_recording(tmp_path, duration_s=2.0, fmt="alaw-8k-mono", carrier="riff-info", rng=rng)
    offset, _ = _chunks_of(rec.path)["data"]
    data = rec.path.read_bytes()
    rec.path.write_bytes(data[: offset + 5001])

    assert read_call_details(rec.path, 0.6).details == rec.details


def test_streamed_riff_with_unknown_sizes_is_read(tmp_path: Path, rng: np.random.Generator) -> None:
    rec = make_recording(
        tmp_path, duration_s=1.0, fmt="pcm16-16k-mono", carrier="riff-info", rng=rng
    )
    at = _chunks_of(rec.path)["data"][0] - 8
    data = bytearray(rec.path.read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    rec.path.write_bytes(bytes(data))

    assert read_call_details(rec.path, 1.0).details == rec.details


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


FMT = riff.chunk_bytes("fmt ", struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8))  # µ-law mono


def test_odd_sized_chunks_with_and_without_their_pad_byte(tmp_path: Path) -> None:
    mmcd = riff.chunk_bytes("mmcd", b"call_id=PAD-1\n")
    odd_data = b"data" + struct.pack("<I", 8001) + b"\xff" * 8001
    padded, unpadded = tmp_path / "padded.wav", tmp_path / "unpadded.wav"
    padded.write_bytes(_riff(FMT, odd_data + b"\0", mmcd))
    unpadded.write_bytes(_riff(FMT, odd_data, mmcd))  # a writer that forgot the pad byte

    assert read_call_details(padded, 1.0).details.call_id == "PAD-1"
    assert read_call_details(unpadded, 1.0).details.call_id == "PAD-1"
    assert sf.info(str(padded)).frames == 8001  # and it is a real WAV


def test_the_audio_data_is_skipped_not_read(tmp_path: Path) -> None:
    """A 3.5 GB recording (sparse on disk) with the details after the audio: read at once."""
    size = 3_500_000_000
    path = tmp_path / "huge.wav"
    mmcd = riff.chunk_bytes("mmcd", b"call_id=HUGE-1\ndirection=inbound\n")
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 4 + len(FMT) + 8 + size + len(mmcd)) + b"WAVE")
        fh.write(FMT + b"data" + struct.pack("<I", size))
        fh.seek(size, os.SEEK_CUR)
        fh.write(mmcd)

    tracemalloc.start()
    began = time.perf_counter()
    try:
        parsed = read_call_details(path, size / 8000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert parsed.details.call_id == "HUGE-1"
    assert peak < 5_000_000 and time.perf_counter() - began < 2.0


# -- Opus comments written by mm ----------------------------------------------------------------


def _opus(path: Path, seconds: float = 2.0) -> Path:
    audio = speechlike(seconds, 16000, np.random.default_rng(5))
    sf.write(str(path), audio, 16000, format="OGG", subtype="OPUS", compression_level=0.97)
    return path


def test_write_then_read_opus_tags_round_trip(tmp_path: Path) -> None:
    path = _opus(tmp_path / "stored.opus")
    vendor = OggOpus(str(path)).tags.vendor
    frames = sf.info(str(path)).frames
    sparse = CallDetails(call_id="C-2", start=START)

    write_opus_tags(path, FULL, {"mm_riff_bext": "QUJD"})
    tags = read_opus_tags(path)
    assert tags == {
        "call_id": "4711002",
        "start": "2026-11-20T14:05:00+01:00",
        "direction": "inbound",
        "parties": "02012345678;201",
        "agents": "201",
        "owner": "Sales",
        "owner_kind": "hunt_group",
        "target": "Sales",
        "skill": "renewals",
        "authenticated": "true",
        "mm_riff_bext": "QUJD",
    }
    assert OggOpus(str(path)).tags.vendor == vendor
    assert sf.info(str(path)).frames == frames

    write_opus_tags(path, sparse, {})  # a second write replaces, never appends
    again = read_opus_tags(path)
    assert again["call_id"] == "C-2" and again["owner_kind"] == "" and again["parties"] == ""
    assert again["authenticated"] == "false" and again["mm_riff_bext"] == "QUJD"
    assert [k for k, _ in OggOpus(str(path)).tags].count("call_id") == 1
    # what mm stores describes itself: reading it back as an input gives the same call
    assert read(path) == sparse


def test_opus_tags_that_outgrow_their_page_keep_the_audio_intact(tmp_path: Path) -> None:
    path = _opus(tmp_path / "long.opus", seconds=60.0)
    before = sf.read(str(path), dtype="int16")[0]
    big = {"mm_riff_blob": "A" * 90_000}  # larger than one Ogg page: later pages renumbered

    write_opus_tags(path, FULL, big)

    assert read_opus_tags(path)["mm_riff_blob"] == "A" * 90_000
    assert np.array_equal(sf.read(str(path), dtype="int16")[0], before)


@pytest.mark.parametrize(("carrier", "fmt"), [("riff", "ulaw-8k-mono"), ("opus", "opus-8k-mono")])
def test_a_recording_cut_at_any_byte_never_breaks_the_reader(
    tmp_path: Path, rng: np.random.Generator, carrier: str, fmt: str
) -> None:
    rec = make_recording(tmp_path, duration_s=0.1, fmt=fmt, carrier=carrier, rng=rng)
    data = rec.path.read_bytes()
    call_ids = set()
    for cut in range(len(data) + 1):
        rec.path.write_bytes(data[:cut])
        call_ids.add(read_call_details(rec.path, 0.1).details.call_id)
    # a cut either keeps the details whole or loses them to the name, never a half value
    assert call_ids == {rec.details.call_id}
