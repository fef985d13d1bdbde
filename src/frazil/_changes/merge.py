"""Merging change sets of forks: node operations, then vectorised chunk tables.

The chunk part is the hot path: for each array, the tables of every participant are
concatenated once, sorted by (coordinates, participant) and compared row-wise, so merging
1,000 forks of 100 refs or 2 forks of 500,000 refs is a handful of NumPy calls.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._changes.changeset import (
    ChangeSet,
    ChunkRef,
    ChunkWrites,
    NodeOp,
    matching_rows,
    refs_identical,
)
from frazil._changes.conflict import Conflict, ConflictType, VersionSelection
from frazil._errors import InvalidInputError, MergeConflictError
from frazil.format import ChunkRefs, coord_keys

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from frazil._changes.workspace import Workspace

__all__ = ["MergePlan", "merge_into", "merge_tables", "plan_merge", "selection"]


def selection(on_conflict: VersionSelection | str) -> str:
    """``"fail"``, ``"ours"`` or ``"theirs"`` from a :class:`VersionSelection` or string.

    Raises
    ------
    InvalidInputError
        For anything else.
    """
    match on_conflict:
        case VersionSelection.Fail | "fail":
            return "fail"
        case VersionSelection.UseOurs | "ours":
            return "ours"
        case VersionSelection.UseTheirs | "theirs":
            return "theirs"
    raise InvalidInputError(
        f"on_conflict must be 'fail', 'ours', 'theirs' or a VersionSelection, got {on_conflict!r}"
    )


@dataclass(slots=True)
class MergePlan:
    """What a merge will do, computed before anything is changed."""

    conflicts: list[Conflict] = field(default_factory=list)
    mixed: bool = False
    created: dict[str, NodeOp] = field(default_factory=dict)
    updated: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)
    removed_created: set[str] = field(default_factory=set)
    chunk_tables: dict[str, tuple[int, ChunkRefs]] = field(default_factory=dict)
    blobs: dict[str, ChunkRef | None] = field(default_factory=dict)

    def describe(self) -> str:
        """A message naming every conflict."""
        lines = [f"merge found {len(self.conflicts)} conflict(s) between forks:"]
        lines.extend(f"  - {c}" for c in self.conflicts[:20])
        if len(self.conflicts) > 20:
            lines.append(f"  ... and {len(self.conflicts) - 20} more")
        lines.append(
            "Each chunk must be written by one fork only. If overwriting is intended, merge "
            "with on_conflict='theirs' (later forks win) or 'ours' (earlier writes win)."
        )
        return "\n".join(lines)

    @property
    def touches_nodes(self) -> bool:
        """Whether applying the plan creates, deletes or changes nodes."""
        return bool(self.created or self.deleted or self.updated or self.removed_created)

    def apply(self, target: ChangeSet) -> None:
        """Apply the planned changes to ``target``."""
        for node_id in self.removed_created:
            target.created.pop(node_id, None)
            target.chunks.pop(node_id, None)
        target.created.update(self.created)
        for node_id, metadata in self.updated.items():
            if node_id in target.created:
                target.created[node_id].metadata = metadata
            else:
                target.updated[node_id] = metadata
        for node_id, path in self.deleted.items():
            if target.created.pop(node_id, None) is None:
                target.deleted[node_id] = path
                target.updated.pop(node_id, None)
            target.chunks.pop(node_id, None)
        for node_id, (ndim, table) in self.chunk_tables.items():
            if node_id in self.deleted:
                continue
            target.writes_for(node_id, ndim).replace(table)
        target.blobs.update(self.blobs)
        target.mixed = target.mixed or self.mixed


def merge_into(
    ws: Workspace,
    others: Sequence[ChangeSet],
    *,
    on_conflict: str,
    conflict_header: str | None = None,
) -> MergePlan:
    """Merge the own changes of ``others`` into the workspace's changes: plan, raise, apply.

    Everything happens under the workspace's lock, and nothing is changed when the merge
    raises; the node view is rebuilt when the merge touched nodes.

    Raises
    ------
    MergeConflictError
        If ``on_conflict`` is ``"fail"`` and the changes conflict; the message starts with
        ``conflict_header`` when one is given.
    """
    target = ws.changes
    assert target is not None
    with ws.lock:
        nodes = ws.base.nodes

        def base_paths() -> dict[str, str]:  # built only when nodes or conflicts need it
            return {p: r.node_id for p, r in nodes.items()}

        plan = plan_merge(target, others, on_conflict=on_conflict, base_paths=base_paths)
        if plan.conflicts and on_conflict == "fail":
            message = plan.describe()
            if conflict_header is not None:
                message = f"{conflict_header}\n{message}"
            raise MergeConflictError(message, conflicts=plan.conflicts)
        plan.apply(target)
        if plan.touches_nodes:
            ws.rebuild()
    return plan


def _path_taken(path: str, target: ChangeSet, base_paths: dict[str, str]) -> str | None:
    """Node id at ``path`` in the target's view (created there, or base and not deleted)."""
    for node_id, op in target.created.items():
        if op.path == path:
            return node_id
    base_id = base_paths.get(path)
    if base_id is not None and base_id not in target.deleted:
        return base_id
    return None


