"""`mm migrate`: bring a legacy system's recordings into the catalogue (seed F36-F40)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mm_tui.context import open_session
from mm_tui.i18n import _, plural, tr
from mm_tui.output import command, print_json

if TYPE_CHECKING:
    from mm_engine.contact_recorder.importer import MigrationProgress, Summary

app = typer.Typer(help=_("Migrate from a legacy recording system."), no_args_is_help=True)

SHOWN_PER_REASON = 3


class _Printer:
    """Progress on stderr: one updating line on a terminal, a line per step otherwise (so a
    log or a supervising program sees it too)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, p: MigrationProgress) -> None:
        if p.phase == "removing":
            text = _("removing what the interrupted run migrated: {done:,}/{total:,}").format(
                done=p.done, total=p.total
            )
        elif p.phase == "scanning":
            text = _("looking for recordings…")
        else:
            text = _(
                "{percent:3.0f}% {done:,}/{total:,} records: {migrated:,} migrated, "
                "{skipped:,} skipped"
            ).format(
                percent=p.percent,
                done=p.done,
                total=p.total,
                migrated=p.migrated,
                skipped=p.skipped,
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
        _(
            "Migrated {migrated:,} of {total:,} records from {source} in {seconds:.1f} s; the "
            "recordings stay where they are."
        ).format(
            migrated=summary.migrated,
            total=summary.total,
            source=summary.source,
            seconds=summary.elapsed_s,
        )
    )
    if summary.authenticated:
        out(
            "  "
            + _("{count:,} authenticated: verifiable through their checksum.").format(
                count=summary.authenticated
            )
        )
    if summary.remote_only:
        out(
            "  "
            + _(
                "{count:,} known only by an archive copy: they play once their connector's "
                "password is set."
            ).format(count=summary.remote_only)
        )
    removed = summary.removed_first
    if removed:
        out(
            _(
                "First removed what the interrupted run migrated: {count:,} recordings, "
                "connectors: {connectors}."
            ).format(
                count=removed["recordings"],
                connectors=", ".join(removed["connectors_removed"]) or _("none"),
            )
        )
        for kept in removed["connectors_kept"]:
            out(
                "  "
                + _("kept {name} (was {was}): {why}").format(
                    name=kept["name"], was=kept["was"], why=tr(kept["why"])
                )
            )
    if summary.skipped:
        out(_("Skipped {count:,}:").format(count=summary.skipped))
        for reason, count in sorted(summary.skipped_by_reason.items(), key=lambda kv: -kv[1]):
            out(f"  {reason}: {count:,}")
            examples = [s for s in summary.skipped_files if s.category == reason]
            for skip in examples[:SHOWN_PER_REASON]:
                out(f"    {skip.file} {tr(skip.reason)}")
    if summary.warnings:
        out(_("Warnings: {count:,} (`--json` lists them), e.g.:").format(count=summary.warnings))
        for warning in summary.warning_files[:SHOWN_PER_REASON]:
            out(f"  {warning.file}: {tr(warning.reason)}")
    if summary.connectors_created:
        out(_("Connectors created (their passwords are empty: set them before use):"))
        for c in summary.connectors_created:
            secrets = " ".join(f"--secret {name}" for name in c["secrets_to_set"])
            out(
                f"  {c['name']}  {c['type']}  "
                + _("from legacy connector {id} ({type})").format(
                    id=c["legacy_id"], type=c["legacy_type"]
                )
                + (f"  → mm connectors edit {c['name']} {secrets}" if secrets else "")
            )
    for c in summary.connectors_reused:
        out(
            _("Connector {name} reused for legacy connector {id}.").format(
                name=c["name"], id=c["legacy_id"]
            )
        )
    for c in summary.connectors_skipped:
        out(
            _("Legacy connector {id} ({type}) not migrated: {reason}").format(
                id=c["legacy_id"], type=c["legacy_type"], reason=tr(c["reason"])
            )
        )
    for legacy_id, count in summary.archive_locations_dropped.items():
        out(
            "  "
            + plural(
                "{count:,} archive locations on legacy connector {id} were not kept.", count
            ).format(count=count, id=legacy_id)
        )
    if summary.not_migrated:
        parts = ", ".join(f"{n} {what}" for what, n in summary.not_migrated.items())
        out(
            _("Not migrated, as intended: {parts}. Choose an active connector when ready.").format(
                parts=parts
            )
        )


@app.command(
    "contact-recorder",
    help=_(
        "Migrate a Contact Recorder tree: catalogue rows for its recordings, where they are, and "
        "connectors named MigratedX-Timestamp with empty passwords. Administrators only.\n\n"
        "If a run is interrupted, run the same command again: it first removes what the "
        "unfinished run migrated (and its connectors, unless renamed), then migrates everything."
    ),
)
@command
def contact_recorder(
    source: Annotated[
        Path,
        typer.Argument(help=_("The Contact Recorder folder: recordings with an .xml beside each.")),
    ],
    connectors: Annotated[
        Path | None,
        typer.Option(
            "--connectors",
            help=_("The legacy connector settings file (default: SOURCE/connectors.xml)."),
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))] = False,
) -> None:
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
