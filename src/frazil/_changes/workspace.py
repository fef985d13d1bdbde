"""A session's working view: a base snapshot overlaid with a change set.

The :class:`Workspace` answers "which nodes exist, with what metadata, and where does
chunk X live" for sessions, and records node, chunk and key writes in the change set. It
knows nothing of zarr's store API: :mod:`frazil._changes.keys` turns store keys into
nodes and chunk coordinates, and the session's store makes these calls.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._changes.changeset import ChangeSet, ChunkRef, NodeOp, ref_at
from frazil._changes.zarrmeta import ArrayLayout, parse_node_metadata
from frazil._errors import AlreadyExistsError, ErrorKind, InvalidInputError, NodeNotFoundError
from frazil._repo import Diff, net_moves
from frazil.format import ChunkRefs, RefKind, new_id, split_location

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from frazil._repo import RepoIO
    from frazil.format import ManifestRef, NodeRecord, Snapshot

__all__ = [
    "NodeView",
    "Workspace",
    "child_path",
    "join_path",
    "normalize_path",
    "parent_path",
]


def join_path(parent: str, name: str) -> str:
    """``"/a"`` + ``"b"`` -> ``"/a/b"``; root is ``"/"``."""
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


def parent_path(path: str) -> str:
    """Parent of an absolute path (``"/"`` for top-level nodes)."""
    head = path.rpartition("/")[0]
    return head or "/"


def child_path(path: str, ancestor: str) -> bool:
    """Whether ``path`` is ``ancestor`` or lies below it."""
    if ancestor == "/":
        return True
    return path == ancestor or path.startswith(ancestor + "/")


class NodeView:
    """One node as a session sees it."""

    __slots__ = ("_layout", "base", "kind", "metadata", "node_id", "path")

    def __init__(
        self, *, path: str, node_id: str, kind: str, metadata: str, base: NodeRecord | None
    ) -> None:
        self.path = path
        self.node_id = node_id
        self.kind = kind
        self.metadata = metadata
        self.base = base
        self._layout: ArrayLayout | None = None

    @property
    def layout(self) -> ArrayLayout:
        """The array's chunk layout (arrays only)."""
        if self._layout is None:
            parsed = parse_node_metadata(self.metadata, path=self.path)
            if parsed is None or parsed.array is None:
                raise InvalidInputError(
                    f"node {self.path!r} is not an array", kind=ErrorKind.INVALID_PATH
                )
            self._layout = parsed.array
        return self._layout

    @property
    def is_array(self) -> bool:
        """Whether the node is an array."""
        return self.kind == "array"


