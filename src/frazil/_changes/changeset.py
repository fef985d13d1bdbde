"""Uncommitted changes, kept columnar so that merging and committing them is vectorised.

A :class:`ChangeSet` records, relative to a base snapshot:

* node operations: nodes created, metadata updated, nodes deleted, moves;
* chunk writes per array node, in :class:`ChunkWrites` (a small log-structured set of
  :class:`~frazil.format.ChunkRefs` tables);
* writes of other store keys ("blobs").

A fork's change set also carries the changes it *inherited* from the session it was forked
from, read-only, so that it sees them; only its own changes travel back on merge.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from frazil._errors import ErrorKind, FormatError
from frazil.format import ChunkRefs, RefIndex, RefKind, coord_keys, decode_id, encode_id

__all__ = [
    "ChangeSet",
    "ChunkRef",
    "ChunkWrites",
    "NodeOp",
    "inheriting",
    "matching_rows",
    "ref_at",
    "refs_identical",
]


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """One chunk reference, as returned by a lookup (never stored per chunk)."""

    kind: RefKind
    """What the reference points to."""
    chunk_id: bytes
    """Native chunks: the 12 id bytes."""
    offset: int
    """Virtual: byte offset in the location."""
    length: int
    """Size in bytes."""
    checksum: int
    """crc32c of the bytes (inline and native)."""
    location: str | None = None
    """Virtual: the URL holding the bytes."""
    data: bytes | None = None
    """Inline: the bytes themselves."""


def ref_at(table: ChunkRefs, row: int) -> ChunkRef:
    """The reference in ``row`` of ``table``."""
    kind = RefKind(int(table.kind[row]))
    offset = int(table.offset[row])
    length = int(table.length[row])
    data = table.inline[offset : offset + length] if kind == RefKind.INLINE else None
    location = table.locations[int(table.location[row])] if kind == RefKind.VIRTUAL else None
    return ChunkRef(
        kind=kind,
        chunk_id=table.chunk_id[row].tobytes(),
        offset=offset,
        length=length,
        checksum=int(table.checksum[row]),
        location=location,
        data=data,
    )


_SEAL_ROWS = 8192
_NO_ROWS: np.ndarray[Any, Any] = np.zeros(0, dtype=np.uint8)
"""Placeholder columns of an open buffer that has not been written to yet."""
_MAX_SEGMENTS = 8


class ChunkWrites:
    """Pending chunk writes of one array.

    New rows go to an open buffer (with a dict for read-your-writes lookups); every
    ``_SEAL_ROWS`` rows the buffer is sealed into an immutable, deduplicated table with a
    binary-search index, and sealed tables are periodically compacted into one. Later rows
    win over earlier ones for the same coordinates.
    """

    def __init__(self, ndim: int, *, inherited: ChunkRefs | None = None) -> None:
        self.ndim = ndim
        self.version = 0
        self._lock = threading.RLock()
        self._segments: list[ChunkRefs] = []
        self._indexes: list[RefIndex | None] = []
        self._inherited = inherited
        self._inherited_index: RefIndex | None = None
        self._reset_open()
        self._cache: ChunkRefs | None = None

    def _reset_open(self) -> None:
        # the open buffer's columns are made on the first put: most ChunkWrites (those of
        # merges and unpickled forks) only ever hold whole tables
        self._n = 0
        self._coords = _NO_ROWS
        self._kind = _NO_ROWS
        self._chunk_id = _NO_ROWS
        self._offset = _NO_ROWS
        self._length = _NO_ROWS
        self._checksum = _NO_ROWS
        self._location = _NO_ROWS
        self._inline = bytearray()
        self._locations: list[str] = []
        self._open_index: dict[tuple[int, ...], int] = {}

    def _allocate(self) -> None:
        cap = 64
        self._coords = np.zeros((cap, self.ndim), dtype=np.int64)
        self._kind = np.zeros(cap, dtype=np.uint8)
        self._chunk_id = np.zeros((cap, 12), dtype=np.uint8)
        self._offset = np.zeros(cap, dtype=np.uint64)
        self._length = np.zeros(cap, dtype=np.uint64)
        self._checksum = np.zeros(cap, dtype=np.uint32)
        self._location = np.zeros(cap, dtype=np.uint32)

    def _grow(self) -> None:
        if self._kind is _NO_ROWS:
            self._allocate()
            return
        cap = 2 * len(self._kind)
        for name in (
            "_coords",
            "_kind",
            "_chunk_id",
            "_offset",
            "_length",
            "_checksum",
            "_location",
        ):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    # ------------------------------------------------------------------ writes
    def put(
        self,
        coords: tuple[int, ...],
        *,
        kind: RefKind,
        chunk_id: bytes = b"",
        length: int = 0,
        checksum: int = 0,
        data: bytes | None = None,
        offset: int = 0,
        location: str | None = None,
    ) -> None:
        """Record one chunk write (or a tombstone)."""
        with self._lock:
            if self._n == len(self._kind):
                self._grow()
            i = self._n
            self._coords[i] = coords
            self._kind[i] = kind
            if chunk_id:
                self._chunk_id[i] = np.frombuffer(chunk_id, dtype=np.uint8)
            else:
                self._chunk_id[i] = 0
            if kind == RefKind.INLINE:
                assert data is not None
                self._offset[i] = len(self._inline)
                self._inline += data
                self._length[i] = len(data)
            else:
                self._offset[i] = offset
                self._length[i] = length
            self._checksum[i] = checksum
            if location is not None:
                self._location[i] = len(self._locations)
                self._locations.append(location)
            else:
                self._location[i] = 0
            self._open_index[coords] = i
            self._n += 1
            self.version += 1
            self._cache = None
            if self._n >= _SEAL_ROWS:
                self._seal()

    def _open_table(self) -> ChunkRefs:
        n = self._n
        return ChunkRefs(
            coords=self._coords[:n].copy(),
            kind=self._kind[:n].copy(),
            chunk_id=self._chunk_id[:n].copy(),
            offset=self._offset[:n].copy(),
            length=self._length[:n].copy(),
            checksum=self._checksum[:n].copy(),
            location=self._location[:n].copy(),
            inline=bytes(self._inline),
            locations=tuple(self._locations),
        )

    def _seal(self) -> None:
        if self._n == 0:
            return
        table = self._open_table().dedup_last()
        self._segments.append(table)
        self._indexes.append(None)
        self._reset_open()
        if len(self._segments) > _MAX_SEGMENTS:
            merged = ChunkRefs.concat(self._segments, self.ndim).dedup_last().compact()
            self._segments = [merged]
            self._indexes = [None]

    def add_table(self, refs: ChunkRefs, *, unique: bool = False) -> None:
        """Append a whole table of writes (from a merge); it wins over earlier rows.

        ``unique=True`` promises the table is sorted and has no repeated coordinates (as
        every table returned by :meth:`own` is), which saves a sort.
        """
        if not len(refs):
            return
        with self._lock:
            self._seal()
            self._segments.append(refs if unique else refs.dedup_last())
            self._indexes.append(None)
            self.version += 1
            self._cache = None

    def replace(self, refs: ChunkRefs) -> None:
        """Replace every own write by ``refs`` (used by rebase resolutions)."""
        with self._lock:
            self._reset_open()
            self._segments = [refs] if len(refs) else []
            self._indexes = [None] * len(self._segments)
            self.version += 1
            self._cache = None

    # ------------------------------------------------------------------ reads
    def lookup(self, coords: tuple[int, ...]) -> ChunkRef | None:
        """The newest pending reference for ``coords`` (own, then inherited), or None."""
        with self._lock:
            row = self._open_index.get(coords)
            if row is not None:
                return ref_at(self._open_table_view(), row)
            for pos in range(len(self._segments) - 1, -1, -1):
                index = self._indexes[pos]
                if index is None:
                    index = self._indexes[pos] = RefIndex(self._segments[pos].coords)
                hit = index.find(coords)
                if hit >= 0:
                    return ref_at(self._segments[pos], hit)
            if self._inherited is not None and len(self._inherited):
                if self._inherited_index is None:
                    self._inherited_index = RefIndex(self._inherited.coords)
                hit = self._inherited_index.find(coords)
                if hit >= 0:
                    return ref_at(self._inherited, hit)
        return None

    def _open_table_view(self) -> ChunkRefs:
        n = self._n
        return ChunkRefs(
            coords=self._coords[:n],
            kind=self._kind[:n],
            chunk_id=self._chunk_id[:n],
            offset=self._offset[:n],
            length=self._length[:n],
            checksum=self._checksum[:n],
            location=self._location[:n],
            inline=bytes(self._inline),
            locations=tuple(self._locations),
        )

    def own(self) -> ChunkRefs:
        """This change set's own writes: deduplicated, sorted, tombstones included."""
        with self._lock:
            if self._cache is not None:
                return self._cache
            if self._n == 0 and len(self._segments) == 1:
                # sealed and merged segments are deduplicated already
                self._cache = self._segments[0]
                return self._cache
            parts = [*self._segments]
            if self._n:
                parts.append(self._open_table())
            table = (
                ChunkRefs.concat(parts, self.ndim).dedup_last()
                if parts
                else ChunkRefs.empty(self.ndim)
            )
            if len(parts) > 1 or self._n:
                table = table.compact()
                self._reset_open()
                self._segments = [table] if len(table) else []
                self._indexes = [None] * len(self._segments)
            self._cache = table
            return table

    def effective(self) -> ChunkRefs:
        """Inherited writes overlaid with own writes (what a reader of this fork sees)."""
        own = self.own()
        if self._inherited is None or not len(self._inherited):
            return own
        merged = ChunkRefs.concat([self._inherited, own], self.ndim)
        return merged.dedup_last()

    @property
    def inherited(self) -> ChunkRefs | None:
        """Writes inherited from the session this fork was made from."""
        return self._inherited

    def has_own(self) -> bool:
        """Whether this change set wrote anything to the array itself."""
        return self._n > 0 or bool(self._segments)  # segments are never empty


