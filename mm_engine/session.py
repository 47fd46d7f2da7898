"""Who may do what (seed F11, F12; DESIGN.md section 6): the one permission-checked way in.

Every user-facing operation goes through a :class:`Session` made for a principal; the session
checks the principal's rights, audits what F31 asks for (and every refusal), and then calls
the engine's services. The services themselves stay unchecked on purpose: the engine's own
jobs (ingest, retention, a storage move's internals) act as the system and must not be
refused, and a second check in each service would only be a second place to get it wrong.

Front ends may call :func:`allowed` to hide what would be refused; the session still decides.
"""

from __future__ import annotations

import functools
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mm_engine.archiving import ArchiveReport
from mm_engine.audit import AuditAction, AuditFilter, AuditPage, VerifyReport
from mm_engine.catalogue import Page, Scope, SearchQuery, VerifyResult
from mm_engine.config import SETTINGS
from mm_engine.connectors import (
    ConnectorInfo,
    DriveSignIn,
    KindInfo,
    TestResult,
    available_kinds,
)
from mm_engine.domain import Recording
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, MMError, NotFound, Refused
from mm_engine.mailer import SMTP_TIMEOUT, Delivery, SmtpSettings
from mm_engine.principal import SYSTEM, Principal, ReplayScope, Rights, Role
from mm_engine.search import split_values
from mm_engine.text import N_, Msg, msg
from mm_engine.users import UserChange, UserInfo

if TYPE_CHECKING:  # both load numpy and soundfile: only when playing or downloading
    from mm_engine.backup import Manifest
    from mm_engine.contact_recorder.importer import Progress as MigrationProgress
    from mm_engine.contact_recorder.importer import Summary as MigrationSummary
    from mm_engine.download import Download
    from mm_engine.job_queue import JobState
    from mm_engine.playback import Replay
    from mm_engine.rebuild import RebuildReport
    from mm_engine.stats import DayCount, StorageUse

# F12: "self-service search shows at most 100 results".
END_USER_MAX_RESULTS = 100

Progress = Callable[[int, int], None]


class Operation(StrEnum):
    """Everything a person can ask for, each with the roles that may (see :data:`RULES`)."""

    SEARCH = N_("search recordings")
    REPLAY = N_("play recordings")
    DOWNLOAD = N_("download recordings")
    VERIFY = N_("verify recordings")
    DELETE = N_("delete recordings")
    CONFIG_VIEW = N_("view the configuration")
    CONFIG_CHANGE = N_("change the configuration")
    ALARMS_VIEW = N_("view alarms")
    ALARMS_MANAGE = N_("acknowledge alarms or send test e-mail")
    AUDIT_VIEW = N_("view the audit trail")
    AUDIT_EXPORT = N_("export the audit trail")
    USERS_MANAGE = N_("manage other users' accounts")
    STORAGE_MOVE = N_("move or migrate the call storage")
    BACKUP = N_("back up or restore the installation")
    CATALOGUE_REBUILD = N_("rebuild the catalogue from storage")
    CONNECTORS_VIEW = N_("view connectors and archiving")
    CONNECTORS_MANAGE = N_("add, change, test, activate or remove connectors")
    ARCHIVE_RUN = N_("start an archive run")
    DVD_VIEW = N_("view DVD drives and discs")
    DVD_MANAGE = N_("eject or blank DVDs")
    MIGRATE = N_("migrate from Contact Recorder")


_ALL = frozenset(Role)
_STAFF = frozenset({Role.ADMINISTRATOR, Role.STANDARD})
_ADMIN = frozenset({Role.ADMINISTRATOR})

# Role -> operation, as docs/cli.md tabulates it. End users also need their F12 rights
# (replay enabled, download right) and see only their scope; their own account (show,
# password) is open to every role and not listed here.
RULES: dict[Operation, frozenset[Role]] = {
    Operation.SEARCH: _ALL,
    Operation.REPLAY: _ALL,
    Operation.DOWNLOAD: _ALL,
    Operation.VERIFY: _ALL,
    Operation.DELETE: _ADMIN,
    # standard users view configuration and alarms (F11 "sees other menus") but change
    # nothing; the audit trail is for administrators only (F32, and issue 3's `mm audit list`)
    Operation.CONFIG_VIEW: _STAFF,
    Operation.CONFIG_CHANGE: _ADMIN,
    Operation.ALARMS_VIEW: _STAFF,
    Operation.ALARMS_MANAGE: _ADMIN,
    Operation.AUDIT_VIEW: _ADMIN,
    Operation.AUDIT_EXPORT: _ADMIN,
    Operation.USERS_MANAGE: _ADMIN,
    Operation.STORAGE_MOVE: _ADMIN,
    Operation.BACKUP: _ADMIN,
    Operation.CATALOGUE_REBUILD: _ADMIN,
    # F11: standard users see the connectors tab, read-only
    Operation.CONNECTORS_VIEW: _STAFF,
    Operation.CONNECTORS_MANAGE: _ADMIN,
    Operation.ARCHIVE_RUN: _ADMIN,
    Operation.DVD_VIEW: _STAFF,
    Operation.DVD_MANAGE: _ADMIN,
    Operation.MIGRATE: _ADMIN,
}

