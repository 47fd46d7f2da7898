"""The legacy Contact Recorder files: call details beside each recording, connector settings.

docs/contact-recorder-migration.md is the contract; this module is its implementation, so the two
change together. Element and attribute names match ignoring case, XML namespaces, ``-`` and
``_``; names the document does not list are ignored, and every field but the start time may be
missing. A file that cannot be used raises :class:`LegacyFormatError` with a sentence saying why,
which the importer reports as that file's skip reason. A value that is present but unusable in
an optional field becomes a warning and the field's default, so one odd value never hides a
recording from search.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from mm_engine.domain import CallDetails, Direction, OwnerKind
from mm_engine.ingest.calldetails import parse_start
from mm_engine.storage.fields import Field
from mm_engine.text import N_, msg

__all__ = [
    "ArchiveLocation",
    "LegacyCall",
    "LegacyConnector",
    "LegacyFormatError",
    "LegacySettings",
    "mm_settings",
    "norm",
    "parse_call",
    "parse_connector_file",
]


class LegacyFormatError(ValueError):
    """A legacy file that cannot be used; the message is the reason shown to people and
    ``category`` the short heading such reasons are counted under in the summary."""

    def __init__(self, message: str, category: str = N_("call details unreadable")) -> None:
        super().__init__(message)
        self.category = category


# -- names -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def norm(name: str) -> str:
    """``{urn:x}Call-Reference`` -> ``callreference``: how every name is compared."""
    return re.sub(r"[^0-9a-z]", "", name.rsplit("}", 1)[-1].lower())


# call-details element -> the field it fills
CALL_FIELDS: dict[str, str] = {
    **dict.fromkeys(("reference", "callreference", "callref", "callid", "call"), "call_id"),
    **dict.fromkeys(("start", "starttime", "started", "startdate"), "start"),
    **dict.fromkeys(("duration", "length", "durationseconds"), "duration"),
    **dict.fromkeys(("direction", "calldirection"), "direction"),
    "parties": "parties",
    "party": "party",
    **dict.fromkeys(("owner", "initiator"), "owner"),
    **dict.fromkeys(("target", "targetnumber", "callednumber"), "target"),
    "agents": "agents",
    "agent": "agent",
    **dict.fromkeys(("skill", "skillgroup"), "skill"),
    **dict.fromkeys(("checksum", "sha256"), "checksum"),
    "authenticated": "authenticated",
    "archives": "archives",
    "archive": "archive",
}

DIRECTIONS: dict[str, Direction] = {
    **dict.fromkeys(("inbound", "in", "incoming", "i"), Direction.INBOUND),
    **dict.fromkeys(("outbound", "out", "outgoing", "o"), Direction.OUTBOUND),
    **dict.fromkeys(("internal", "int", "local", "extension"), Direction.INTERNAL),
}

OWNER_KINDS: dict[str, OwnerKind] = {
    **dict.fromkeys(("user", "userextension", "extension"), OwnerKind.USER),
    **dict.fromkeys(("huntgroup", "group", "huntgroupextension"), OwnerKind.HUNT_GROUP),
    **dict.fromkeys(("line", "linenumber", "trunk"), OwnerKind.LINE),
    **dict.fromkeys(("accountcode", "account"), OwnerKind.ACCOUNT_CODE),
}

NO_START = N_("no usable start time")
NUMBER_NAMES = ("number", "num", "extension", "phone")
NAME_NAMES = ("name", "displayname")
SHA256_NAMES = ("sha256", "sha-256")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


# -- call details ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveLocation:
    """Where a legacy archive copy is: ``path`` inside the connector ('' = the recording's own
    path in the tree, which is how Contact Recorder laid out its archives)."""

    connector: str  # the connector's id in the connector settings file
    path: str
    archived_at: datetime | None
    size: int | None


@dataclass
class LegacyCall:
    details: CallDetails
    duration_s: float | None  # None: not given (or unusable), read it from the audio
    checksum: str  # SHA-256 hex of the recording file as Contact Recorder saw it, or ''
    names: dict[str, str]  # number -> name, of parties and agents
    archives: list[ArchiveLocation]
    warnings: list[str] = field(default_factory=list)


def _attr(element: ET.Element, names: Iterable[str]) -> str:
    """The first attribute or child element among ``names`` (normalised), stripped."""
    wanted = set(names)
    for key, value in element.attrib.items():
        if norm(key) in wanted and value.strip():
            return value.strip()
    for child in element:
        if norm(str(child.tag)) in wanted and (child.text or "").strip():
            return (child.text or "").strip()
    return ""


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


def _parse_xml(data: bytes) -> ET.Element:
    # Entity declarations are the only road to entity-expansion bombs; these files need none.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise LegacyFormatError(msg("has a DOCTYPE or entity declarations, which are not accepted"))
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise LegacyFormatError(msg("is not well-formed XML ({error})", error=exc)) from None


class _Call:
    """Collects one call-details document's values; first occurrence wins for single values."""

    def __init__(self) -> None:
        self.single: dict[str, ET.Element] = {}
        self.parties: list[tuple[str, str]] = []
        self.agents: list[tuple[str, str]] = []
        self.archives: list[ET.Element] = []
        self.warnings: list[str] = []

    def person(self, element: ET.Element, into: list[tuple[str, str]]) -> None:
        number = _attr(element, NUMBER_NAMES)
        name = _attr(element, NAME_NAMES)
        if not number and not name and not list(element):
            number = _text(element)
        if not number and not name:
            return
        # a party known only by name (an internal party, say) keeps the name as its value
        for part in (number or name).split(";"):
            if part.strip():
                into.append((part.strip(), name if number else ""))

    def add(self, element: ET.Element) -> None:
        key = CALL_FIELDS.get(norm(str(element.tag)))
        if key is None:
            return
        if key in ("parties", "agents"):
            into = self.parties if key == "parties" else self.agents
            children = list(element)
            if children:
                for child in children:
                    self.person(child, into)
            else:
                self.person(element, into)
        elif key in ("party", "agent"):
            self.person(element, self.parties if key == "party" else self.agents)
        elif key == "archives":
            self.archives.extend(element)
        elif key == "archive":
            self.archives.append(element)
        else:
            self.single.setdefault(key, element)


