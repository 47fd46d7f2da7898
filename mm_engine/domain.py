"""The nouns of the product. Field names here are the scripting contract (docs/cli.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    INTERNAL = "internal"
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class OwnerKind(StrEnum):
    USER = "user"
    HUNT_GROUP = "hunt_group"
    LINE = "line"
    ACCOUNT_CODE = "account_code"


class Verification(StrEnum):
    VERIFIED = "verified"
    TAMPERED = "tampered"
    CANNOT_VERIFY = "cannot verify"


# The call-detail keys, identical in every carrier (sidecar JSON/XML, RIFF key=value chunk,
# Opus comments) and in --json output.
CALL_DETAIL_KEYS: tuple[str, ...] = (
    "call_id",
    "start",
    "direction",
    "parties",
    "agents",
    "owner",
    "owner_kind",
    "target",
    "skill",
    "authenticated",
)
LIST_KEYS = frozenset({"parties", "agents"})


@dataclass
class CallDetails:
    call_id: str
    start: datetime  # always timezone-aware
    direction: Direction = Direction.INTERNAL
    parties: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    owner: str = ""
    owner_kind: OwnerKind | None = None
    target: str = ""
    skill: str = ""
    authenticated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "start": self.start.isoformat(),
            "direction": self.direction.value,
            "parties": list(self.parties),
            "agents": list(self.agents),
            "owner": self.owner,
            "owner_kind": self.owner_kind.value if self.owner_kind else None,
            "target": self.target,
            "skill": self.skill,
            "authenticated": self.authenticated,
        }

    def to_text_fields(self) -> dict[str, str]:
        """The same keys as strings, lists `;`-joined: for text carriers (RIFF, Opus comments)."""
        out: dict[str, str] = {}
        for key, value in self.to_dict().items():
            if value is None:
                continue
            if isinstance(value, list):
                out[key] = ";".join(value)
            elif isinstance(value, bool):
                out[key] = "true" if value else "false"
            else:
                out[key] = str(value)
        return out


@dataclass
class Recording:
    id: int
    details: CallDetails
    seq: int
    duration_s: float
    path: str  # relative to the call storage root
    size: int
    sha256: str
    signature: str
    key_id: str
    ingested_at: str
    source_name: str = ""

    def to_dict(self, storage_root: str | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id}
        d.update(self.details.to_dict())
        d.update(
            {
                "duration_s": round(self.duration_s, 3),
                "path": f"{storage_root.rstrip('/')}/{self.path}" if storage_root else self.path,
                "size": self.size,
                "sha256": self.sha256,
                "ingested_at": self.ingested_at,
            }
        )
        return d
