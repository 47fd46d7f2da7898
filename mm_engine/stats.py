"""Figures a person would rather look at than read: recordings per day and storage use.

Both are read-only and sized for a catalogue of millions: the per-day counts are one walk of
the ``start_ts`` index over the days asked for; the storage figures add a sum over the recent
days (the same index) and one sum over the whole table, the only part that grows with the
catalogue.

Days are the server's local calendar days (SQLite's ``localtime`` follows the same zone as
Python's ``astimezone()``), so a day boundary moves with daylight saving as people expect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from mm_engine.errors import InvalidInput
from mm_engine.text import msg

if TYPE_CHECKING:
    from mm_engine.db import Database
    from mm_engine.engine import Engine

log = logging.getLogger(__name__)

# One walk of the start_ts index (the covering one: no table rows are read).
PER_DAY_SQL = (
    "SELECT date(start_ts, 'unixepoch', 'localtime') AS day, count(*) FROM recordings"
    " WHERE start_ts >= ? AND start_ts < ? GROUP BY day"
)

MAX_DAYS = 366
RATE_DAYS = 30  # "the current rate": what the last 30 days stored, per day


@dataclass(frozen=True)
class DayCount:
    day: date
    recordings: int


@dataclass(frozen=True)
class StorageUse:
    """What the call storage holds and how long its free space lasts at the recent rate."""

    used_bytes: int  # recordings whose file is in the call storage
    catalogue_bytes: int  # every catalogued recording, archived-only ones too
    free_bytes: int | None  # None: the storage cannot tell
    bytes_per_day: float  # average over the last RATE_DAYS days
    days_left: float | None  # None: nothing recorded lately, or free space unknown

    def to_dict(self) -> dict[str, object]:
        return {
            "used_bytes": self.used_bytes,
            "catalogue_bytes": self.catalogue_bytes,
            "free_bytes": self.free_bytes,
            "bytes_per_day": round(self.bytes_per_day, 1),
            "days_left": None if self.days_left is None else round(self.days_left, 1),
        }


def _midnight(day: date) -> float:
    """The epoch time at which ``day`` starts on this server."""
    return datetime.combine(day, time()).astimezone().timestamp()


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(
            msg("Days must be between 1 and {max}; got {days}.", max=MAX_DAYS, days=days)
        )


def recordings_per_day(db: Database, days: int, today: date | None = None) -> list[DayCount]:
    """Recordings by call day for the ``days`` days ending with ``today``, oldest first; days
    without recordings count 0."""
    _check_days(days)
    last = today or date.today()
    first = last - timedelta(days=days - 1)
    rows = db.query(PER_DAY_SQL, (_midnight(first), _midnight(last + timedelta(days=1))))
    counts = {str(row[0]): int(row[1]) for row in rows}
    return [
        DayCount(d, counts.get(d.isoformat(), 0))
        for d in (first + timedelta(days=n) for n in range(days))
    ]


def storage_use(engine: Engine, now: datetime | None = None) -> StorageUse:
    """Bytes held, free space of the call storage (its store's ``free_space()``), and days
    left at the average of the last :data:`RATE_DAYS` days."""
    moment = (now or datetime.now()).astimezone()
    row = engine.db.query_one(
        "SELECT coalesce(sum(CASE WHEN local_present THEN size ELSE 0 END), 0),"
        " coalesce(sum(size), 0) FROM recordings"
    )
    used, catalogue = (int(row[0]), int(row[1])) if row else (0, 0)
    recent = engine.db.query_one(
        "SELECT coalesce(sum(size), 0) FROM recordings WHERE start_ts >= ? AND start_ts < ?",
        ((moment - timedelta(days=RATE_DAYS)).timestamp(), moment.timestamp()),
    )
    per_day = (int(recent[0]) if recent else 0) / RATE_DAYS
    try:
        free = engine.store().free_space()
    except Exception:  # an unreachable hosted storage: the figure is unknown, not an error
        log.warning("could not read the call storage's free space", exc_info=True)
        free = None
    days_left = free / per_day if free is not None and per_day > 0 else None
    return StorageUse(used, catalogue, free, per_day, days_left)