def _duration(text: str) -> float:
    """Seconds: ``185``, ``185.5`` or a clock ``0:03:05``."""
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        value = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    else:
        value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(text)
    return value


def _moment(text: str) -> datetime | None:
    try:
        return parse_start(text)
    except ValueError:
        return None


def _archive(element: ET.Element, warnings: list[str]) -> ArchiveLocation | None:
    connector = _attr(element, ("connector", "connectorid", "target"))
    if not connector:
        warnings.append(msg("an <archive> without a connector was left out"))
        return None
    stamp = _attr(element, ("archived", "archivedat", "date", "time"))
    when = _moment(stamp) if stamp else None
    if stamp and when is None:
        warnings.append(msg("archive date {stamp!r} is not a date and time; left out", stamp=stamp))
    size_text = _attr(element, ("size", "bytes"))
    size = int(size_text) if size_text.isdigit() else None
    path = _attr(element, ("path", "location", "file")).replace("\\", "/").lstrip("/")
    return ArchiveLocation(connector, path, when, size)


def parse_call(data: bytes, fallback_call_id: str) -> LegacyCall:
    """One call-details file; ``fallback_call_id`` (the file's stem) when it names no call."""
    root = _parse_xml(data)
    call = _Call()
    for element in root:
        call.add(element)
    warnings = call.warnings
    single = call.single

    start_element = single.get("start")
    start_text = _text(start_element) if start_element is not None else ""
    if not start_text:
        raise LegacyFormatError(msg("has no <start> (the call's start date and time)"), NO_START)
    try:
        start = parse_start(start_text)
    except ValueError as exc:
        raise LegacyFormatError(
            msg("has an invalid <start> {start!r}: {error}", start=start_text, error=exc), NO_START
        ) from None

    def text(key: str) -> str:
        element = single.get(key)
        return _text(element) if element is not None else ""

    duration: float | None = None
    if raw := text("duration"):
        try:
            duration = _duration(raw)
        except ValueError:
            warnings.append(
                msg("duration {raw!r} is not a number of seconds; read from the audio", raw=raw)
            )

    direction = Direction.INTERNAL
    if raw := text("direction"):
        found = DIRECTIONS.get(norm(raw))
        if found is None:
            warnings.append(msg("direction {raw!r} is not known; taken as internal", raw=raw))
        else:
            direction = found

    owner, owner_kind = text("owner"), None
    owner_element = single.get("owner")
    if owner_element is not None:
        kind_text = _attr(owner_element, ("type", "kind"))
        if kind_text:
            owner_kind = OWNER_KINDS.get(norm(kind_text))
            if owner_kind is None:
                warnings.append(msg("owner type {kind!r} is not known; left empty", kind=kind_text))
    if not owner:
        owner_kind = None

    checksum = ""
    checksum_element = single.get("checksum")
    if checksum_element is not None and _text(checksum_element):
        algorithm = _attr(checksum_element, ("algorithm", "type")) or "SHA-256"
        value = re.sub(r"\s+", "", _text(checksum_element)).lower()
        if algorithm.lower() not in SHA256_NAMES:
            warnings.append(
                msg(
                    "checksum algorithm {algorithm!r} is not supported (only SHA-256); "
                    "the recording cannot be verified",
                    algorithm=algorithm,
                )
            )
        elif not _SHA256.match(value):
            warnings.append(
                msg("checksum is not 64 hexadecimal digits; the recording cannot be verified")
            )
        else:
            checksum = value
    authenticated = bool(checksum_element is not None and _text(checksum_element))
    if raw := text("authenticated"):
        if raw.lower() in _TRUE:
            authenticated = True
        elif raw.lower() not in _FALSE:
            warnings.append(msg("authenticated {raw!r} is not true or false; ignored", raw=raw))
    if authenticated and checksum_element is None:
        warnings.append(msg("marked authenticated but has no checksum; it cannot be verified"))

    archives = [a for a in (_archive(e, warnings) for e in call.archives) if a is not None]
    names = {number: name for number, name in call.parties + call.agents if name}
    details = CallDetails(
        call_id=text("call_id") or fallback_call_id,
        start=start,
        direction=direction,
        parties=list(dict.fromkeys(number for number, _ in call.parties)),
        agents=list(dict.fromkeys(number for number, _ in call.agents)),
        owner=owner,
        owner_kind=owner_kind,
        target=text("target"),
        skill=text("skill"),
        authenticated=authenticated,
    )
    return LegacyCall(details, duration, checksum, names, archives, warnings)


