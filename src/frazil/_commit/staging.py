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

from frazil._changes import ChangeSet, ChunkRef, ChunkWrites, Conflict, ConflictType
from frazil._errors import ErrorKind, MergeConflictError, SessionStateError
from frazil.format import ChunkRefs, RefKind, coord_keys, decode_id, encode_id, layout

if TYPE_CHECKING:
    from frazil._changes import NodeView, Workspace
    from frazil.storage import Storage

__all__ = ["StagingWriter", "collect_staged", "delete_staged", "seal", "unseal"]

_FIELDS = 8  # sequence, writer, kind, chunk id, size, crc32c, digest, seen
_SEEN = 8  # index of "seen" in a parsed row (after "where")
_NAME = 9  # index of the marker's own name in a parsed row
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
        return _ref_token(int(ref.kind), ref.chunk_id, ref.length, ref.checksum)

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


async def collect_staged(
    storage: Storage, session_token: str, ws: Workspace, *, collected: set[str] | frozenset[str]
) -> tuple[ChangeSet | None, list[str]]:
    """The staged writes not yet taken in, as a change set, and the markers listed.

    ``collected`` names the markers an earlier call already took in; they still decide
    which write wins (a copy's later write replaces its earlier one), but only writes that
    win over them are returned, with what they replace, so a merge can tell a later
    overwrite from a race.

    Raises
    ------
    MergeConflictError
        If copies that did not see each other wrote different data to the same chunk.
    """
    markers = await _list_markers(storage, session_token)
    by_node: dict[str, list[list[str]]] = {}
    for marker in markers:
        parts = marker.split("/")
        if len(parts) != 3:
            continue
        node_id, where, rest = parts
        fields = rest.split(".")
        if len(fields) != _FIELDS:
            continue
        by_node.setdefault(node_id, []).append([where, *fields, marker])
    views = {v.node_id: v for v in ws.nodes.values()}
    out = ChangeSet()
    conflicts: list[Conflict] = []
    for node_id, rows in by_node.items():
        view = views.get(node_id)
        if view is None or view.kind != "array":
            # the session deleted (or replaced) the array after these writes, e.g. a
            # mode="w" rewrite after a failed write: deletion came later and wins
            continue
        if all(r[_NAME] in collected for r in rows):
            continue
        ndim = view.layout.ndim
        winners, conflicted = _resolve_node(rows, ndim)
        if len(conflicted):
            conflicts.append(Conflict(ConflictType.ChunkDoubleUpdate, view.path, conflicted))
            continue
        before, _ = _resolve_node([r for r in rows if r[_NAME] in collected], ndim)
        previous = {r[0]: _token_of(r) for r in before}
        fresh = [r for r in winners if r[_NAME] not in collected]
        if not fresh:
            continue
        # a fresh write replaces what the session took in before at that chunk, or else
        # what its copy saw there when it was pickled
        replaced = [previous.get(r[0], r[_SEEN]) for r in fresh]
        table = _token_refs(_coords(fresh, ndim), [_token_of(r) for r in fresh])
        saw = [i for i, token in enumerate(replaced) if token != _NOTHING]
        seen = _token_refs(_coords([fresh[i] for i in saw], ndim), [replaced[i] for i in saw])
        writes = out.chunks[node_id] = ChunkWrites(ndim, inherited=seen.sorted())
        writes.add_table(table.sorted(), unique=True)
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
    return (out if out.chunks else None), markers


def _ref_token(kind: int, chunk_id: bytes, length: int, checksum: int) -> str:
    """A reference's identity as one key-safe word (kind, chunk id, size, crc32c)."""
    cid = encode_id(chunk_id) if any(chunk_id) else "z"
    return f"{int(kind)}-{cid}-{length:x}-{checksum:08x}"


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


def _coords(rows: list[list[str]], ndim: int) -> np.ndarray[Any, Any]:
    coords = np.zeros((len(rows), ndim), dtype=np.int64)
    if ndim:
        for i, row in enumerate(rows):
            coords[i] = [int(c) for c in row[0].split(".")]
    return coords


