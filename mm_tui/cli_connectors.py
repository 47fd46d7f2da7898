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
from mm_tui.output import EXIT_FAILED, command, fail, print_json, print_record, print_table

app = typer.Typer(
    help="Add, change, test, activate and remove archive connectors.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Connector name (case is ignored).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="FIELD=VALUE", help="A setting (repeat); `mm connectors types` lists them."
    ),
]
SecretOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret",
        metavar="FIELD",
        help="A secret setting, asked for on a terminal or read as one line of stdin (repeat).",
    ),
]
SetFileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set-file",
        metavar="FIELD=PATH",
        help="A setting read from a file, e.g. a service-account JSON (repeat).",
    ),
]
TestOpt = Annotated[bool, typer.Option("--test", help="Test the connection afterwards.")]

LIST_COLUMNS = [
    ("name", "NAME"),
    ("type", "TYPE"),
    ("active", "ACTIVE"),
    ("accessible", "ACCESSIBLE"),
    ("last_test_at", "TESTED"),
    ("pending", "PENDING"),
    ("last_archived_at", "LAST ARCHIVE"),
    ("encrypt", "ENCRYPT"),
]


def _fields(kind: str) -> dict[str, Field]:
    try:
        return {f.name: f for f in registry.fields(kind)}
    except ModuleNotFoundError:
        raise InvalidSetting("type", f"storage type {kind!r} is not available") from None


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what} {item!r} is not FIELD=VALUE.")
        out[key.strip()] = value
    return out


def _read_secret(field: Field) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"{field.label} ({field.name}): ")
    line = sys.stdin.readline()
    value = line.removesuffix("\n").removesuffix("\r")
    if not value:
        raise InvalidInput(
            f"No value for {field.name} on stdin.",
            "Pipe each --secret in as one line, in the order given, or run on a terminal.",
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
                "is secret and is not taken from the command line (ps and the shell history "
                "would keep it)",
                f"Use --secret {key}: it is asked for, or read as one line from stdin.",
            )
    for key, path in _pairs(files, "--set-file").items():
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"Cannot read {path} for {key}: {exc.strerror}.") from None
        values[key] = text if key in fields and fields[key].multiline else text.strip()
    for key in secrets or []:
        field = fields.get(key)
        if field is None:
            raise InvalidSetting(key, "no such field", f"This type takes: {', '.join(fields)}")
        if not field.secret:
            raise InvalidSetting(key, "is not a secret", f"Give it with --set {key}=VALUE.")
        values[key] = _read_secret(field)
    return values


def _hint_secret(exc: InvalidSetting, kind: str) -> InvalidSetting:
    if kind == "gdrive" and exc.key == "refresh_token" and not exc.hint:
        exc.hint = "Add --authorize to sign in with the Google account now."
        return exc
    field = _fields(kind).get(exc.key)
    if field is not None and field.secret and not exc.hint:
        exc.hint = f"Give it with --secret {exc.key} (asked for, or one line of stdin)."
    return exc


