"""Rebasing: moving a session's changes from its base onto the tip of its branch.

Rebasing from base B onto tip T walks T's history back to B, reads the transaction logs of
the commits in between (concurrently), checks the session's changes against each log in
order, lets the solver decide each conflict, and finally moves the workspace onto T. Chunk
overlaps are computed on NumPy coordinate columns; whole snapshots are never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._changes import Conflict, ConflictType, parent_path
from frazil._commit.solvers import ConflictSolver, Decision
from frazil._errors import ConflictError, ErrorKind, RebaseFailedError, SessionStateError
from frazil._repo import BRANCHES, commits_between, read_ref
from frazil.format import coord_keys

if TYPE_CHECKING:
    from collections.abc import Sequence

    from frazil._changes import ChangeSet, Workspace
    from frazil._repo import RefState, RepoIO
    from frazil.format import Snapshot, TransactionLog

__all__ = ["Rebased", "detect_conflicts", "rebase_onto_branch", "rebase_workspace"]


@dataclass(frozen=True, slots=True)
class Rebased:
    """Where a rebase left the workspace."""

    tip: str
    """The snapshot the workspace is now based on."""
    ref: RefState
    """The branch ref as read (what the next compare-and-swap expects)."""


async def rebase_onto_branch(
    io: RepoIO, branch: str, ws: Workspace, solver: ConflictSolver
) -> Rebased:
    """Rebase ``ws`` onto the current tip of ``branch``.

    Raises
    ------
    SessionStateError
        If the branch was deleted.
    ConflictError
        If the branch was reset to a history that does not contain the workspace's base.
    RebaseFailedError
        If the solver leaves a conflict unresolved.
    """
    state = await read_ref(io.storage, BRANCHES.key(branch))
    if state is None:
        raise SessionStateError(
            f"branch {branch!r} was deleted; cannot rebase onto it",
            kind=ErrorKind.REF_NOT_FOUND,
        )
    tip_id = state.doc.snapshot_id
    if tip_id != ws.base.id:
        chain = await commits_between(io, ws.base.id, tip_id)
        if chain is None:
            raise ConflictError(
                message=f"cannot rebase: branch {branch!r} was reset to a history that does not "
                f"contain this session's base {ws.base.id!r}",
                expected_parent=ws.base.id,
                actual_parent=tip_id,
            )
        tip = await io.read_snapshot(tip_id)
        logs = await io.read_many([partial(io.read_transaction, sid) for sid in chain])
        rebase_workspace(ws, tip, logs, solver)
    return Rebased(tip=tip_id, ref=state)


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
