"""Storage statistics: how many bytes the chunks reachable from any ref take, by kind.

Everything is computed over the manifests' columns: unique native chunks by object id,
unique virtual chunks by (file, offset, length), inline chunks once per manifest row.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._repo import BRANCHES, TAGS, ancestry, list_refs, read_ref
from frazil.format import RefKind

if TYPE_CHECKING:
    from frazil._ops.integrity import ProgressCallback
    from frazil._repo import RepoIO
    from frazil.format import ChunkRefs

__all__ = [
    "ChunkStorageStats",
    "chunk_storage_stats",
    "node_table",
    "reachable_snapshots",
    "ref_targets",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkStorageStats:
    """Bytes and counts of the chunks reachable from any branch or tag, by kind."""

    native_bytes: int = 0
    """Bytes of chunk objects stored in the repository (each object counted once)."""
    native_chunks: int = 0
    """Distinct chunk objects."""
    inline_bytes: int = 0
    """Bytes of chunks stored inside manifests (each manifest counted once)."""
    inline_chunks: int = 0
    """Inline chunk references."""
    virtual_bytes: int = 0
    """Bytes referenced in files outside the repository (each distinct range once)."""
    virtual_chunks: int = 0
    """Distinct virtual chunk ranges."""

    @property
    def inlined_bytes(self) -> int:
        """Icechunk's name for :attr:`inline_bytes`."""
        return self.inline_bytes

    def total_bytes(self) -> int:
        """All three kinds together (a method, as in Icechunk)."""
        return self.native_bytes + self.inline_bytes + self.virtual_bytes

    def non_virtual_bytes(self) -> int:
        """Native and inline bytes: what the repository itself stores."""
        return self.native_bytes + self.inline_bytes

    def __add__(self, other: ChunkStorageStats) -> ChunkStorageStats:
        if not isinstance(other, ChunkStorageStats):
            return NotImplemented
        return ChunkStorageStats(
            native_bytes=self.native_bytes + other.native_bytes,
            native_chunks=self.native_chunks + other.native_chunks,
            inline_bytes=self.inline_bytes + other.inline_bytes,
            inline_chunks=self.inline_chunks + other.inline_chunks,
            virtual_bytes=self.virtual_bytes + other.virtual_bytes,
            virtual_chunks=self.virtual_chunks + other.virtual_chunks,
        )

    def to_dict(self) -> dict[str, int]:
        """JSON form."""
        return {
            "native_bytes": self.native_bytes,
            "native_chunks": self.native_chunks,
            "inline_bytes": self.inline_bytes,
            "inline_chunks": self.inline_chunks,
            "virtual_bytes": self.virtual_bytes,
            "virtual_chunks": self.virtual_chunks,
            "total_bytes": self.total_bytes(),
        }


ChunkStorageStats.__module__ = "frazil"


async def ref_targets(io: RepoIO) -> dict[str, str]:
    """Every live ref key -> the snapshot it points at."""
    out: dict[str, str] = {}
    for family in (BRANCHES, TAGS):
        names = await list_refs(io.storage, family.prefix)
        keys = [family.layout_key(n) for n in names]
        states = await io.read_many([partial(read_ref, io.storage, k) for k in keys])
        for key, state in zip(keys, states, strict=True):
            if state is not None and not state.doc.deleted:
                out[key] = state.doc.snapshot_id
    return out


async def reachable_snapshots(io: RepoIO, roots: set[str] | None = None) -> set[str]:
    """The snapshots in the history of any ref (or of ``roots``)."""
    if roots is None:
        roots = set((await ref_targets(io)).values())
    seen: set[str] = set()
    for root in roots:
        async with aclosing(ancestry(io, root)) as walk:
            async for record in walk:
                if record.id in seen:
                    break
                seen.add(record.id)
    return seen


