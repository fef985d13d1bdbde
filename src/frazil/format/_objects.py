"""The stored objects: repository root, refs, snapshots, manifests, transaction logs.

Each class is a frozen value with ``encode()`` and ``decode(data, key=...)``; the bytes
are an envelope (:mod:`frazil.format._envelope`) around a JSON header and NumPy columns.
See ``docs/design/001-format.md`` for the layout and how it evolves.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from frazil._errors import FormatError
from frazil.format._chunkrefs import ChunkRefs, locations_from_json, locations_to_json
from frazil.format._envelope import Compression, ObjectKind, decode_document, encode_document

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ANCESTOR_WINDOW",
    "CommitInfo",
    "Manifest",
    "ManifestRef",
    "ManifestSegment",
    "NodeRecord",
    "RefDoc",
    "RepoDoc",
    "Snapshot",
    "TransactionLog",
    "datetime_to_micros",
    "micros_to_datetime",
]

ANCESTOR_WINDOW = 50
"""How many ancestors' commit infos each snapshot repeats, so walking history of N commits
reads about N / 51 snapshots."""

type NodeKind = Literal["group", "array"]


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def micros_to_datetime(micros: int) -> datetime.datetime:
    """UTC datetime from integer microseconds since the epoch."""
    return _EPOCH + datetime.timedelta(microseconds=micros)


def datetime_to_micros(value: datetime.datetime) -> int:
    """Integer microseconds since the epoch of an aware datetime."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _encode(
    kind: ObjectKind,
    doc: Mapping[str, Any],
    columns: Mapping[str, np.ndarray[Any, Any]] | None,
    compression: Compression,
    level: int,
) -> bytes:
    return encode_document(kind, doc, columns, compression=compression, level=level)


def _field[T](doc: Mapping[str, Any], name: str, typ: type[T], key: str) -> T:
    value = doc.get(name)
    if not isinstance(value, typ):
        raise FormatError(f"object {key!r} has a malformed field {name!r}", key=key)
    return value


# ---------------------------------------------------------------------- repository root
@dataclass(frozen=True, slots=True, kw_only=True)
class RepoDoc:
    """The repository's root object: its identity and format version."""

    repo_id: str
    """Random id of the repository; forks from another repository are refused by it."""
    created_at: int
    """Creation time, microseconds since the epoch."""
    initial_snapshot_id: str
    """The "Repository initialized" snapshot."""
    writer: str
    """The frazil version that created the repository."""

    def encode(self) -> bytes:
        """Serialise."""
        doc = {
            "repo_id": self.repo_id,
            "created_at": self.created_at,
            "initial_snapshot_id": self.initial_snapshot_id,
            "writer": self.writer,
        }
        return _encode(ObjectKind.REPO, doc, None, Compression.NONE, 1)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> RepoDoc:
        """Parse and check."""
        doc, _ = decode_document(data, key=key, kind=ObjectKind.REPO)
        return cls(
            repo_id=_field(doc, "repo_id", str, key),
            created_at=_field(doc, "created_at", int, key),
            initial_snapshot_id=_field(doc, "initial_snapshot_id", str, key),
            writer=str(doc.get("writer", "")),
        )


# ---------------------------------------------------------------------- refs
@dataclass(frozen=True, slots=True, kw_only=True)
class RefDoc:
    """A branch or tag: the snapshot it points to and the unique token of this write."""

    snapshot_id: str
    """Target snapshot."""
    token: str
    """Random per write: makes every version's bytes unique and lets a writer whose response
    was lost recognise its own write by reading it back."""
    deleted: bool = False
    """Tags only: a tombstone that keeps a deleted tag's name from being reused."""

    def encode(self) -> bytes:
        """Serialise."""
        doc = {"snapshot_id": self.snapshot_id, "token": self.token, "deleted": self.deleted}
        return _encode(ObjectKind.REF, doc, None, Compression.NONE, 1)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> RefDoc:
        """Parse and check."""
        doc, _ = decode_document(data, key=key, kind=ObjectKind.REF)
        return cls(
            snapshot_id=_field(doc, "snapshot_id", str, key),
            token=_field(doc, "token", str, key),
            deleted=bool(doc.get("deleted", False)),
        )