def plan_merge(
    target: ChangeSet,
    others: Sequence[ChangeSet],
    *,
    on_conflict: str,
    base_paths: Callable[[], dict[str, str]] | None = None,
) -> MergePlan:
    """Plan merging the own changes of ``others`` into ``target``.

    ``base_paths`` builds, when it is needed, the map of the shared base snapshot's paths
    to node ids, so a fork creating a node where the base already has one is reported.
    """
    plan = MergePlan()
    paths_of: Callable[[], dict[str, str]] = base_paths or dict
    remap: dict[str, str] = {}
    # the common case, forks that only wrote chunks, needs no node bookkeeping at all
    if any(_changes_nodes(o) for o in others):
        remap = _plan_nodes(plan, target, others, paths_of(), on_conflict=on_conflict)
    names = _Names(target, others, remap, paths_of)
    _plan_chunks(plan, target, others, remap, names, on_conflict=on_conflict)
    if target.lineage is not None:  # a fork taking in other forks
        plan.mixed = any(o.mixed or o.lineage != target.lineage for o in others)
    return plan


def _plan_nodes(
    plan: MergePlan,
    target: ChangeSet,
    others: Sequence[ChangeSet],
    base_paths: dict[str, str],
    *,
    on_conflict: str,
) -> dict[str, str]:
    """Fold the forks' node changes (and blobs) into ``plan``; return the node ids that
    were merged into others (the same node created by two forks)."""
    prefer_later = on_conflict == "theirs"
    # working copies of the target's node state, updated as forks fold in
    created = {k: NodeOp(v.node_id, v.path, v.kind, v.metadata) for k, v in target.created.items()}
    updated = dict(target.updated)
    deleted = dict(target.deleted)
    remap: dict[str, str] = {}
    view = ChangeSet(created=created, updated=updated, deleted=deleted)

    for other in others:
        if not _changes_nodes(other):
            continue  # a fork that only wrote chunks
        for node_id, op in other.created.items():
            if node_id in created:
                if created[node_id].metadata != op.metadata:
                    _metadata_conflict(plan, op.path, created, node_id, op.metadata, prefer_later)
                continue
            existing = _path_taken(op.path, view, base_paths)
            if existing is None:
                created[node_id] = NodeOp(op.node_id, op.path, op.kind, op.metadata)
                continue
            mine = created.get(existing)
            if mine is not None and mine.kind == op.kind and mine.metadata == op.metadata:
                keep, drop = sorted((existing, node_id))
                remap[drop] = keep
                if keep != existing:
                    created.pop(existing)
                    plan.removed_created.add(existing)
                    created[keep] = NodeOp(keep, op.path, op.kind, op.metadata)
                continue
            plan.conflicts.append(Conflict(ConflictType.NewNodeConflictsWithExistingNode, op.path))
        for node_id, metadata in other.updated.items():
            node_id = remap.get(node_id, node_id)
            if node_id in deleted:
                kind = ConflictType.ZarrMetadataUpdateOfDeletedArray
                plan.conflicts.append(Conflict(kind, deleted[node_id]))
                continue
            if node_id in created:
                created[node_id].metadata = metadata
                continue
            previous = updated.get(node_id)
            if previous is not None and previous != metadata:
                if on_conflict == "fail":
                    path = {v: k for k, v in base_paths.items()}.get(node_id, f"<node {node_id}>")
                    plan.conflicts.append(Conflict(ConflictType.ZarrMetadataDoubleUpdate, path))
                    continue
                if not prefer_later:
                    continue
            updated[node_id] = metadata
        for node_id, path in other.deleted.items():
            node_id = remap.get(node_id, node_id)
            if node_id in updated and updated[node_id] != target.updated.get(node_id, None):
                plan.conflicts.append(Conflict(ConflictType.DeleteOfUpdatedArray, path))
                continue
            if created.pop(node_id, None) is not None:
                plan.removed_created.add(node_id)
            else:
                deleted[node_id] = path
                updated.pop(node_id, None)
        for key, ref in other.blobs.items():
            mine_ref = plan.blobs.get(key, target.blobs.get(key, _MISSING))
            if mine_ref is not _MISSING and not _same_blob(mine_ref, ref):
                if on_conflict == "fail":
                    plan.conflicts.append(Conflict(ConflictType.ChunkDoubleUpdate, "/" + key, None))
                    continue
                if not prefer_later:
                    continue
            plan.blobs[key] = ref
        if other.moves:
            plan.conflicts.append(Conflict(ConflictType.MoveOperationCannotBeRebased, "/"))

    plan.created = {k: v for k, v in created.items() if k not in target.created or k in remap}
    for node_id, op in created.items():
        if node_id in target.created and target.created[node_id].metadata != op.metadata:
            plan.updated[node_id] = op.metadata
    plan.updated.update({k: v for k, v in updated.items() if target.updated.get(k) != v})
    plan.deleted = {k: v for k, v in deleted.items() if k not in target.deleted}
    return remap


