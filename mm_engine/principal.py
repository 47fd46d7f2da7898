"""Who is acting: the principal every engine operation is asked for (DESIGN.md section 6).

A principal is what a successful login (or the local system operator rule) yields; it carries
the role and, for end users, the self-service rights of seed F12, so a permission check never
has to go back to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mm_engine.errors import InvalidInput, Refused
from mm_engine.text import msg


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    STANDARD = "standard"
    END_USER = "end_user"

    @property
    def label(self) -> str:
        """How people type and read it (`--role end-user`); the value is what the database holds."""
        return self.value.replace("_", "-")

    @classmethod
    def parse(cls, text: str) -> Role:
        wanted = text.strip().lower().replace("-", "_").replace(" ", "_")
        for role in cls:
            if role.value == wanted:
                return role
        raise InvalidInput(
            msg("Role {role!r} is not known.", role=text),
            msg("Use one of {roles}.", roles=", ".join(r.label for r in cls)),
        )


class ReplayScope(StrEnum):
    ALL = "all"
    MINE = "mine"

    @classmethod
    def parse(cls, text: str) -> ReplayScope:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                msg("Replay scope {scope!r} is not known.", scope=text), msg("Use all or mine.")
            ) from None


@dataclass(frozen=True)
class Rights:
    """An end user's self-service rights (F12); administrators and standard users ignore them."""

    replay_enabled: bool = False
    replay_scope: ReplayScope = ReplayScope.MINE
    extension: str = ""  # the user's own number, what "mine" means
    groups: tuple[str, ...] = ()  # hunt groups whose recordings they may replay
    others: tuple[str, ...] = ()  # further line numbers, account codes, extensions
    download: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "replay_enabled": self.replay_enabled,
            "replay_scope": self.replay_scope.value,
            "extension": self.extension,
            "groups": list(self.groups),
            "others": list(self.others),
            "download": self.download,
        }


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    rights: Rights = field(default_factory=Rights)

    @property
    def is_administrator(self) -> bool:
        return self.role is Role.ADMINISTRATOR

    def require_administrator(self, refusal: str) -> None:
        """Refuse with ``refusal`` (the whole sentence, e.g. ``msg("{name} may not list users:
        only administrators may.", name=...)``) unless this principal is an administrator."""
        if not self.is_administrator:
            raise Refused(refusal, msg("Ask an administrator."))


# Commands run on the server by the data directory's owner, without logging in as anyone.
SYSTEM = Principal("system operator", Role.ADMINISTRATOR)