@dataclass(slots=True)
class NodeOp:
    """A node created in this change set (its current state)."""

    node_id: str
    path: str
    kind: str
    metadata: str


@dataclass(slots=True)
class ChangeSet:
    """Everything a writable session changed since its base snapshot."""

    created: dict[str, NodeOp] = field(default_factory=dict)
    """Nodes created here, by node id."""
    updated: dict[str, str] = field(default_factory=dict)
    """Base nodes whose metadata was replaced: node id -> new metadata."""
    deleted: dict[str, str] = field(default_factory=dict)
    """Base nodes deleted: node id -> path in the base."""
    moves: list[tuple[str, str]] = field(default_factory=list)
    """Node moves (from path, to path), in order."""
    chunks: dict[str, ChunkWrites] = field(default_factory=dict)
    """Chunk writes by array node id."""
    blobs: dict[str, ChunkRef | None] = field(default_factory=dict)
    """Other store keys written (a reference) or deleted (None)."""
    inherited: ChangeSet | None = None
    """A fork's read-only view of its parent session's changes."""
    lineage: str | None = None
    """A fork's fingerprint of what it inherited (equal for forks of one parent state)."""
    mixed: bool = False
    """Set when a fork merged in forks of another lineage: its rows no longer all come
    from writers that saw its inherited changes, so none may replace a parent's row."""

    def is_empty(self) -> bool:
        """True if this change set (not counting inherited changes) changed nothing."""
        return not (
            self.created
            or self.updated
            or self.deleted
            or self.moves
            or self.blobs
            or any(w.has_own() for w in self.chunks.values())
        )

    def writes_for(self, node_id: str, ndim: int) -> ChunkWrites:
        """The chunk writes of a node, created on first use."""
        writes = self.chunks.get(node_id)
        if writes is None or writes.ndim != ndim:
            inherited = None
            if self.inherited is not None:
                parent = self.inherited.chunks.get(node_id)
                if parent is not None and parent.ndim == ndim:
                    inherited = parent.effective()
            writes = self.chunks[node_id] = ChunkWrites(ndim, inherited=inherited)
        return writes

    def drop_node(self, node_id: str) -> None:
        """Forget the chunk writes of a node that was deleted."""
        self.chunks.pop(node_id, None)

    # ------------------------------------------------------------------ copies
    def copy(self) -> ChangeSet:
        """An independent copy (chunk tables are immutable and shared)."""
        out = ChangeSet(
            created={
                k: NodeOp(v.node_id, v.path, v.kind, v.metadata) for k, v in self.created.items()
            },
            updated=dict(self.updated),
            deleted=dict(self.deleted),
            moves=list(self.moves),
            blobs=dict(self.blobs),
            inherited=self.inherited,
            lineage=self.lineage,
            mixed=self.mixed,
        )
        for node_id, writes in self.chunks.items():
            copy = ChunkWrites(writes.ndim, inherited=writes.inherited)
            copy.add_table(writes.own(), unique=True)
            out.chunks[node_id] = copy
        return out

    # ------------------------------------------------------------------ forks
    def flatten(self) -> ChangeSet:
        """One layer with the inherited changes and this change set's own applied over them.

        Node operations on nodes created in the inherited layer fold into their creation;
        chunk tables become the effective (inherited overlaid with own) tables.
        """
        base = self.inherited.flatten() if self.inherited is not None else ChangeSet()
        out = ChangeSet(
            created={
                k: NodeOp(v.node_id, v.path, v.kind, v.metadata) for k, v in base.created.items()
            },
            updated=dict(base.updated),
            deleted=dict(base.deleted),
            moves=[*base.moves, *self.moves],
            blobs={**base.blobs, **self.blobs},
        )
        for node_id, op in self.created.items():
            out.created[node_id] = NodeOp(op.node_id, op.path, op.kind, op.metadata)
        for node_id, metadata in self.updated.items():
            if node_id in out.created:
                out.created[node_id].metadata = metadata
            else:
                out.updated[node_id] = metadata
        for node_id, path in self.deleted.items():
            if out.created.pop(node_id, None) is None:
                out.deleted[node_id] = path
                out.updated.pop(node_id, None)
        for node_id, writes in self.chunks.items():
            if node_id in self.deleted:
                continue
            flat = ChunkWrites(writes.ndim)
            flat.add_table(writes.effective())
            out.chunks[node_id] = flat
        for node_id, writes in base.chunks.items():
            if node_id not in out.chunks and node_id not in self.deleted:
                out.chunks[node_id] = writes
        return out

    def fork(self) -> ChangeSet:
        """A new, empty change set that inherits (read-only) everything this one has."""
        return inheriting(self.flatten())

    # ------------------------------------------------------------------ serialisation
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
        """A JSON document and NumPy columns describing this change set (for pickling and
        for publishing forks); the inherited layer is included."""
        doc: dict[str, Any] = {
            "created": [
                [op.node_id, op.path, op.kind, op.metadata] for op in self.created.values()
            ],
            "updated": self.updated,
            "deleted": self.deleted,
            "moves": [list(m) for m in self.moves],
            "chunks": [],
            "blobs": [],
            "inherited": None,
            "lineage": self.lineage,
            "mixed": self.mixed,
        }
        columns: dict[str, np.ndarray[Any, Any]] = {}
        for i, (node_id, writes) in enumerate(self.chunks.items()):
            table = writes.own()
            doc["chunks"].append([node_id, writes.ndim, list(table.locations)])
            for name, column in table.columns().items():
                columns[f"w{i}.{name}"] = column
        blob_rows = [(k, r) for k, r in self.blobs.items()]
        doc["blobs"] = [
            [k, None]
            if r is None
            else [
                k,
                [
                    int(r.kind),
                    encode_id(r.chunk_id) if r.chunk_id.strip(b"\0") else "",
                    r.offset,
                    r.length,
                    r.checksum,
                    r.location,
                ],
            ]
            for k, r in blob_rows
        ]
        blob_data = [r.data for _, r in blob_rows if r is not None and r.data is not None]
        columns["blobdata"] = np.frombuffer(b"".join(blob_data), dtype=np.uint8)
        if self.inherited is not None:
            inner_doc, inner_cols = self.inherited.to_state()
            doc["inherited"] = inner_doc
            for name, column in inner_cols.items():
                columns[f"i.{name}"] = column
        return doc, columns

    @classmethod
    def from_state(
        cls, doc: dict[str, Any], columns: dict[str, np.ndarray[Any, Any]], *, key: str
    ) -> ChangeSet:
        """Rebuild a change set written by :meth:`to_state`."""
        try:
            inherited = None
            if doc.get("inherited") is not None:
                inner = {k[2:]: v for k, v in columns.items() if k.startswith("i.")}
                inherited = cls.from_state(doc["inherited"], inner, key=key)
            out = cls(
                created={
                    nid: NodeOp(str(nid), str(path), str(kind), str(meta))
                    for nid, path, kind, meta in doc["created"]
                },
                updated={str(k): str(v) for k, v in doc["updated"].items()},
                deleted={str(k): str(v) for k, v in doc["deleted"].items()},
                moves=[(str(a), str(b)) for a, b in doc["moves"]],
                inherited=inherited,
                lineage=None if doc.get("lineage") is None else str(doc["lineage"]),
                mixed=bool(doc.get("mixed", False)),
            )
            for i, (node_id, ndim, locations) in enumerate(doc["chunks"]):
                prefix = f"w{i}."
                cols = {
                    k.removeprefix(prefix): v for k, v in columns.items() if k.startswith(prefix)
                }
                # the row count comes from a 1-d column: 0-d arrays have no coordinates
                cols["coords"] = cols["coords"].reshape(len(cols["kind"]), int(ndim))
                table = ChunkRefs.from_columns(cols, key=key).with_locations(
                    tuple(str(x) for x in locations)
                )
                writes = out.writes_for(str(node_id), int(ndim))
                writes.add_table(table, unique=True)
            blob_data = columns.get("blobdata", np.zeros(0, dtype=np.uint8)).tobytes()
            pos = 0
            for blob_key, ref in doc["blobs"]:
                if ref is None:
                    out.blobs[str(blob_key)] = None
                    continue
                kind, chunk_id, offset, length, checksum, location = ref
                data = None
                if RefKind(kind) == RefKind.INLINE:
                    data = blob_data[pos : pos + length]
                    pos += length
                out.blobs[str(blob_key)] = ChunkRef(
                    kind=RefKind(kind),
                    chunk_id=decode_id(chunk_id) if chunk_id else b"",
                    offset=int(offset),
                    length=int(length),
                    checksum=int(checksum),
                    location=location,
                    data=data,
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"object {key!r} holds a malformed change set: {exc}",
                key=key,
                kind=ErrorKind.CORRUPT_OBJECT,
            ) from exc
        return out