# ---------------------------------------------------------------------- snapshots
class CommitInfo(NamedTuple):
    """What history shows of one snapshot.

    A named tuple rather than a frozen dataclass: every snapshot repeats
    :data:`ANCESTOR_WINDOW` of these, and a walk of the history decodes them by the
    hundred, so their construction cost counts (a tuple's is a third of a frozen
    dataclass's).
    """

    id: str
    """Snapshot id."""
    parent_id: str | None
    """Parent snapshot id; ``None`` for the first snapshot."""
    written_at: int
    """Commit time, microseconds since the epoch (strictly after the parent's)."""
    message: str
    """Commit message."""
    metadata: dict[str, Any]
    """User metadata (JSON values)."""

    def to_json(self) -> list[Any]:
        """Compact JSON form."""
        return [self.id, self.parent_id, self.written_at, self.message, self.metadata]

    @classmethod
    def from_json(cls, value: Any, *, key: str) -> CommitInfo:
        """Parse the compact JSON form (checked as :meth:`many_from_json` checks)."""
        return cls.many_from_json([value], key=key)[0]

    @classmethod
    def many_from_json(cls, values: Any, *, key: str) -> tuple[CommitInfo, ...]:
        """Parse a list of compact JSON forms (what a snapshot's ancestors are), checking
        every field's type, in one pass with no call per record."""
        make = tuple.__new__
        try:
            records = tuple(
                [
                    make(cls, (sid, parent, written, message, metadata or {}))
                    for sid, parent, written, message, metadata in values
                ]
            )
        except (TypeError, ValueError):
            raise FormatError(f"object {key!r} has a malformed commit record", key=key) from None
        for sid, parent, written, message, metadata in records:
            if not (
                type(sid) is str
                and type(written) is int
                and type(message) is str
                and (parent is None or type(parent) is str)
                and type(metadata) is dict
            ):
                raise FormatError(f"object {key!r} has a malformed commit record", key=key)
        return records


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRef:
    """Where the references of one block of an array live."""

    block: tuple[int, ...]
    """Block coordinates: chunk coordinates floor-divided by the node's split shape."""
    manifest_id: str
    """The manifest object holding the block."""
    rows: int
    """How many chunk references the block holds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRecord:
    """One group or array of a snapshot."""

    path: str
    """Absolute path, ``"/"`` for the root."""
    node_id: str
    """Stable id: kept across metadata updates and moves."""
    kind: NodeKind
    """``"group"`` or ``"array"``."""
    metadata: str
    """The node's ``zarr.json``, byte-for-byte as written."""
    split_shape: tuple[int, ...] | None = None
    """Arrays: the block shape (in chunks) by which references are split into manifests."""
    manifests: tuple[ManifestRef, ...] = ()
    """Arrays: the manifest blocks holding the chunk references."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "path": self.path,
            "id": self.node_id,
            "kind": self.kind,
            "meta": self.metadata,
        }
        if self.kind == "array":
            out["split"] = list(self.split_shape) if self.split_shape is not None else None
            out["manifests"] = [[list(m.block), m.manifest_id, m.rows] for m in self.manifests]
        return out

    @classmethod
    def from_json(cls, value: Any, *, key: str) -> NodeRecord:
        """Parse the JSON form."""
        if not isinstance(value, dict):
            raise FormatError(f"object {key!r} has a malformed node record", key=key)
        kind = value.get("kind")
        if kind not in ("group", "array"):
            raise FormatError(f"object {key!r} has a node of unknown kind {kind!r}", key=key)
        split = value.get("split")
        try:
            manifests = tuple(
                ManifestRef(block=tuple(int(b) for b in block), manifest_id=str(mid), rows=int(n))
                for block, mid, n in value.get("manifests", [])
            )
        except (TypeError, ValueError):
            raise FormatError(f"object {key!r} has malformed manifest refs", key=key) from None
        return cls(
            path=_field(value, "path", str, key),
            node_id=_field(value, "id", str, key),
            kind=kind,
            metadata=_field(value, "meta", str, key),
            split_shape=tuple(int(s) for s in split) if split is not None else None,
            manifests=manifests,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """A complete, immutable version of the hierarchy."""

    info: CommitInfo
    """This snapshot's own history record."""
    ancestors: tuple[CommitInfo, ...]
    """The nearest ancestors' records, parent first, at most :data:`ANCESTOR_WINDOW`."""
    nodes: Mapping[str, NodeRecord]
    """Groups and arrays by absolute path."""
    blob_keys: tuple[str, ...] = ()
    """Store keys that are neither metadata nor array chunks, aligned with ``blob_refs``."""
    blob_refs: ChunkRefs = field(default_factory=lambda: ChunkRefs.empty(0))
    """Where the bytes of those keys live."""
    flushed: bool = False
    """Written by ``flush`` (not on any branch when written)."""

    @property
    def id(self) -> str:
        """The snapshot id."""
        return self.info.id

    def encode(self, *, compression: Compression = Compression.ZSTD, level: int = 3) -> bytes:
        """Serialise."""
        doc = {
            "info": self.info.to_json(),
            "ancestors": [a.to_json() for a in self.ancestors],
            "nodes": [n.to_json() for n in self.nodes.values()],
            "blob_keys": list(self.blob_keys),
            "flushed": self.flushed,
        }
        refs = self.blob_refs.compact()
        doc["blob_locations"], pins = locations_to_json(refs.locations)
        if pins:
            doc["blob_location_pins"] = pins
        return _encode(ObjectKind.SNAPSHOT, doc, refs.columns(), compression, level)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> Snapshot:
        """Parse and check."""
        doc, columns = decode_document(data, key=key, kind=ObjectKind.SNAPSHOT)
        nodes_json = doc.get("nodes")
        if not isinstance(nodes_json, list):
            raise FormatError(f"object {key!r} has a malformed node table", key=key)
        nodes = {}
        for value in nodes_json:
            record = NodeRecord.from_json(value, key=key)
            nodes[record.path] = record
        blob_keys = tuple(str(k) for k in doc.get("blob_keys", []))
        refs = ChunkRefs.from_columns(columns, key=key).with_locations(
            locations_from_json(
                doc.get("blob_locations", []), doc.get("blob_location_pins", []), key=key
            )
        )
        if len(refs) != len(blob_keys):
            raise FormatError(f"object {key!r} has mismatched blob columns", key=key)
        return cls(
            info=CommitInfo.from_json(doc.get("info"), key=key),
            ancestors=CommitInfo.many_from_json(doc.get("ancestors", []), key=key),
            nodes=nodes,
            blob_keys=blob_keys,
            blob_refs=refs,
            flushed=bool(doc.get("flushed", False)),
        )

    def nbytes(self) -> int:
        """Approximate decoded size, for the byte-bounded cache."""
        size = 512 + self.blob_refs.nbytes() + sum(len(k) for k in self.blob_keys)
        for node in self.nodes.values():
            size += 200 + len(node.metadata) + 64 * len(node.manifests)
        return size + 150 * len(self.ancestors)