# What a refusal of each operation is filed under in the audit trail.
AUDIT_ACTION: dict[Operation, AuditAction] = {
    Operation.SEARCH: AuditAction.SEARCH,
    Operation.REPLAY: AuditAction.REPLAY,
    Operation.DOWNLOAD: AuditAction.DOWNLOAD,
    Operation.VERIFY: AuditAction.VERIFY,
    Operation.DELETE: AuditAction.DELETE,
    Operation.CONFIG_VIEW: AuditAction.CONFIGURATION,
    Operation.CONFIG_CHANGE: AuditAction.CONFIGURATION,
    Operation.ALARMS_VIEW: AuditAction.ALARM,
    Operation.ALARMS_MANAGE: AuditAction.ALARM,
    Operation.AUDIT_VIEW: AuditAction.AUDIT,
    Operation.AUDIT_EXPORT: AuditAction.AUDIT,
    Operation.USERS_MANAGE: AuditAction.USER,
    Operation.STORAGE_MOVE: AuditAction.CONFIGURATION,
    Operation.BACKUP: AuditAction.CONFIGURATION,
    Operation.CATALOGUE_REBUILD: AuditAction.CONFIGURATION,
    Operation.CONNECTORS_VIEW: AuditAction.CONFIGURATION,
    Operation.CONNECTORS_MANAGE: AuditAction.CONFIGURATION,
    Operation.ARCHIVE_RUN: AuditAction.CONFIGURATION,
    Operation.DVD_VIEW: AuditAction.CONFIGURATION,
    Operation.DVD_MANAGE: AuditAction.CONFIGURATION,
    Operation.MIGRATE: AuditAction.CONFIGURATION,
}

_RECORDING_OPS = frozenset(
    {Operation.SEARCH, Operation.REPLAY, Operation.DOWNLOAD, Operation.VERIFY}
)


def refusal_reason(principal: Principal, op: Operation) -> str | None:
    """Why ``principal`` may not do ``op`` at all, or None if they may (scope aside)."""
    if principal.role not in RULES[op]:
        if RULES[op] == _ADMIN:
            return msg("only administrators may")
        if RULES[op] == _STAFF:
            return msg("only administrators and standard users may")
        return msg("this account's role may not")
    if principal.role is Role.END_USER and op in _RECORDING_OPS:
        if not principal.rights.replay_enabled:
            return msg("replay is not enabled for this account")
        if op is Operation.DOWNLOAD and not principal.rights.download:
            return msg("this account has no download right")
    return None


def allowed(principal: Principal, op: Operation) -> bool:
    """Whether a front end should offer ``op`` at all (the session decides anyway)."""
    return refusal_reason(principal, op) is None


def scope_of(principal: Principal) -> Scope | None:
    """The recordings ``principal`` may see; None means all of them."""
    if principal.role is not Role.END_USER:
        return None
    rights: Rights = principal.rights
    if rights.replay_scope is ReplayScope.ALL:
        return None
    values = {v for v in (rights.extension, *rights.others) if v}
    return Scope(frozenset(values), frozenset(g for g in rights.groups if g))


_CAPPED = re.compile(r"^(\d{1,3})~(.*)$", re.DOTALL)


def _describe(query: SearchQuery) -> dict[str, Any]:
    """The search terms and filters, for the audit row (F31 "the search terms")."""
    out: dict[str, Any] = {}
    if terms := split_values(query.terms):
        out["terms"] = terms
    for name in ("start_from", "start_to"):
        value = getattr(query, name)
        if value is not None:
            out[name] = value.isoformat()
    if query.length is not None:
        out["length"] = str(query.length)
    if query.direction:
        out["direction"] = str(query.direction)
    for name in ("parties", "agents"):
        if values := split_values(getattr(query, name)):
            out[name] = values
    for name in ("target", "skill", "call_id"):
        if value := getattr(query, name):
            out[name] = value
    if query.cursor:
        out["next_page"] = True
    return out


def _recording_details(rec: Recording) -> dict[str, Any]:
    d = rec.details
    return {
        "id": rec.id,
        "call_id": d.call_id,
        "owner": d.owner,
        "parties": list(d.parties),
        "path": rec.path,
    }


