"""`mm dvd`: the DVD drive and the disc catalogue, for the technician who swaps discs (F16)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mm_tui.context import open_session
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_record, print_table

app = typer.Typer(help="DVD+RW drive, discs and the disc catalogue.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ConnectorOpt = Annotated[
    str | None,
    typer.Option(
        "--connector",
        metavar="NAME",
        help="The DVD connector (default: the active one, or the only one).",
    ),
]


def _mb(value: int | None) -> str:
    return "" if value is None else f"{value / 1_000_000:.1f} MB"


def _bar(used: int, capacity: int, width: int = 20) -> str:
    filled = round(width * used / capacity) if capacity else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _status_lines(item: dict[str, Any]) -> dict[str, Any]:
    disc = item["disc"]
    lines: dict[str, Any] = {
        "connector": item["connector"] + (" (active)" if item["active"] else ""),
        "drive": f"{item['drive']} ({item['drive_state']})",
        "label": item["label"],
    }
    if disc is not None:
        kind = disc["kind"]
        name = disc["volume_id"] or ""
        lines["disc"] = {
            "absent": "none",
            "blank": "blank DVD+RW",
            "ours": f"{name}" + (" (full)" if disc["full"] else ""),
            "foreign": f"{name or 'unlabelled'} (not ours: never written)",
        }.get(kind, kind)
        if kind in ("ours", "blank"):
            lines["space"] = (
                f"{_bar(disc['used_bytes'], disc['capacity_bytes'])} "
                f"{_mb(disc['used_bytes'])} used, {_mb(disc['free_bytes'])} free"
            )
    lines["pending"] = f"{item['pending']} recording(s), {_mb(item['pending_bytes'])}"
    days = item["days_until_full"]
    if days is not None:
        lines["full in"] = f"{days} day(s) at {_mb(item['bytes_per_day'])} a day"
    lines["discs"] = item["discs"]
    if item["problem"]:
        lines["problem"] = item["problem"]
    return lines


@app.command("status")
@command
def status(connector: ConnectorOpt = None, json_out: JsonOpt = False) -> None:
    """The drive, the disc in it, used and free space, when it will be full, pending count."""
    with open_session() as session:
        items = session.dvd_status(connector)
    if json_out:
        print_json(items)
        return
    if not items:
        sys.stderr.write(
            "No DVD connector: add one with `mm connectors add NAME --type dvd "
            "--set drive=/dev/sr0 --set label=ARCHIVE`.\n"
        )
        return
    for number, item in enumerate(items):
        if number:
            sys.stdout.write("\n")
        print_record(_status_lines(item))


@app.command("discs")
@command
def discs(json_out: JsonOpt = False) -> None:
    """The disc catalogue: every disc written, where it is and what is on it."""
    with open_session() as session:
        items = session.dvd_discs()
    if json_out:
        print_json(items)
        return
    if not items:
        sys.stderr.write("No disc has been written yet.\n")
        return
    print_table(
        [{**d, "mb": _mb(d["bytes"])} for d in items],
        [
            ("volume_id", "DISC"),
            ("connector", "CONNECTOR"),
            ("state", "STATE"),
            ("full", "FULL"),
            ("recordings", "RECORDINGS"),
            ("mb", "SIZE"),
            ("first_call", "FIRST CALL"),
            ("last_call", "LAST CALL"),
        ],
    )


@app.command("find")
@command
def find(
    recording: Annotated[int, typer.Argument(metavar="RECORDING", help="Recording id.")],
    json_out: JsonOpt = False,
) -> None:
    """Which disc holds a recording. Exit 1 when it is on no disc."""
    with open_session() as session:
        found = session.dvd_find(recording)
    if json_out:
        print_json(found)
    elif found["discs"]:
        where = ", ".join(
            f"{d['volume_id']} ({d['state'].replace('_', ' ')})" for d in found["discs"]
        )
        local = "" if found["local"] else " only (its local file is gone)"
        sys.stdout.write(f"Recording {recording} ({found['call_id']}) is on disc {where}{local}.\n")
    if not found["discs"]:
        raise fail(
            f"Recording {recording} is on no disc.",
            "It has not been archived to a DVD; `mm dvd status` shows what is pending.",
            EXIT_FAILED,
        )


@app.command("eject")
@command
def eject(connector: ConnectorOpt = None, json_out: JsonOpt = False) -> None:
    """Open the DVD drive's tray (refused while an archive run writes to it)."""
    with open_session() as session:
        result = session.dvd_eject(connector)
    if json_out:
        print_json(result)
        return
    disc = f"disc {result['ejected']}" if result["ejected"] else "the disc"
    sys.stdout.write(f"Ejected {disc} from {result['drive']}.\n")


@app.command("blank")
@command
def blank(
    confirm: Annotated[
        str,
        typer.Option(
            "--confirm",
            metavar="TOKEN",
            help='"BLANK <volume id>" of the disc in the drive; without it, says what to type.',
        ),
    ] = "",
    connector: ConnectorOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Erase a disc of ours so it can be used again (everything on it is lost).

    Refused for a disc that is not ours, and for one holding the only copy of any recording.
    """
    with open_session() as session:
        result = session.dvd_blank(confirm, connector)
    if json_out:
        print_json(result)
        return
    if result["blanked"]:
        sys.stdout.write(
            f"Blanked disc {result['blanked']} in {result['drive']}; "
            f"{result['copies_dropped']} archive copies on it are forgotten and will be "
            "archived again.\n"
        )
    else:
        sys.stdout.write(f"The disc in {result['drive']} is blank already.\n")