# ---------------------------------------------------------------------- manifests
@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestSegment:
    """The rows of one (node, block) inside a manifest."""

    node_id: str
    """The array the rows belong to."""
    block: tuple[int, ...]
    """The block of that array."""
    refs: ChunkRefs
    """The references, sorted by coordinates, no tombstones."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """Chunk references of one or more (array, block) pairs, as columns."""

    manifest_id: str
    """The manifest's id."""
    segments: tuple[ManifestSegment, ...]
    """Its blocks."""

    def encode(self, *, compression: Compression = Compression.ZSTD, level: int = 3) -> bytes:
        """Serialise: coordinates as one flat column, every other column concatenated."""
        flat_coords = []
        seg_json = []
        parts = []
        row = 0
        coord_pos = 0
        for seg in self.segments:
            refs = seg.refs.compact()
            n, ndim = refs.coords.shape
            seg_json.append([seg.node_id, list(seg.block), ndim, row, row + n, coord_pos])
            flat_coords.append(refs.coords.reshape(-1))
            row += n
            coord_pos += n * ndim
            parts.append(refs.with_coords(np.zeros((n, 0), dtype=np.int64)))
        merged = ChunkRefs.concat(parts, 0)
        if len(parts) > 1 and len(merged.locations):
            merged = merged.compact()  # one location table for every segment, deduplicated
        columns = merged.columns()
        columns["coords"] = (
            np.concatenate(flat_coords) if flat_coords else np.zeros(0, dtype=np.int64)
        )
        urls, pins = locations_to_json(merged.locations)
        doc: dict[str, Any] = {"id": self.manifest_id, "segments": seg_json, "locations": urls}
        if pins:
            doc["location_pins"] = pins
        return _encode(ObjectKind.MANIFEST, doc, columns, compression, level)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> Manifest:
        """Parse and check; segments are zero-copy views of the stored columns."""
        doc, columns = decode_document(data, key=key, kind=ObjectKind.MANIFEST)
        flat = columns.get("coords")
        if flat is None:
            raise FormatError(f"object {key!r} has no coordinate column", key=key)
        rows = ChunkRefs.from_columns(
            {**columns, "coords": np.zeros((len(columns.get("kind", [])), 0), dtype=np.int64)},
            key=key,
        )
        locations = locations_from_json(
            doc.get("locations", []), doc.get("location_pins", []), key=key
        )
        segments = []
        try:
            for node_id, block, ndim, start, stop, coord_pos in doc["segments"]:
                n = stop - start
                if start < 0 or stop > len(rows) or coord_pos + n * ndim > len(flat):
                    raise FormatError(f"object {key!r} has an out-of-range segment", key=key)
                coords = flat[coord_pos : coord_pos + n * ndim].reshape(n, ndim)
                segments.append(
                    ManifestSegment(
                        node_id=str(node_id),
                        block=tuple(int(b) for b in block),
                        refs=ChunkRefs(
                            coords=coords,
                            kind=rows.kind[start:stop],
                            chunk_id=rows.chunk_id[start:stop],
                            offset=rows.offset[start:stop],
                            length=rows.length[start:stop],
                            checksum=rows.checksum[start:stop],
                            location=rows.location[start:stop],
                            inline=rows.inline,
                            locations=locations,
                        ),
                    )
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"object {key!r} has malformed segments: {exc}", key=key) from exc
        return cls(manifest_id=str(doc.get("id", "")), segments=tuple(segments))

    def nbytes(self) -> int:
        """Approximate decoded size."""
        if not self.segments:
            return 256
        shared_inline = len(self.segments[0].refs.inline)
        return (
            256 + shared_inline + sum(s.refs.nbytes() - len(s.refs.inline) for s in self.segments)
        )


