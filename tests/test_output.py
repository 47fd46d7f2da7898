"""The CLI's plain tables line up in a terminal whatever the language."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from mm_tui.output import print_rows


def test_columns_align_by_terminal_cells_not_characters(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "归档", "kind": "s3"}, {"name": "archive-nas", "kind": "smb"}]
    print_rows(rows, [("name", "名称"), ("kind", "类型")], False, "none")
    lines = capsys.readouterr().out.splitlines()
    # the second column starts at the same terminal cell on every line
    starts = [cell_len(line[: line.rindex("  ") + 2]) for line in lines]
    assert len(set(starts)) == 1, lines


def test_an_empty_listing_says_so_on_stderr_and_json_stays_a_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_rows([], [("name", "Name")], False, "No connectors yet.")
    out = capsys.readouterr()
    assert out.out == "" and out.err == "No connectors yet.\n"
    print_rows([], [("name", "Name")], True, "No connectors yet.")
    assert capsys.readouterr().out.strip() == "[]"
