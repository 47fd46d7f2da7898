"""DVD+RW archiving underneath the dvd connector: drives, media events, xorriso sessions.

There is no optical drive here, so real xorriso writes through its ``stdio:`` pseudo-drive to
image files that stand in for discs (xorriso handles a DVD+RW and an image file alike, as
overwriteable media), and a scripted udev event source (tests/dvd_fakes.py) stands in for the
kernel's insert and eject events.
"""

from __future__ import annotations

import hashlib
import io
import queue
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mm_engine.dvd.disc import MARKER_PATH, DiscKind, ForeignDisc, classify
from mm_engine.dvd.drives import Change, DriveEvent, DriveMonitor, UdevEventSource, list_drives
from mm_engine.dvd.xorriso import (
    DiscFull,
    DriveUnavailable,
    MediaState,
    Xorriso,
)
from mm_engine.errors import InvalidSetting, Refused
from mm_engine.storage import registry
from mm_engine.storage.base import Accessibility
from mm_engine.storage.dvd import AppendOnly, DvdStore
from tests.dvd_fakes import ScriptedUdev

MB = 1 << 20

MakeStore = Callable[..., DvdStore]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """Where the disc image goes; it does not exist yet: a blank disc."""
    return tmp_path / "disc.iso"


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[MakeStore]:
    made: list[DvdStore] = []

    def make(image: Path, label: str = "ARCHIVE", **kwargs: object) -> DvdStore:
        kwargs.setdefault("capacity", 64 * MB)
        kwargs.setdefault("spool", tmp_path / f"spool-{len(made)}")
        store = DvdStore(f"stdio:{image}", label, **kwargs)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def burn(store: DvdStore, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        store.put(path, io.BytesIO(data), len(data))
    store.flush()


def read_all(store: DvdStore, path: str, offset: int = 0, length: int | None = None) -> bytes:
    with store.open(path, offset, length) as fh:
        data: bytes = fh.read()
        return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def foreign_iso(path: Path, tmp_path: Path) -> None:
    """A disc somebody else burnt with xorriso: holiday photos, no mm marker."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "beach.jpg").write_bytes(b"\xff\xd8 not really a photo" * 100)
    command = ["xorriso", "-no_rc", "-outdev", f"stdio:{path}", "-volid", "HOLIDAY"]
    subprocess.run(
        [*command, "-map", str(photos), "/photos", "-commit"],
        check=True,
        capture_output=True,
    )


# -- media states -----------------------------------------------------------------------------


def test_a_blank_disc_becomes_ours_and_stays_appendable(image: Path, make_store: MakeStore) -> None:
    store = make_store(image, new_disc_sequence=lambda: 7)
    blank = store.disc()
    assert blank.kind is DiscKind.BLANK and blank.media.state is MediaState.BLANK
    assert store.test() == Accessibility.OK
    assert store.free_space() == 64 * MB

    burn(store, {"2026/03/02/C0001-1.opus": b"first call"})

    disc = store.disc()
    assert disc.kind is DiscKind.OURS
    assert disc.media.state is MediaState.APPENDABLE
    assert disc.marker is not None
    assert (disc.marker.label, disc.marker.sequence) == ("ARCHIVE", 7)
    assert disc.volume_id == "ARCHIVE-0007"
    assert len(disc.media.sessions) == 1
    assert 0 < disc.media.used_bytes < 1 * MB
    assert disc.media.free_bytes == 64 * MB - disc.media.used_bytes
    # what the disc says about itself, read straight off it
    raw = Xorriso(f"stdio:{image}").read_bytes(MARKER_PATH)
    assert raw is not None and b'"volume_id": "ARCHIVE-0007"' in raw
    ok, said = store.diagnose()
    assert ok == Accessibility.OK and "ARCHIVE-0007" in said


def test_a_foreign_disc_is_refused_and_never_written(
    image: Path, tmp_path: Path, make_store: MakeStore
) -> None:
    foreign_iso(image, tmp_path)
    before = digest(image)
    store = make_store(image)

    state = store.disc()
    assert state.kind is DiscKind.FOREIGN
    assert "HOLIDAY" in state.reason and "not written by mm" in state.reason
    verdict, said = store.diagnose()
    assert verdict == Accessibility.MISCONFIGURED
    assert "will not write on it" in said

    store.put("2026/03/02/C0001-1.opus", io.BytesIO(b"call"), 4)
    with pytest.raises(ForeignDisc) as refused:
        store.flush()
    assert store.is_permanent_error(refused.value)
    with pytest.raises(ForeignDisc):
        store.erase(store.erase_token())  # not even with the confirmation
    with pytest.raises(ForeignDisc):
        store.stat("photos/beach.jpg")
    assert digest(image) == before
    assert [o.path for o in store.pending()] == ["2026/03/02/C0001-1.opus"]


def test_a_disc_of_another_label_or_library_is_foreign(image: Path, make_store: MakeStore) -> None:
    burn(make_store(image, "SITE_A", library="lib-1"), {"a.opus": b"a"})
    x = Xorriso(f"stdio:{image}")
    assert classify(x, "SITE_A", "lib-1").kind is DiscKind.OURS
    other_label = classify(x, "SITE_B", "lib-1")
    assert other_label.kind is DiscKind.FOREIGN and "SITE_A" in other_label.reason
    assert classify(x, "SITE_A", "lib-2").kind is DiscKind.FOREIGN


# -- sessions ---------------------------------------------------------------------------------


def test_two_sessions_merge_into_one_tree_under_the_disc_volume_id(
    image: Path, make_store: MakeStore
) -> None:
    store = make_store(image, new_disc_sequence=lambda: 3)
    first = {"2026/03/02/C0001-1.opus": b"one" * 1000, "2026/03/02/C0002-1.opus": b"two"}
    second = {"2026/03/03/C0003-1.opus": b"three" * 3000, "2026/04/Zoë – 通话 #4.opus": b"4"}
    burn(store, first)
    for path, data in second.items():
        store.put(path, io.BytesIO(data), len(data))
    report = store.flush()
    assert report is not None
    assert (report.volume_id, report.session, report.new_disc) == ("ARCHIVE-0003", 2, False)
    assert report.sha256["2026/03/03/C0003-1.opus"] == hashlib.sha256(b"three" * 3000).hexdigest()
    assert store.pending() == []

    info = Xorriso(f"stdio:{image}").media_info()
    assert [s.volume_id for s in info.sessions] == ["ARCHIVE-0003", "ARCHIVE-0003"]
    everything = {**first, **second}
    assert {o.path: o.size for o in store.list()} == {p: len(d) for p, d in everything.items()}
    for path, data in everything.items():
        assert read_all(store, path) == data
    check = store.verify()  # every byte of both sessions read back against its MD5
    assert check.ok
    assert {f"/{p}" for p in everything} <= set(check.recorded)


def test_a_corrupted_disc_fails_verification(image: Path, make_store: MakeStore) -> None:
    store = make_store(image)
    burn(store, {"2026/03/02/good.opus": b"g" * 9000, "2026/03/02/bad.opus": b"b" * 9000})
    bad = next(f for f in Xorriso(f"stdio:{image}").files() if f.path == "/2026/03/02/bad.opus")
    with open(image, "r+b") as fh:  # flip bytes inside the file's data on the "disc"
        fh.seek(bad.start_block * 2048 + 4000)
        fh.write(b"\x00\x01\x02\x03")
    store.media_changed()

    check = store.verify()
    assert not check.ok
    assert check.mismatched == ("/2026/03/02/bad.opus",)


def test_a_batch_that_does_not_fit_is_refused_before_writing_and_waits_for_the_next_disc(
    image: Path, make_store: MakeStore
) -> None:
    store = make_store(image, capacity=4 * MB, new_disc_sequence=iter([1, 2]).__next__)
    burn(store, {"2026/03/02/small.opus": b"s" * 1000})
    before = digest(image)
    big = bytes(range(256)) * (5 * MB // 256)
    store.put("2026/03/02/big.opus", io.BytesIO(big), len(big))

    with pytest.raises(DiscFull) as full:
        store.flush()
    assert full.value.needed_bytes > len(big)
    assert 0 < full.value.free_bytes < 4 * MB
    assert f"{full.value.free_bytes:,} bytes are free" in str(full.value)
    assert "ARCHIVE-0001" in str(full.value)
    assert store.is_permanent_error(full.value)
    assert digest(image) == before  # nothing written
    assert [o.path for o in store.pending()] == ["2026/03/02/big.opus"]

    # the technician swaps in a blank disc (a bigger one here); the waiting batch goes on it
    image.rename(image.with_suffix(".full"))
    store.x.capacity = 16 * MB
    store.media_changed()
    report = store.flush()
    assert report is not None and report.volume_id == "ARCHIVE-0002" and report.new_disc
    assert read_all(store, "2026/03/02/big.opus") == big


def test_xorriso_refuses_a_session_bigger_than_the_medium(
    tmpfs: Path, make_store: MakeStore
) -> None:
    """No capacity setting: the real free space of a small filesystem is the limit."""
    image = tmpfs / "disc.iso"
    store = make_store(image, capacity=None)
    data = b"x" * (10 * MB)
    store.put("2026/03/02/huge.opus", io.BytesIO(data), len(data))
    with pytest.raises(DiscFull) as full:
        store.flush()
    assert full.value.free_bytes < 8 * MB < full.value.needed_bytes
    assert not image.exists() or image.stat().st_size == 0

    store.remove("2026/03/02/huge.opus")  # dropped from the batch
    store.put("2026/03/02/fits.opus", io.BytesIO(b"y" * (2 * MB)), 2 * MB)
    assert store.flush() is not None
    assert store.stat("2026/03/02/fits.opus") is not None


def test_blanking_needs_the_confirmation(image: Path, make_store: MakeStore) -> None:
    store = make_store(image)
    burn(store, {"a.opus": b"a"})
    token = store.erase_token()
    assert token == "BLANK ARCHIVE-0001"
    for wrong in ("", "yes", "BLANK"):
        with pytest.raises(Refused) as refused:
            store.erase(wrong)
        assert token in str(refused.value)
    assert store.disc().kind is DiscKind.OURS
    with pytest.raises(Refused):
        Xorriso(f"stdio:{image}").blank("yes")

    store.erase(token)
    assert store.disc().kind is DiscKind.BLANK
    assert list(store.list()) == []


# -- drives and live events -------------------------------------------------------------------


def test_the_monitor_follows_inserts_and_ejects(image: Path, make_store: MakeStore) -> None:
    """Scripted udev events (no hardware here); the inserted medium is probed with xorriso."""
    events: queue.Queue[DriveEvent] = queue.Queue()
    udev = ScriptedUdev()
    probe = lambda node: Xorriso(f"stdio:{image}").media_info()  # noqa: E731 - /dev/sr0 here
    with DriveMonitor(events.put, udev, probe=probe):
        udev.attach()
        udev.send("change", {"DEVNAME": "/dev/sda", "DEVTYPE": "disk"})  # not a DVD drive
        udev.insert(state="blank")
        udev.wait()
        added, inserted = events.get_nowait(), events.get_nowait()
        assert added.change is Change.DRIVE_ADDED and added.drive is not None
        assert added.drive.model == "DVD-RW DRU-880S" and not added.drive.media
        assert inserted.change is Change.INSERTED and inserted.node == "/dev/sr0"
        assert inserted.drive is not None and inserted.drive.dvd_plus_rw
        assert inserted.media is not None and inserted.media.state is MediaState.BLANK

        udev.press_eject_button()
        udev.eject()
        udev.wait()
        assert events.get_nowait().change is Change.EJECT_REQUESTED
        ejected = events.get_nowait()
        assert ejected.change is Change.EJECTED and ejected.media is None

        burn(make_store(image), {"a.opus": b"a"})
        udev.insert(state="complete", label="ARCHIVE-0001", sessions=1)
        udev.detach()
        udev.wait()
        again = events.get_nowait()
        assert again.change is Change.INSERTED and again.drive is not None
        assert again.drive.label == "ARCHIVE-0001"
        assert again.media is not None and again.media.state is MediaState.APPENDABLE
        assert again.media.volume_id == "ARCHIVE-0001"
        assert events.get_nowait().change is Change.DRIVE_REMOVED
        assert events.empty()


def test_udev_is_reachable_but_this_machine_has_no_dvd_drive() -> None:
    assert list_drives() == []
    source = UdevEventSource()  # a real netlink monitor thread starts and stops cleanly
    source.start(lambda action, props: None)
    source.stop()


def test_a_missing_drive_is_unreachable_and_transient(tmp_path: Path) -> None:
    store = DvdStore("/dev/sr9", "ARCHIVE", spool=tmp_path / "spool")
    verdict, said = store.diagnose()
    assert verdict == Accessibility.UNREACHABLE
    assert "no DVD drive at /dev/sr9" in said
    assert store.free_space() is None
    store.put("a.opus", io.BytesIO(b"a"), 1)  # accepted into the batch ...
    with pytest.raises(DriveUnavailable) as caught:
        store.flush()  # ... and kept until a drive is there
    assert not store.is_permanent_error(caught.value)
    assert [o.path for o in store.pending()] == ["a.opus"]
    with pytest.raises(DriveUnavailable) as direct:
        Xorriso("/dev/sr9").media_info()
    assert "/dev/sr9" in str(direct.value)

    gone = DvdStore("stdio:/nonexistent/folder/disc.iso", "ARCHIVE", spool=tmp_path / "s2")
    verdict, said = gone.diagnose()
    assert verdict == Accessibility.UNREACHABLE and "/nonexistent/folder" in said


def test_the_pending_batch_survives_a_restart(image: Path, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    DvdStore(f"stdio:{image}", "ARCHIVE", spool=spool).put("a/b.opus", io.BytesIO(b"ab"), 2)
    again = DvdStore(f"stdio:{image}", "ARCHIVE", spool=spool)
    assert [o.path for o in again.pending()] == ["a/b.opus"]
    report = again.flush()
    assert report is not None and report.sha256["a/b.opus"] == hashlib.sha256(b"ab").hexdigest()
    assert read_all(again, "a/b.opus") == b"ab"


# -- the Store contract, as far as a write-once disc allows -------------------------------------


def test_the_store_reads_like_every_other_store(image: Path, make_store: MakeStore) -> None:
    store = registry.open_store(
        "dvd", {"drive": f"stdio:{image}", "label": "ARCHIVE", "capacity": str(64 * MB)}, "dvd"
    )
    assert isinstance(store, DvdStore)
    ranged = bytes(range(256)) * 400
    big = hashlib.sha256(b"seed").digest() * (3 * MB // 32)
    files = {
        "2026/01/02/a.opus": b"2026/01/02/a.opus",
        "2026/01/03/b.opus": b"2026/01/03/b.opus",
        "2026/01/030/x.opus": b"not in 2026/01/03",
        "2026/02/01/c.opus": b"c",
        "2027/d.opus": b"d",
        "2026/11/25/Zoë Müller – 通话 #1.opus": b"hello",
        "r.bin": ranged,
        "big/call.opus": big,
        "empty.opus": b"",
    }
    burn(store, files)

    assert read_all(store, "r.bin", 1000, 50) == ranged[1000:1050]
    assert read_all(store, "r.bin", 100_000) == ranged[100_000:]
    assert read_all(store, "r.bin", 0, 10) == ranged[:10]
    assert read_all(store, "r.bin", 102_000, 500) == ranged[102_000:]
    assert read_all(store, "big/call.opus") == big
    assert read_all(store, "2026/11/25/Zoë Müller – 通话 #1.opus") == b"hello"
    assert read_all(store, "empty.opus") == b""

    found = store.stat("2026/01/02/a.opus")
    assert found is not None and found.size == 17 and found.mtime > 0
    assert {o.path: o.size for o in store.list()} == {p: len(d) for p, d in files.items()}
    assert [o.path for o in store.list("2026/01/03")] == ["2026/01/03/b.opus"]
    assert [o.path for o in store.list("2026/01")] == [
        "2026/01/02/a.opus",
        "2026/01/03/b.opus",
        "2026/01/030/x.opus",
    ]
    assert list(store.list("2025")) == []

    assert store.stat("no/such.opus") is None
    with pytest.raises(FileNotFoundError):
        read_all(store, "no/such.opus")
    store.remove("no/such.opus")  # removing what is not there is not an error
    with pytest.raises(AppendOnly) as refused:
        store.remove("2026/01/02/a.opus")
    assert store.is_permanent_error(refused.value)
    for bad in ("../escape.opus", "/etc/escape.opus", ".mm-disc.json"):
        with pytest.raises(ValueError):
            store.put(bad, io.BytesIO(b"x"), 1)

    # a put is pending, unseen, until flush; a failed stream leaves nothing behind
    store.put("2026/05/new.opus", io.BytesIO(b"new"), 3)
    assert store.stat("2026/05/new.opus") is None

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError("the source went away")

    with pytest.raises(OSError):
        store.put("2026/05/broken.opus", io.BufferedReader(Broken()), 10)
    assert [o.path for o in store.pending()] == ["2026/05/new.opus"]
    store.flush()
    assert read_all(store, "2026/05/new.opus") == b"new"
    store.close()


def test_settings_are_checked() -> None:
    with pytest.raises(InvalidSetting) as bad_label:
        registry.open_store("dvd", {"drive": "/dev/sr0", "label": "no spaces allowed"})
    assert bad_label.value.key == "label"
    with pytest.raises(InvalidSetting) as bad_drive:
        registry.open_store("dvd", {"drive": "sr0", "label": "ARCHIVE"})
    assert bad_drive.value.key == "drive"
    assert registry.title("dvd") == "DVD+RW"


def test_a_swapped_disc_is_not_written(image: Path, tmp_path: Path, make_store: MakeStore) -> None:
    """Between looking at a disc and writing, the technician may swap it: the write checks the
    volume id again (xorriso's -assert_volid) and writes nothing on another disc."""
    burn(make_store(image, "OTHER"), {"a.opus": b"a"})
    before = digest(image)
    source = tmp_path / "b.opus"
    source.write_bytes(b"b")
    with pytest.raises(Refused) as refused:
        Xorriso(f"stdio:{image}").append(
            "ARCHIVE-0001", {"b.opus": source}, expect_volume_id="ARCHIVE-0001"
        )
    assert "no longer ARCHIVE-0001" in str(refused.value)
    assert digest(image) == before


@pytest.mark.parametrize(
    ("lines", "verdict", "said"),
    [
        (
            ["Media current: is not recognizable", "Media status : is not present"],
            Accessibility.UNREACHABLE,
            "There is no disc in /dev/null: insert a blank DVD+RW",
        ),
        (
            ["Media current: DVD-R", "Media status : is written , is appendable"],
            Accessibility.MISCONFIGURED,
            "The disc in /dev/null is a DVD-R, not a DVD+RW",
        ),
    ],
)
def test_a_drive_without_a_usable_disc_is_reported(
    tmp_path: Path, lines: list[str], verdict: Accessibility, said: str
) -> None:
    """xorriso's report for a real drive with an empty tray (as published for real drives) or a
    DVD-R in it, replayed by a stand-in program because this machine has no optical drive."""
    program = tmp_path / "xorriso"
    echo = "".join(f"echo 'R:1: {line}'\n" for line in lines)
    program.write_text(f"#!/bin/sh\n{echo}")
    program.chmod(0o755)
    store = DvdStore("/dev/null", "ARCHIVE", spool=tmp_path / "spool", binary=str(program))
    assert store.diagnose() == (verdict, said)
    assert store.free_space() is None


def test_a_blank_disc_swapped_in_does_not_get_the_session(tmp_path: Path) -> None:
    """-assert_volid lets a blank disc pass (it has no volume id to compare), so the write also
    demands the disc's session count: a blank swapped in for ARCHIVE-0001 stays blank instead
    of becoming a second ARCHIVE-0001."""
    source = tmp_path / "b.opus"
    source.write_bytes(b"b")
    blank = tmp_path / "blank.iso"
    with pytest.raises(Refused) as refused:
        Xorriso(f"stdio:{blank}").append(
            "ARCHIVE-0001", {"b.opus": source}, expect_volume_id="ARCHIVE-0001", expect_sessions=1
        )
    assert "no longer ARCHIVE-0001" in str(refused.value)
    assert not blank.exists() or blank.stat().st_size == 0
