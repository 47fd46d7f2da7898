"""Every place recording bytes can live, behind one interface (DESIGN.md section 5)."""

from mm_engine.storage.base import Accessibility, ObjectInfo, Store
from mm_engine.storage.local import LocalStore

__all__ = ["Accessibility", "LocalStore", "ObjectInfo", "Store"]