def _identity(row: list[str]) -> str:
    # identical data has equal kind, size, crc32c and digest; the chunk ids always differ
    return f"{row[3]}.{row[5]}.{row[6]}.{row[7]}"


def _superseded(rows: list[list[str]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Markers replaced by a write whose copy saw them, with the rest of their lineage:
    the same copy's earlier writes of that chunk and identical retries of them."""
    tokens = np.array([f"{r[0]}/{_token_of(r)}" for r in rows])
    seen = np.array([f"{r[0]}/{r[_SEEN]}" for r in rows])
    direct = np.isin(tokens, seen[np.array([r[_SEEN] != _NOTHING for r in rows])])
    if not bool(direct.any()):
        return direct
    replacers = np.isin(seen, tokens)  # writes that replaced something stay
    gone = direct.copy()
    while True:  # spread to a fixed point: lineages can chain through several copies
        last_seq: dict[tuple[str, str], int] = {}
        identities: set[tuple[str, str]] = set()
        for i in np.flatnonzero(gone).tolist():
            row = rows[i]
            key = (row[0], row[2])
            last_seq[key] = max(last_seq.get(key, -1), int(row[1], 16))
            identities.add((row[0], _identity(row)))
        grew = False
        for i, row in enumerate(rows):
            if gone[i] or replacers[i]:
                continue
            earlier = int(row[1], 16) <= last_seq.get((row[0], row[2]), -1)
            if earlier or (row[0], _identity(row)) in identities:
                gone[i] = True
                grew = True
        if not grew:
            return gone


def _resolve_node(rows: list[list[str]], ndim: int) -> tuple[list[list[str]], np.ndarray[Any, Any]]:
    """The winning marker of every chunk, and the coordinates in conflict.

    A write whose copy saw another write at that chunk replaces it (and that write's
    lineage); identical data collapses (retried tasks); one copy's later write wins over
    its earlier one; anything else is a conflict.
    """
    if not rows:
        return [], np.zeros((0, ndim), dtype=np.int64)
    gone = _superseded(rows)
    if bool(gone.any()):
        rows = [r for r, g in zip(rows, gone.tolist(), strict=True) if not g]
    coords = _coords(rows, ndim)
    sequence = np.array([int(r[1], 16) for r in rows], dtype=np.int64)
    writers = np.unique(np.array([r[2] for r in rows]), return_inverse=True)[1]
    identities = np.unique(np.array([_identity(r) for r in rows]), return_inverse=True)[1]
    (keys,) = coord_keys([coords])
    # each copy's last write of each chunk (its earlier ones it replaced itself)
    order = np.lexsort((sequence, writers, keys))
    k, w = keys[order], writers[order]
    last = np.r_[(k[1:] != k[:-1]) | (w[1:] != w[:-1]), True]
    finals = order[last]
    # the copies' last writes of one chunk must agree (a retried task writes the same)
    fk = keys[finals]
    starts = np.flatnonzero(np.r_[True, fk[1:] != fk[:-1]])
    ident = identities[finals]
    agree = np.minimum.reduceat(ident, starts) == np.maximum.reduceat(ident, starts)
    conflicted = coords[finals[starts[~agree]]]
    ends = np.r_[starts[1:], len(finals)] - 1
    pick = finals[ends]
    return [rows[i] for i in pick.tolist()], conflicted


_DELETED = _ref_token(RefKind.TOMBSTONE, b"", 0, 0)


def _token_of(row: list[str]) -> str:
    """The token of a parsed marker row: what :func:`_ref_token` gives for its reference
    (the marker already spells the chunk id and crc32c the same way)."""
    if row[3] == "n":
        return f"{int(RefKind.NATIVE)}-{row[4]}-{int(row[5]):x}-{row[6]}"
    return _DELETED


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
