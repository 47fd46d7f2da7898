"""`mm migrate`: bring a legacy system's recordings into the catalogue (seed F36-F40)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mm_tui.context import open_session
from mm_tui.output import command, print_json

if TYPE_CHECKING:
    from mm_engine.contact_recorder.importer import MigrationProgress, Summary

app = typer.Typer(help="Migrate from a legacy recording system.", no_args_is_help=True)

SHOWN_PER_REASON = 3


class _Printer:
    """Progress on stderr: one updating line on a terminal, a line per step otherwise (so a
    log or a supervising program sees it too)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, p: MigrationProgress) -> None:
        if p.phase == "removing":
            text = f"removing what the interrupted run migrated: {p.done:,}/{p.total:,}"
        elif p.phase == "scanning":
            text = "looking for recordings…"
        else:
            text = (
                f"{p.percent:3.0f}% {p.done:,}/{p.total:,} records: "
                f"{p.migrated:,} migrated, {p.skipped:,} skipped"
            )
        if text == self.last:
            return
        self.last = text
        if self.tty:
            sys.stderr.write(f"\r\033[K{text}")
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.tty and self.last:
            sys.stderr.write("\n")


def print_summary(summary: Summary) -> None:
    out = typer.echo
    out(
        f"Migrated {summary.migrated:,} of {summary.total:,} records from {summary.source} "
        f"in {summary.elapsed_s:.1f} s; the recordings stay where they are."
    )
    if summary.authenticated:
        out(f"  {summary.authenticated:,} authenticated: verifiable through their checksum.")
    if summary.remote_only:
        out(
            f"  {summary.remote_only:,} known only by an archive copy: they play once their "
            "connector's password is set."
        )
    removed = summary.removed_first
    if removed:
        out(
            f"First removed what the interrupted run migrated: {removed['recordings']:,} "
            f"recordings, connectors: {', '.join(removed['connectors_removed']) or 'none'}."
        )
        for kept in removed["connectors_kept"]:
            out(f"  kept {kept['name']} (was {kept['was']}): {kept['why']}")
    if summary.skipped:
        out(f"Skipped {summary.skipped:,}:")
        for reason, count in sorted(summary.skipped_by_reason.items(), key=lambda kv: -kv[1]):
            out(f"  {reason}: {count:,}")
            examples = [s for s in summary.skipped_files if s.category == reason]
            for skip in examples[:SHOWN_PER_REASON]:
                out(f"    {skip.file} {skip.reason}")
    if summary.warnings:
        out(f"Warnings: {summary.warnings:,} (`--json` lists them), e.g.:")
        for warning in summary.warning_files[:SHOWN_PER_REASON]:
            out(f"  {warning.file}: {warning.reason}")
    if summary.connectors_created:
        out("Connectors created (their passwords are empty: set them before use):")
        for c in summary.connectors_created:
            secrets = " ".join(f"--secret {name}" for name in c["secrets_to_set"])
            out(
                f"  {c['name']}  {c['type']}  from legacy connector {c['legacy_id']} "
                f"({c['legacy_type']})"
                + (f"  → mm connectors edit {c['name']} {secrets}" if secrets else "")
            )
    for c in summary.connectors_reused:
        out(f"Connector {c['name']} reused for legacy connector {c['legacy_id']}.")
    for c in summary.connectors_skipped:
        out(f"Legacy connector {c['legacy_id']} ({c['legacy_type']}) not migrated: {c['reason']}")
    for legacy_id, count in summary.archive_locations_dropped.items():
        out(f"  {count:,} archive locations on legacy connector {legacy_id} were not kept.")
    if summary.not_migrated:
        parts = ", ".join(f"{n} {what}" for what, n in summary.not_migrated.items())
        out(f"Not migrated, as intended: {parts}. Choose an active connector when ready.")


@app.command("contact-recorder")
@command
def contact_recorder(
    source: Annotated[
        Path,
        typer.Argument(help="The Contact Recorder folder: recordings with an .xml beside each."),
    ],
    connectors: Annotated[
        Path | None,
        typer.Option(
            "--connectors",
            help="The legacy connector settings file (default: SOURCE/connectors.xml).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Migrate a Contact Recorder tree: catalogue rows for its recordings, where they are,
    and connectors named MigratedX-Timestamp with empty passwords. Administrators only.

    If a run is interrupted, run the same command again: it first removes what the unfinished
    run migrated (and its connectors, unless renamed), then migrates everything.
    """
    printer = _Printer()
    with open_session() as session:
        try:
            summary = session.migrate_contact_recorder(source, connectors, printer)
        finally:
            printer.end()
    if json_out:
        print_json(summary.to_dict())
    else:
        print_summary(summary)
