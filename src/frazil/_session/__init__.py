"""L6, sessions: the state of a session, its zarr store, and the public façades.

``state`` holds what a session is (:class:`SessionState`); ``store`` is the zarr store over
a state; ``committer`` commits, amends, flushes and rebases a state; ``forks`` makes,
merges, publishes and fetches forks; ``session`` is the public façade
(:class:`~frazil.Session`, :class:`~frazil.ForkSession`).
"""

from __future__ import annotations

from frazil._session.forks import (
    check_ticket,
    copy_fork,
    delete_forks,
    fetch_forks,
    fork_from_ticket,
)
from frazil._session.session import ChunkType, ForkSession, Session, session_for
from frazil._session.state import SessionMode, SessionState, state_of
from frazil._session.store import FrazilStore
from frazil._session.virtual import VirtualChunkSpec

__all__ = [
    "ChunkType",
    "ForkSession",
    "FrazilStore",
    "Session",
    "SessionMode",
    "SessionState",
    "VirtualChunkSpec",
    "check_ticket",
    "copy_fork",
    "delete_forks",
    "fetch_forks",
    "fork_from_ticket",
    "session_for",
    "state_of",
]
