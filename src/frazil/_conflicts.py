"""Conflict detection from transaction logs, conflict solvers, and rebasing a workspace.

Rebasing a session from its base B onto the branch tip T reads the transaction logs of the
commits between them (concurrently), checks the session's changes against each log in
order, lets the solver decide, and finally moves the workspace onto T. Chunk overlaps are
computed on NumPy coordinate columns.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._conflict_types import Conflict, ConflictType, VersionSelection
from frazil._errors import InvalidInputError, RebaseFailedError
from frazil._workspace import parent_path
from frazil.format import coord_keys

if TYPE_CHECKING:
    from collections.abc import Sequence

    from frazil._changeset import ChangeSet
    from frazil._workspace import Workspace
    from frazil.format import Snapshot, TransactionLog

__all__ = [
    "BasicConflictSolver",
    "ConflictDetector",
    "ConflictSolver",
    "Decision",
    "detect_conflicts",
    "rebase_workspace",
]


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


def _overlap(ours: np.ndarray[Any, Any], theirs: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Rows of ``ours`` whose coordinates also appear in ``theirs`` (vectorised)."""
    if not len(ours) or not len(theirs) or ours.shape[1] != theirs.shape[1]:
        return np.zeros((0, ours.shape[1]), dtype=np.int64)
    mine, other = coord_keys([ours, theirs])
    pool = np.sort(other)
    pos = np.minimum(np.searchsorted(pool, mine), len(pool) - 1)
    overlap: np.ndarray[Any, Any] = ours[pool[pos] == mine]
    return overlap


def detect_conflicts(ws: Workspace, log: TransactionLog) -> list[Conflict]:
    """Conflicts between the workspace's changes and one commit's transaction log."""
    changes = ws.changes
    assert changes is not None
    by_id = {v.node_id: v for v in ws.nodes.values()}
    base_by_id = {r.node_id: r for r in ws.base.nodes.values()}

    def path_of(node_id: str) -> str:
        view = by_id.get(node_id)
        if view is not None:
            return view.path
        record = base_by_id.get(node_id)
        return record.path if record is not None else f"<node {node_id}>"

    conflicts: list[Conflict] = []
    if log.moves:
        conflicts.append(Conflict(ConflictType.MoveOperationCannotBeRebased, "/"))
    their_updated = {**log.updated_groups, **log.updated_arrays}
    their_deleted_groups = set(log.deleted_groups)
    their_deleted_arrays = set(log.deleted_arrays)
    for node_id in changes.updated:
        path = path_of(node_id)
        if node_id in their_updated:
            conflicts.append(Conflict(ConflictType.ZarrMetadataDoubleUpdate, path))
        if node_id in their_deleted_arrays:
            conflicts.append(Conflict(ConflictType.ZarrMetadataUpdateOfDeletedArray, path))
        if node_id in their_deleted_groups:
            conflicts.append(Conflict(ConflictType.ZarrMetadataUpdateOfDeletedGroup, path))
    deleted_group_paths = set(log.deleted_groups.values())
    conflicts.extend(
        Conflict(ConflictType.NewNodeInInvalidGroup, parent_path(op.path))
        for op in changes.created.values()
        if op.path != "/" and parent_path(op.path) in deleted_group_paths
    )
    for node_id, writes in changes.chunks.items():
        if not writes.has_own():
            continue
        path = path_of(node_id)
        if node_id in their_deleted_arrays:
            conflicts.append(Conflict(ConflictType.ChunksUpdatedInDeletedArray, path))
            continue
        if node_id in log.updated_arrays:
            conflicts.append(Conflict(ConflictType.ChunksUpdatedInUpdatedArray, path))
        theirs = log.chunks.get(node_id)
        if theirs is not None and len(theirs):
            overlap = _overlap(writes.own().coords, theirs)
            if len(overlap):
                conflicts.append(Conflict(ConflictType.ChunkDoubleUpdate, path, overlap))
    for node_id, path in changes.deleted.items():
        record = base_by_id.get(node_id)
        kind = record.kind if record is not None else "array"
        if kind == "array" and (node_id in log.updated_arrays or node_id in log.chunks):
            conflicts.append(Conflict(ConflictType.DeleteOfUpdatedArray, path))
        elif kind == "group" and node_id in log.updated_groups:
            conflicts.append(Conflict(ConflictType.DeleteOfUpdatedGroup, path))
    return conflicts


def _tip_conflicts(ws: Workspace, tip: Snapshot) -> list[Conflict]:
    """New nodes that collide with the tip's hierarchy."""
    changes = ws.changes
    assert changes is not None
    recreated = set(changes.deleted.values())
    conflicts = []
    for op in changes.created.values():
        if op.path in tip.nodes and op.path not in recreated:
            conflicts.append(Conflict(ConflictType.NewNodeConflictsWithExistingNode, op.path))
        ancestor = op.path
        while ancestor != "/":
            ancestor = parent_path(ancestor)
            record = tip.nodes.get(ancestor)
            if record is not None and record.kind == "array":
                conflicts.append(Conflict(ConflictType.NewNodeInInvalidGroup, ancestor))
                break
    return conflicts


def _resolve(
    solver: ConflictSolver,
    snapshot_id: str,
    conflicts: Sequence[Conflict],
    changes: ChangeSet,
    ws: Workspace,
) -> None:
    decisions = [solver.decide(c) for c in conflicts]
    if any(d == Decision.FAIL for d in decisions):
        raise RebaseFailedError(snapshot_id, list(conflicts))
    by_path = {v.path: v.node_id for v in ws.nodes.values()}
    for conflict, decision in zip(conflicts, decisions, strict=True):
        if decision != Decision.USE_THEIRS:
            continue
        if conflict.conflict_type == ConflictType.ChunkDoubleUpdate:
            coords = conflict.conflicted_chunk_coords
            node_id = by_path.get(conflict.path)
            if coords is None or node_id is None:
                continue
            writes = changes.chunks.get(node_id)
            if writes is not None:
                writes.replace(writes.own().without(coords))


def rebase_workspace(
    ws: Workspace,
    tip: Snapshot,
    logs: Sequence[TransactionLog],
    solver: ConflictSolver,
) -> None:
    """Move the workspace's changes from its base onto ``tip``.

    ``logs`` are the transaction logs of the commits after the base, oldest first.

    Raises
    ------
    RebaseFailedError
        If the solver leaves any conflict unresolved; the workspace is then unchanged
        except for resolutions applied for earlier commits.
    """
    changes = ws.changes
    assert changes is not None
    for log in logs:
        conflicts = detect_conflicts(ws, log)
        if conflicts:
            _resolve(solver, log.snapshot_id, conflicts, changes, ws)
    tip_conflicts = _tip_conflicts(ws, tip)
    if tip_conflicts:
        _resolve(solver, tip.id, tip_conflicts, changes, ws)
    tip_ids = {r.node_id for r in tip.nodes.values()}
    for node_id in [n for n in changes.deleted if n not in tip_ids]:
        del changes.deleted[node_id]
    for node_id in [n for n in changes.updated if n not in tip_ids]:
        del changes.updated[node_id]
    ws.base = tip
    ws.reset_caches()
    ws.rebuild()