# -- connector settings -----------------------------------------------------------------------

# legacy connector type -> our storage type
LEGACY_KINDS: dict[str, str] = {
    **dict.fromkeys(("nas", "smb", "cifs", "networkshare", "share"), "smb"),
    **dict.fromkeys(("s3", "amazons3", "aws"), "s3"),
    **dict.fromkeys(("gcs", "googlecloud", "googlecloudstorage"), "gcs"),
    **dict.fromkeys(("azure", "azureblob", "azureblobstorage"), "azure"),
    **dict.fromkeys(("googledrive", "gdrive", "drive"), "gdrive"),
    **dict.fromkeys(("local", "disk", "folder", "harddisk", "hdd"), "local"),
    "dvd": "dvd",
}

# per storage type: legacy setting name -> our field (a field's own name always matches)
SETTING_ALIASES: dict[str, dict[str, str]] = {
    "smb": {
        **dict.fromkeys(("share", "sharepath", "unc", "uncpath", "address"), "path"),
        **dict.fromkeys(("user", "login", "account"), "username"),
        "workgroup": "domain",
        **dict.fromkeys(("smb3encryption", "encryption"), "encrypt"),
    },
    "s3": {
        **dict.fromkeys(("accesskey", "keyid"), "access_key_id"),
        **dict.fromkeys(("prefix", "parentfolder", "path"), "folder"),
        **dict.fromkeys(("endpoint", "url"), "endpoint_url"),
    },
    "gcs": dict.fromkeys(("prefix", "parentfolder", "path"), "folder"),
    "azure": {
        **dict.fromkeys(("storageaccount", "accountname"), "account"),
        **dict.fromkeys(("prefix", "parentfolder", "path"), "folder"),
    },
    "gdrive": dict.fromkeys(("parentfolder", "path"), "folder"),
    "local": dict.fromkeys(("folder", "directory"), "path"),
}

# never kept, whatever the storage type calls them: F37 leaves passwords empty
SECRET_WORDS = ("password", "passwd", "secret", "token", "sas", "privatekey", "credential")
RESERVED = frozenset({"id", "type", "kind", "created", "createdat", "name"})


