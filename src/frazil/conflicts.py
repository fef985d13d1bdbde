"""Conflicts and their solvers (the same objects as at the top level; Icechunk's
``icechunk.conflicts``)."""

from __future__ import annotations

from frazil._changes import Conflict, ConflictType, VersionSelection
from frazil._commit import BasicConflictSolver, ConflictDetector, ConflictSolver

__all__ = [
    "BasicConflictSolver",
    "Conflict",
    "ConflictDetector",
    "ConflictSolver",
    "ConflictType",
    "VersionSelection",
]
