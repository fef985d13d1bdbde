"""Staged writes: how copies of a writable store in other processes reach the commit.

When a writable session's store is pickled (Dask ships it to workers), the copy writes
each chunk object as usual and then records the write as an empty *marker* object whose
key encodes the array, the chunk coordinates, a per-copy sequence number and the chunk's
id, size and content digests::

    staging/<session>/<node>/<i.j.k>/<seq>.<writer>.<kind>.<chunk id>.<size>.<crc32c>.<digest>

The coordinating session lists its staging prefix at commit and merges what it finds.
Identical writes (a retried task) collapse; different writes of one chunk by different
copies are a conflict, never a silent pick. See ``docs/design/003-distributed-writes.md``.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._changeset import ChangeSet, ChunkRef
from frazil._conflict_types import Conflict, ConflictType
from frazil._errors import ErrorKind, MergeConflictError, SessionStateError
from frazil.format import ChunkRefs, RefKind, coord_keys, decode_id, encode_id, layout

if TYPE_CHECKING:
    from frazil._workspace import NodeView, Workspace
    from frazil.storage import Storage

__all__ = ["StagingWriter", "collect_staged", "delete_staged", "seal", "unseal"]


class StagingWriter:
    """Records the chunk writes of one remote store copy as marker objects."""

    def __init__(self, storage: Storage, session_token: str) -> None:
        self._storage = storage
        self._token = session_token
        self._writer = os.urandom(5).hex()
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    async def record(
        self, view: NodeView, coords: tuple[int, ...], ref: ChunkRef | None, digest: str
    ) -> None:
        """Durably record a chunk write (``ref``) or a deletion (``None``)."""
        with self._lock:
            sequence = next(self._sequence)
        if ref is None:
            fields = "d.-.0.0.-"
        else:
            assert ref.kind == RefKind.NATIVE
            fields = f"n.{encode_id(ref.chunk_id)}.{ref.length}.{ref.checksum:08x}.{digest}"
        key = layout.staging_marker_key(
            self._token,
            view.node_id,
            coords,
            sequence=sequence,
            writer=self._writer,
            fields=fields,
        )
        await self._storage.put(key, b"")
        # The coordinator seals before it collects (see ``seal``): a write recorded
        # before the seal is collected; one that finds the seal afterwards fails loudly.
        if await self._storage.exists(layout.staging_seal_key(self._token)):
            raise SessionStateError(
                f"the write to chunk {list(coords)} of {view.path!r} came too late: the "
                "session that owns this store was committed (or its changes discarded) "
                "while this task was still writing, so the write is not in any commit. "
                "Wait for every write to finish before committing, then write again in a "
                "new session.",
                kind=ErrorKind.SESSION_COMMITTED,
            )


async def _list_markers(storage: Storage, session_token: str) -> list[str]:
    prefix = layout.staging_prefix(session_token)
    return [info.key.removeprefix(prefix) async for info in storage.list(prefix)]


async def collect_staged(storage: Storage, session_token: str, ws: Workspace) -> ChangeSet | None:
    """The staged writes of a session as a change set (None if there are none).

    Raises
    ------
    MergeConflictError
        If different copies wrote different data to the same chunk, or wrote into an array
        that no longer exists.
    """
    markers = await _list_markers(storage, session_token)
    if not markers:
        return None
    by_node: dict[str, list[list[str]]] = {}
    for marker in markers:
        parts = marker.split("/")
        if len(parts) != 3:
            continue
        node_id, where, rest = parts
        fields = rest.split(".")
        if len(fields) != 7:
            continue
        by_node.setdefault(node_id, []).append([where, *fields])
    views = {v.node_id: v for v in ws.nodes.values()}
    out = ChangeSet()
    conflicts: list[Conflict] = []
    for node_id, rows in by_node.items():
        view = views.get(node_id)
        if view is None or view.kind != "array":
            conflicts.append(
                Conflict(ConflictType.ChunksUpdatedInDeletedArray, f"<node {node_id}>")
            )
            continue
        table, conflicted = _resolve_node(rows, view.layout.ndim)
        if len(conflicted):
            conflicts.append(Conflict(ConflictType.ChunkDoubleUpdate, view.path, conflicted))
            continue
        out.writes_for(node_id, view.layout.ndim).add_table(table)
    if conflicts:
        lines = "\n".join(f"  - {c}" for c in conflicts[:20])
        raise MergeConflictError(
            "writes collected from remote copies of this session's store conflict: the same "
            f"chunk was written with different data by different tasks:\n{lines}\n"
            "Make each task write its own chunks (align dask chunks with zarr chunks). If a "
            "later write was meant to replace an earlier one, commit between the two writes "
            "(or write through frazil.xarray.to_frazil / frazil.dask.store_dask, which order "
            "them); otherwise discard the session's changes and write again.",
            conflicts=conflicts,
        )
    return out


def _resolve_node(rows: list[list[str]], ndim: int) -> tuple[ChunkRefs, np.ndarray[Any, Any]]:
    n = len(rows)
    coords = np.zeros((n, ndim), dtype=np.int64)
    for i, row in enumerate(rows):
        if ndim:
            coords[i] = [int(c) for c in row[0].split(".")]
    sequence = np.array([int(r[1], 16) for r in rows], dtype=np.int64)
    writers = np.unique(np.array([r[2] for r in rows]), return_inverse=True)[1]
    # identical data has equal kind, size, crc32c and digest; the chunk ids always differ
    identities = np.unique(
        np.array([f"{r[3]}.{r[5]}.{r[6]}.{r[7]}" for r in rows]), return_inverse=True
    )[1]
    (keys,) = coord_keys([coords])
    by_sequence = np.argsort(sequence, kind="stable")
    order = by_sequence[np.argsort(keys[by_sequence], kind="stable")]
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], n] - 1
    ident_sorted = identities[order]
    writer_sorted = writers[order]
    same_data = np.minimum.reduceat(ident_sorted, starts) == np.maximum.reduceat(
        ident_sorted, starts
    )
    one_writer = np.minimum.reduceat(writer_sorted, starts) == np.maximum.reduceat(
        writer_sorted, starts
    )
    bad = ~(same_data | one_writer)
    conflicted = coords[order[starts[bad]]]
    pick = order[ends]  # the last write of each chunk (identical data, or one writer's latest)
    kind = np.array(
        [RefKind.NATIVE if rows[i][3] == "n" else RefKind.TOMBSTONE for i in pick.tolist()],
        dtype=np.uint8,
    )
    chunk_id = np.zeros((len(pick), 12), dtype=np.uint8)
    length = np.zeros(len(pick), dtype=np.uint64)
    checksum = np.zeros(len(pick), dtype=np.uint32)
    for j, i in enumerate(pick.tolist()):
        if rows[i][3] == "n":
            chunk_id[j] = np.frombuffer(decode_id(rows[i][4]), dtype=np.uint8)
            length[j] = int(rows[i][5])
            checksum[j] = int(rows[i][6], 16)
    table = ChunkRefs(
        coords=coords[pick],
        kind=kind,
        chunk_id=chunk_id,
        offset=np.zeros(len(pick), dtype=np.uint64),
        length=length,
        checksum=checksum,
        location=np.zeros(len(pick), dtype=np.uint32),
    )
    return table.sorted(), conflicted


async def seal(storage: Storage, session_token: str) -> None:
    """Mark a session's staging area closed before its markers are collected for good."""
    await storage.put(layout.staging_seal_key(session_token), b"")


async def unseal(storage: Storage, session_token: str) -> None:
    """Reopen the staging area (a commit that failed leaves the session writable)."""
    await storage.delete(layout.staging_seal_key(session_token))


async def delete_staged(storage: Storage, session_token: str) -> None:
    """Remove a session's markers after its commit (best effort; GC catches leftovers)."""
    prefix = layout.staging_prefix(session_token)
    seal_key = layout.staging_seal_key(session_token)
    keys = [f"{prefix}{m}" for m in await _list_markers(storage, session_token)]
    # the seal stays: copies still running must keep finding it (GC removes it later)
    keys = [k for k in keys if k != seal_key]
    if keys:
        await storage.delete_many(keys)
