"""`mm recordings`: search, show, download, verify and delete recordings (seed F24-F30).

The options and the JSON fields are a scripting contract (docs/cli.md): add, never rename.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer

from mm_engine.catalogue import SearchQuery, VerifyResult, parse_length
from mm_engine.domain import Recording, Verification
from mm_engine.errors import InvalidInput, Refused
from mm_engine.search import DEFAULT_LIMIT, MAX_LIMIT, SORT_COLUMNS, split_values
from mm_engine.session import Operation
from mm_tui.context import open_session
from mm_tui.i18n import _, plural
from mm_tui.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    command,
    fail,
    print_json,
    print_record,
    print_table,
)

app = typer.Typer(
    help=_("Search, show, download, verify and delete recordings."), no_args_is_help=True
)

TABLE_COLUMNS = [
    ("id", _("ID")),
    ("call_date", _("CALL DATE")),
    ("length", _("LENGTH")),
    ("parties", _("PARTIES")),
    ("direction", _("DIRECTION")),
    ("agents", _("AGENT")),
    ("owner", _("INITIATOR")),
    ("target", _("TARGET")),
    ("skill", _("SKILL")),
    ("call_id", _("CALL ID")),
    ("auth", _("AUTH")),
]


def parse_time(text: str, *, end: bool) -> datetime:
    """An ISO 8601 time; a bare date means the whole day, so ``--to`` a date includes it.

    A time without an offset is taken in this server's time zone, as people type it.
    """
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day) + timedelta(days=1 if end else 0)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            _("{option} {text!r} is not an ISO 8601 date or time.").format(
                option="--to" if end else "--from", text=text
            ),
            _("Use e.g. 2026-11-25, 2026-11-25T14:30 or 2026-11-25T14:30:00+01:00."),
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def length_text(seconds: float) -> str:
    """m:ss as the list shows it, rounded like the --length filter compares."""
    whole = int(seconds + 0.5)
    return f"{whole // 60}:{whole % 60:02d}"


def table_row(rec: Recording) -> dict[str, Any]:
    d = rec.details
    return {
        "id": rec.id,
        "call_date": d.start.strftime("%Y-%m-%d %H:%M:%S"),
        "length": length_text(rec.duration_s),
        "parties": d.parties,
        "direction": d.direction.value,
        "agents": d.agents,
        "owner": d.owner,
        "target": d.target,
        "skill": d.skill,
        "call_id": d.call_id,
        "auth": "✓" if d.authenticated else "",
    }


def _stream_json_array(items: Iterable[dict[str, Any]]) -> None:
    """Print a JSON array one item at a time, laid out as print_json would, so verifying
    a million recordings never holds the whole answer in memory."""
    out = sys.stdout
    first = True
    for item in items:
        body = json.dumps(item, indent=2, ensure_ascii=False)
        out.write(("[\n" if first else ",\n") + "\n".join("  " + ln for ln in body.splitlines()))
        out.flush()
        first = False
    out.write("[]\n" if first else "\n]\n")


@app.command(
    "search",
    help=_("Find recordings; one page at a time, newest call first unless sorted otherwise."),
)
@command
def search(
    terms: Annotated[
        str | None,
        typer.Argument(
            metavar="[TERMS]",
            help=_(
                "Search box: one or more ','-separated values, each matched as a prefix "
                "against parties, agents, initiator, target, skill and call ID (ANY of them)."
            ),
        ),
    ] = None,
    start_from: Annotated[
        str | None,
        typer.Option("--from", help=_("Calls starting at or after this ISO 8601 date/time.")),
    ] = None,
    start_to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help=_("Calls starting before this ISO 8601 time; a bare date includes that day."),
        ),
    ] = None,
    length: Annotated[
        str | None,
        typer.Option(
            "--length", help=_("Length in whole seconds with =, <, >, >=, <=, e.g. '>=600'.")
        ),
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help=_("internal, inbound or outbound."))
    ] = None,
    party: Annotated[
        list[str] | None,
        typer.Option("--party", help=_("Exact party; ','-list or repeated: ALL must take part.")),
    ] = None,
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", help=_("Exact agent; ','-list or repeated: ALL must take part.")),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help=_("Exact target number."))] = None,
    skill: Annotated[str | None, typer.Option("--skill", help=_("Exact skill group."))] = None,
    call_id: Annotated[str | None, typer.Option("--call-id", help=_("Exact call ID."))] = None,
    sort: Annotated[
        str,
        typer.Option(
            "--sort", help=_("Sort column: {columns}.").format(columns=", ".join(SORT_COLUMNS))
        ),
    ] = "start",
    asc: Annotated[bool, typer.Option("--asc", help=_("Ascending (default: descending)."))] = False,
    limit: Annotated[
        int,
        typer.Option("--limit", help=_("Recordings per page (1..{max}).").format(max=MAX_LIMIT)),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help=_("Continue after the previous page."))
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    query = SearchQuery(
        terms=split_values(terms),
        start_from=parse_time(start_from, end=False) if start_from else None,
        start_to=parse_time(start_to, end=True) if start_to else None,
        length=parse_length(length) if length is not None else None,
        direction=direction,
        parties=split_values(party),
        agents=split_values(agent),
        target=target,
        skill=skill,
        call_id=call_id,
        sort=sort,
        descending=not asc,
        limit=limit,
        cursor=cursor,
    )
    with open_session() as session:
        page = session.search(query)
        root = str(session.call_storage_root())
    if json_out:
        print_json([rec.to_dict(root) for rec in page.items])
    elif page.items:
        print_table([table_row(rec) for rec in page.items], TABLE_COLUMNS)
    else:
        sys.stderr.write(_("No recordings match.") + "\n")
    if page.next_cursor:
        sys.stderr.write(_("Next page: --cursor {cursor}").format(cursor=page.next_cursor) + "\n")


@app.command("show", help=_("Every catalogued detail of one recording."))
@command
def show(
    recording_id: Annotated[int, typer.Argument(metavar="ID", help=_("Recording id."))],
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    with open_session() as session:
        rec = session.get(recording_id)
        data = rec.to_dict(str(session.call_storage_root()))
    if json_out:
        print_json(data)
        return
    data["length"] = length_text(rec.duration_s)
    print_record(data)


class _Progress:
    """A progress line on a terminal's stderr, at most a few times a second."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.25 or done == total):
            self.last = now
            sys.stderr.write(
                "\r" + _("Verifying {done:,}/{total:,}").format(done=done, total=total)
            )
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()


