"""Building a commit: from a workspace to a new snapshot, its manifests and its log.

:func:`build_commit` turns a workspace into a new snapshot, the manifests it needs and a
transaction log. Only the manifest blocks that received writes are rebuilt; every other
block keeps pointing at its existing manifest, so the cost of a commit grows with the
change, not with the repository. Nothing built here is visible until the branch moves
(:mod:`frazil._commit.protocol`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._repo import unique_rows
from frazil.format import (
    ANCESTOR_WINDOW,
    ChunkRefs,
    CommitInfo,
    Manifest,
    ManifestRef,
    ManifestSegment,
    NodeRecord,
    RefKind,
    Snapshot,
    TransactionLog,
    new_id,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from frazil._changes import ChangeSet, ChunkWrites, NodeView, Workspace
    from frazil._repo import RepoIO

__all__ = [
    "CommitArtifacts",
    "ManifestReuse",
    "build_commit",
    "choose_split_shape",
    "write_artifacts",
]


# ---------------------------------------------------------------------- building
def choose_split_shape(grid: tuple[int, ...], split_size: int) -> tuple[int, ...]:
    """Block shape (in chunks) for splitting an array's references into manifests.

    Starts from the grid rounded up to powers of two, halves the largest side until a block
    holds at most ``split_size`` chunks, then doubles sides round-robin (first dimension
    first, the usual append dimension) while it still fits, so an array that grows keeps
    filling large blocks.
    """
    if not grid:
        return ()
    block = [1 << max(0, int(g) - 1).bit_length() if g > 1 else 1 for g in grid]
    while math.prod(block) > split_size:
        i = int(np.argmax(block))
        block[i] = max(1, block[i] // 2)
    grew = True
    while grew:
        grew = False
        for dim in range(len(block)):
            if math.prod(block) * 2 <= split_size:
                block[dim] *= 2
                grew = True
    return tuple(block)


@dataclass(slots=True)
class ManifestReuse:
    """Manifest blocks written by earlier attempts of one commit, keyed by their inputs.

    A retry after a rebase rebuilds only the blocks whose base changed (or whose pending
    writes the rebase changed); every other block reuses the manifest already written.
    """

    blocks: dict[tuple[Any, ...], tuple[str | None, int]] = field(default_factory=dict)
    written: int = 0
    reused: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitArtifacts:
    """Everything a commit writes before moving the ref."""

    snapshot: Snapshot
    manifests: list[Manifest]
    transaction: TransactionLog


def _now_micros() -> int:
    return time.time_ns() // 1000


async def build_commit(
    io: RepoIO,
    ws: Workspace,
    *,
    parent: Snapshot | None,
    message: str,
    metadata: dict[str, Any],
    reuse: ManifestReuse,
    flushed: bool = False,
    earlier: TransactionLog | None = None,
) -> CommitArtifacts:
    """Build the objects of a commit of ``ws`` on top of ``parent``.

    ``earlier`` (amend) is the transaction log of the commit being replaced; the new log is
    the union of both, so rebases over the amended commit see all of its changes.
    """
    changes = ws.changes
    assert changes is not None
    split_size = io.config.manifest.split_size
    records: dict[str, NodeRecord] = {}
    pending: list[tuple[str, tuple[int, ...], ChunkRefs, tuple[Any, ...]]] = []
    array_blocks: dict[str, dict[tuple[int, ...], ManifestRef]] = {}
    loads: list[tuple[str, tuple[int, ...], str, ChunkRefs, tuple[Any, ...]]] = []

    for path in sorted(ws.nodes):
        view = ws.nodes[path]
        if view.kind == "group":
            records[path] = NodeRecord(
                path=path, node_id=view.node_id, kind="group", metadata=view.metadata
            )
            continue
        split, blocks = _existing_blocks(view, split_size, changes.chunks.get(view.node_id))
        array_blocks[view.node_id] = blocks
        writes = changes.chunks.get(view.node_id)
        own = writes.own() if writes is not None else None
        if own is not None and len(own):
            for block, rows in own.block_groups(split):
                base_ref = blocks.get(block)
                reuse_key = (
                    view.node_id,
                    block,
                    base_ref.manifest_id if base_ref else None,
                    id(writes),
                    writes.version if writes is not None else 0,
                )
                hit = reuse.blocks.get(reuse_key)
                if hit is not None:
                    reuse.reused += 1
                    manifest_id, count = hit
                    if manifest_id is None:
                        blocks.pop(block, None)
                    else:
                        blocks[block] = ManifestRef(
                            block=block, manifest_id=manifest_id, rows=count
                        )
                    continue
                block_changes = own.take(rows)
                if base_ref is None:
                    pending.append((view.node_id, block, block_changes.live(), reuse_key))
                else:
                    loads.append(
                        (view.node_id, block, base_ref.manifest_id, block_changes, reuse_key)
                    )
        records[path] = NodeRecord(
            path=path,
            node_id=view.node_id,
            kind="array",
            metadata=view.metadata,
            split_shape=split,
            manifests=(),
        )

    bases = await io.read_many([partial(io.segment, mid, nid, b) for nid, b, mid, _, _ in loads])
    for (node_id, block, _, block_changes, reuse_key), (base_table, _) in zip(
        loads, bases, strict=True
    ):
        pending.append((node_id, block, base_table.overlay(block_changes), reuse_key))

    manifests = _pack(pending, split_size, array_blocks, reuse)
    for path, record in list(records.items()):
        if record.kind != "array":
            continue
        blocks = array_blocks[record.node_id]
        records[path] = NodeRecord(
            path=record.path,
            node_id=record.node_id,
            kind="array",
            metadata=record.metadata,
            split_shape=record.split_shape,
            manifests=tuple(blocks[b] for b in sorted(blocks)),
        )

    blob_keys, blob_refs = _blob_table(ws)
    written_at = _now_micros()
    if parent is not None:
        written_at = max(written_at, parent.info.written_at + 1)
    info = CommitInfo(
        id=new_id(),
        parent_id=parent.id if parent is not None else None,
        written_at=written_at,
        message=message,
        metadata=metadata,
    )
    ancestors: tuple[CommitInfo, ...] = ()
    if parent is not None:
        ancestors = (parent.info, *parent.ancestors[: ANCESTOR_WINDOW - 1])
    snapshot = Snapshot(
        info=info,
        ancestors=ancestors,
        nodes=records,
        blob_keys=blob_keys,
        blob_refs=blob_refs,
        flushed=flushed,
    )
    log = _transaction_log(ws, changes, info, earlier)
    return CommitArtifacts(snapshot=snapshot, manifests=manifests, transaction=log)


def _existing_blocks(
    view: NodeView, split_size: int, writes: ChunkWrites | None
) -> tuple[tuple[int, ...], dict[tuple[int, ...], ManifestRef]]:
    record = view.base
    ndim = view.layout.ndim
    if record is not None and record.split_shape is not None and len(record.split_shape) == ndim:
        return record.split_shape, {m.block: m for m in record.manifests}
    grid = view.layout.grid
    if grid is None or any(g == 0 for g in grid):
        if writes is not None and len(writes.own()):
            grid = tuple(int(g) for g in writes.own().coords.max(axis=0) + 1)
        else:
            grid = (1,) * ndim
    return choose_split_shape(grid, split_size), {}


def _pack(
    pending: list[tuple[str, tuple[int, ...], ChunkRefs, tuple[Any, ...]]],
    split_size: int,
    array_blocks: dict[str, dict[tuple[int, ...], ManifestRef]],
    reuse: ManifestReuse,
) -> list[Manifest]:
    manifests: list[Manifest] = []
    segments: list[ManifestSegment] = []
    keys: list[tuple[Any, ...]] = []
    rows = 0

    def flush() -> None:
        nonlocal segments, keys, rows
        if not segments:
            return
        manifest = Manifest(manifest_id=new_id(), segments=tuple(segments))
        manifests.append(manifest)
        for seg, key in zip(segments, keys, strict=True):
            ref = ManifestRef(block=seg.block, manifest_id=manifest.manifest_id, rows=len(seg.refs))
            array_blocks[seg.node_id][seg.block] = ref
            reuse.blocks[key] = (manifest.manifest_id, len(seg.refs))
        reuse.written += len(segments)
        segments, keys, rows = [], [], 0

    for node_id, block, table, key in sorted(pending, key=lambda p: (p[0], p[1])):
        if not len(table):
            array_blocks[node_id].pop(block, None)
            reuse.blocks[key] = (None, 0)
            continue
        if rows and rows + len(table) > split_size:
            flush()
        segments.append(ManifestSegment(node_id=node_id, block=block, refs=table))
        keys.append(key)
        rows += len(table)
    flush()
    return manifests


def _blob_table(ws: Workspace) -> tuple[tuple[str, ...], ChunkRefs]:
    changes = ws.changes
    base = ws.base
    if changes is None or not changes.blobs:
        return base.blob_keys, base.blob_refs
    keys = sorted(ws.blob_keys())
    refs = [ws.blob_ref(k) for k in keys]
    n = len(keys)
    inline = bytearray()
    offset = np.zeros(n, dtype=np.uint64)
    locations: list[str] = []
    location = np.zeros(n, dtype=np.uint32)
    for i, ref in enumerate(refs):
        assert ref is not None
        if ref.kind == RefKind.INLINE and ref.data is not None:
            offset[i] = len(inline)
            inline += ref.data
        else:
            offset[i] = ref.offset
        if ref.location is not None:
            location[i] = len(locations)
            locations.append(ref.location)
    table = ChunkRefs(
        coords=np.zeros((n, 0), dtype=np.int64),
        kind=np.array([int(r.kind) for r in refs if r is not None], dtype=np.uint8),
        chunk_id=np.array(
            [
                np.frombuffer(r.chunk_id.ljust(12, b"\0"), dtype=np.uint8)
                for r in refs
                if r is not None
            ],
            dtype=np.uint8,
        ).reshape(n, 12),
        offset=offset,
        length=np.array([r.length for r in refs if r is not None], dtype=np.uint64),
        checksum=np.array([r.checksum for r in refs if r is not None], dtype=np.uint32),
        location=location,
        inline=bytes(inline),
        locations=tuple(locations),
    )
    return tuple(keys), table


def _transaction_log(
    ws: Workspace, changes: ChangeSet, info: CommitInfo, earlier: TransactionLog | None
) -> TransactionLog:
    ids = {v.node_id: v for v in ws.nodes.values()}
    base_ids = {r.node_id: r for r in ws.base.nodes.values()}
    new_groups = {
        nid: ids[nid].path for nid in changes.created if nid in ids and ids[nid].kind == "group"
    }
    new_arrays = {
        nid: ids[nid].path for nid in changes.created if nid in ids and ids[nid].kind == "array"
    }
    deleted_groups = {
        nid: p
        for nid, p in changes.deleted.items()
        if nid in base_ids and base_ids[nid].kind == "group"
    }
    deleted_arrays = {
        nid: p
        for nid, p in changes.deleted.items()
        if nid in base_ids and base_ids[nid].kind == "array"
    }
    updated_groups = {
        nid: ids[nid].path for nid in changes.updated if nid in ids and ids[nid].kind == "group"
    }
    updated_arrays = {
        nid: ids[nid].path for nid in changes.updated if nid in ids and ids[nid].kind == "array"
    }
    chunks: dict[str, np.ndarray[Any, Any]] = {}
    chunk_paths: dict[str, str] = {}
    for nid, writes in changes.chunks.items():
        if nid not in ids or not writes.has_own():
            continue
        chunks[nid] = writes.own().coords
        chunk_paths[nid] = ids[nid].path
    blobs = tuple(sorted(changes.blobs))
    moves = tuple(changes.moves)
    if earlier is not None:
        for target, source in (
            (new_groups, earlier.new_groups),
            (new_arrays, earlier.new_arrays),
            (deleted_groups, earlier.deleted_groups),
            (deleted_arrays, earlier.deleted_arrays),
            (updated_groups, earlier.updated_groups),
            (updated_arrays, earlier.updated_arrays),
        ):
            for nid, p in source.items():
                target.setdefault(nid, p)
        for nid, coords in earlier.chunks.items():
            if nid in chunks:
                chunks[nid] = unique_rows(np.concatenate([chunks[nid], coords]))
            elif nid in ids:
                chunks[nid] = coords
                chunk_paths[nid] = ids[nid].path
        blobs = tuple(sorted({*blobs, *earlier.blobs}))
        moves = (*earlier.moves, *moves)
    return TransactionLog(
        snapshot_id=info.id,
        parent_id=info.parent_id,
        new_groups=new_groups,
        new_arrays=new_arrays,
        deleted_groups=deleted_groups,
        deleted_arrays=deleted_arrays,
        updated_groups=updated_groups,
        updated_arrays=updated_arrays,
        moves=moves,
        chunks=chunks,
        chunk_paths=chunk_paths,
        blobs=blobs,
    )


async def write_artifacts(io: RepoIO, artifacts: CommitArtifacts) -> None:
    """Write manifests, snapshot and transaction log (none is referenced yet)."""
    calls: list[Callable[[], Awaitable[None]]] = [
        partial(io.write_manifest, m) for m in artifacts.manifests
    ]
    calls.append(partial(io.write_snapshot, artifacts.snapshot))
    calls.append(partial(io.write_transaction, artifacts.transaction))
    await io.read_many(calls)