# ---------------------------------------------------------------------- transaction logs
@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionLog:
    """What one commit changed, by node id, so rebase needs no whole snapshots."""

    snapshot_id: str
    """The snapshot this commit wrote."""
    parent_id: str | None
    """Its parent."""
    new_groups: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path of groups created."""
    new_arrays: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path of arrays created."""
    deleted_groups: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path of groups deleted."""
    deleted_arrays: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path of arrays deleted."""
    updated_groups: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path of groups whose metadata changed."""
    updated_arrays: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path of arrays whose metadata changed."""
    moves: tuple[tuple[str, str], ...] = ()
    """(from, to) path pairs, in order."""
    chunks: Mapping[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    """Node id -> coordinates (n, ndim) of chunks written or deleted."""
    chunk_paths: Mapping[str, str] = field(default_factory=dict)
    """Node id -> path, for every key of ``chunks``."""
    blobs: tuple[str, ...] = ()
    """Other store keys written or deleted."""

    def encode(self, *, compression: Compression = Compression.ZSTD, level: int = 3) -> bytes:
        """Serialise."""
        node_order = list(self.chunks)
        doc = {
            "snapshot_id": self.snapshot_id,
            "parent_id": self.parent_id,
            "new_groups": dict(self.new_groups),
            "new_arrays": dict(self.new_arrays),
            "deleted_groups": dict(self.deleted_groups),
            "deleted_arrays": dict(self.deleted_arrays),
            "updated_groups": dict(self.updated_groups),
            "updated_arrays": dict(self.updated_arrays),
            "moves": [list(m) for m in self.moves],
            "chunk_nodes": [[nid, self.chunk_paths.get(nid, "")] for nid in node_order],
            "blobs": list(self.blobs),
        }
        columns = {f"c{i}": self.chunks[nid] for i, nid in enumerate(node_order)}
        return _encode(ObjectKind.TRANSACTION, doc, columns, compression, level)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> TransactionLog:
        """Parse and check."""
        doc, columns = decode_document(data, key=key, kind=ObjectKind.TRANSACTION)

        def mapping(name: str) -> dict[str, str]:
            value = doc.get(name, {})
            if not isinstance(value, dict):
                raise FormatError(f"object {key!r} has a malformed field {name!r}", key=key)
            return {str(k): str(v) for k, v in value.items()}

        chunks: dict[str, np.ndarray[Any, Any]] = {}
        paths: dict[str, str] = {}
        for i, (nid, path) in enumerate(doc.get("chunk_nodes", [])):
            column = columns.get(f"c{i}")
            if column is None or column.ndim != 2:
                raise FormatError(f"object {key!r} is missing chunk column {i}", key=key)
            chunks[str(nid)] = column.astype(np.int64, copy=False)
            paths[str(nid)] = str(path)
        return cls(
            snapshot_id=_field(doc, "snapshot_id", str, key),
            parent_id=doc.get("parent_id"),
            new_groups=mapping("new_groups"),
            new_arrays=mapping("new_arrays"),
            deleted_groups=mapping("deleted_groups"),
            deleted_arrays=mapping("deleted_arrays"),
            updated_groups=mapping("updated_groups"),
            updated_arrays=mapping("updated_arrays"),
            moves=tuple((str(a), str(b)) for a, b in doc.get("moves", [])),
            chunks=chunks,
            chunk_paths=paths,
            blobs=tuple(str(b) for b in doc.get("blobs", [])),
        )

    def nbytes(self) -> int:
        """Approximate decoded size."""
        return (
            512
            + sum(c.nbytes + 64 for c in self.chunks.values())
            + 100
            * (
                len(self.new_groups)
                + len(self.new_arrays)
                + len(self.deleted_groups)
                + len(self.deleted_arrays)
                + len(self.updated_groups)
                + len(self.updated_arrays)
                + len(self.blobs)
            )
        )
