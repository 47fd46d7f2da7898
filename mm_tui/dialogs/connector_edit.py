"""Add or change an archive connector (F14-F22): a form made from the storage type's FIELDS.

The fields come from the backend's declarations (``storage/<kind>.py``), so a new storage type
gets its form without a console change. Each value is checked by the engine's own field checks
before anything is sent, and a refusal naming a field (InvalidSetting) is shown beside it, so a
bad value saves nothing and nothing typed is lost. Secrets are never shown back: their field
stays empty, and only a typed value replaces the saved one.

A Google Drive connector needs an authorization (its ``refresh_token``) before it can be saved:
"Sign in with Google" runs the device flow from this form with the OAuth client typed here, and
the token is kept in the dialog (never in a visible field) until Save sends it with the rest.

Dismissed with the connector as saved, or None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker

from mm_engine.connectors import NAME_RULE, ConnectorInfo, KindInfo, TestResult, check_name
from mm_engine.errors import InvalidInput, InvalidSetting
from mm_engine.session import Session
from mm_engine.storage.fields import Field, validate
from mm_tui.dialogs.device_flow import DeviceFlowDialog
from mm_tui.i18n import N_, _, error_text, tr
from mm_tui.widgets.forms import NO, YES, FieldKind, Form, FormField, report_failure

FORM_ID = "connector-form"
SETTING = "set_"  # form names of storage settings, apart from "name" and "encrypt"
LABEL_WIDTH = 20
DEFAULT_KIND = "smb"
GDRIVE = "gdrive"
TOKEN = "refresh_token"  # the Google Drive authorization, filled by signing in
SIGN_IN_FIELDS = ("client_id", "client_secret", "token_url")
ENCRYPT_WARNING = N_(
    "⚠ Once saved with encryption on, it can never be switched off for this connector. "
    "Back up the data directory's keys folder: the copies cannot be read without it."
)
ENCRYPT_ON = N_("On. Encryption cannot be switched off once on.")


def form_name(key: str) -> str:
    return SETTING + key


def field_message(exc: InvalidSetting) -> str:
    """The engine's message without the "Setting 'x': " lead: it is shown beside field x."""
    text = tr(exc.problem)
    return f"{text}. {tr(exc.hint)}" if exc.hint else text


def _name_rule() -> str:
    """The engine's rule for connector names, as a sentence."""
    rule = _(NAME_RULE)
    return rule[:1].upper() + rule[1:] + "."


def _placeholder(f: Field) -> str:
    if f.multiline:
        return _("path of the file (read when saving), or its text on one line")
    if f.default:
        return f.default
    return _("required") if f.required else _("optional")


def setting_field(kind: str, f: Field, info: ConnectorInfo | None) -> FormField:
    """One storage setting as a form field, filled from the saved connector (secrets empty)."""
    name = form_name(f.name)
    saved = info.settings.get(f.name, "") if info is not None else ""
    notes = [_(f.help)] if f.help else []
    if f.choices:
        value = saved or f.default or f.choices[0]
        choices = tuple((c, c) for c in f.choices)
        return FormField(name, _(f.label), value, "choice", help=" ".join(notes), choices=choices)
    if (kind, f.name) == (GDRIVE, TOKEN):
        shown = _("authorized; ctrl+g signs in again") if saved else _("not authorized yet")
        return FormField(
            name,
            _(f.label),
            "",
            placeholder=shown,
            help=_("Sign in with Google (ctrl+g) fills it."),
        )
    value = ""
    placeholder = _placeholder(f)
    if f.secret and info is not None:
        placeholder = _("•••• kept; type to replace") if saved else _("not set")
        notes.append(_("Left empty, the saved value is kept."))
    elif not f.secret and not f.multiline:
        # a required field's default is filled in; an optional one's only shows as a hint
        value = saved if info is not None else (f.default if f.required else "")
    kind_of: FieldKind = "password" if f.secret and not f.multiline else "text"
    return FormField(name, _(f.label), value, kind_of, placeholder, " ".join(notes))


