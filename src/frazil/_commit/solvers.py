"""Conflict solvers: what a rebase does with each conflict it finds.

:mod:`frazil._commit.rebase` detects conflicts and asks a solver for a :class:`Decision`
per conflict; any ``FAIL`` fails the rebase with every conflict named.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from frazil._changes import ConflictType, VersionSelection
from frazil._errors import InvalidInputError

if TYPE_CHECKING:
    from frazil._changes import Conflict

__all__ = ["BasicConflictSolver", "ConflictDetector", "ConflictSolver", "Decision"]


class Decision(enum.Enum):
    """What a solver does with one conflict."""

    FAIL = 0
    KEEP_OURS = 1
    USE_THEIRS = 2


class ConflictSolver:
    """Decides, conflict by conflict, how a rebase proceeds.

    Subclasses override :meth:`decide`. The built-in solvers are :class:`ConflictDetector`
    (fail on anything) and :class:`BasicConflictSolver`.
    """

    def decide(self, conflict: Conflict) -> Decision:
        """Return the decision for one conflict (default: fail)."""
        return Decision.FAIL

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())


class ConflictDetector(ConflictSolver):
    """Detects conflicts and resolves none: any conflict fails the rebase."""

    def __repr__(self) -> str:
        return "ConflictDetector()"


class BasicConflictSolver(ConflictSolver):
    """Resolves chunk conflicts by a fixed choice and lets deletes win.

    Parameters
    ----------
    on_chunk_conflict
        For chunks written by both sides: keep ours (default), take theirs, or fail.
    fail_on_delete_of_updated_array
        Fail instead of keeping our deletion of an array the other side changed.
    fail_on_delete_of_updated_group
        Fail instead of keeping our deletion of a group the other side changed.

    Notes
    -----
    Every other conflict (both sides changed the same metadata, a new node where the other
    side also created one, writes into an array the other side deleted or changed the
    metadata of, moves) fails the rebase, as with :class:`ConflictDetector`.
    """

    def __init__(
        self,
        *,
        on_chunk_conflict: VersionSelection = VersionSelection.UseOurs,
        fail_on_delete_of_updated_array: bool = False,
        fail_on_delete_of_updated_group: bool = False,
    ) -> None:
        if not isinstance(on_chunk_conflict, VersionSelection):
            raise InvalidInputError(
                f"on_chunk_conflict must be a VersionSelection, got {on_chunk_conflict!r}"
            )
        self.on_chunk_conflict = on_chunk_conflict
        self.fail_on_delete_of_updated_array = fail_on_delete_of_updated_array
        self.fail_on_delete_of_updated_group = fail_on_delete_of_updated_group

    def decide(self, conflict: Conflict) -> Decision:
        # docstring inherited
        match conflict.conflict_type:
            case ConflictType.ChunkDoubleUpdate:
                return {
                    VersionSelection.UseOurs: Decision.KEEP_OURS,
                    VersionSelection.UseTheirs: Decision.USE_THEIRS,
                    VersionSelection.Fail: Decision.FAIL,
                }[self.on_chunk_conflict]
            case ConflictType.DeleteOfUpdatedArray:
                return Decision.FAIL if self.fail_on_delete_of_updated_array else Decision.KEEP_OURS
            case ConflictType.DeleteOfUpdatedGroup:
                return Decision.FAIL if self.fail_on_delete_of_updated_group else Decision.KEEP_OURS
        return Decision.FAIL

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _basic_solver,
            (
                self.on_chunk_conflict,
                self.fail_on_delete_of_updated_array,
                self.fail_on_delete_of_updated_group,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"BasicConflictSolver(on_chunk_conflict={self.on_chunk_conflict}, "
            f"fail_on_delete_of_updated_array={self.fail_on_delete_of_updated_array}, "
            f"fail_on_delete_of_updated_group={self.fail_on_delete_of_updated_group})"
        )


def _basic_solver(selection: VersionSelection, arrays: bool, groups: bool) -> BasicConflictSolver:
    return BasicConflictSolver(
        on_chunk_conflict=selection,
        fail_on_delete_of_updated_array=arrays,
        fail_on_delete_of_updated_group=groups,
    )


for _cls in (BasicConflictSolver, ConflictDetector, ConflictSolver):
    _cls.__module__ = "frazil"
