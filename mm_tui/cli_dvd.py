"""`mm dvd`: the DVD drive and the disc catalogue, for the technician who swaps discs (F16)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mm_tui.context import open_session
from mm_tui.i18n import _, plural, tr
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_record, print_table

app = typer.Typer(help=_("DVD+RW drive, discs and the disc catalogue."), no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]
ConnectorOpt = Annotated[
    str | None,
    typer.Option(
        "--connector",
        metavar="NAME",
        help=_("The DVD connector (default: the active one, or the only one)."),
    ),
]


def _mb(value: int | None) -> str:
    return "" if value is None else _("{size} MB").format(size=f"{value / 1_000_000:.1f}")


def _bar(used: int, capacity: int, width: int = 20) -> str:
    filled = round(width * used / capacity) if capacity else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _status_lines(item: dict[str, Any]) -> dict[str, Any]:
    disc = item["disc"]
    lines: dict[str, Any] = {
        _("connector"): (
            _("{name} (active)").format(name=item["connector"])
            if item["active"]
            else item["connector"]
        ),
        _("drive"): f"{item['drive']} ({item['drive_state']})",
        _("label"): item["label"],
    }
    if disc is not None:
        kind = disc["kind"]
        name = disc["volume_id"] or ""
        lines[_("disc")] = {
            "absent": _("none"),
            "blank": _("blank DVD+RW"),
            "ours": _("{name} (full)").format(name=name) if disc["full"] else name,
            "foreign": _("{name} (not ours: never written)").format(name=name or _("unlabelled")),
        }.get(kind, kind)
        if kind in ("ours", "blank"):
            lines[_("space")] = _("{bar} {used} used, {free} free").format(
                bar=_bar(disc["used_bytes"], disc["capacity_bytes"]),
                used=_mb(disc["used_bytes"]),
                free=_mb(disc["free_bytes"]),
            )
    lines[_("pending")] = plural("{count} recording(s), {size}", item["pending"]).format(
        count=item["pending"], size=_mb(item["pending_bytes"])
    )
    days = item["days_until_full"]
    if days is not None:
        lines[_("full in")] = plural("{days} day(s) at {size} a day", int(days)).format(
            days=days, size=_mb(item["bytes_per_day"])
        )
    lines[_("discs")] = item["discs"]
    if item["problem"]:
        lines[_("problem")] = tr(item["problem"])
    return lines


@app.command(
    "status",
    help=_("The drive, the disc in it, used and free space, when it will be full, pending count."),
)
@command
def status(connector: ConnectorOpt = None, json_out: JsonOpt = False) -> None:
    with open_session() as session:
        items = session.dvd_status(connector)
    if json_out:
        print_json(items)
        return
    if not items:
        sys.stderr.write(
            _(
                "No DVD connector: add one with `mm connectors add NAME --type dvd "
                "--set drive=/dev/sr0 --set label=ARCHIVE`."
            )
            + "\n"
        )
        return
    for number, item in enumerate(items):
        if number:
            sys.stdout.write("\n")
        print_record(_status_lines(item))


@app.command(
    "discs", help=_("The disc catalogue: every disc written, where it is and what is on it.")
)
@command
def discs(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        items = session.dvd_discs()
    if json_out:
        print_json(items)
        return
    if not items:
        sys.stderr.write(_("No disc has been written yet.") + "\n")
        return
    print_table(
        [{**d, "mb": _mb(d["bytes"])} for d in items],
        [
            ("volume_id", _("DISC")),
            ("connector", _("CONNECTOR")),
            ("state", _("STATE")),
            ("full", _("FULL")),
            ("recordings", _("RECORDINGS")),
            ("mb", _("SIZE")),
            ("first_call", _("FIRST CALL")),
            ("last_call", _("LAST CALL")),
        ],
    )


@app.command("find", help=_("Which disc holds a recording. Exit 1 when it is on no disc."))
@command
def find(
    recording: Annotated[int, typer.Argument(metavar="RECORDING", help=_("Recording id."))],
    json_out: JsonOpt = False,
) -> None:
    with open_session() as session:
        found = session.dvd_find(recording)
    if json_out:
        print_json(found)
    elif found["discs"]:
        where = ", ".join(
            f"{d['volume_id']} ({d['state'].replace('_', ' ')})" for d in found["discs"]
        )
        message = (
            _("Recording {id} ({call}) is on disc {where}.")
            if found["local"]
            else _("Recording {id} ({call}) is on disc {where} only (its local file is gone).")
        )
        sys.stdout.write(message.format(id=recording, call=found["call_id"], where=where) + "\n")
    if not found["discs"]:
        raise fail(
            _("Recording {id} is on no disc.").format(id=recording),
            _("It has not been archived to a DVD; `mm dvd status` shows what is pending."),
            EXIT_FAILED,
        )


@app.command(
    "eject", help=_("Open the DVD drive's tray (refused while an archive run writes to it).")
)
@command
def eject(connector: ConnectorOpt = None, json_out: JsonOpt = False) -> None:
    with open_session() as session:
        result = session.dvd_eject(connector)
    if json_out:
        print_json(result)
        return
    message = (
        _("Ejected disc {disc} from {drive}.")
        if result["ejected"]
        else _("Ejected the disc from {drive}.")
    )
    sys.stdout.write(message.format(disc=result["ejected"], drive=result["drive"]) + "\n")


@app.command(
    "blank",
    help=_(
        "Erase a disc of ours so it can be used again (everything on it is "
        "lost). Refused for a disc that is not ours, and for one holding the "
        "only copy of any recording."
    ),
)
@command
def blank(
    confirm: Annotated[
        str,
        typer.Option(
            "--confirm",
            metavar="TOKEN",
            help=_('"BLANK <volume id>" of the disc in the drive; without it, says what to type.'),
        ),
    ] = "",
    connector: ConnectorOpt = None,
    json_out: JsonOpt = False,
) -> None:
    with open_session() as session:
        result = session.dvd_blank(confirm, connector)
    if json_out:
        print_json(result)
        return
    if result["blanked"]:
        sys.stdout.write(
            plural(
                "Blanked disc {disc} in {drive}; {count} archive copies on it are forgotten "
                "and will be archived again.",
                result["copies_dropped"],
            ).format(disc=result["blanked"], drive=result["drive"], count=result["copies_dropped"])
            + "\n"
        )
    else:
        sys.stdout.write(
            _("The disc in {drive} is blank already.").format(drive=result["drive"]) + "\n"
        )
