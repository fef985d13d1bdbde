"""Building a commit: from a workspace to a new snapshot, its manifests and its log.

:func:`build_commit` turns a workspace into a new snapshot, the manifests it needs and a
transaction log. Only the manifest blocks that received writes are rebuilt; every other
block keeps pointing at its existing manifest, so the cost of a commit grows with the
change, not with the repository. Nothing built here is visible until the branch moves
(:mod:`frazil._commit.protocol`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._repo import pack_segments, split_plan, unique_rows
from frazil.format import (
    ANCESTOR_WINDOW,
    ChunkRefs,
    CommitInfo,
    Manifest,
    ManifestRef,
    NodeRecord,
    RefKind,
    Snapshot,
    TransactionLog,
    new_id,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from frazil._changes import ChangeSet, NodeView, Workspace
    from frazil._config import ManifestConfig
    from frazil._repo import RepoIO

__all__ = [
    "CommitArtifacts",
    "ManifestReuse",
    "build_commit",
    "write_artifacts",
]


# ---------------------------------------------------------------------- building
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
    manifest_config = io.config.manifest
    records: dict[str, NodeRecord] = {}
    pending: list[tuple[str, tuple[int, ...], ChunkRefs, tuple[Any, ...]]] = []
    array_blocks: dict[str, dict[tuple[int, ...], ManifestRef]] = {}
    loads: list[tuple[str, tuple[int, ...], str, ChunkRefs, tuple[Any, ...]]] = []
    relays: list[tuple[str, tuple[int, ...], tuple[ManifestRef, ...], ChunkRefs, Any]] = []
    alone: set[str] = set()

    for path in sorted(ws.nodes):
        view = ws.nodes[path]
        if view.kind == "group":
            records[path] = NodeRecord(
                path=path, node_id=view.node_id, kind="group", metadata=view.metadata
            )
            continue
        writes = changes.chunks.get(view.node_id)
        own = writes.own() if writes is not None else None
        split, blocks, ruled, relay = _plan_blocks(view, manifest_config, own)
        array_blocks[view.node_id] = blocks
        if ruled:
            alone.add(view.node_id)
        if own is not None and len(own) and relay:
            assert view.base is not None
            assert writes is not None
            relays.append((view.node_id, split, view.base.manifests, own, writes))
            blocks.clear()
        elif own is not None and len(own):
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

    calls = [partial(io.segment, mid, nid, b) for nid, b, mid, _, _ in loads]
    calls += [
        partial(io.segment, m.manifest_id, nid, m.block)
        for nid, _, old, _, _ in relays
        for m in old
    ]
    bases = await io.read_many(calls)
    for (node_id, block, _, block_changes, reuse_key), (base_table, _) in zip(
        loads, bases[: len(loads)], strict=True
    ):
        pending.append((node_id, block, base_table.overlay(block_changes), reuse_key))
    pending.extend(_relaid(relays, [table for table, _ in bases[len(loads) :]]))

    manifests = _pack(pending, manifest_config, array_blocks, reuse, alone)
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


def _plan_blocks(
    view: NodeView, manifest: ManifestConfig, own: ChunkRefs | None
) -> tuple[tuple[int, ...], dict[tuple[int, ...], ManifestRef], bool, bool]:
    """An array's block shape, its base blocks, whether a split rule chose the shape (each
    block is then an object of its own), and whether its references must be laid out
    afresh (a rule asks for another shape than the base has, and the commit writes it)."""
    record = view.base
    ndim = view.layout.ndim
    kept: tuple[int, ...] | None = None
    blocks: dict[tuple[int, ...], ManifestRef] = {}
    if record is not None and record.split_shape is not None and len(record.split_shape) == ndim:
        kept = record.split_shape
        blocks = {m.block: m for m in record.manifests}
        if not manifest.splitting.split_sizes:
            return kept, blocks, False, False
    grid = view.layout.grid
    if grid is None or any(g == 0 for g in grid):
        if own is not None and len(own):
            grid = tuple(int(g) for g in own.coords.max(axis=0) + 1)
        else:
            grid = (1,) * ndim
    split, ruled = split_plan(manifest, view.path, view.layout.dimension_names, grid)
    if kept is None or not blocks:
        return split, {}, ruled, False
    if not ruled or split == kept:
        return kept, blocks, ruled, False
    # a rule asks for another shape: an array this commit writes is laid out afresh, an
    # untouched one keeps its layout until then
    relay = own is not None and len(own) > 0
    return (split if relay else kept), blocks, True, relay


def _relaid(
    relays: list[tuple[str, tuple[int, ...], tuple[ManifestRef, ...], ChunkRefs, Any]],
    tables: list[ChunkRefs],
) -> list[tuple[str, tuple[int, ...], ChunkRefs, tuple[Any, ...]]]:
    """The blocks of arrays laid out afresh: every base reference with the commit's writes
    on top, cut by the new shape."""
    out: list[tuple[str, tuple[int, ...], ChunkRefs, tuple[Any, ...]]] = []
    at = 0
    for node_id, split, old, own, writes in relays:
        base = ChunkRefs.concat(tables[at : at + len(old)], own.ndim)
        at += len(old)
        table = base.sorted().overlay(own)
        bases = tuple(m.manifest_id for m in old)
        for block, rows in table.block_groups(split):
            key = (node_id, block, bases, id(writes), writes.version)
            out.append((node_id, block, table.take(rows), key))
    return out


def _pack(
    pending: list[tuple[str, tuple[int, ...], ChunkRefs, tuple[Any, ...]]],
    manifest_config: ManifestConfig,
    array_blocks: dict[str, dict[tuple[int, ...], ManifestRef]],
    reuse: ManifestReuse,
    alone: set[str],
) -> list[Manifest]:
    keys: dict[tuple[str, tuple[int, ...]], tuple[Any, ...]] = {}
    for node_id, block, table, key in pending:
        keys[node_id, block] = key
        if not len(table):
            array_blocks[node_id].pop(block, None)
            reuse.blocks[key] = (None, 0)
    manifests = pack_segments(((n, b, t) for n, b, t, _ in pending), manifest_config, alone=alone)
    for manifest in manifests:
        for seg in manifest.segments:
            ref = ManifestRef(block=seg.block, manifest_id=manifest.manifest_id, rows=len(seg.refs))
            array_blocks[seg.node_id][seg.block] = ref
            reuse.blocks[keys[seg.node_id, seg.block]] = (manifest.manifest_id, len(seg.refs))
        reuse.written += len(manifest.segments)
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
