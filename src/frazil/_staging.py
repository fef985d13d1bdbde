"""Staged writes: how copies of a writable store in other processes reach the commit.

When a writable session's store is pickled (Dask ships it to workers), the copy writes
each chunk object as usual and then records the write as an empty *marker* object whose
key encodes the array, the chunk coordinates, a per-copy sequence number and the chunk's
id, size and content digests::

    staging/<session>/<node>/<i.j.k>/<seq>.<writer>.<kind>.<chunk id>.<size>.<crc32c>.<digest>.<seen>

``seen`` names the session's pending write the copy saw at that chunk when it was pickled
(or ``none``). The coordinating session lists its staging prefix when it next reads after
shipping its store and at commit, and merges what it finds. Identical writes (a retried
task) collapse; a write whose copy saw the write it replaces wins (the session read the
store in between, as a second ``to_zarr`` does); different writes of one chunk by copies
that did not see each other are a conflict, never a silent pick. See
``docs/design/003-distributed-writes.md``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._changeset import ChangeSet, ChunkRef, ChunkWrites
from frazil._conflict_types import Conflict, ConflictType
from frazil._errors import ErrorKind, MergeConflictError, SessionStateError
from frazil.format import ChunkRefs, RefKind, coord_keys, decode_id, encode_id, layout

if TYPE_CHECKING:
    from frazil._workspace import NodeView, Workspace
    from frazil.storage import Storage

__all__ = ["StagingWriter", "collect_staged", "delete_staged", "ref_token", "seal", "unseal"]

_FIELDS = 8  # sequence, writer, kind, chunk id, size, crc32c, digest, seen
_NOTHING = "none"  # the copy saw no pending write at the chunk


class StagingWriter:
    """Records the chunk writes of one remote store copy as marker objects."""

    def __init__(
        self, storage: Storage, session_token: str, *, inherited: ChangeSet | None = None
    ) -> None:
        self._storage = storage
        self._token = session_token
        self._inherited = inherited
        self._writer = os.urandom(5).hex()
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def _seen(self, view: NodeView, coords: tuple[int, ...]) -> str:
        """The coordinator's pending reference this copy saw at ``coords`` (as a token)."""
        writes = self._inherited.chunks.get(view.node_id) if self._inherited else None
        ref = writes.lookup(coords) if writes is not None else None
        if ref is None or ref.kind == RefKind.VIRTUAL:
            return _NOTHING
        return ref_token(int(ref.kind), ref.chunk_id, ref.length, ref.checksum)

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
        fields += "." + self._seen(view, coords)
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
        if len(fields) != _FIELDS:
            continue
        by_node.setdefault(node_id, []).append([where, *fields])
    views = {v.node_id: v for v in ws.nodes.values()}
    out = ChangeSet()
    conflicts: list[Conflict] = []
    for node_id, rows in by_node.items():
        view = views.get(node_id)
        if view is None or view.kind != "array":
            # the session deleted (or replaced) the array after these writes, e.g. a
            # mode="w" rewrite after a failed write: deletion came later and wins
            continue
        ndim = view.layout.ndim
        table, conflicted, seen = _resolve_node(rows, ndim)
        if len(conflicted):
            conflicts.append(Conflict(ConflictType.ChunkDoubleUpdate, view.path, conflicted))
            continue
        # what each copy saw lets a merge tell a later overwrite from a race
        writes = out.chunks[node_id] = ChunkWrites(ndim, inherited=seen)
        writes.add_table(table, unique=True)
    if conflicts:
        lines = "\n".join(f"  - {c}" for c in conflicts[:20])
        raise MergeConflictError(
            "writes collected from remote copies of this session's store conflict: tasks "
            "that did not see each other's writes wrote different data into the same chunk:"
            f"\n{lines}\n"
            "Within one computation, make each task write its own chunks (align dask chunks "
            "with zarr chunks). A later write replaces an earlier one when this session "
            "read the store in between (as xarray's to_zarr does), or commit in between; "
            "frazil.xarray.to_frazil and frazil.dask.store_dask order such writes too. To "
            "start over, call session.discard_changes() and write again.",
            conflicts=conflicts,
        )
    return out


def ref_token(kind: int, chunk_id: bytes, length: int, checksum: int) -> str:
    """A reference's identity as one key-safe word (kind, chunk id, size, crc32c)."""
    cid = encode_id(chunk_id) if any(chunk_id) else "z"
    return f"{kind}-{cid}-{length:x}-{checksum:08x}"


def _token_refs(coords: np.ndarray[Any, Any], tokens: list[str]) -> ChunkRefs:
    """References rebuilt from tokens (identity only: what a merge compares)."""
    n = len(tokens)
    table = ChunkRefs.tombstones(coords)
    kind = np.zeros(n, dtype=np.uint8)
    chunk_id = np.zeros((n, 12), dtype=np.uint8)
    length = np.zeros(n, dtype=np.uint64)
    checksum = np.zeros(n, dtype=np.uint32)
    for i, token in enumerate(tokens):
        k, cid, size, crc = token.split("-")
        kind[i] = int(k)
        if cid != "z":
            chunk_id[i] = np.frombuffer(decode_id(cid), dtype=np.uint8)
        length[i] = int(size, 16)
        checksum[i] = int(crc, 16)
    return dataclasses.replace(
        table, kind=kind, chunk_id=chunk_id, length=length, checksum=checksum
    )


def _resolve_node(
    rows: list[list[str]], ndim: int
) -> tuple[ChunkRefs, np.ndarray[Any, Any], ChunkRefs]:
    """Resolve one array's markers: (writes, conflicted coordinates, what writers saw).

    A write whose copy saw another marker's write at that chunk (the session read it in
    between) replaces it; identical data collapses (retried tasks); one copy's later write
    wins over its earlier one; anything else is a conflict.
    """
    # a row: where, sequence, writer, kind, chunk id, size, crc32c, digest, seen
    tokens = [tokens_of(r) for r in rows]
    superseded = np.isin(
        np.array([f"{r[0]}/{t}" for r, t in zip(rows, tokens, strict=True)]),
        np.array([f"{r[0]}/{r[8]}" for r in rows if r[8] != _NOTHING]),
    )
    if bool(superseded.any()):
        keep = np.flatnonzero(~superseded).tolist()
        rows = [rows[i] for i in keep]
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
    picked_rows = [rows[i] for i in pick.tolist()]
    table = _token_refs(coords[pick], [tokens_of(r) for r in picked_rows])
    saw = [j for j, r in enumerate(picked_rows) if r[8] != _NOTHING]
    seen = _token_refs(coords[pick][saw], [picked_rows[j][8] for j in saw])
    return table.sorted(), conflicted, seen.sorted()


def tokens_of(row: list[str]) -> str:
    """The reference token of a parsed marker row."""
    if row[3] == "n":
        return ref_token(RefKind.NATIVE, decode_id(row[4]), int(row[5]), int(row[6], 16))
    return ref_token(RefKind.TOMBSTONE, b"", 0, 0)


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