class Session:
    """One principal's permission-checked view of an engine (see the module docstring)."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self.engine = engine
        self.principal = principal

    # -- checking ---------------------------------------------------------------------------
    def _audit(self, action: AuditAction, details: dict[str, Any]) -> None:
        self.engine.audit.record(None, self.principal.name, action, details)

    def _refuse(
        self, op: Operation, reason: str, hint: str = "", details: dict[str, Any] | None = None
    ) -> NoReturn:
        """Audit the attempt, then refuse it: a refusal nobody can see later helps nobody."""
        self._audit(
            AUDIT_ACTION[op],
            {**(details or {}), "refused": True, "operation": op.value, "reason": reason},
        )
        raise Refused(
            msg(
                "{name} may not {operation}: {reason}.",
                name=self.principal.name,
                operation=Msg(op.value),  # its value is English; Msg has it translated
                reason=reason,
            ),
            hint,
        )

    def require(self, op: Operation, /, **details: Any) -> None:
        reason = refusal_reason(self.principal, op)
        if reason is not None:
            hint = (
                msg("Ask an administrator.")
                if op not in _RECORDING_OPS
                else msg("Ask an administrator to change your rights.")
            )
            self._refuse(op, reason, hint, details)

    @property
    def scope(self) -> Scope | None:
        return scope_of(self.principal)

    def _require_in_scope(self, op: Operation, ids: list[int]) -> None:
        """Refuse ids outside the principal's scope, audited. An id that does not exist is
        refused alike, so trying ids tells an end user nothing about others' recordings."""
        scope = self.scope
        if scope is None:
            return
        inside = self.engine.catalogue.in_scope(ids, scope)
        outside = [i for i in ids if i not in inside]
        if outside:
            shown = ", ".join(str(i) for i in outside[:20])
            self._refuse(
                op,
                msg("recording {ids} is not in your recordings", ids=shown),
                msg("Search to see the recordings you may use."),
                {"ids": outside[:100]},
            )

    def _existing(self, ids: list[int]) -> list[Recording]:
        """The recordings of ``ids`` that exist (NotFound is the service's to raise)."""
        try:
            return self.engine.catalogue.get_many(ids)
        except NotFound:
            found = []
            for i in ids:
                try:
                    found.append(self.engine.catalogue.get(i))
                except NotFound:
                    continue
            return found

    # -- recordings -------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> Page:
        """A page of matches within the principal's scope; end users see at most 100 in all.

        For end users the cursor also carries how many results were shown so far, so paging
        stops at 100. A hand-edited cursor can reset that count; it cannot widen the scope.
        """
        described = _describe(query)
        self.require(Operation.SEARCH, search=described)
        if self.principal.role is not Role.END_USER:
            page = self.engine.catalogue.search(query)
            self._audit(AuditAction.SEARCH, {**described, "results": len(page.items)})
            return page
        shown, inner = 0, None
        if query.cursor:
            match = _CAPPED.match(query.cursor.strip())
            if match is None:
                raise InvalidInput(
                    msg("The cursor is not valid."),
                    msg("Pass the cursor exactly as the previous page gave it."),
                )
            shown, inner = int(match.group(1)), match.group(2)
        room = END_USER_MAX_RESULTS - shown
        if room <= 0:
            return Page([], None)
        limit = min(query.limit, room)
        page = self.engine.catalogue.search(
            replace(query, limit=limit, cursor=inner, scope=self.scope)
        )
        shown += len(page.items)
        more = page.next_cursor is not None and shown < END_USER_MAX_RESULTS
        cursor = f"{shown}~{page.next_cursor}" if more else None
        self._audit(AuditAction.SEARCH, {**described, "results": len(page.items)})
        return Page(page.items, cursor)

    def count(self, query: SearchQuery) -> int:
        """How many recordings match within scope (not capped: it shows nothing)."""
        self.require(Operation.SEARCH, search=_describe(query))
        return self.engine.catalogue.count(replace(query, scope=self.scope, cursor=None))

    def get(self, recording_id: int) -> Recording:
        """One recording's details and audio location: what playing it needs, audited as a
        replay (F31)."""
        self.require(Operation.REPLAY, id=recording_id)
        self._require_in_scope(Operation.REPLAY, [recording_id])
        rec = self.engine.catalogue.get(recording_id)
        self._audit(AuditAction.REPLAY, _recording_details(rec))
        return rec

    def replay(self, recording_id: int) -> Replay:
        """What the player needs for one recording (details and a way to open its audio),
        checked and audited as a replay (F31) by :meth:`get`."""
        from mm_engine.playback import Replay

        rec = self.get(recording_id)
        return Replay(rec, functools.partial(self.engine.catalogue.open_audio, rec))

    def _downloadable(self, ids: list[int]) -> list[Recording]:
        """The recordings of ``ids`` if the principal may download every one (else refused,
        audited, before anything is written)."""
        self.require(Operation.DOWNLOAD, ids=ids[:100])
        self._require_in_scope(Operation.DOWNLOAD, ids)
        return self.engine.catalogue.get_many(ids)

    def check_download(self, recording_id: int) -> Recording:
        """Permission to hand one recording's file over, audited as a download; the caller
        copies the file (``rec.path`` under the call storage root)."""
        rec = self._downloadable([recording_id])[0]
        self._audit(AuditAction.DOWNLOAD, _recording_details(rec))
        return rec

    def download(self, ids: Iterable[int], dest_dir: Path | str | None = None) -> Download:
        """Write one recording as .opus or several as a zip into ``dest_dir`` (default
        ``~/mm-downloads``); one audit row per recording, naming the file written (F28, F31)."""
        from mm_engine.download import export

        wanted = list(dict.fromkeys(int(i) for i in ids))
        recs = self._downloadable(wanted)
        result = export(self.engine.catalogue, recs, dest_dir, exported_by=self.principal.name)
        for rec in recs:
            self._audit(AuditAction.DOWNLOAD, {**_recording_details(rec), "file": str(result.path)})
        return result

    def iter_verify(
        self, ids: Iterable[int] | None = None, progress: Progress | None = None
    ) -> Iterator[VerifyResult]:
        """Verify recordings by id, or all of them; end users only by id within their scope."""
        wanted = None if ids is None else list(dict.fromkeys(int(i) for i in ids))
        self.require(Operation.VERIFY, ids="all" if wanted is None else wanted[:100])
        if wanted is None:
            if self.principal.role is Role.END_USER:
                self._refuse(
                    Operation.VERIFY,
                    msg("end users verify their recordings by id, not all at once"),
                    msg("Give the ids of the recordings to verify."),
                )
        else:
            self._require_in_scope(Operation.VERIFY, wanted)
        return self.engine.catalogue.iter_verify(wanted, progress)

    def verify(
        self, ids: Iterable[int] | None = None, progress: Progress | None = None
    ) -> list[VerifyResult]:
        return list(self.iter_verify(ids, progress))

    def preview_delete(self, ids: Iterable[int]) -> list[Recording]:
        """The recordings a delete would remove, for a confirmation (administrators only)."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        self.require(Operation.DELETE, ids=wanted[:100])
        try:
            return self.engine.catalogue.get_many(wanted)
        except NotFound as exc:
            raise Refused(
                msg("Cannot delete: {reason}", reason=exc.message), msg("Nothing was deleted.")
            ) from None

    def delete(self, ids: Iterable[int]) -> list[int]:
        """Delete recordings; one audit row per recording removed, even if a later one fails."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        self.require(Operation.DELETE, ids=wanted[:100])
        # the service refuses unknown ids itself; this is only what to audit afterwards
        before = {r.id: r for r in self._existing(wanted)}
        try:
            deleted = self.engine.catalogue.delete(wanted)
        except MMError:
            still = {r.id for r in self._existing(list(before))}
            for rec_id, rec in before.items():
                if rec_id not in still:
                    self._audit(AuditAction.DELETE, _recording_details(rec))
            raise
        for rec_id in deleted:
            self._audit(AuditAction.DELETE, _recording_details(before[rec_id]))
        return deleted

    def call_storage_root(self) -> str:
        """Where the audio files live (paths in recordings are relative to it): the call
        storage path, or the hosted storage's URL (``s3://bucket/folder``)."""
        return self.engine.primary.where()

    # -- configuration ----------------------------------------------------------------------
    def config_show(self) -> list[dict[str, Any]]:
        """Every setting; secrets masked (by the service) for everyone, administrators too."""
        self.require(Operation.CONFIG_VIEW)
        return self.engine.config.show()

    def config_set(self, key: str, text: str) -> Any:
        self.require(Operation.CONFIG_CHANGE, key=key)
        value = self.engine.config.set(key, text)
        setting = SETTINGS[key]
        shown: Any = ("********" if value else "") if setting.secret else value
        self._audit(AuditAction.CONFIGURATION, {"key": key, "value": shown})
        return value

    def storage_move(self, new_path: str, progress: Progress | None = None) -> dict[str, Any]:
        """Move the call storage (the caller holds the engine lock); audited as configuration."""
        self.require(Operation.STORAGE_MOVE, to=new_path)
        with self.engine.maintenance:  # an in-process service's ingest waits meanwhile
            result = self.engine.storage_move.run(new_path, progress)
        self._audit(
            AuditAction.CONFIGURATION,
            {"key": "call_storage_path", "op": "storage move", **result},
        )
        return result

    def storage_migrate(
        self, to: str, *, delete_source: bool = False, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Copy the library to ``to`` (``local``, ``local:PATH`` or a connector), verify it and
        switch to it (the caller holds the engine lock). Audited when it starts, so a run that
        never ends is on record too, and with its counts when it ends."""
        self.require(Operation.STORAGE_MOVE, to=to, delete_source=delete_source)
        start = {"key": "call_storage_type", "op": "storage migrate", "to": to}
        self._audit(AuditAction.CONFIGURATION, {**start, "status": "started"})
        with self.engine.maintenance:  # an in-process service's ingest waits meanwhile
            result = self.engine.storage_move.migrate(
                to, delete_source=delete_source, progress=progress
            )
        self._audit(AuditAction.CONFIGURATION, {**start, **result})
        return result

    def storage_migrate_abandon(self) -> dict[str, Any]:
        """Give up an interrupted migration that has not switched yet; audited."""
        self.require(Operation.STORAGE_MOVE, op="abandon")
        result = self.engine.storage_move.abandon()
        if result["status"] != "none":
            self._audit(
                AuditAction.CONFIGURATION,
                {"key": "call_storage_type", "op": "storage migrate abandon", **result},
            )
        return result

    def storage_status(self) -> dict[str, Any]:
        """The call storage's type, place, use and free space, and any unfinished migration."""
        self.require(Operation.CONFIG_VIEW)
        return self.engine.storage_move.status()

    def migrate_contact_recorder(
        self,
        source: Path | str,
        connectors_file: Path | str | None = None,
        progress: MigrationProgress | None = None,
    ) -> MigrationSummary:
        """Migrate a Contact Recorder tree (F36-F40; administrators only). Audited as a
        configuration change when it starts, so a run that never ends is on record too, and
        with its counts when it ends."""
        from mm_engine.contact_recorder.importer import ContactRecorderMigration

        self.require(Operation.MIGRATE, source=str(source))
        op = "contact recorder migration"
        self._audit(
            AuditAction.CONFIGURATION, {"op": op, "phase": "started", "source": str(source)}
        )
        try:
            summary = ContactRecorderMigration(self.engine.db, self.engine.signer).run(
                source, connectors_file, progress
            )
        except Exception as exc:
            self._audit(
                AuditAction.CONFIGURATION,
                {"op": op, "phase": "failed", "source": str(source), "error": str(exc)},
            )
            raise
        removed = summary.removed_first or {}
        self._audit(
            AuditAction.CONFIGURATION,
            {
                "op": op,
                "phase": "finished",
                "source": summary.source,
                "migrated": summary.migrated,
                "skipped": summary.skipped,
                "connectors_created": [c["name"] for c in summary.connectors_created],
                "removed_first": removed.get("recordings", 0),
                "connectors_removed_first": removed.get("connectors_removed", []),
            },
        )
        return summary

    # -- connectors and archiving (F14-F22) -------------------------------------------------
    def connectors_list(self) -> list[ConnectorInfo]:
        self.require(Operation.CONNECTORS_VIEW)
        return self.engine.connectors.list()

    def connectors_show(self, name: str) -> ConnectorInfo:
        self.require(Operation.CONNECTORS_VIEW, name=name)
        return self.engine.connectors.get(name)

    def connectors_types(self) -> list[KindInfo]:
        self.require(Operation.CONNECTORS_VIEW)
        return available_kinds()

    def _audit_connector(self, op: str, info: ConnectorInfo | None, **extra: Any) -> None:
        details: dict[str, Any] = {"op": f"connector {op}", **extra}
        if info is not None:
            # masked settings only: a secret never reaches the audit trail
            details.update(name=info.name, type=info.kind, settings=dict(info.settings))
            details["encrypt"] = info.encrypt
        self._audit(AuditAction.CONFIGURATION, details)

    def connectors_add(
        self, name: str, kind: str, settings: Mapping[str, str], encrypt: bool = False
    ) -> ConnectorInfo:
        self.require(Operation.CONNECTORS_MANAGE, op="add", name=name, type=kind)
        info = self.engine.connectors.add(name, kind, settings, encrypt)
        self._audit_connector("add", info)
        return info

    def connectors_edit(
        self,
        name: str,
        settings: Mapping[str, str] | None = None,
        *,
        new_name: str | None = None,
        encrypt: bool | None = None,
    ) -> ConnectorInfo:
        self.require(Operation.CONNECTORS_MANAGE, op="edit", name=name)
        info = self.engine.connectors.edit(name, settings, new_name=new_name, encrypt=encrypt)
        self._audit_connector("edit", info, changed=sorted(settings or {}), was=name)
        return info

    def connectors_test(self, name: str) -> TestResult:
        self.require(Operation.CONNECTORS_MANAGE, op="test", name=name)
        return self.engine.connectors.test(name)

    def connectors_test_settings(
        self, name: str, kind: str, settings: Mapping[str, str]
    ) -> TestResult:
        """Test settings before saving them (a form's "test connection")."""
        self.require(Operation.CONNECTORS_MANAGE, op="test", name=name)
        return self.engine.connectors.test_settings(name, kind, settings)

    def connectors_test_changes(self, name: str, changes: Mapping[str, str]) -> TestResult:
        """Test a saved connector with unsaved changes (an edit form's "test connection")."""
        self.require(Operation.CONNECTORS_MANAGE, op="test", name=name)
        return self.engine.connectors.test_changes(name, changes)

    def connectors_sign_in(
        self, settings: Mapping[str, str], name: str | None = None
    ) -> DriveSignIn:
        """Start a Google Drive sign-in (device flow) for a new connector's settings or for the
        saved connector ``name``; nothing is stored until :meth:`connectors_authorize` or
        :meth:`connectors_add` (both audited)."""
        self.require(Operation.CONNECTORS_MANAGE, op="authorize", name=name or "")
        return self.engine.connectors.start_sign_in(settings, name)

    def connectors_authorize(self, name: str, refresh_token: str) -> ConnectorInfo:
        """Store a Google Drive connector's new authorization; audited, the token masked."""
        self.require(Operation.CONNECTORS_MANAGE, op="authorize", name=name)
        info = self.engine.connectors.authorize(name, refresh_token)
        self._audit_connector("authorize", info)
        return info

    def connectors_activate(self, name: str) -> ConnectorInfo:
        self.require(Operation.CONNECTORS_MANAGE, op="activate", name=name)
        info = self.engine.connectors.activate(name)
        self._audit_connector("activate", info)
        return info

    def connectors_deactivate(self) -> None:
        self.require(Operation.CONNECTORS_MANAGE, op="deactivate")
        self.engine.connectors.deactivate()
        self._audit_connector("deactivate", None)

    def connectors_remove(self, name: str) -> None:
        self.require(Operation.CONNECTORS_MANAGE, op="remove", name=name)
        info = self.engine.connectors.get(name)
        self.engine.connectors.remove(name)
        self._audit_connector("remove", info)

    def archive_run(self, progress: Progress | None = None) -> ArchiveReport:
        self.require(Operation.ARCHIVE_RUN)
        report = self.engine.archiver.run_once(progress)
        self._audit(
            AuditAction.CONFIGURATION,
            {
                "op": "archive run",
                "connector": report.connector,
                "status": report.status,
                "archived": report.archived,
                "failed": len(report.failed),
            },
        )
        return report

    def archive_status(self) -> dict[str, Any]:
        self.require(Operation.CONNECTORS_VIEW, op="archive status")
        return self.engine.archiver.status()

    # -- DVD drives and discs (F16) ---------------------------------------------------------
    def dvd_status(self, connector: str | None = None) -> list[dict[str, Any]]:
        """Each DVD connector's drive, disc, space, pending recordings and days until full."""
        self.require(Operation.DVD_VIEW, op="dvd status")
        return self.engine.dvd.status(connector)

    def dvd_glance(self, connector: str | None = None) -> dict[str, Any]:
        """Without touching the drive: a key that changes when :meth:`dvd_status` may, and
        whether an archive run is writing to the disc now (for a console that polls)."""
        self.require(Operation.DVD_VIEW, op="dvd status")
        return self.engine.dvd.glance(connector)

    def dvd_discs(self) -> list[dict[str, Any]]:
        """The disc catalogue: every disc written, where it is and what is on it."""
        self.require(Operation.DVD_VIEW, op="dvd discs")
        return [d.to_dict() for d in self.engine.dvd.discs_list()]

    def dvd_find(self, recording_id: int) -> dict[str, Any]:
        """Which disc holds a recording."""
        self.require(Operation.DVD_VIEW, op="dvd find", id=recording_id)
        return self.engine.dvd.find(recording_id)

    def dvd_eject(self, connector: str | None = None) -> dict[str, Any]:
        """Open the DVD drive's tray; audited."""
        self.require(Operation.DVD_MANAGE, op="dvd eject", connector=connector or "")
        result = self.engine.dvd.eject(connector)
        self._audit(AuditAction.CONFIGURATION, {"op": "dvd eject", **result})
        return result

    def dvd_blank(self, confirm: str, connector: str | None = None) -> dict[str, Any]:
        """Erase a disc of ours for reuse (``confirm`` is ``BLANK <volume id>``); audited, the
        attempt too, since it destroys archive copies."""
        self.require(Operation.DVD_MANAGE, op="dvd blank", connector=connector or "")
        try:
            result = self.engine.dvd.blank(confirm, connector)
        except MMError as exc:
            self._audit(
                AuditAction.CONFIGURATION,
                {"op": "dvd blank", "connector": connector or "", "failed": exc.message},
            )
            raise
        self._audit(AuditAction.CONFIGURATION, {"op": "dvd blank", **result})
        return result

    # -- long jobs handed to the service (issue 4; mm_engine/job_queue.py) ------------------
    def submit_job(self, kind: str, **params: Any) -> int:
        """Queue a long job (``archive_run``, ``verify_all``, ``storage_migrate``,
        ``catalogue_rebuild``) for the service, checked as the direct call would be and
        audited; the service checks the rule again when it starts the job."""
        from mm_engine.job_queue import JobQueue, job_kind

        spec = job_kind(kind)
        args = spec.check_params(params)
        self.require(spec.operation, op="job submit", kind=kind, params=args)
        if kind == "verify_all" and self.principal.role is Role.END_USER:
            self._refuse(
                Operation.VERIFY,
                msg("end users verify their recordings by id, not all at once"),
                msg("Give the ids of the recordings to verify."),
                {"op": "job submit", "kind": kind},
            )
        job_id = JobQueue(self.engine.db).submit(
            kind, args, self.principal.name, system=self.principal is SYSTEM
        )
        self._audit(
            AUDIT_ACTION[spec.operation],
            {"op": "job submit", "job": job_id, "kind": kind, "params": args},
        )
        return job_id

    def job_state(self, job_id: int) -> JobState:
        """Where a queued job is: status, progress, result or error (checked, not audited: a
        console asks twice a second)."""
        from mm_engine.job_queue import JobQueue, job_kind

        state = JobQueue(self.engine.db).watch(job_id)
        self.require(job_kind(state.kind).operation, op="job state", job=job_id)
        return state

    def jobs_list(self, limit: int = 50) -> list[JobState]:
        """The newest queued jobs of the kinds this principal may run (staff only)."""
        from mm_engine.job_queue import JobQueue, job_kind

        self.require(Operation.CONFIG_VIEW, op="jobs list")
        jobs = JobQueue(self.engine.db).list(limit)
        return [j for j in jobs if allowed(self.principal, job_kind(j.kind).operation)]

    def cancel_job(self, job_id: int) -> JobState:
        """Cancel a queued job, or ask a running one to stop after its current item; only its
        submitter or an administrator may. Audited."""
        from mm_engine.job_queue import JobQueue, job_kind

        queue = JobQueue(self.engine.db)
        state = queue.watch(job_id)
        op = job_kind(state.kind).operation
        self.require(op, op="job cancel", job=job_id)
        if not self._own(state.submitted_by) and not self.principal.is_administrator:
            self._refuse(
                op,
                msg("job {job_id} was submitted by {user}", job_id=job_id, user=state.submitted_by),
                msg("Only its submitter or an administrator may cancel it."),
                {"op": "job cancel", "job": job_id},
            )
        state = queue.cancel(job_id, self.principal.name)
        self._audit(
            AUDIT_ACTION[op],
            {"op": "job cancel", "job": job_id, "kind": state.kind, "status": state.status},
        )
        return state

    # -- backup and catalogue rebuild (F4) --------------------------------------------------
    def backup_create(
        self,
        path: Path | str,
        password: str,
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> Manifest:
        """Write a password-protected backup of database, configuration and keys; audited.

        Restoring is :func:`mm_engine.backup.restore_backup` on a data directory no engine has
        open (so not a session method): a front end closes its engine first.
        """
        from mm_engine.backup import create_backup

        self.require(Operation.BACKUP, op="backup create", file=str(path))
        manifest = create_backup(
            self.engine.data_dir, path, password, force=force, progress=progress
        )
        self._audit(
            AuditAction.CONFIGURATION,
            {
                "op": "backup create",
                "file": str(path),
                "counts": manifest.counts,
                "keys": len(manifest.keys),
            },
        )
        return manifest

    def catalogue_rebuild(
        self,
        *,
        source: str = "local",
        path: Path | str | None = None,
        merge: bool = False,
        signatures_from: Path | str | None = None,
        progress: Progress | None = None,
    ) -> RebuildReport:
        """Re-create catalogue rows from stored files: the call storage (``source`` "local"),
        a connector by name, or a folder holding a copy of the tree (``path``). The caller
        holds the engine lock, so nothing is ingested meanwhile; audited as configuration."""
        from mm_engine.rebuild import CatalogueRebuild, signatures_from_database
        from mm_engine.storage.base import Store
        from mm_engine.storage.local import LocalStore

        where = str(path) if path is not None else source
        self.require(Operation.CATALOGUE_REBUILD, source=where, merge=merge)
        store: Store | None = None
        connector_id = None
        if path is not None:
            store = LocalStore(Path(path))
        elif source.strip().lower() != "local":
            info = self.engine.connectors.get(source)
            connector_id = info.id
            store = self.engine.connectors.build_store(info.id, False)
        known = signatures_from_database(signatures_from) if signatures_from else None
        job = CatalogueRebuild(
            self.engine.db,
            self.engine.signer,
            self.engine.primary.local_store(),
            self.engine.data_dir.keys,
        )
        with self.engine.maintenance:  # an in-process service's ingest waits meanwhile
            report = job.run(
                store, merge=merge, known=known, connector_id=connector_id, progress=progress
            )
        self._audit(
            AuditAction.CONFIGURATION,
            {
                "op": "catalogue rebuild",
                "source": report.source,
                "merge": merge,
                "added": report.added,
                "signatures_reused": report.signatures_reused,
                "resigned": report.resigned,
                "kept_failing": report.signatures_kept_failing,
                "skipped": len(report.skipped),
            },
        )
        return report

    # -- alarms -----------------------------------------------------------------------------
    def alarms_list(
        self, limit: int = 100, include_cleared: bool = True, include_acknowledged: bool = True
    ) -> list[dict[str, Any]]:
        self.require(Operation.ALARMS_VIEW)
        return self.engine.alarms.list(limit, include_cleared, include_acknowledged)

    def alarms_acknowledge(self, ids: Iterable[int]) -> dict[str, list[int]]:
        wanted = sorted({int(i) for i in ids})
        self.require(Operation.ALARMS_MANAGE, ids=wanted[:100])
        result = self.engine.alarms.acknowledge(wanted, by=self.principal.name)
        if result["acknowledged"]:
            self._audit(AuditAction.ALARM, {"op": "ack", "ids": result["acknowledged"]})
        return dict(result)

    def mail_settings(self) -> SmtpSettings:
        self.require(Operation.ALARMS_MANAGE, op="test-email")
        return self.engine.mail.settings()

    def test_email(
        self, *, ssl_context: ssl.SSLContext | None = None, timeout: float = SMTP_TIMEOUT
    ) -> Delivery:
        self.require(Operation.ALARMS_MANAGE, op="test-email")
        return self.engine.mail.test_email(ssl_context=ssl_context, timeout=timeout)

    # -- audit ------------------------------------------------------------------------------
    def audit_list(
        self, filters: AuditFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> AuditPage:
        self.require(Operation.AUDIT_VIEW)
        return self.engine.audit.list(filters, limit=limit, cursor=cursor)

    def audit_verify(self) -> VerifyReport:
        self.require(Operation.AUDIT_VIEW, op="verify")
        return self.engine.audit.verify()

    def audit_export(
        self, path: Path | str, password: str, filters: AuditFilter | None = None
    ) -> int:
        self.require(Operation.AUDIT_EXPORT, file=str(path))
        count = self.engine.audit.export(path, password, filters)
        self._audit(AuditAction.AUDIT, {"op": "export", "file": str(path), "events": count})
        return count

    # -- users ------------------------------------------------------------------------------
    def _own(self, name: str) -> bool:
        return self.principal.name.lower() == name.strip().lower()

    def users_add(
        self, name: str, role: Role | str, password: str, rights: Rights | None = None
    ) -> UserInfo:
        self.require(Operation.USERS_MANAGE, op="add", name=name)
        return self.engine.users.add(self.principal, name, role, password, rights)

    def users_list(self) -> list[UserInfo]:
        self.require(Operation.USERS_MANAGE, op="list")
        return self.engine.users.list(self.principal)

    def users_show(self, name: str) -> UserInfo:
        if not self._own(name):
            self.require(Operation.USERS_MANAGE, op="show", name=name)
        return self.engine.users.get(self.principal, name)

    def users_set(self, name: str, change: UserChange) -> UserInfo:
        self.require(Operation.USERS_MANAGE, op="set", name=name)
        return self.engine.users.set(self.principal, name, change)

    def check_passwd(self, name: str) -> None:
        """Everyone may change their own password; administrators anyone's."""
        if not self._own(name):
            self.require(Operation.USERS_MANAGE, op="passwd", name=name)

    def users_passwd(self, name: str, password: str) -> None:
        self.check_passwd(name)
        self.engine.users.passwd(self.principal, name, password)

    def users_remove(self, name: str) -> None:
        self.require(Operation.USERS_MANAGE, op="remove", name=name)
        self.engine.users.remove(self.principal, name)

    def logout(self) -> None:
        self.engine.users.logout(self.principal)

    # -- new alarms, for a console's toasts (read-only; a primary-key range, cheap to poll) --
    def alarms_newest_id(self) -> int:
        """The id of the newest alarm (0: none yet): what "already there" means at login."""
        self.require(Operation.ALARMS_VIEW)
        row = self.engine.db.query_one("SELECT max(id) FROM alarms")
        return int(row[0] or 0) if row else 0

    def alarms_after(self, alarm_id: int, limit: int = 20) -> list[dict[str, Any]]:
        """Alarms raised after ``alarm_id``, oldest first. A repeat of an open alarm only
        counts up the old row, so it is not new here (the alarm list shows the count)."""
        self.require(Operation.ALARMS_VIEW)
        rows = self.engine.db.query(
            "SELECT id, type, severity, message, params, dedupe_key, raised_at FROM alarms"
            " WHERE id > ?"
            " ORDER BY id LIMIT ?",
            (alarm_id, limit),
        )
        return [dict(r) for r in rows]

    # -- charts: recordings per day, storage use (issue 4) ----------------------------------
    # Whole-catalogue figures, so staff only (CONFIG_VIEW, not SEARCH): an end user limited
    # to their own calls (F12) must not learn how many calls everyone else had.
    def stats_per_day(self, days: int = 30) -> list[DayCount]:
        """Recordings per call day for the last ``days`` days, oldest first (not audited:
        counts only, no call is shown)."""
        from mm_engine.stats import recordings_per_day

        self.require(Operation.CONFIG_VIEW, op="recordings per day")
        return recordings_per_day(self.engine.db, days)

    def stats_storage(self) -> StorageUse:
        """Bytes stored, free space of the call storage and days left at the recent rate."""
        from mm_engine.stats import storage_use

        self.require(Operation.CONFIG_VIEW, op="storage use")
        return storage_use(self.engine)
