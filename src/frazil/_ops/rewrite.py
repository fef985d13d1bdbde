"""Manifest rewriting: one commit that lays every array's references out afresh.

After thousands of small commits an array's blocks sit in many small manifests (each
commit writes the blocks it touched, and only those). :func:`rewrite_manifests` reads the
tip's references, splits each array into blocks by the configured layout and packs the
blocks into manifests as a fresh write would (``frazil._repo.blocks``); the data is
unchanged. The commit moves the branch by compare-and-swap, so a concurrent commit makes it
fail with :class:`ConflictError` (nothing is lost; run it again).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from frazil._repo import (
    BRANCHES,
    UpdateType,
    cas_ref,
    named_ref_state,
    pack_segments,
    record_update,
    split_plan,
)
from frazil.format import (
    ANCESTOR_WINDOW,
    ChunkRefs,
    CommitInfo,
    ManifestRef,
    NodeRecord,
    RefDoc,
    Snapshot,
    TransactionLog,
    new_id,
)

if TYPE_CHECKING:
    from frazil._repo import RepoIO

__all__ = ["rewrite_manifests"]


def _layout(node: NodeRecord, refs: ChunkRefs) -> tuple[tuple[int, ...], tuple[str | None, ...]]:
    """The chunk grid and dimension names of an array (the grid from its references when
    the metadata does not say)."""
    try:
        meta = json.loads(node.metadata)
        shape = [int(s) for s in meta["shape"]]
        chunks = [int(c) for c in meta["chunk_grid"]["configuration"]["chunk_shape"]]
        grid = tuple(max(1, math.ceil(s / c)) for s, c in zip(shape, chunks, strict=True))
        names = tuple(meta.get("dimension_names") or (None,) * len(grid))
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        grid = tuple(int(g) + 1 for g in refs.coords.max(axis=0)) if len(refs) else ()
        names = (None,) * len(grid)
    return grid, names


async def rewrite_manifests(
    io: RepoIO,
    branch: str,
    message: str,
    metadata: dict[str, Any],
    *,
    amend: bool = False,
) -> str:
    """Commit the tip of ``branch`` with freshly laid out manifests; returns the snapshot id.

    With ``amend`` the new snapshot replaces the tip (same parent) instead of following it.

    Raises
    ------
    RefNotFoundError
        If the branch does not exist.
    ConflictError
        If the branch moved meanwhile (nothing was changed).
    """
    state = await named_ref_state(io.storage, BRANCHES, branch)
    tip = await io.read_snapshot(state.doc.snapshot_id)
    mids = sorted({m.manifest_id for n in tip.nodes.values() for m in n.manifests})
    manifests = {
        m.manifest_id: m for m in await io.read_many([partial(io.read_manifest, x) for x in mids])
    }
    manifest_config = io.config.manifest
    pending: list[tuple[str, tuple[int, ...], ChunkRefs]] = []
    alone: set[str] = set()
    nodes: dict[str, NodeRecord] = {}
    for path, node in tip.nodes.items():
        if node.kind != "array":
            nodes[path] = node
            continue
        wanted = {(node.node_id, m.block): m.manifest_id for m in node.manifests}
        parts = [
            seg.refs
            for mid in sorted(set(wanted.values()))
            for seg in manifests[mid].segments
            if wanted.get((seg.node_id, seg.block)) == mid
        ]
        ndim = parts[0].ndim if parts else len(node.split_shape or ())
        refs = ChunkRefs.concat(parts, ndim)
        grid, names = _layout(node, refs)
        split, ruled = split_plan(manifest_config, path, names, grid) if grid else ((), False)
        if ruled:
            alone.add(node.node_id)
        pending.extend(
            (node.node_id, block, refs.take(rows).sorted().compact())
            for block, rows in refs.block_groups(split)
        )
        nodes[path] = dataclasses.replace(node, split_shape=split, manifests=())

    written = pack_segments(pending, manifest_config, alone=alone)
    refs_of: dict[str, list[ManifestRef]] = {}
    for manifest in written:
        for seg in manifest.segments:
            refs_of.setdefault(seg.node_id, []).append(
                ManifestRef(block=seg.block, manifest_id=manifest.manifest_id, rows=len(seg.refs))
            )
    for path, node in list(nodes.items()):
        if node.kind == "array":
            made = sorted(refs_of.get(node.node_id, []), key=lambda m: m.block)
            nodes[path] = dataclasses.replace(node, manifests=tuple(made))

    amend = amend and tip.info.parent_id is not None
    parent = tip.ancestors[0] if amend and tip.ancestors else tip.info
    if amend and parent.id != tip.info.parent_id:  # pragma: no cover - windows hold parents
        parent = (await io.read_snapshot(str(tip.info.parent_id))).info
    info = CommitInfo(
        id=new_id(),
        parent_id=parent.id,
        written_at=max(time.time_ns() // 1000, tip.info.written_at + 1),
        message=message,
        metadata=metadata,
    )
    ancestors = tip.ancestors if amend else (tip.info, *tip.ancestors[: ANCESTOR_WINDOW - 1])
    snapshot = Snapshot(
        info=info,
        ancestors=ancestors,
        nodes=nodes,
        blob_keys=tip.blob_keys,
        blob_refs=tip.blob_refs,
    )
    await io.read_many([partial(io.write_manifest, m) for m in written])
    await io.write_snapshot(snapshot)
    log = TransactionLog(snapshot_id=info.id, parent_id=parent.id)
    if amend:  # the amended commit's changes are this commit's now (rebases need them)
        earlier = await io.read_transaction(tip.id)
        log = dataclasses.replace(earlier, snapshot_id=info.id, parent_id=parent.id)
    await io.write_transaction(log)
    doc = RefDoc(snapshot_id=info.id, token=os.urandom(12).hex())
    await cas_ref(io.storage, BRANCHES.key(branch), doc, expected=state)
    await record_update(
        io.storage,
        UpdateType.CommitAmended if amend else UpdateType.NewCommit,
        name=branch,
        previous=tip.id,
        new=info.id,
        details={"rewrote_manifests": len(mids), "into": len(written)},
    )
    return info.id
