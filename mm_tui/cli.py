"""The `mm` command. No sub-command opens the console; `--no-ui` runs the headless service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mm_tui import i18n
from mm_tui.i18n import _

# Help texts are evaluated as the command modules load: choose the language (--lang, else the
# locale) before importing them.
i18n.setup(i18n.lang_option(sys.argv[1:]))

from mm_tui import (  # noqa: E402
    cli_alarms,
    cli_archive,
    cli_audit,
    cli_backup,
    cli_catalogue,
    cli_config,
    cli_connectors,
    cli_decrypt,
    cli_dvd,
    cli_jobs,
    cli_migrate,
    cli_recordings,
    cli_storage,
    cli_users,
)
from mm_tui.context import set_home, set_user  # noqa: E402

app = typer.Typer(
    help=_("mm: call-recording library manager."),
    invoke_without_command=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(cli_alarms.app, name="alarms")
app.add_typer(cli_archive.app, name="archive")
app.add_typer(cli_audit.app, name="audit")
app.add_typer(cli_backup.app, name="backup")
app.add_typer(cli_catalogue.app, name="catalogue")
app.add_typer(cli_config.app, name="config")
app.add_typer(cli_connectors.app, name="connectors")
app.command("decrypt")(cli_decrypt.decrypt)
app.add_typer(cli_dvd.app, name="dvd")
app.add_typer(cli_jobs.app, name="jobs")
app.add_typer(cli_migrate.app, name="migrate")
app.add_typer(cli_recordings.app, name="recordings")
app.add_typer(cli_storage.app, name="storage")
app.add_typer(cli_users.app, name="users")


@app.callback()
def root(
    ctx: typer.Context,
    no_ui: Annotated[
        bool,
        typer.Option("--no-ui", help=_("Run the engine headless in the foreground (service).")),
    ] = False,
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="MM_HOME", help=_("Data directory (default: see docs).")),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            envvar="MM_USER",
            help=_(
                "Act as this user; the password comes from MM_PASSWORD, a prompt or stdin. "
                "Without it only the data directory's owner may run commands (as system operator)."
            ),
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="CODE",
            help=_(
                "Language of the console and messages: {codes} (default: from the locale)."
            ).format(codes=", ".join(i18n.languages())),
        ),
    ] = None,  # applied before the commands load (above); here so that typer accepts it
) -> None:
    set_home(home)
    set_user(user)
    if ctx.invoked_subcommand is not None:
        return
    if no_ui:
        from mm_tui.service_cmd import run_service

        raise typer.Exit(run_service())
    from mm_tui.console_cmd import run_console  # loads Textual: only here, never for --no-ui

    raise typer.Exit(run_console())


def main() -> None:
    app()
