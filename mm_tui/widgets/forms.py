"""One way to ask for several values: labelled fields, the message beside the field that is
wrong, and submit / cancel.

Login, first run, configuration, user edit and audit export all use it, so a person learns one
form and every form shows a refusal in the same place. The form only collects text; its owner
checks the values (with the engine's own parsers) and calls the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from mm_tui.dialogs.error import ErrorDialog
from mm_tui.i18n import _, tr

FieldKind = Literal["text", "password", "choice", "check"]
YES, NO = "yes", "no"


@dataclass(frozen=True)
class FormField:
    """One labelled value. ``check`` fields read "yes"/"no"; ``choice`` fields their value."""

    name: str
    label: str
    value: str = ""
    kind: FieldKind = "text"
    placeholder: str = ""  # for a check field: the text beside the box
    help: str = ""  # a muted line under the field
    choices: tuple[tuple[str, str], ...] = ()  # (shown, value)
    max_length: int = 0
    id: str = ""  # the control's id; "<form id>-<name>" when empty


def label_width(fields: Iterable[FormField], minimum: int) -> int:
    """``minimum``, or wider where a (translated) label would not fit on one line."""
    return max([minimum, *(cell_len(f.label) + 1 for f in fields)])


class Form(Vertical):
    """Fields in a column; enter moves to the next field and submits on the last one."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
    # Priority, so focus moves before the next key is handed out: otherwise keys typed or
    # pasted in one burst ("name<tab>password") all land in the first field.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
    ]

    @dataclass
    class Submitted(Message):
        form: Form
        values: dict[str, str]

        @property
        def control(self) -> Form:
            return self.form

    @dataclass
    class Cancelled(Message):
        form: Form

        @property
        def control(self) -> Form:
            return self.form

    def __init__(
        self,
        fields: Sequence[FormField],
        *,
        id: str,
        submit: str | None = "",
        cancel: str | None = "",
        read_only: str = "",
        compact: bool = True,
        scroll: bool = False,
        label_width: int = 16,
        classes: str | None = None,
    ) -> None:
        """``read_only`` is the reason nothing can be changed; it disables every control.
        ``submit`` and ``cancel`` label the buttons ("": "Save" and "Cancel"; None: no button)."""
        super().__init__(id=id, classes=classes)
        self.fields = list(fields)
        self._by_name = {f.name: f for f in self.fields}
        self._submit = _("Save") if submit == "" else submit
        self._cancel = _("Cancel") if cancel == "" else cancel
        self.read_only = read_only
        self._compact = compact
        self._scroll = scroll
        self._label_width = label_width
        self.set_class(not compact, "-roomy")
        self.set_class(scroll, "-scroll")

    # -- building ------------------------------------------------------------------------------
    def control_id(self, name: str) -> str:
        return self._by_name[name].id or f"{self.id}-{name}"

    def _control(self, f: FormField) -> Widget:
        cid = self.control_id(f.name)
        disabled = bool(self.read_only)
        if f.kind == "choice":
            return Select(
                [(shown, value) for shown, value in f.choices],
                value=f.value if f.value in {v for _, v in f.choices} else Select.NULL,
                allow_blank=False,
                id=cid,
                disabled=disabled,
                compact=self._compact,
            )
        if f.kind == "check":
            return Checkbox(
                f.placeholder,
                value=f.value == YES,
                id=cid,
                disabled=disabled,
                compact=self._compact,
            )
        return Input(
            f.value,
            placeholder=f.placeholder,
            password=f.kind == "password",
            max_length=f.max_length,
            id=cid,
            disabled=disabled,
            compact=self._compact,
        )

    def compose(self) -> ComposeResult:
        if self.read_only:
            yield Static(self.read_only, classes="form-read-only", id=f"{self.id}-read-only")
        box = VerticalScroll if self._scroll else Vertical
        with box(classes="form-fields"):
            for f in self.fields:
                yield from self._field(f)
        yield Static("", classes="form-message", id=f"{self.id}-message")
        buttons = [] if self.read_only else [b for b in (self._submit, self._cancel) if b]
        if buttons:
            with Horizontal(classes="form-buttons"):
                if self._submit and not self.read_only:
                    yield Button(
                        self._submit, variant="primary", id=f"{self.id}-submit", compact=True
                    )
                if self._cancel:
                    yield Button(self._cancel, id=f"{self.id}-cancel", compact=True)

    def _field(self, f: FormField) -> ComposeResult:
        cid = self.control_id(f.name)
        indent = (0, 0, 0, self._label_width)
        with Vertical(classes="form-field", id=f"{cid}-field"):
            with Horizontal(classes="form-row"):
                label = Label(f.label, classes="form-label")
                label.styles.width = self._label_width
                yield label
                yield self._control(f)
            error = Static("", classes="form-error", id=f"{cid}-error", markup=False)
            error.styles.margin = indent
            yield error
            help_line = Static(f.help, classes="form-help", id=f"{cid}-help", markup=False)
            help_line.styles.margin = indent
            help_line.display = bool(f.help)
            yield help_line

    # -- reading and writing values ------------------------------------------------------------
    def control(self, name: str) -> Widget:
        return self.query_one(f"#{self.control_id(name)}")

    def value(self, name: str) -> str:
        widget = self.control(name)
        if isinstance(widget, Checkbox):
            return YES if widget.value else NO
        if isinstance(widget, Select):
            chosen = widget.value
            return chosen if isinstance(chosen, str) else ""
        assert isinstance(widget, Input)
        return widget.value

    def values(self) -> dict[str, str]:
        return {f.name: self.value(f.name) for f in self.fields}

    def set_value(self, name: str, value: str) -> None:
        widget = self.control(name)
        if isinstance(widget, Checkbox):
            widget.value = value == YES
        elif isinstance(widget, Select | Input):
            widget.value = value

    def set_values(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self.set_value(name, value)

    def set_placeholder(self, name: str, text: str) -> None:
        widget = self.control(name)
        if isinstance(widget, Input):
            widget.placeholder = text

    def set_help(self, name: str, text: str) -> None:
        line = self.query_one(f"#{self.control_id(name)}-help", Static)
        line.update(tr(text))
        line.display = bool(text)

    def show_field(self, name: str, shown: bool) -> None:
        self.query_one(f"#{self.control_id(name)}-field").display = shown

    # -- messages ------------------------------------------------------------------------------
    def show_errors(self, errors: Mapping[str, str]) -> None:
        """Put each message beside its field (others are cleared) and focus the first. An
        engine sentence (:class:`mm_engine.text.Msg`) is said in the console's language."""
        for f in self.fields:
            line = self.query_one(f"#{self.control_id(f.name)}-error", Static)
            text = tr(errors.get(f.name, ""))
            line.update(text)
            line.set_class(bool(text), "-shown")
        first = next((f.name for f in self.fields if f.name in errors), None)
        if first is not None:
            self.control(first).focus()

    def clear_errors(self) -> None:
        self.show_errors({})

    def error(self, name: str) -> str:
        """The message shown beside ``name`` ("" when none)."""
        line = self.query_one(f"#{self.control_id(name)}-error", Static)
        return str(line.render()) if line.has_class("-shown") else ""

    def say(self, text: str) -> None:
        self.query_one(f"#{self.id}-message", Static).update(tr(text))

    def focus_field(self, name: str | None = None) -> None:
        """Focus ``name``, or the first enabled field."""
        target = name or next((f.name for f in self._enabled()), None)
        if target is not None:
            self.control(target).focus()

    # -- moving and submitting -----------------------------------------------------------------
    def action_next_field(self) -> None:
        self.screen.focus_next()

    def action_previous_field(self) -> None:
        self.screen.focus_previous()

    def _enabled(self) -> Iterable[FormField]:
        for f in self.fields:
            widget = self.control(f.name)
            if not widget.disabled and self.query_one(f"#{widget.id}-field").display:
                yield f

    @on(Input.Submitted)
    def _next_or_submit(self, event: Input.Submitted) -> None:
        event.stop()
        names = [f.name for f in self._enabled()]
        current = next((n for n in names if self.control_id(n) == event.input.id), None)
        if current is not None and current != names[-1]:
            self.control(names[names.index(current) + 1]).focus()
        else:
            self.submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == f"{self.id}-submit":
            self.submit()
        elif event.button.id == f"{self.id}-cancel":
            self.post_message(self.Cancelled(self))

    def submit(self) -> None:
        if self.read_only:
            return
        self.clear_errors()
        self.post_message(self.Submitted(self, self.values()))


def report_failure(node: DOMNode, event: Worker.StateChanged) -> bool:
    """Show a failed worker's error dialog; True when it did.

    A widget's worker reports its state to that widget only (the message does not bubble), so
    the app's own handler never sees it: each owner calls this from its handler.
    """
    if event.state is WorkerState.ERROR and event.worker.error is not None:
        node.app.push_screen(ErrorDialog.for_exception(event.worker.error))
        return True
    return False