def sign_in(session: Session, settings: dict[str, str], name: str | None = None) -> str:
    """Google's device sign-in on the terminal: the address and code on stderr, then wait for
    the person to approve (on any phone or computer); the refresh token."""
    flow: DriveSignIn = session.connectors_sign_in(settings, name)
    minutes = max(1, flow.expires_in // 60)
    sys.stderr.write(
        "To let mm use Google Drive, open\n"
        f"    {flow.verification_url}\n"
        f"on any phone or computer and enter the code\n"
        f"    {flow.user_code}\n"
        f"then allow access (within {minutes} minutes). Waiting for Google… (Ctrl+C stops)\n"
    )
    sys.stderr.flush()
    try:
        return flow.wait()
    except KeyboardInterrupt:
        flow.cancel()
        raise Refused("The Google sign-in was stopped; nothing was stored.") from None


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
        sys.stderr.write(test.message + "\n")


@app.command("types")
@command
def types(json_out: JsonOpt = False) -> None:
    """The storage types a connector can have, with their settings."""
    with open_session() as session:
        kinds = [k.to_dict() for k in session.connectors_types()]
    if json_out:
        print_json(kinds)
        return
    for kind in kinds:
        sys.stdout.write(f"{kind['type']}: {kind['title']}\n")
        for f in kind["fields"]:
            flags = [
                "secret: --secret" if f["secret"] else "",
                "required" if f["required"] else "optional",
                f"default {f['default']}" if f["default"] else "",
            ]
            extra = ", ".join(x for x in flags if x)
            sys.stdout.write(f"  {f['name']:<20} {f['label']} ({extra})\n")
            if f["help"]:
                sys.stdout.write(f"  {'':<20} {f['help']}\n")


@app.command("list")
@command
def list_(json_out: JsonOpt = False) -> None:
    """Every connector: type, active, accessible, pending files, last successful archive."""
    with open_session() as session:
        rows = [c.to_dict() for c in session.connectors_list()]
    if json_out:
        print_json(rows)
    elif rows:
        print_table(rows, LIST_COLUMNS)
    else:
        sys.stderr.write("No connectors yet: add one with `mm connectors add NAME --type ...`.\n")


@app.command("show")
@command
def show(name: NameArg, json_out: JsonOpt = False) -> None:
    """One connector in full; secret settings shown masked."""
    with open_session() as session:
        info = session.connectors_show(name)
    _out(info, json_out)


@app.command("add")
@command
def add(
    name: NameArg,
    kind: Annotated[
        str,
        typer.Option("--type", help="Storage type: see `mm connectors types`.", show_default=False),
    ],
    sets: SetOpt = None,
    secrets: SecretOpt = None,
    files: SetFileOpt = None,
    encrypt: Annotated[
        bool,
        typer.Option("--encrypt", help="Encrypt recordings on this connector (cannot be undone)."),
    ] = False,
    activate: Annotated[
        bool, typer.Option("--activate", help="Make it the active connector.")
    ] = False,
    authorize: Annotated[
        bool,
        typer.Option(
            "--authorize",
            help="Google Drive: sign in with the Google account first (shows an address and a "
            "code to enter there).",
        ),
    ] = False,
    test: TestOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Add a connector; with --activate, new and old recordings are archived there."""
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="add", name=name, type=kind)
        settings = collect(kind, sets, secrets, files)
        if authorize:
            if kind != "gdrive":
                raise InvalidInput(
                    f"--authorize is for Google Drive connectors, not {kind!r}.",
                    "Leave it out; this type has no sign-in.",
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
        sys.stderr.write(f"Added connector {info.name} ({info.kind}).\n")
    _out(info, json_out, result)


@app.command("edit")
@command
def edit(
    name: NameArg,
    rename: Annotated[str | None, typer.Option("--rename", help="A new name.")] = None,
    sets: SetOpt = None,
    secrets: SecretOpt = None,
    files: SetFileOpt = None,
    encrypt: Annotated[
        bool | None,
        typer.Option(
            "--encrypt/--no-encrypt",
            help="Switch encryption on (it can never be switched off again).",
            show_default=False,
        ),
    ] = None,
    test: TestOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Change a connector: only the settings given change; secrets not given are kept."""
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
        sys.stderr.write(f"Changed connector {info.name}.\n")
    _out(info, json_out, result)


@app.command("authorize")
@command
def authorize_(name: NameArg, json_out: JsonOpt = False) -> None:
    """Google Drive: sign in with the Google account again and keep the new authorization."""
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="authorize", name=name)
        token = sign_in(session, {}, name)
        info = session.connectors_authorize(name, token)
        result = session.connectors_test(info.name)
        info = session.connectors_show(info.name)  # with the test just made
    if not json_out:
        sys.stderr.write(f"Connector {info.name} is authorized.\n")
    _out(info, json_out, result)


@app.command("test")
@command
def test_(name: NameArg, json_out: JsonOpt = False) -> None:
    """Test the connection now. Exit 1 when the connector is not accessible."""
    with open_session() as session:
        result = session.connectors_test(name)
    if json_out:
        print_json(result.to_dict())
    elif result.ok:
        sys.stdout.write(result.message + "\n")
    if not result.ok:
        if json_out:
            raise typer.Exit(EXIT_FAILED)
        raise fail(result.message, code=EXIT_FAILED)


@app.command("activate")
@command
def activate(name: NameArg) -> None:
    """Send new archives to this connector; copies on the previous one stay readable."""
    with open_session() as session:
        info = session.connectors_activate(name)
    sys.stderr.write(
        f"{info.name} is the active connector; {info.pending} recording(s) to archive there.\n"
    )


@app.command("deactivate")
@command
def deactivate() -> None:
    """No active connector: archiving stops; existing copies stay readable."""
    with open_session() as session:
        session.connectors_deactivate()
    sys.stderr.write("No connector is active now; archiving is off.\n")


@app.command("remove")
@command
def remove(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help="Remove without asking.")] = False,
) -> None:
    """Remove a connector that has never archived anything (F14)."""
    with open_session() as session:
        session.require(Operation.CONNECTORS_MANAGE, op="remove", name=name)
        if not yes:
            if not sys.stdin.isatty():
                raise Refused(
                    "Not removing without confirmation: no terminal to ask on.",
                    "Pass --yes to remove from a script.",
                )
            if not typer.confirm(f"Remove connector {name}?", err=True):
                raise Refused("Nothing removed.")
        session.connectors_remove(name)
    sys.stderr.write(f"Removed connector {name}.\n")