def form_fields(
    kind: KindInfo, info: ConnectorInfo | None, read_only: bool = False
) -> list[FormField]:
    fields = [
        FormField(
            "name",
            _("Name"),
            info.name if info is not None else "",
            placeholder=_("e.g. NAS archive"),
            help="" if info is not None else _name_rule(),
            max_length=64,
        )
    ]
    fields += [setting_field(kind.kind, f, info) for f in kind.fields]
    encrypting = info is not None and info.encrypt
    fields.append(
        FormField(
            "encrypt",
            _("Encrypt"),
            YES if encrypting else NO,
            "check",
            _("Encrypt recordings"),
            help="" if read_only else _(ENCRYPT_ON) if encrypting else _(ENCRYPT_WARNING),
        )
    )
    return fields


class ConnectorEditDialog(ModalScreen[ConnectorInfo | None]):
    CSS_PATH = "connector_edit.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", _("Save"), id="connector_edit.save"),
        Binding("ctrl+t", "test", _("Test connection"), id="connector_edit.test"),
        Binding("ctrl+g", "sign_in", _("Sign in with Google"), id="connector_edit.sign_in"),
        Binding("escape", "cancel", _("Close"), id="connector_edit.cancel"),
    ]

    @dataclass
    class Saved(Message):
        info: ConnectorInfo

    @dataclass
    class Invalid(Message):
        problems: dict[str, str]

    @dataclass
    class Tested(Message):
        result: TestResult

    def __init__(
        self,
        session: Session,
        kinds: Iterable[KindInfo],
        info: ConnectorInfo | None = None,
        *,
        taken: Iterable[str] = (),
        read_only: str = "",
    ) -> None:
        """``taken``: names of the other connectors; ``read_only``: why nothing can change."""
        super().__init__()
        self.session = session
        self.kinds = {k.kind: k for k in kinds}
        self.info = info
        self.taken = {n.lower() for n in taken} - ({info.name.lower()} if info else set())
        self.read_only = read_only
        if info is not None:
            self.kind = info.kind
            self.kinds.setdefault(info.kind, KindInfo(info.kind, info.kind, ()))
        else:
            self.kind = DEFAULT_KIND if DEFAULT_KIND in self.kinds else next(iter(self.kinds))
        self.refresh_token = ""  # a new Google authorization, sent with Save

    # -- building ------------------------------------------------------------------------------
    @property
    def kind_info(self) -> KindInfo:
        return self.kinds[self.kind]

    def _new_form(self) -> Form:
        return Form(
            form_fields(self.kind_info, self.info, bool(self.read_only)),
            id=FORM_ID,
            submit=_("Save (ctrl+s)"),
            cancel=_("Close (esc)") if self.read_only else _("Cancel (esc)"),
            read_only=self.read_only,
            scroll=True,
            label_width=LABEL_WIDTH,
        )

    def compose(self) -> ComposeResult:
        if self.read_only:
            title = (
                _("Connector {name}").format(name=self.info.name) if self.info else _("Connector")
            )
        else:
            title = (
                _("Change connector {name}").format(name=self.info.name)
                if self.info
                else _("Add a connector")
            )
        with Vertical(id="connector-edit-box"):
            yield Label(title, id="connector-edit-title")
            with Horizontal(id="connector-edit-type-row"):
                label = Label(_("Type"), classes="form-label")
                label.styles.width = LABEL_WIDTH
                yield label
                if self.info is None:
                    yield Select(
                        [(_(k.title), k.kind) for k in self.kinds.values()],
                        value=self.kind,
                        allow_blank=False,
                        id="connector-edit-type",
                        compact=True,
                    )
                else:
                    yield Static(_(self.kind_info.title), id="connector-edit-type-shown")
            yield Vertical(self._new_form(), id="connector-edit-body")
            yield Static("", id="connector-edit-verdict", markup=False)
            if self.read_only:  # the form has no buttons then
                with Horizontal(id="connector-edit-actions"):
                    yield Button(_("Close (esc)"), id="connector-edit-close", compact=True)
            else:
                with Horizontal(id="connector-edit-actions"):
                    yield Button(
                        _("Test connection (ctrl+t)"), id="connector-edit-test", compact=True
                    )
                    yield Button(
                        _("Sign in with Google (ctrl+g)"), id="connector-edit-sign-in", compact=True
                    )

    def on_mount(self) -> None:
        self._prepare()
        self.form.focus_field()

    def _prepare(self) -> None:
        """What the generated form cannot say by itself: the token field is filled by signing
        in only, and encryption once on cannot be switched off."""
        form = self.form
        if self.kind == GDRIVE and any(f.name == TOKEN for f in self.kind_info.fields):
            form.control(form_name(TOKEN)).disabled = True
        if self.info is not None and self.info.encrypt:
            form.control("encrypt").disabled = True
        if not self.read_only:
            self.query_one("#connector-edit-sign-in").display = self.kind == GDRIVE
        self._verdict("")
        self.refresh_bindings()

    @property
    def form(self) -> Form:
        return self.query_one(f"#{FORM_ID}", Form)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("save", "test", "sign_in") and self.read_only:
            return False
        if action == "sign_in":
            return self.kind == GDRIVE
        return True

    @on(Select.Changed, "#connector-edit-type")
    async def _type_changed(self, event: Select.Changed) -> None:
        kind = str(event.value)
        if kind == self.kind or kind not in self.kinds:
            return
        kept = {"name": self.form.value("name"), "encrypt": self.form.value("encrypt")}
        self.kind = kind
        self.refresh_token = ""
        body = self.query_one("#connector-edit-body")
        await body.remove_children()
        await body.mount(self._new_form())
        self.form.set_values(kept)
        self._prepare()

    @on(Checkbox.Changed, f"#{FORM_ID}-encrypt")
    def _encrypt_changed(self, event: Checkbox.Changed) -> None:
        on_before = self.info is not None and self.info.encrypt
        self.form.say(_(ENCRYPT_WARNING) if event.value and not on_before else "")

    # -- reading the form ----------------------------------------------------------------------
    def read_settings(self, values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(settings to send, problems beside fields). For a change, only what differs from the
        saved connector is sent; a secret left empty is kept."""
        problems: dict[str, str] = {}
        settings: dict[str, str] = {}
        editing = self.info is not None
        for f in self.kind_info.fields:
            key = form_name(f.name)
            is_token = (self.kind, f.name) == (GDRIVE, TOKEN)
            text = self.refresh_token if is_token else values.get(key, "")
            if f.multiline and text.strip() and not text.lstrip().startswith(("{", "[")):
                path = Path(text.strip()).expanduser()
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError as exc:
                    problems[key] = _("Cannot read the file {path}: {reason}.").format(
                        path=path, reason=exc.strerror or exc
                    )
                    continue
            if editing and (
                (f.secret and not text)
                or (not f.secret and self.info and text == self.info.settings.get(f.name, ""))
            ):
                continue  # kept as saved
            try:
                validate((f,), {f.name: text})
            except InvalidSetting as exc:
                problems[key] = (
                    _("Not authorized yet: sign in with Google (ctrl+g) first.")
                    if is_token
                    else field_message(exc)
                )
                continue
            settings[f.name] = text
        return settings, problems

    def read_name(self, values: dict[str, str]) -> tuple[str, str]:
        """(the name, the problem with it or "")."""
        name = values.get("name", "").strip()
        try:
            check_name(name)
        except InvalidInput as exc:
            return name, error_text(exc)
        if name.lower() in self.taken:
            return name, _(
                "A connector named {name!r} exists already: choose another name."
            ).format(name=name)
        return name, ""

    # -- saving --------------------------------------------------------------------------------
    def action_save(self) -> None:
        self.form.submit()

    @on(Button.Pressed, "#connector-edit-close")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Form.Cancelled, f"#{FORM_ID}")
    def _cancelled(self) -> None:
        self.dismiss(None)

    @on(Form.Submitted, f"#{FORM_ID}")
    def _submitted(self, event: Form.Submitted) -> None:
        name, name_problem = self.read_name(event.values)
        settings, problems = self.read_settings(event.values)
        if name_problem:
            problems["name"] = name_problem
        if problems:
            self.form.show_errors(problems)
            self.form.say(_("Nothing was saved: correct the marked fields."))
            return
        encrypt = event.values.get("encrypt") == YES
        if self.info is not None:
            renamed = name != self.info.name
            switch_on = encrypt and not self.info.encrypt
            if not (settings or renamed or switch_on):
                self.form.say(_("Nothing changed."))
                return
        self.form.say(_("Saving…"))
        self._save(name, settings, encrypt)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connector-save")
    def _save(self, name: str, settings: dict[str, str], encrypt: bool) -> None:
        try:
            if self.info is None:
                info = self.session.connectors_add(name, self.kind, settings, encrypt)
            else:
                info = self.session.connectors_edit(
                    self.info.name,
                    settings or None,
                    new_name=name if name != self.info.name else None,
                    encrypt=True if encrypt and not self.info.encrypt else None,
                )
        except InvalidSetting as exc:
            field = self._field_of(exc.key)
            if field is None:
                raise
            self.post_message(self.Invalid({field: field_message(exc)}))
            return
        self.post_message(self.Saved(info))

    def _field_of(self, key: str) -> str | None:
        if key == "name":
            return "name"
        names = {f.name for f in self.kind_info.fields}
        return form_name(key) if key in names else None

    @on(Saved)
    def _saved(self, message: Saved) -> None:
        self.dismiss(message.info)

    @on(Invalid)
    def _invalid(self, message: Invalid) -> None:
        self.form.show_errors(message.problems)
        self.form.say(_("Nothing was saved: correct the marked field."))
        self._verdict("")

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event):
            self.form.say("")
            self._verdict("")

    # -- testing and signing in ----------------------------------------------------------------
    @on(Button.Pressed, "#connector-edit-test")
    def action_test(self) -> None:
        if self.read_only:
            return
        values = self.form.values()
        settings, problems = self.read_settings(values)
        self.form.show_errors(problems)
        if problems:
            self._verdict(_("Correct the marked fields, then test again."), ok=False)
            return
        self._verdict(_("Testing the connection…"))
        self._test(values.get("name", "").strip() or "(new)", settings)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connector-test")
    def _test(self, name: str, settings: dict[str, str]) -> None:
        try:
            if self.info is None:
                result = self.session.connectors_test_settings(name, self.kind, settings)
            else:
                result = self.session.connectors_test_changes(self.info.name, settings)
        except InvalidSetting as exc:
            field = self._field_of(exc.key)
            if field is None:
                raise
            self.post_message(self.Invalid({field: field_message(exc)}))
            return
        self.post_message(self.Tested(result))

    @on(Tested)
    def _tested(self, message: Tested) -> None:
        result = message.result
        self._verdict(f"{'✓' if result.ok else '✗'} {tr(result.message)}", ok=result.ok)

    def verdict(self) -> str:
        return str(self.query_one("#connector-edit-verdict", Static).render())

    def _verdict(self, text: str, ok: bool | None = None) -> None:
        line = self.query_one("#connector-edit-verdict", Static)
        line.update(text)
        line.display = bool(text)
        line.set_class(ok is True, "-ok")
        line.set_class(ok is False, "-bad")

    @on(Button.Pressed, "#connector-edit-sign-in")
    def action_sign_in(self) -> None:
        if self.read_only or self.kind != GDRIVE:
            return
        values = self.form.values()
        client = {k: values.get(form_name(k), "") for k in SIGN_IN_FIELDS}
        connector = self.info.name if self.info is not None else None
        self.app.push_screen(DeviceFlowDialog(self.session, client, connector), self._signed_in)

    def _signed_in(self, token: str | None) -> None:
        if not token:
            return
        self.refresh_token = token
        field = self.form.control(form_name(TOKEN))
        if isinstance(field, Input):
            field.placeholder = _("new authorization obtained; save to keep it")
        self.form.show_errors({})
        self.form.say(_("Signed in with Google. Save to keep the authorization."))
