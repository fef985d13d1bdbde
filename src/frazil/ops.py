"""Housekeeping results and the operations log (the same objects as at the top level;
Icechunk's ``icechunk.ops``)."""

from __future__ import annotations

from frazil._repo import GCSummary, Update, UpdateType

__all__ = ["GCSummary", "Update", "UpdateType"]
