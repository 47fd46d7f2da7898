"""The DVD strip of the console's Connectors tab (F16, issue 6), driven as a technician would.

As in tests/test_dvd_archiving.py there is no optical drive and no udev daemon here: real
xorriso writes through its ``stdio:`` pseudo-drive to image files that stand in for discs (the
connector's ``capacity`` setting gives their size), and where a disc is swapped a scripted udev
event source (tests/dvd_fakes.ScriptedUdev) stands in for pyudev's monitor, so the real service
reacts to the insert and eject events a real drive would send.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from mm_engine.engine import Engine
from mm_engine.principal import SYSTEM, Role
from mm_engine.service import Service
from mm_engine.session import Session
from mm_tui.app import MMApp
from mm_tui.dialogs.confirm import ConfirmDialog
from mm_tui.dialogs.dvd_discs import DvdDiscsDialog, size_text
from mm_tui.dialogs.error import ErrorDialog
from mm_tui.widgets.connectors_panel import ConnectorsPanel
from mm_tui.widgets.dvd_strip import DvdStrip
from tests.dvd_fakes import ScriptedUdev
from tests.test_console import FAST, account, run_async, settle
from tests.test_console_connectors import open_tab as open_connectors_tab
from tests.test_console_connectors import until
from tests.test_dvd_archiving import Calls, add_dvd, discs_of

SMALL = (80, 24)
SIZE = (110, 30)


@pytest.fixture
def fast_engine(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    engine.users.params = FAST
    monkeypatch.setattr(DvdStrip, "POLL_SECONDS", 0.2)
    return engine


@pytest.fixture
def calls(fast_engine: Engine) -> Calls:
    return Calls(fast_engine)


@pytest.fixture
def drive(tmp_path: Path) -> Path:
    """The "drive": the image file at this path is the disc in it (none yet: a blank disc)."""
    folder = tmp_path / "drive"
    folder.mkdir()
    return folder / "disc.iso"


async def open_tab(pilot: Pilot[None], user: str) -> DvdStrip:
    await open_connectors_tab(pilot, user)
    strip = pilot.app.screen.query_one(DvdStrip)
    await until(pilot, lambda: strip.status is not None, "the drive's status")
    return strip


def footer(app: MMApp) -> set[str]:
    return {k.description for k in app.screen.query(FooterKey)}


def shown(app: MMApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def disc_states(engine: Engine) -> dict[str, str]:
    return {d.volume_id: d.state for d in engine.dvd.discs_list()}


def audited(engine: Engine, user: str) -> list[str]:
    return [
        str(e.details.get("op"))
        for e in engine.audit.list(None, limit=500).items
        if e.user == user and e.action == "configuration"
    ]


# -- what the strip shows ---------------------------------------------------------------------
@run_async
async def test_the_strip_shows_the_disc_and_its_space_and_every_key_fits_at_80x24(
    fast_engine: Engine, calls: Calls, drive: Path, tmp_path: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    fast_engine.connectors.add("NAS", "local", {"path": str(tmp_path / "nas")})
    calls.add(3)
    add_dvd(fast_engine, drive)
    assert fast_engine.archiver.run_once().archived == 3
    [status] = Session(fast_engine, SYSTEM).dvd_status()
    disc = status["disc"]
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        strip = await open_tab(pilot, "alice")
        lines = strip.shown().splitlines()
        assert lines[0] == (
            f"DVD: our disc ARCH-0001 · 3 recording(s), 1 session(s) · in stdio:{drive}"
        )
        used, free = size_text(disc["used_bytes"]), size_text(disc["free_bytes"])
        percent = round(100 * disc["used_bytes"] / disc["capacity_bytes"])
        days = round(status["days_until_full"])
        assert lines[1] == f"[{percent}%] {used} used, {free} free of 2.1 MB"
        assert lines[2] == f"Pending: none · full in about {days} days at the current rate"
        assert len(lines) == 3  # no problem to tell

        # the strip stays with the active DVD connector while another row is selected
        table = app.screen.query_one("#connectors-table", DataTable)
        assert [str(table.get_row_at(r)[0]) for r in range(table.row_count)] == ["DVD", "NAS"]
        table.move_cursor(row=1)
        await settle(pilot)
        assert strip.display and strip.shown().startswith("DVD: our disc ARCH-0001")
        assert not footer(app) & {"Eject", "Blank", "Discs"}  # the DVD row's keys
        table.move_cursor(row=0)
        await settle(pilot)

        keys = {k.description: k.region for k in app.screen.query(FooterKey)}
        palette = next(
            k.region for k in app.screen.query(FooterKey) if "-command-palette" in k.classes
        )
        mine = ["Add", "Edit", "Test", "Delete", "Archive now", "Eject", "Blank", "Discs"]
        assert set(mine) <= set(keys)
        assert "Activate" not in keys  # it is the active connector already
        assert all(keys[d].right <= palette.x for d in mine), keys
        assert table.size.height >= 8  # the list keeps room for several connectors

        # a connector that is not a DVD (with no DVD connector active) has no strip, no keys
        fast_engine.connectors.activate("NAS")
        await pilot.press("r")
        await settle(pilot)
        table.move_cursor(row=1)
        await settle(pilot)
        assert not strip.display and strip.shown() == ""
        assert not footer(app) & {"Eject", "Blank", "Discs"}


# -- who may ----------------------------------------------------------------------------------
@run_async
async def test_a_standard_user_sees_the_strip_read_only_and_an_administrator_ejects(
    fast_engine: Engine, calls: Calls, drive: Path
) -> None:
    account(fast_engine, "sam", Role.STANDARD)
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    calls.add(2)
    add_dvd(fast_engine, drive)
    fast_engine.archiver.run_once()
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        strip = await open_tab(pilot, "sam")
        assert strip.shown().startswith("DVD: our disc ARCH-0001")
        assert "Discs" in footer(app) and not footer(app) & {"Eject", "Blank"}
        for key in ("j", "b"):
            await pilot.press(key)
            await settle(pilot)
            assert not app.screen.is_modal, key
        await pilot.press("d")  # the disc list is there to read
        await until(pilot, lambda: isinstance(app.screen, DvdDiscsDialog), "the disc list")
        await pilot.press("escape")
        await settle(pilot)
    assert disc_states(fast_engine) == {"ARCH-0001": "in_drive"}
    assert audited(fast_engine, "sam") == []  # not even a refused attempt

    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await open_tab(pilot, "alice")
        panel = app.screen.query_one(ConnectorsPanel)
        assert {"Eject", "Blank", "Discs"} <= footer(app)
        await pilot.press("j")
        await until(pilot, lambda: "Ejected" in panel.status(), "the eject")
        assert f"Ejected disc ARCH-0001 from stdio:{drive}." in panel.status()
    assert disc_states(fast_engine) == {"ARCH-0001": "ejected"}
    assert "dvd eject" in audited(fast_engine, "alice")


# -- blanking ---------------------------------------------------------------------------------
@run_async
async def test_blank_says_what_it_erases_and_blanks_a_disc_whose_recordings_live_elsewhere(
    fast_engine: Engine, calls: Calls, drive: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    recs = calls.add(3)
    add_dvd(fast_engine, drive)
    fast_engine.archiver.run_once()
    before = drive.read_bytes()
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        strip = await open_tab(pilot, "alice")
        panel = app.screen.query_one(ConnectorsPanel)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        question = shown(app, "#confirm-question")
        assert question.startswith(
            f"Erase disc ARCH-0001 in stdio:{drive}? Everything on it is lost: 3 recording(s)"
        )
        first = recs[0].details.start.astimezone().strftime("%Y-%m-%d %H:%M")
        assert f"in 1 session(s), calls from {first} to " in question
        assert "All 3 have another copy" in question
        assert question.endswith("Confirming answers the engine with: BLANK ARCH-0001")
        await pilot.press("n")  # no: nothing happens
        await settle(pilot)
        assert drive.read_bytes() == before

        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await until(pilot, lambda: "Blanked" in panel.status(), "the blank")
        assert (
            f"Blanked disc ARCH-0001 in stdio:{drive}; 3 archive copies on it are forgotten"
            in panel.status()
        )
        await until(
            pilot,
            lambda: (
                strip.shown().startswith("DVD: blank disc")
                and "Pending: 3 recording(s)" in strip.shown()
            ),
            "a blank disc, and its recordings pending again",
        )
        table = app.screen.query_one("#connectors-table", DataTable)
        await until(pilot, lambda: str(table.get_row_at(0)[4]) == "3", "the pending count")
    assert discs_of(fast_engine) == {}
    assert disc_states(fast_engine) == {"ARCH-0001": "blanked"}
    assert "dvd blank" in audited(fast_engine, "alice")


@run_async
async def test_blank_is_refused_with_the_engines_reason_when_the_disc_holds_an_only_copy(
    fast_engine: Engine, calls: Calls, drive: Path
) -> None:
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    recs = calls.add(2)
    add_dvd(fast_engine, drive)
    fast_engine.archiver.run_once()
    fast_engine.catalogue.drop_local([recs[1].id])  # retention pruned its local file
    before = drive.read_bytes()
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        await open_tab(pilot, "alice")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        question = shown(app, "#confirm-question")
        assert "1 of them exist nowhere else" in question and "mm will refuse" in question
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ErrorDialog), "the refusal")
        message = shown(app, "#error-message")
        assert message.startswith(
            f"Disc ARCH-0001 holds the only copy of recording(s) {recs[1].id}"
        )
        assert "Keep this disc" in shown(app, "#error-hint")
        await pilot.press("escape")
        await settle(pilot)
    assert drive.read_bytes() == before
    assert len(discs_of(fast_engine)) == 2


# -- following the drive ----------------------------------------------------------------------
@pytest.fixture
def service(fast_engine: Engine) -> Iterator[ScriptedUdev]:
    fast_engine.config.set("disk_min_free_gb", "0")
    udev = ScriptedUdev()
    fast_engine.dvd.event_source = udev
    svc = Service(fast_engine)
    svc.start()
    try:
        yield udev
    finally:
        svc.stop()


@run_async
async def test_a_full_disc_swapped_for_a_blank_one_shows_in_the_strip_and_the_disc_list(
    fast_engine: Engine, calls: Calls, drive: Path, tmp_path: Path, service: ScriptedUdev
) -> None:
    udev = service
    account(fast_engine, "alice", Role.ADMINISTRATOR)
    calls.add(20)
    add_dvd(fast_engine, drive)
    udev.attach()
    udev.insert()  # a blank disc goes in: the service fills it and asks for another
    await_full = time.monotonic() + 60
    while not fast_engine.dvd.discs_list() or not fast_engine.dvd.discs_list()[0].full:
        assert time.monotonic() < await_full, "the first disc never filled"
        time.sleep(0.1)
    waiting = fast_engine.connectors.get("DVD").pending
    assert 0 < waiting < 20
    app = MMApp(fast_engine, "embedded engine")
    async with app.run_test(size=SMALL) as pilot:
        strip = await open_tab(pilot, "alice")
        await until(pilot, lambda: "insert a blank DVD+RW" in strip.shown(), "the full disc")
        lines = strip.shown().splitlines()
        assert lines[0].startswith("DVD: our disc ARCH-0001")
        assert lines[1].endswith("0 KB free of 2.1 MB")
        assert lines[2].startswith(f"Pending: {waiting} recording(s)")
        assert lines[2].endswith("· the disc is full")
        assert lines[3] == "Disc ARCH-0001 is full: insert a blank DVD+RW."

        # the technician takes the full disc out and puts a blank one in
        udev.eject()
        drive.rename(tmp_path / "ARCH-0001.iso")
        udev.insert()
        await until(pilot, lambda: "our disc ARCH-0002" in strip.shown(), "the new disc")
        await until(pilot, lambda: "Pending: none" in strip.shown(), "the waiting archived")
        lines = strip.shown().splitlines()
        assert lines[0].startswith(
            f"DVD: our disc ARCH-0002 · {waiting} recording(s), 1 session(s) · in stdio:"
        )
        assert lines[2].startswith("Pending: none · full in about ")
        assert len(lines) == 3  # the problem has gone

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DvdDiscsDialog), "the disc list")
        dialog = app.screen
        assert isinstance(dialog, DvdDiscsDialog)
        await until(pilot, lambda: bool(dialog.rows()), "the discs")
        day = calls.made[0].details.start.astimezone().strftime("%Y-%m-%d")
        first, second = dialog.rows()
        assert first[:5] == ["ARCH-0001", "ARCH", "1", "full", str(20 - waiting)]
        assert second[:5] == ["ARCH-0002", "ARCH", "2", "in drive", str(waiting)]
        assert first[6] == day and second[7] == day
        assert dialog.detail().startswith(f"ARCH-0001 (DVD): full; {20 - waiting} recording(s)")
        await pilot.press("down")
        await pilot.pause()
        assert dialog.detail().startswith(f"ARCH-0002 (DVD): in drive; {waiting} recording(s)")
        await pilot.press("escape")
        await settle(pilot)
        assert not app.screen.is_modal
    assert disc_states(fast_engine) == {"ARCH-0001": "full", "ARCH-0002": "in_drive"}