@dataclass(frozen=True)
class LegacyConnector:
    legacy_id: str
    legacy_type: str  # as the file says
    kind: str  # our storage type for it ('' when the file names none)
    created: datetime | None
    order: int  # position in the file: a later connector is newer when dates are missing
    settings: dict[str, str]  # normalised name -> value, secrets already dropped
    dropped_secrets: tuple[str, ...]


@dataclass
class LegacySettings:
    connectors: list[LegacyConnector]
    problems: list[str]  # connector entries that could not be read, one sentence each
    ignored: dict[str, int]  # F38: sections not migrated -> how many entries they held


def _is_secret(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS)


def _connector(element: ET.Element, order: int, problems: list[str]) -> LegacyConnector | None:
    legacy_id = _attr(element, ("id",)) or str(order)
    legacy_type = _attr(element, ("type", "kind"))
    if not legacy_type:
        problems.append(msg("connector {id} names no type; not migrated", id=legacy_id))
        return None
    created_text = _attr(element, ("created", "createdat"))
    created = _moment(created_text) if created_text else None
    if created_text and created is None:
        problems.append(
            msg(
                "connector {id}: created {created!r} is not a date; ignored",
                id=legacy_id,
                created=created_text,
            )
        )
    settings: dict[str, str] = {}
    secrets: list[str] = []
    values = list(element.attrib.items()) + [
        (str(child.tag), child.text or "") for child in element if not list(child)
    ]
    for raw_name, value in values:
        name = norm(raw_name)
        if name in RESERVED:
            continue
        if _is_secret(name):
            secrets.append(name)
            continue
        settings.setdefault(name, value.strip())
    kind = LEGACY_KINDS.get(norm(legacy_type), norm(legacy_type))
    return LegacyConnector(
        legacy_id, legacy_type, kind, created, order, settings, tuple(dict.fromkeys(secrets))
    )


def parse_connector_file(data: bytes) -> LegacySettings:
    """Every ``<connector>`` anywhere in the document; alarms and other settings are counted
    (they are not migrated, F38) and otherwise left alone."""
    root = _parse_xml(data)
    connectors: list[LegacyConnector] = []
    problems: list[str] = []
    ignored: dict[str, int] = {}
    seen: set[str] = set()
    inside: set[int] = set()  # elements within a section already counted
    order = 0
    for element in root.iter():
        if id(element) in inside:
            continue
        tag = norm(str(element.tag))
        if tag == "connector":
            order += 1
            found = _connector(element, order, problems)
            if found is None:
                continue
            if found.legacy_id in seen:
                problems.append(
                    msg("connector id {id} appears twice; the first is used", id=found.legacy_id)
                )
                continue
            seen.add(found.legacy_id)
            connectors.append(found)
        elif tag == "alarms":
            ignored["alarms"] = ignored.get("alarms", 0) + len(list(element))
            inside.update(id(e) for e in element.iter())
        elif tag in ("settings", "configuration", "smtp", "email"):
            leaves = sum(1 for e in element.iter() if e is not element and not list(e))
            ignored["settings"] = ignored.get("settings", 0) + leaves
            inside.update(id(e) for e in element.iter() if norm(str(e.tag)) != "connector")
    return LegacySettings(connectors, problems, ignored)


def _yes_no(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return "yes"
    if lowered in _FALSE:
        return "no"
    return value


def mm_settings(
    connector: LegacyConnector, fields: tuple[Field, ...]
) -> tuple[dict[str, str], list[str]]:
    """Our settings for ``connector`` (secret fields left out: they stay empty) and the legacy
    setting names that had no place in them."""
    aliases = SETTING_ALIASES.get(connector.kind, {})
    by_name = {norm(f.name): f for f in fields if not f.secret}
    secret_names = {norm(f.name) for f in fields if f.secret}
    out: dict[str, str] = {}
    unused: list[str] = []
    for name, value in connector.settings.items():
        target = by_name.get(name) or by_name.get(norm(aliases.get(name, "")))
        if target is None:
            if name not in secret_names:
                unused.append(name)
            continue
        if target.name in out or not value:
            continue
        out[target.name] = _yes_no(value) if set(target.choices) == {"yes", "no"} else value
    return out, unused