def inheriting(parent: ChangeSet) -> ChangeSet:
    """A fork's empty change set over ``parent`` (a flattened change set)."""
    digest = hashlib.blake2b(digest_size=12)
    doc = {
        "created": sorted([k, v.path, v.kind, v.metadata] for k, v in parent.created.items()),
        "updated": sorted(parent.updated.items()),
        "deleted": sorted(parent.deleted.items()),
        "moves": parent.moves,
        "blobs": sorted(parent.blobs),
    }
    digest.update(json.dumps(doc).encode())
    for node_id in sorted(parent.chunks):
        table = parent.chunks[node_id].effective()
        digest.update(node_id.encode())
        for column in (table.coords, table.kind, table.chunk_id, table.length, table.checksum):
            digest.update(np.ascontiguousarray(column).tobytes())
    return ChangeSet(inherited=parent, lineage=digest.hexdigest())


def refs_identical(a: ChunkRefs, b: ChunkRefs) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Row-wise: do two aligned tables reference the very same bytes?"""
    same = (a.kind == b.kind) & (a.length == b.length) & (a.checksum == b.checksum)
    same &= np.all(a.chunk_id == b.chunk_id, axis=1)
    virtual = a.kind == RefKind.VIRTUAL
    if bool(virtual.any()):
        same &= ~virtual | (a.offset == b.offset)
        la = np.asarray((*a.locations, ""), dtype=object)[
            np.where(virtual, a.location, len(a.locations))
        ]
        lb = np.asarray((*b.locations, ""), dtype=object)[
            np.where(virtual, b.location, len(b.locations))
        ]
        same &= np.asarray(la == lb, dtype=bool)
    return np.asarray(same, dtype=bool)


def matching_rows(a: ChunkRefs, b: ChunkRefs) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Index pairs (ia, ib) of rows with equal coordinates in two deduplicated tables."""
    if not len(a) or not len(b):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    ka, kb = coord_keys([a.coords, b.coords])
    order_b = np.argsort(kb, kind="stable")
    sorted_b = kb[order_b]
    pos = np.minimum(np.searchsorted(sorted_b, ka), len(sorted_b) - 1)
    hit = sorted_b[pos] == ka
    ia = np.flatnonzero(hit)
    ib = order_b[pos[hit]]
    return ia, ib
