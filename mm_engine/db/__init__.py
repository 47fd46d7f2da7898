"""SQLite access: one writer thread per process, pooled readers, numbered migrations."""

from mm_engine.db.database import Database

__all__ = ["Database"]