@app.command(
    "verify",
    help=_(
        "Check that stored audio and catalogue details are unchanged since they were signed."
        "\n\nExit status 1 when any recording is tampered."
    ),
)
@command
def verify(
    ids: Annotated[
        list[int] | None, typer.Argument(metavar="[ID]...", help=_("Recording ids."))
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help=_("Verify every recording."))] = False,
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    if bool(ids) == all_:
        raise fail(_("give recording ids or --all (not both)."), code=EXIT_USAGE)
    tampered: list[int] = []
    unverifiable: list[int] = []

    def note(results: Iterable[VerifyResult]) -> Iterable[dict[str, Any]]:
        for result in results:
            if result.verification is Verification.TAMPERED:
                tampered.append(result.id)
            elif result.verification is Verification.CANNOT_VERIFY:
                unverifiable.append(result.id)
            yield result.to_dict()

    with open_session() as session:
        results = session.iter_verify(None if all_ else ids, _Progress())
        if json_out:
            _stream_json_array(note(results))
        elif ids:
            print_table(
                list(note(results)),
                [("id", _("ID")), ("call_id", _("CALL ID")), ("verification", _("VERIFICATION"))],
            )
        else:
            for item in note(results):
                sys.stdout.write(f"{item['id']}\t{item['call_id']}\t{item['verification']}\n")
    if unverifiable:
        sys.stderr.write(
            plural(
                "{count} recording(s) could not be verified (audio file not on this server, or "
                "signed with a key this installation does not have).",
                len(unverifiable),
            ).format(count=len(unverifiable))
            + "\n"
        )
    if tampered:
        shown = ", ".join(str(i) for i in tampered[:20]) + (" ..." if len(tampered) > 20 else "")
        raise fail(
            plural("{count} recording(s) TAMPERED: {ids}.", len(tampered)).format(
                count=len(tampered), ids=shown
            ),
            _("Their audio or catalogue details changed after they were signed."),
            code=EXIT_FAILED,
        )


@app.command(
    "download",
    help=_(
        "Write recordings to files: one as <call-id>-<n>.opus, several as one zip with an "
        "index.html that lists and plays them. Existing files are never overwritten.\n\n"
        "Downloaded files leave the audit's control: the download is audited, what happens to "
        "the files afterwards is not."
    ),
)
@command
def download(
    ids: Annotated[list[int], typer.Argument(metavar="ID...", help=_("Recording ids."))],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="DIR",
            help=_("Folder to write into (created if needed; default ~/mm-downloads)."),
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
    with open_session() as session:
        result = session.download(ids, to)
    if json_out:
        print_json(result.to_dict())
    else:
        sys.stdout.write(f"{result.path}\n")
    for rec_id in result.not_verified:
        sys.stderr.write(
            _(
                "Warning: recording {id} did not verify when copied ({verification}); "
                "see `mm recordings verify {id}`."
            ).format(id=rec_id, verification=result.verification[rec_id].value)
            + "\n"
        )


@app.command(
    "delete",
    help=_("Delete recordings: their audio files and catalogue entries. This cannot be undone."),
)
@command
def delete(
    ids: Annotated[list[int], typer.Argument(metavar="ID...", help=_("Recording ids."))],
    yes: Annotated[bool, typer.Option("--yes", help=_("Delete without asking."))] = False,
) -> None:
    with open_session() as session:
        session.require(Operation.DELETE, ids=list(ids)[:100])
        if not yes:
            if not sys.stdin.isatty():
                raise Refused(
                    _("Not deleting without confirmation: no terminal to ask on."),
                    _("Pass --yes to delete from a script."),
                )
            recs = session.preview_delete(ids)
            for rec in recs:
                d = rec.details
                sys.stderr.write(
                    f"  {rec.id}  {d.start:%Y-%m-%d %H:%M}  {length_text(rec.duration_s)}  "
                    f"{';'.join(d.parties)}  "
                    + _("call {call_id}").format(call_id=d.call_id)
                    + "\n"
                )
            if not typer.confirm(
                plural(
                    "Delete these {count} recording(s)? Audio and details are removed for good.",
                    len(recs),
                ).format(count=len(recs)),
                err=True,
            ):
                raise Refused(_("Nothing deleted."))
        deleted = session.delete(ids)
    sys.stdout.write(
        plural("Deleted {count} recording(s): {ids}", len(deleted)).format(
            count=len(deleted), ids=", ".join(str(i) for i in deleted)
        )
        + "\n"
    )
