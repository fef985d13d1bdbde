"""Conflict values shared by merges and rebases."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

__all__ = ["Conflict", "ConflictType", "VersionSelection"]


class ConflictType(enum.Enum):
    """Kinds of conflict between two sets of changes."""

    NewNodeConflictsWithExistingNode = 1
    """A node was created where the other side also has a node."""
    NewNodeInInvalidGroup = 2
    """A node was created inside a group the other side deleted."""
    ZarrMetadataDoubleUpdate = 3
    """Both sides changed the same node's metadata."""
    ZarrMetadataUpdateOfDeletedArray = 4
    """Metadata was changed on an array the other side deleted."""
    ZarrMetadataUpdateOfDeletedGroup = 5
    """Metadata was changed on a group the other side deleted."""
    ChunkDoubleUpdate = 6
    """Both sides wrote the same chunks."""
    ChunksUpdatedInDeletedArray = 7
    """Chunks were written in an array the other side deleted."""
    ChunksUpdatedInUpdatedArray = 8
    """Chunks were written in an array whose metadata the other side changed."""
    DeleteOfUpdatedArray = 9
    """An array was deleted that the other side changed."""
    DeleteOfUpdatedGroup = 10
    """A group was deleted that the other side changed."""
    MoveOperationCannotBeRebased = 11
    """Moves cannot be rebased over other changes."""


class VersionSelection(enum.Enum):
    """Which side wins a chunk conflict."""

    Fail = 0
    """Do not resolve: fail the rebase."""
    UseOurs = 1
    """Keep this session's writes."""
    UseTheirs = 2
    """Keep the writes already committed by the other side."""


class Conflict:
    """One conflict: its type, the node path, and the chunks involved (chunk conflicts).

    Parameters
    ----------
    conflict_type
        The kind of conflict.
    path
        Absolute path of the node concerned.
    conflicted_chunks
        For chunk conflicts, the chunk coordinates written by both sides.
    """

    __slots__ = ("_chunks", "conflict_type", "path")

    def __init__(
        self,
        conflict_type: ConflictType,
        path: str,
        conflicted_chunks: list[list[int]] | np.ndarray[Any, Any] | None = None,
    ) -> None:
        self.conflict_type = conflict_type
        self.path = path
        self._chunks = (
            None if conflicted_chunks is None else np.asarray(conflicted_chunks, dtype=np.int64)
        )

    @property
    def conflicted_chunks(self) -> list[list[int]] | None:
        """For chunk conflicts, the coordinates written by both sides."""
        return None if self._chunks is None else self._chunks.tolist()

    @property
    def conflicted_chunk_coords(self) -> np.ndarray[Any, Any] | None:
        """The same as :attr:`conflicted_chunks`, as an ``(n, ndim)`` int64 array."""
        return self._chunks

    def __repr__(self) -> str:
        return f"Conflict({self.conflict_type.name}, path={self.path!r}{self._chunks_text()})"

    def _chunks_text(self) -> str:
        if self._chunks is None or not len(self._chunks):
            return ""
        shown = ", ".join(str(c) for c in self._chunks[:8].tolist())
        more = f", ... {len(self._chunks) - 8} more" if len(self._chunks) > 8 else ""
        return f", chunks=[{shown}{more}]"

    def __str__(self) -> str:
        return f"{self.conflict_type.name} at {self.path}{self._chunks_text()}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Conflict):
            return NotImplemented
        return (self.conflict_type, self.path, self.conflicted_chunks) == (
            other.conflict_type,
            other.path,
            other.conflicted_chunks,
        )

    def __hash__(self) -> int:
        return hash((self.conflict_type, self.path))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Conflict, (self.conflict_type, self.path, self._chunks))


for _cls in (Conflict, ConflictType, VersionSelection):
    _cls.__module__ = "frazil"
