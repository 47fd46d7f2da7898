"""`mm jobs`: long jobs handed to the service through the jobs table (mm_engine/job_queue.py)."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from mm_engine.errors import InvalidInput
from mm_engine.job_queue import KINDS, JobState
from mm_tui.context import open_session
from mm_tui.i18n import _, tr
from mm_tui.output import (
    EXIT_FAILED,
    EXIT_REFUSED,
    command,
    fail,
    print_json,
    print_record,
    print_table,
)

app = typer.Typer(
    help=_("Long jobs the service runs for consoles and scripts: submit, list, show, cancel."),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]
WAIT_EVERY_S = 0.5


def _progress(state: JobState) -> str:
    return f"{state.progress:,}/{state.total:,}" if state.total else ""


def _record(state: JobState) -> dict[str, Any]:
    return {
        "id": state.id,
        "kind": state.kind,
        "status": state.status,
        "submitted_by": state.submitted_by,
        "submitted_at": state.created_at,
        "started_at": state.started_at,
        "updated_at": state.updated_at,
        "progress": _progress(state),
        "params": ", ".join(f"{k}={v}" for k, v in state.params.items()),
        "cancel_requested_by": state.cancel_requested_by,
        "error": tr(state.error),
        "hint": tr(state.hint),
    }


def _value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("yes", "true"):
        return True
    if lowered in ("no", "false"):
        return False
    return text


def _params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(
                _("--param {pair!r} is not NAME=VALUE.").format(pair=pair),
                _("For example: --param to=local:/srv/calls"),
            )
        out[name.strip()] = _value(value)
    return out


def _finish(state: JobState, json_out: bool) -> None:
    """Print a finished job; exit 1 when it failed, 3 when it was cancelled."""
    if json_out:
        print_json(state.to_dict())
    elif state.status == "done":
        print_record(state.result or {})
    if state.status == "failed":
        raise fail(state.error, state.hint, EXIT_FAILED)
    if state.status == "cancelled":
        raise fail(state.error, state.hint, EXIT_REFUSED)


@app.command(
    "submit",
    help=_(
        "Queue a job for the service: {kinds}. With --wait, follow it to the end (exit 1 when "
        "it failed, 3 when it was cancelled); without, print its id."
    ).format(kinds=", ".join(KINDS)),
)
@command
def submit(
    kind: Annotated[str, typer.Argument(help=_("The job kind."))],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="NAME=VALUE", help=_("A parameter of the job.")),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help=_("Wait until it has finished."))] = False,
    json_out: JsonOpt = False,
) -> None:
    with open_session() as session:
        job_id = session.submit_job(kind, **_params(param or []))
        if not wait:
            if json_out:
                print_json({"id": job_id})
            else:
                sys.stdout.write(f"{job_id}\n")
            return
        last = ""
        while not (state := session.job_state(job_id)).finished:
            line = f"{state.status} {_progress(state)}".strip()
            if sys.stderr.isatty() and line != last:
                sys.stderr.write(f"\r{line}   ")
                sys.stderr.flush()
                last = line
            time.sleep(WAIT_EVERY_S)
        if last:
            sys.stderr.write("\n")
    _finish(state, json_out)


@app.command("list", help=_("The newest jobs, newest first."))
@command
def list_jobs(
    limit: Annotated[int, typer.Option("--limit", help=_("How many."))] = 50,
    json_out: JsonOpt = False,
) -> None:
    with open_session() as session:
        jobs = session.jobs_list(limit)
    if json_out:
        print_json([j.to_dict() for j in jobs])
        return
    if not jobs:
        sys.stderr.write(_("No jobs yet.") + "\n")
        return
    print_table(
        [_record(j) for j in jobs],
        [
            ("id", _("ID")),
            ("kind", _("KIND")),
            ("status", _("STATUS")),
            ("submitted_by", _("BY")),
            ("submitted_at", _("SUBMITTED")),
            ("progress", _("PROGRESS")),
        ],
    )


@app.command("show", help=_("One job: status, progress, and its result or error."))
@command
def show(
    job_id: Annotated[int, typer.Argument(help=_("The job's id."))], json_out: JsonOpt = False
) -> None:
    with open_session() as session:
        state = session.job_state(job_id)
    if json_out:
        print_json(state.to_dict())
        return
    print_record(_record(state))
    if state.result is not None:
        sys.stdout.write("\n")
        print_record(state.result)


@app.command(
    "cancel",
    help=_(
        "Cancel a queued job, or stop a running one after its current item (its submitter or an "
        "administrator)."
    ),
)
@command
def cancel(
    job_id: Annotated[int, typer.Argument(help=_("The job's id."))], json_out: JsonOpt = False
) -> None:
    with open_session() as session:
        state = session.cancel_job(job_id)
    if json_out:
        print_json(state.to_dict())
    elif state.status == "cancelled":
        sys.stdout.write(_("Job {id} cancelled.").format(id=job_id) + "\n")
    elif state.status == "running":
        sys.stdout.write(_("Job {id} stops after its current item.").format(id=job_id) + "\n")
    else:
        sys.stdout.write(
            _("Job {id} had already finished ({status}).").format(id=job_id, status=state.status)
            + "\n"
        )
