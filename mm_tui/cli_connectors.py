"""`mm connectors`: archive connectors (seed F14-F22).

Settings are given as ``--set FIELD=VALUE``; secret fields (passwords, keys, tokens) never come
from the command line, where ``ps`` and the shell history would keep them: ``--secret FIELD``
asks for them on a terminal or reads one line of stdin each, and ``--set-file FIELD=PATH`` reads
a value from a file (a service-account JSON).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mm_engine.connectors import ConnectorInfo, DriveSignIn, TestResult
from mm_engine.errors import InvalidInput, InvalidSetting, Refused
from mm_engine.session import Operation, Session
from mm_engine.storage import registry
from mm_engine.storage.fields import Field
from mm_tui.context import open_session
from mm_tui.i18n import _, ngettext, plural, tr
from mm_tui.output import (
    EXIT_FAILED,
    command,
    fail,
    print_json,
    print_record,
    print_rows,
)

app = typer.Typer(
    help=_("Add, change, test, activate and remove archive connectors."), no_args_is_help=True
)

NameArg = Annotated[
    str, typer.Argument(metavar="NAME", help=_("Connector name (case is ignored)."))
]
JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON for scripts."))]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="FIELD=VALUE",
        help=_("A setting (repeat); `mm connectors types` lists them."),
    ),
]
SecretOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        metavar="FIELD",
        help=_("A secret setting, asked for on a terminal or read as one line of stdin (repeat)."),
    ),
]
SetFileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set-file",
        metavar="FIELD=PATH",
        help=_("A setting read from a file, e.g. a service-account JSON (repeat)."),
    ),
]
TestOpt = Annotated[bool, typer.Option("--test", help=_("Test the connection afterwards."))]

LIST_COLUMNS = [
    ("name", _("NAME")),
    ("type", _("TYPE")),
    ("active", _("ACTIVE")),
    ("accessible", _("ACCESSIBLE")),
    ("last_test_at", _("TESTED")),
    ("pending", _("PENDING")),
    ("last_archived_at", _("LAST ARCHIVE")),
    ("encrypt", _("ENCRYPT")),
]


def _fields(kind: str) -> dict[str, Field]:
    try:
        return {f.name: f for f in registry.fields(kind)}
    except ModuleNotFoundError:
        raise InvalidSetting(
            "type", _("storage type {kind!r} is not available").format(kind=kind)
        ) from None


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                _("{option} {item!r} is not FIELD=VALUE.").format(option=what, item=item)
            )
        out[key.strip()] = value
    return out


def _read_secret(field: Field) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"{_(field.label)} ({field.name}): ")
    line = sys.stdin.readline()
    value = line.removesuffix("\n").removesuffix("\r")
    if not value:
        raise InvalidInput(
            _("No value for {field} on stdin.").format(field=field.name),
            _("Pipe each --secret in as one line, in the order given, or run on a terminal."),
        )
    return value


def collect(
    kind: str, sets: list[str] | None, secrets: list[str] | None, files: list[str] | None
) -> dict[str, str]:
    """The settings given on the command line, secrets read as the module docstring says."""
    fields = _fields(kind)
    values = _pairs(sets, "--set")
    for key in values:
        if key in fields and fields[key].secret:
            raise InvalidSetting(
                key,
                _(
                    "is secret and is not taken from the command line (ps and the shell history "
                    "would keep it)"
                ),
                _("Use --secret {key}: it is asked for, or read as one line from stdin.").format(
                    key=key
                ),
            )
    for key, path in _pairs(files, "--set-file").items():
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                _("Cannot read {path} for {key}: {reason}.").format(
                    path=path, key=key, reason=exc.strerror
                )
            ) from None
        values[key] = text if key in fields and fields[key].multiline else text.strip()
    for key in secrets or []:
        field = fields.get(key)
        if field is None:
            raise InvalidSetting(
                key,
                _("no such field"),
                _("This type takes: {fields}").format(fields=", ".join(fields)),
            )
        if not field.secret:
            raise InvalidSetting(
                key, _("is not a secret"), _("Give it with --set {key}=VALUE.").format(key=key)
            )
        values[key] = _read_secret(field)
    return values


def _hint_secret(exc: InvalidSetting, kind: str) -> InvalidSetting:
    if kind == "gdrive" and exc.key == "refresh_token" and not exc.hint:
        exc.hint = _("Add --authorize to sign in with the Google account now.")
        return exc
    field = _fields(kind).get(exc.key)
    if field is not None and field.secret and not exc.hint:
        exc.hint = _("Give it with --secret {key} (asked for, or one line of stdin).").format(
            key=exc.key
        )
    return exc


def sign_in(session: Session, settings: dict[str, str], name: str | None = None) -> str:
    """Google's device sign-in on the terminal: the address and code on stderr, then wait for
    the person to approve (on any phone or computer); the refresh token."""
    flow: DriveSignIn = session.connectors_sign_in(settings, name)
    minutes = max(1, flow.expires_in // 60)
    sys.stderr.write(
        ngettext(
            "To let mm use Google Drive, open\n"
            "    {url}\n"
            "on any phone or computer and enter the code\n"
            "    {code}\n"
            "then allow access (within {minutes} minute). Waiting for Google… (Ctrl+C stops)\n",
            "To let mm use Google Drive, open\n"
            "    {url}\n"
            "on any phone or computer and enter the code\n"
            "    {code}\n"
            "then allow access (within {minutes} minutes). Waiting for Google… (Ctrl+C stops)\n",
            minutes,
        ).format(url=flow.verification_url, code=flow.user_code, minutes=minutes)
    )
    sys.stderr.flush()
    try:
        return flow.wait()
    except KeyboardInterrupt:
        flow.cancel()
        raise Refused(_("The Google sign-in was stopped; nothing was stored.")) from None


def _out(info: ConnectorInfo, json_out: bool, test: TestResult | None = None) -> None:
    data = info.to_dict()
    if test is not None:
        data["test"] = test.to_dict()
    if json_out:
        print_json(data)
        return
    flat: dict[str, Any] = {k: v for k, v in data.items() if k not in ("settings", "test")}
    flat.update({f"settings.{k}": v for k, v in info.settings.items()})
    print_record(flat)
    if test is not None:
        sys.stderr.write(tr(test.message) + "\n")


@app.command("types", help=_("The storage types a connector can have, with their settings."))
@command
def types(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        kinds = [k.to_dict() for k in session.connectors_types()]
    if json_out:
        print_json(kinds)
        return
    for kind in kinds:
        sys.stdout.write(f"{kind['type']}: {_(kind['title'])}\n")
        for f in kind["fields"]:
            flags = [
                _("secret: --secret") if f["secret"] else "",
                _("required") if f["required"] else _("optional"),
                _("default {value}").format(value=f["default"]) if f["default"] else "",
            ]
            extra = ", ".join(x for x in flags if x)
            sys.stdout.write(f"  {f['name']:<20} {_(f['label'])} ({extra})\n")
            if f["help"]:
                sys.stdout.write(f"  {'':<20} {_(f['help'])}\n")


@app.command(
    "list",
    help=_("Every connector: type, active, accessible, pending files, last successful archive."),
)
@command
def list_(json_out: JsonOpt = False) -> None:
    with open_session() as session:
        rows = [c.to_dict() for c in session.connectors_list()]
    empty = _("No connectors yet: add one with `mm connectors add NAME --type ...`.")
    print_rows(rows, LIST_COLUMNS, json_out, empty)


@app.command("show", help=_("One connector in full; secret settings shown masked."))
@command
def show(name: NameArg, json_out: JsonOpt = False) -> None:
    with open_session() as session:
        info = session.connectors_show(name)
    _out(info, json_out)


@app.command(
    "add", help=_("Add a connector; with --activate, new and old recordings are archived there.")
)
@command
def add(
    name: NameArg,
    kind: Annotated[
        str,
        typer.Option(
            "--type", help=_("Storage type: see `mm connectors types`."), show_default=False
        ),
    ],
    sets: SetOpt = None,
    secrets: SecretOpt = None,
    files: SetFileOpt = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt", help=_("Encrypt recordings on this connector (cannot be undone).")
        ),
    ] = False,
    activate: Annotated[
        bool, typer.Option("--activate", help=_("Make it the active connector."))
    ] = False,
    authorize: Annotated[
        bool,
        typer.Option(
            "--authorize",
            help=_(
                "Google Drive: sign in with the Google account first (shows an address and a "
                "code to enter there)."
            ),
        ),
    ] = False,
    test: TestOpt = False,
    json_out: JsonOpt = False,
) -> None:
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="add", name=name, type=kind)
        settings = collect(kind, sets, secrets, files)
        if authorize:
            if kind != "gdrive":
                raise InvalidInput(
                    _("--authorize is for Google Drive connectors, not {kind!r}.").format(
                        kind=kind
                    ),
                    _("Leave it out; this type has no sign-in."),
                )
            try:
                settings["refresh_token"] = sign_in(session, settings)
            except InvalidSetting as exc:
                raise _hint_secret(exc, kind) from None
        try:
            info = session.connectors_add(name, kind, settings, encrypt)
        except InvalidSetting as exc:
            raise _hint_secret(exc, kind) from None
        result = session.connectors_test(info.name) if test else None
        if activate:
            info = session.connectors_activate(info.name)
    if not json_out:
        sys.stderr.write(
            _("Added connector {name} ({kind}).").format(name=info.name, kind=info.kind) + "\n"
        )
    _out(info, json_out, result)


@app.command(
    "edit",
    help=_("Change a connector: only the settings given change; secrets not given are kept."),
)
@command
def edit(
    name: NameArg,
    rename: Annotated[str | None, typer.Option("--rename", help=_("A new name."))] = None,
    sets: SetOpt = None,
    secrets: SecretOpt = None,
    files: SetFileOpt = None,
    encrypt: Annotated[
        bool | None,
        typer.Option(
            "--encrypt/--no-encrypt",
            help=_("Switch encryption on (it can never be switched off again)."),
            show_default=False,
        ),
    ] = None,
    test: TestOpt = False,
    json_out: JsonOpt = False,
) -> None:
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="edit", name=name)
        kind = session.connectors_show(name).kind
        settings = collect(kind, sets, secrets, files)
        try:
            info = session.connectors_edit(name, settings, new_name=rename, encrypt=encrypt)
        except InvalidSetting as exc:
            raise _hint_secret(exc, kind) from None
        result = session.connectors_test(info.name) if test else None
    if not json_out:
        sys.stderr.write(_("Changed connector {name}.").format(name=info.name) + "\n")
    _out(info, json_out, result)


@app.command(
    "authorize",
    help=_("Google Drive: sign in with the Google account again and keep the new authorization."),
)
@command
def authorize_(name: NameArg, json_out: JsonOpt = False) -> None:
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="authorize", name=name)
        token = sign_in(session, {}, name)
        info = session.connectors_authorize(name, token)
        result = session.connectors_test(info.name)
        info = session.connectors_show(info.name)  # with the test just made
    if not json_out:
        sys.stderr.write(_("Connector {name} is authorized.").format(name=info.name) + "\n")
    _out(info, json_out, result)


@app.command(
    "test", help=_("Test the connection now. Exit 1 when the connector is not accessible.")
)
@command
def test_(name: NameArg, json_out: JsonOpt = False) -> None:
    with open_session() as session:
        result = session.connectors_test(name)
    if json_out:
        print_json(result.to_dict())
    elif result.ok:
        sys.stdout.write(tr(result.message) + "\n")
    if not result.ok:
        if json_out:
            raise typer.Exit(EXIT_FAILED)
        raise fail(result.message, code=EXIT_FAILED)


@app.command(
    "activate",
    help=_("Send new archives to this connector; copies on the previous one stay readable."),
)
@command
def activate(name: NameArg) -> None:
    with open_session() as session:
        info = session.connectors_activate(name)
    sys.stderr.write(
        plural(
            "{name} is the active connector; {count} recording(s) to archive there.", info.pending
        ).format(name=info.name, count=info.pending)
        + "\n"
    )


@app.command(
    "deactivate", help=_("No active connector: archiving stops; existing copies stay readable.")
)
@command
def deactivate() -> None:
    with open_session() as session:
        session.connectors_deactivate()
    sys.stderr.write(_("No connector is active now; archiving is off.") + "\n")


@app.command("remove", help=_("Remove a connector that has never archived anything (F14)."))
@command
def remove(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help=_("Remove without asking."))] = False,
) -> None:
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="remove", name=name)
        if not yes:
            if not sys.stdin.isatty():
                raise Refused(
                    _("Not removing without confirmation: no terminal to ask on."),
                    _("Pass --yes to remove from a script."),
                )
            if not typer.confirm(_("Remove connector {name}?").format(name=name), err=True):
                raise Refused(_("Nothing removed."))
        session.connectors_remove(name)
    sys.stderr.write(_("Removed connector {name}.").format(name=name) + "\n")