_MISSING: Any = object()


def _changes_nodes(changes: ChangeSet) -> bool:
    """Whether a change set creates, updates, deletes or moves nodes, or writes blobs."""
    return bool(
        changes.created or changes.updated or changes.deleted or changes.blobs or changes.moves
    )


class _Names:
    """Paths of node ids, for conflict messages: built only when a conflict needs one."""

    __slots__ = ("_base_paths", "_names", "_others", "_remap", "_target")

    def __init__(
        self,
        target: ChangeSet,
        others: Sequence[ChangeSet],
        remap: dict[str, str],
        base_paths: Callable[[], dict[str, str]],
    ) -> None:
        self._target, self._others, self._remap = target, others, remap
        self._base_paths = base_paths
        self._names: dict[str, str] | None = None

    def get(self, node_id: str, default: str) -> str:
        if self._names is None:
            names = {nid: path for path, nid in self._base_paths().items()}
            names.update({op.node_id: op.path for op in self._target.created.values()})
            for other in self._others:
                names.update({self._remap.get(k, k): v.path for k, v in other.created.items()})
            self._names = names
        return self._names.get(node_id, default)


def _same_blob(a: ChunkRef | None, b: ChunkRef | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.kind, a.chunk_id, a.length, a.checksum, a.location, a.data) == (
        b.kind,
        b.chunk_id,
        b.length,
        b.checksum,
        b.location,
        b.data,
    )


def _metadata_conflict(
    plan: MergePlan,
    path: str,
    created: dict[str, NodeOp],
    node_id: str,
    metadata: str,
    prefer_later: bool,
) -> None:
    if prefer_later:
        created[node_id].metadata = metadata
    else:
        plan.conflicts.append(Conflict(ConflictType.ZarrMetadataDoubleUpdate, path))


def _plan_chunks(
    plan: MergePlan,
    target: ChangeSet,
    others: Sequence[ChangeSet],
    remap: dict[str, str],
    paths: _Names,
    *,
    on_conflict: str,
) -> None:
    participants: dict[str, list[tuple[int, ChunkRefs]]] = {}
    ndims: dict[str, int] = {}
    for node_id, writes in target.chunks.items():
        if writes.has_own():
            participants.setdefault(node_id, []).append((0, writes.own()))
            ndims[node_id] = writes.ndim
    for position, other in enumerate(others, start=1):
        for node_id, writes in other.chunks.items():
            if not writes.has_own():
                continue
            node_id = remap.get(node_id, node_id)
            tables = participants.setdefault(node_id, [])
            if tables and tables[0][0] == 0 and not other.mixed:
                tables[0] = (0, _without_superseded(tables[0][1], writes))
            tables.append((position, writes.own()))
            ndims[node_id] = writes.ndim
    for node_id, tables in participants.items():
        ndim = ndims[node_id]
        if any(t.ndim != ndim for _, t in tables):
            plan.conflicts.append(
                Conflict(ConflictType.ZarrMetadataDoubleUpdate, paths.get(node_id, node_id))
            )
            continue
        if len(tables) == 1 and tables[0][0] == 0:
            continue
        merged, conflicted = merge_tables([t for _, t in tables], ndim, on_conflict=on_conflict)
        if len(conflicted) and on_conflict == "fail":
            plan.conflicts.append(
                Conflict(
                    ConflictType.ChunkDoubleUpdate,
                    paths.get(node_id, f"<array {node_id}>"),
                    conflicted.tolist(),
                )
            )
            continue
        plan.chunk_tables[node_id] = (ndim, merged)