async def chunk_storage_stats(
    io: RepoIO, *, progress: ProgressCallback | None = None
) -> ChunkStorageStats:
    """Statistics of the chunks reachable from any ref; see the module docstring."""
    snapshot_ids = sorted(await reachable_snapshots(io))
    manifest_ids: set[str] = set()
    tables: list[ChunkRefs] = []
    for start in range(0, len(snapshot_ids), 256):
        batch = snapshot_ids[start : start + 256]
        for snapshot in await io.read_many([partial(io.read_snapshot, s) for s in batch]):
            tables.append(snapshot.blob_refs)
            for node in snapshot.nodes.values():
                manifest_ids.update(m.manifest_id for m in node.manifests)
        if progress is not None:
            progress("snapshots", min(start + 256, len(snapshot_ids)), len(snapshot_ids))
    mids = sorted(manifest_ids)
    for start in range(0, len(mids), 256):
        batch = mids[start : start + 256]
        for manifest in await io.read_many([partial(io.read_manifest, m) for m in batch]):
            tables.extend(seg.refs for seg in manifest.segments)
        if progress is not None:
            progress("manifests", min(start + 256, len(mids)), len(mids))
    return _summarise(tables)


def _summarise(tables: list[ChunkRefs]) -> ChunkStorageStats:
    native_ids: list[np.ndarray[Any, Any]] = []
    native_len: list[np.ndarray[Any, Any]] = []
    inline_bytes = inline_chunks = 0
    urls: dict[str, int] = {}
    virtual: list[np.ndarray[Any, Any]] = []
    for refs in tables:
        kind = refs.kind
        native = kind == RefKind.NATIVE
        if native.any():
            native_ids.append(refs.chunk_id[native])
            native_len.append(refs.length[native])
        inline = kind == RefKind.INLINE
        inline_chunks += int(inline.sum())
        inline_bytes += int(refs.length[inline].sum())
        virt = kind == RefKind.VIRTUAL
        if virt.any():
            local = np.array([urls.setdefault(u, len(urls)) for u in refs.locations], np.int64)
            rows = np.stack(
                [
                    local[refs.location[virt].astype(np.int64)],
                    refs.offset[virt].astype(np.int64),
                    refs.length[virt].astype(np.int64),
                ],
                axis=1,
            )
            virtual.append(rows)
    native_bytes = native_chunks = 0
    if native_ids:
        ids = np.ascontiguousarray(np.concatenate(native_ids)).view("V12").reshape(-1)
        _, first = np.unique(ids, return_index=True)
        native_chunks = len(first)
        native_bytes = int(np.concatenate(native_len)[first].sum())
    virtual_bytes = virtual_chunks = 0
    if virtual:
        distinct = np.unique(np.concatenate(virtual), axis=0)
        virtual_chunks = len(distinct)
        virtual_bytes = int(distinct[:, 2].sum())
    return ChunkStorageStats(
        native_bytes=native_bytes,
        native_chunks=native_chunks,
        inline_bytes=inline_bytes,
        inline_chunks=inline_chunks,
        virtual_bytes=virtual_bytes,
        virtual_chunks=virtual_chunks,
    )


async def node_table(io: RepoIO, snapshot_id: str) -> list[dict[str, Any]]:
    """Every group and array of a snapshot, with the arrays' shape, chunk shape, data type,
    chunk count and stored bytes (from the manifests' length columns), sorted by path."""
    snapshot = await io.read_snapshot(snapshot_id)
    mids = sorted({m.manifest_id for n in snapshot.nodes.values() for m in n.manifests})
    manifests = await io.read_many([partial(io.read_manifest, m) for m in mids])
    totals: dict[tuple[str, str, tuple[int, ...]], tuple[int, int]] = {}
    for manifest in manifests:
        for seg in manifest.segments:
            totals[(manifest.manifest_id, seg.node_id, seg.block)] = (
                len(seg.refs),
                int(seg.refs.length.sum()),
            )
    rows: list[dict[str, Any]] = []
    for path in sorted(snapshot.nodes):
        node = snapshot.nodes[path]
        row: dict[str, Any] = {"path": path, "kind": node.kind}
        if node.kind == "array":
            try:
                meta = json.loads(node.metadata)
            except ValueError:
                meta = {}
            grid = meta.get("chunk_grid", {}).get("configuration", {})
            count = size = 0
            for ref in node.manifests:
                n, b = totals.get((ref.manifest_id, node.node_id, ref.block), (0, 0))
                count += n
                size += b
            row.update(
                shape=meta.get("shape"),
                chunks=grid.get("chunk_shape"),
                dtype=meta.get("data_type"),
                chunk_count=count,
                bytes=size,
            )
        rows.append(row)
    return rows