class Workspace:
    """Base snapshot + change set, with node-level reads and writes."""

    def __init__(self, io: RepoIO, base: Snapshot, changes: ChangeSet | None) -> None:
        self.io = io
        self.base = base
        self.changes = changes
        self.lock = threading.RLock()
        self.nodes: dict[str, NodeView] = {}
        self._base_blobs: dict[str, int] | None = None
        self._block_maps: dict[str, dict[tuple[int, ...], ManifestRef]] = {}
        self.rebuild()

    # ------------------------------------------------------------------ view
    def reset_caches(self) -> None:
        """Forget lookups derived from the base snapshot (after the base changes)."""
        self._base_blobs = None
        self._block_maps = {}

    def rebuild(self) -> None:
        """Recompute the node view from the base snapshot and the change set."""
        nodes: dict[str, NodeView] = {}
        by_id: dict[str, NodeView] = {}
        for record in self.base.nodes.values():
            view = NodeView(
                path=record.path,
                node_id=record.node_id,
                kind=record.kind,
                metadata=record.metadata,
                base=record,
            )
            by_id[record.node_id] = view
        layers = []
        if self.changes is not None:
            if self.changes.inherited is not None:
                layers.append(self.changes.inherited)
            layers.append(self.changes)
        for layer in layers:
            for node_id in layer.deleted:
                by_id.pop(node_id, None)
            for node_id, metadata in layer.updated.items():
                existing = by_id.get(node_id)
                if existing is not None:
                    existing.metadata = metadata
                    existing._layout = None
            for node_id, op in layer.created.items():
                by_id[node_id] = NodeView(
                    path=op.path, node_id=node_id, kind=op.kind, metadata=op.metadata, base=None
                )
            for source, dest in layer.moves:
                for view in by_id.values():
                    if child_path(view.path, source):
                        view.path = dest + view.path[len(source) :] if source != "/" else view.path
        for view in by_id.values():
            nodes[view.path] = view
        self.nodes = nodes

    def node(self, path: str) -> NodeView | None:
        """The node at an absolute path, or None."""
        return self.nodes.get(path)

    def require_node(self, path: str) -> NodeView:
        """The node at a path, or :class:`NodeNotFoundError`."""
        view = self.nodes.get(normalize_path(path))
        if view is None:
            raise NodeNotFoundError(f"no group or array at path {path!r}")
        return view

    def require_array(self, path: str) -> NodeView:
        """The array at a path.

        Raises
        ------
        NodeNotFoundError
            If nothing exists there.
        InvalidInputError
            If it is a group.
        """
        view = self.require_node(path)
        if view.kind != "array":
            raise InvalidInputError(
                f"{path!r} is a group, not an array", kind=ErrorKind.INVALID_PATH
            )
        return view

    def by_id(self, node_id: str) -> NodeView | None:
        """The node with an id, or None."""
        for view in self.nodes.values():
            if view.node_id == node_id:
                return view
        return None

    def subtree(self, path: str) -> list[NodeView]:
        """The node at ``path`` (if any) and every node below it."""
        return [v for p, v in self.nodes.items() if child_path(p, path)]

    # ------------------------------------------------------------------ node writes
    def _changes(self) -> ChangeSet:
        if self.changes is None:
            raise InvalidInputError("internal: read-only workspace")  # pragma: no cover
        return self.changes

    def set_node(self, path: str, kind: str, metadata: str, layout: ArrayLayout | None) -> None:
        """Create the node at ``path`` or replace its metadata."""
        changes = self._changes()
        with self.lock:
            existing = self.nodes.get(path)
            if existing is not None and existing.kind == kind:
                compatible = kind == "group" or (
                    layout is not None
                    and existing.layout.ndim == layout.ndim
                    and existing.layout.encoding == layout.encoding
                    and existing.layout.separator == layout.separator
                )
                if compatible:
                    if existing.metadata == metadata:
                        return
                    if existing.node_id in changes.created:
                        changes.created[existing.node_id].metadata = metadata
                    else:
                        changes.updated[existing.node_id] = metadata
                    existing.metadata = metadata
                    existing._layout = layout
                    return
            if existing is not None:
                self._delete_one(existing)
            node_id = new_id()
            changes.created[node_id] = NodeOp(node_id, path, kind, metadata)
            view = NodeView(path=path, node_id=node_id, kind=kind, metadata=metadata, base=None)
            view._layout = layout
            self.nodes[path] = view

    def _delete_one(self, view: NodeView) -> None:
        changes = self._changes()
        if changes.created.pop(view.node_id, None) is None:
            changes.deleted[view.node_id] = view.path
            changes.updated.pop(view.node_id, None)
        changes.drop_node(view.node_id)
        self.nodes.pop(view.path, None)

    def delete_subtree(self, path: str) -> bool:
        """Delete the node at ``path`` and everything below it; True if anything existed."""
        with self.lock:
            doomed = self.subtree(path)
            for view in doomed:
                self._delete_one(view)
            prefix = "" if path == "/" else path[1:] + "/"
            removed_blobs = self.delete_blobs_under(prefix)
            return bool(doomed) or removed_blobs

    # ------------------------------------------------------------------ chunks
    def _block_map(self, record: NodeRecord) -> dict[tuple[int, ...], ManifestRef]:
        block_map = self._block_maps.get(record.node_id)
        if block_map is None:
            block_map = {m.block: m for m in record.manifests}
            self._block_maps[record.node_id] = block_map
        return block_map

    async def base_ref(self, view: NodeView, coords: tuple[int, ...]) -> ChunkRef | None:
        """Where a chunk lives in the base snapshot, or None."""
        record = view.base
        if record is None or not record.manifests or record.split_shape is None:
            return None
        if len(coords) != len(record.split_shape):
            return None
        block = tuple(c // s for c, s in zip(coords, record.split_shape, strict=True))
        manifest_ref = self._block_map(record).get(block)
        if manifest_ref is None:
            return None
        table, index = await self.io.segment(manifest_ref.manifest_id, record.node_id, block)
        row = index.find(coords)
        return ref_at(table, row) if row >= 0 else None

    async def chunk_ref(self, view: NodeView, coords: tuple[int, ...]) -> ChunkRef | None:
        """Where a chunk lives as this session sees it (None if absent or deleted)."""
        if self.changes is not None:
            writes = self.changes.chunks.get(view.node_id)
            if writes is None and self.changes.inherited is not None:
                writes = self.changes.inherited.chunks.get(view.node_id)
            if writes is not None:
                pending = writes.lookup(coords)
                if pending is not None:
                    return None if pending.kind == RefKind.TOMBSTONE else pending
        return await self.base_ref(view, coords)

    async def base_table(self, view: NodeView) -> ChunkRefs:
        """Every chunk reference of an array in the base snapshot."""
        record = view.base
        ndim = view.layout.ndim
        if record is None or not record.manifests:
            return ChunkRefs.empty(ndim)
        tables = await self.io.read_many(
            [
                partial(self.io.segment, m.manifest_id, record.node_id, m.block)
                for m in record.manifests
            ]
        )
        return ChunkRefs.concat([t for t, _ in tables], ndim)

    async def chunk_table(self, view: NodeView) -> ChunkRefs:
        """Every live chunk reference of an array as this session sees it, sorted."""
        table = await self.base_table(view)
        if self.changes is not None:
            writes = self.changes.chunks.get(view.node_id)
            if writes is not None:
                return table.overlay(writes.effective())
            if self.changes.inherited is not None:
                inherited = self.changes.inherited.chunks.get(view.node_id)
                if inherited is not None:
                    return table.overlay(inherited.effective())
        return table.sorted()

    def put_chunk(self, view: NodeView, coords: tuple[int, ...], **ref: Any) -> None:
        """Record a chunk write or tombstone (``kind=RefKind.TOMBSTONE``)."""
        changes = self._changes()
        with self.lock:
            changes.writes_for(view.node_id, view.layout.ndim).put(coords, **ref)

    # ------------------------------------------------------------------ blobs
    def _blob_index(self) -> dict[str, int]:
        if self._base_blobs is None:
            self._base_blobs = {k: i for i, k in enumerate(self.base.blob_keys)}
        return self._base_blobs

    def blob_ref(self, key: str) -> ChunkRef | None:
        """The reference stored for a non-chunk key, or None."""
        if self.changes is not None:
            for layer in (self.changes, self.changes.inherited):
                if layer is not None and key in layer.blobs:
                    return layer.blobs[key]
        row = self._blob_index().get(key)
        return ref_at(self.base.blob_refs, row) if row is not None else None

    def blob_keys(self) -> Iterator[str]:
        """Every live non-chunk key."""
        seen: dict[str, bool] = dict.fromkeys(self.base.blob_keys, True)
        if self.changes is not None:
            for layer in (self.changes.inherited, self.changes):
                if layer is None:
                    continue
                for key, ref in layer.blobs.items():
                    seen[key] = ref is not None
        return (k for k, alive in seen.items() if alive)

    def set_blob(self, key: str, ref: ChunkRef) -> None:
        """Record a write of a non-chunk key."""
        with self.lock:
            self._changes().blobs[key] = ref

    def delete_blob(self, key: str) -> bool:
        """Delete a non-chunk key; True if it existed."""
        with self.lock:
            if self.blob_ref(key) is None:
                return False
            self._changes().blobs[key] = None
            return True

    def delete_blobs_under(self, prefix: str) -> bool:
        """Delete every non-chunk key starting with ``prefix``."""
        doomed = [k for k in self.blob_keys() if k.startswith(prefix)]
        for key in doomed:
            self._changes().blobs[key] = None
        return bool(doomed)

    # ------------------------------------------------------------------ summaries
    def status(self) -> Diff:
        """The uncommitted changes as a :class:`~frazil.Diff` (own changes only, for forks)."""
        changes = self.changes
        if changes is None:
            return Diff()
        flat = changes.flatten() if changes.inherited is not None else changes
        by_id = {v.node_id: v for v in self.nodes.values()}
        base_kinds = {r.node_id: r.kind for r in self.base.nodes.values()}

        def paths(node_ids: Iterable[str], kind: str) -> list[str]:
            return [by_id[n].path for n in node_ids if n in by_id and by_id[n].kind == kind]

        chunks: dict[str, np.ndarray[Any, Any]] = {}
        for node_id, writes in changes.chunks.items():
            view = by_id.get(node_id)
            if view is not None and writes.has_own():
                chunks[view.path] = writes.own().coords
        return Diff(
            new_groups=paths(changes.created, "group"),
            new_arrays=paths(changes.created, "array"),
            deleted_groups=[p for n, p in changes.deleted.items() if base_kinds.get(n) == "group"],
            deleted_arrays=[p for n, p in changes.deleted.items() if base_kinds.get(n) != "group"],
            updated_groups=paths(changes.updated, "group"),
            updated_arrays=paths(changes.updated, "array"),
            updated_chunks=chunks,
            moved_nodes=net_moves(
                {r.node_id: p for p, r in self.base.nodes.items()},
                {v.node_id: p for p, v in self.nodes.items()},
            )
            if flat.moves
            else [],
        )

    async def virtual_locations(self) -> list[str]:
        """The URLs of every file that virtual chunks of this view point into, sorted."""
        locations: set[str] = set()
        for view in list(self.nodes.values()):
            if view.kind == "array":
                table = await self.chunk_table(view)
                virtual = table.kind == RefKind.VIRTUAL
                if bool(virtual.any()):
                    locations.update(  # a loop over distinct entries, pins dropped
                        split_location(table.locations[i])[0]
                        for i in np.unique(table.location[virtual]).tolist()
                    )
        return sorted(locations)

    # ------------------------------------------------------------------ moves
    def move(self, source: str, dest: str) -> None:
        """Move a node and its subtree to a new path (metadata only)."""
        changes = self._changes()
        with self.lock:
            if self.nodes.get(source) is None:
                raise NodeNotFoundError(
                    f"cannot move {source!r}: node not found (no group or array there)"
                )
            if child_path(dest, source):
                raise InvalidInputError(
                    f"cannot move {source!r} into itself or its own descendant ({dest!r})",
                    kind=ErrorKind.MOVE_INTO_SELF_OR_DESCENDANT,
                )
            if dest in self.nodes:
                raise AlreadyExistsError(
                    f"cannot move {source!r} to {dest!r}: a node already exists there, and a "
                    "move will not overwrite existing node (delete or move that node first)",
                    kind=ErrorKind.MOVE_WONT_OVERWRITE,
                )
            parent = self.nodes.get(parent_path(dest))
            if parent is None or parent.kind != "group":
                missing = parent is None
                raise InvalidInputError(
                    f"cannot move {source!r} to {dest!r}: "
                    + (
                        f"the destination's parent group {parent_path(dest)!r} does not exist "
                        "(create it first)"
                        if missing
                        else f"the destination's parent {parent_path(dest)!r} is an array, "
                        "not a group"
                    ),
                    kind=ErrorKind.MOVE_DESTINATION_PARENT_MISSING
                    if missing
                    else ErrorKind.MOVE_DESTINATION_PARENT_NOT_GROUP,
                )
            changes.moves.append((source, dest))
            self.rebuild()


def normalize_path(path: str) -> str:
    """Accept ``"a/b"``, ``"/a/b"`` or ``"/a/b/"``; return ``"/a/b"`` (root ``"/"``)."""
    if not isinstance(path, str):
        raise InvalidInputError(
            f"invalid path {path!r}: expected a str", kind=ErrorKind.INVALID_PATH
        )
    stripped = path.strip("/")
    if not stripped:
        return "/"
    for segment in stripped.split("/"):
        if segment in ("", ".", "..") or "\x00" in segment:
            raise InvalidInputError(
                f"invalid path {path!r}: empty, '.' and '..' segments are not allowed",
                kind=ErrorKind.INVALID_PATH,
            )
    return "/" + stripped