def _without_superseded(mine: ChunkRefs, fork: ChunkWrites) -> ChunkRefs:
    """``mine`` minus the rows a fork overwrote after seeing them.

    A fork inherits its parent's pending writes. When it writes a chunk whose inherited
    reference is still exactly the parent's row, the fork's write came later and replaces
    it; that is an overwrite in sequence, not two writers racing.
    """
    inherited = fork.inherited
    if not len(mine) or inherited is None or not len(inherited):
        return mine
    # rows of mine the fork saw unchanged (the inherited table is usually the small one) ...
    at, inherited_rows = matching_rows(mine, inherited)
    seen = at[refs_identical(mine.take(at), inherited.take(inherited_rows))]
    if not len(seen):
        return mine
    # ... and then wrote itself
    rewritten, _ = matching_rows(mine.take(seen), fork.own())
    if not len(rewritten):
        return mine
    keep = np.ones(len(mine), dtype=bool)
    keep[seen[rewritten]] = False
    return mine.take(keep)


_FEW_TABLES = 16
"""Up to this many tables, merging checks their spans first (as tuples, in Python), so
that a few large disjoint tables are stacked without a sort. More tables (thousands of
one-chunk forks) are stacked first and checked as one key column."""


def _in_disjoint_order(tables: Sequence[ChunkRefs]) -> list[ChunkRefs] | None:
    """The tables ordered by coordinates if their coordinate ranges do not interleave,
    else None. Each table must be sorted and deduplicated (as :meth:`ChunkWrites.own`
    tables are), so its first and last rows bound it; tuples compare in row-major order,
    the tables' own order."""
    if tables[0].ndim == 0:
        return None  # every row of a 0-d array is the same chunk
    spans = sorted(
        (tuple(t.coords[0].tolist()), tuple(t.coords[-1].tolist()), i) for i, t in enumerate(tables)
    )
    for (_, last, _), (first, _, _) in itertools.pairwise(spans):
        if not last < first:
            return None
    return [tables[i] for _, _, i in spans]


def merge_tables(
    tables: Sequence[ChunkRefs], ndim: int, *, on_conflict: str
) -> tuple[ChunkRefs, np.ndarray[Any, Any]]:
    """Union of deduplicated tables; returns (merged, coordinates written differently).

    Rows with equal coordinates and identical references collapse to one. Differing rows
    are conflicts; the merged table then keeps the earliest table's row (``"ours"`` and
    ``"fail"``) or the latest (``"theirs"``).
    """
    no_conflicts = np.zeros((0, ndim), dtype=np.int64)
    live = [t for t in tables if len(t)]
    if len(live) <= 1:
        return (live[0] if live else ChunkRefs.empty(ndim)), no_conflicts
    if len(live) <= _FEW_TABLES:
        ordered = _in_disjoint_order(live)
        if ordered is not None:
            # forks that wrote disjoint ranges (the usual case): stacked in order, the
            # tables are already one sorted table, so no sort and no comparison is needed
            return ChunkRefs.concat(ordered, ndim), no_conflicts
        stacked = ChunkRefs.concat(live, ndim)
        (keys,) = coord_keys([stacked.coords])
    else:
        stacked = ChunkRefs.concat(live, ndim)
        (keys,) = coord_keys([stacked.coords])
        if ndim and keys.dtype == np.int64 and bool(np.all(keys[1:] > keys[:-1])):
            return stacked, no_conflicts  # sorted, deduplicated tables given in order
    n = len(stacked)
    # rows are concatenated in participant order, so a stable sort by key alone keeps
    # each group ordered by participant
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    if bool(starts.all()):
        return stacked.take(order), no_conflicts  # disjoint: the usual case for forks
    group_first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    first_rows = stacked.take(order[group_first])
    rows = stacked.take(order)
    differs = ~refs_identical(rows, first_rows)
    conflict_groups = np.unique(group_first[differs])
    conflicted = (
        rows.coords[conflict_groups]
        if len(conflict_groups)
        else np.zeros((0, ndim), dtype=np.int64)
    )
    if on_conflict == "theirs":
        ends = np.ones(n, dtype=bool)
        ends[:-1] = starts[1:]
        pick = order[ends]
    else:
        pick = order[starts]
    return stacked.take(np.sort(pick)).sorted(), conflicted
