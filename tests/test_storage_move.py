"""Moving the call storage (F9): copy, verify, switch, clean up; resumable; never unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mm_engine.engine import Engine
from mm_engine.errors import Refused
from tests.conftest import AddRecording
from tests.service_helpers import mm, start_service, stop_service, wait_for
from tests.test_service import alarm_types, configure


def all_verified(engine: Engine) -> bool:
    return {r.verification.value for r in engine.catalogue.verify(None)} == {"verified"}


def test_move_copies_verifies_switches_and_removes_the_old_tree(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = [add_recording() for _ in range(5)]
    old_root = engine.store().root
    new_root = tmp_path / "bigdisk" / "calls"

    result = engine.storage_move.run(str(new_root))

    assert result["status"] == "done" and result["moved"] == 5
    assert engine.config.get("call_storage_path") == str(new_root)
    assert all((new_root / r.path).exists() for r in recs)
    assert not any((old_root / r.path).exists() for r in recs)
    assert all_verified(engine)


class Interrupt(Exception):
    pass


def test_an_interrupted_move_leaves_everything_reachable_and_resumes(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = [add_recording() for _ in range(6)]
    old_root = engine.store().root
    new_root = tmp_path / "new"

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        engine.storage_move.run(str(new_root), stop_after_three)
    # still pointing at the old tree, which is complete
    assert engine.config.get("call_storage_path") == str(old_root)
    assert all_verified(engine)
    with pytest.raises(Refused, match="not finished"):
        engine.storage_move.run(str(tmp_path / "a-third-place"))

    result = engine.storage_move.run(str(new_root))
    assert result["status"] == "done"
    assert engine.config.get("call_storage_path") == str(new_root)
    assert all((new_root / r.path).exists() for r in recs)
    assert all_verified(engine)


def test_a_corrupted_original_stops_the_move_before_switching(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    recs = [add_recording() for _ in range(3)]
    old_root = engine.store().root
    with open(old_root / recs[1].path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff\xff")
    with pytest.raises(Refused, match="does not match its catalogued checksum"):
        engine.storage_move.run(str(tmp_path / "new"))
    assert engine.config.get("call_storage_path") == str(old_root)
    assert all((old_root / r.path).exists() for r in recs)


def test_cli_move_refuses_while_the_service_runs(home: Path, tmp_path: Path) -> None:
    configure(home)
    proc = start_service(home)
    try:
        wait_for(lambda: "SYSTEM_RESTART" in alarm_types(home), timeout=30)
        out = mm(home, "storage", "move", str(tmp_path / "new"))
        assert out.returncode == 3
        assert "already running" in out.stderr
    finally:
        stop_service(proc)


def test_cli_move_reports_what_it_did(home: Path, tmp_path: Path) -> None:
    out = mm(home, "storage", "move", str(tmp_path / "new"), "--json")
    assert out.returncode == 0, out.stderr
    assert '"to": "' + str(tmp_path / "new") in out.stdout


def test_moving_onto_another_name_for_the_same_folder_loses_nothing(
    engine: Engine, add_recording: AddRecording, tmp_path: Path
) -> None:
    """A bind mount of the storage is the same files: copying "there" and cleaning up "here"
    would delete the only copy of each, so the move sees nothing to do."""
    import subprocess

    recs = [add_recording() for _ in range(3)]
    old_root = engine.store().root
    alias = tmp_path / "alias"
    alias.mkdir()
    subprocess.run(["mount", "--bind", str(old_root), str(alias)], check=True)
    try:
        assert engine.storage_move.run(str(alias))["status"] == "unchanged"
        assert all((old_root / r.path).exists() for r in recs)
        assert all_verified(engine)
    finally:
        subprocess.run(["umount", str(alias)], check=True)
