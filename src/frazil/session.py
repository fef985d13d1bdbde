"""Sessions: a view of one snapshot plus uncommitted changes (the same objects as
``frazil.Session`` etc.; Icechunk's ``icechunk.session`` path)."""

from __future__ import annotations

from frazil._session import ForkSession, Session, SessionMode

__all__ = ["ForkSession", "Session", "SessionMode"]
