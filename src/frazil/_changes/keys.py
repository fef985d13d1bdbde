"""Zarr store keys, as a session's workspace sees them: metadata, chunk or blob.

* ``<path>/zarr.json`` is the metadata of the node at ``/<path>`` (root: ``zarr.json``);
* a key below an array that parses with the array's chunk key encoding (``a/c/0/1``) is a
  chunk of that array;
* anything else is an opaque "blob" key.

The reverse direction, every chunk key of an array, is vectorised over the array's
coordinate column (:func:`chunk_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._errors import ErrorKind, InvalidInputError
from frazil.storage import validate_key

if TYPE_CHECKING:
    from frazil._changes.workspace import NodeView, Workspace
    from frazil.format import ChunkRefs

__all__ = [
    "METADATA_KEY",
    "BlobKey",
    "ChunkKey",
    "MetadataKey",
    "StoreKey",
    "chunk_keys",
    "node_key_prefix",
    "resolve_key",
]

METADATA_KEY = "zarr.json"
"""The name of a node's metadata document."""


@dataclass(frozen=True, slots=True)
class MetadataKey:
    """``<path>/zarr.json``: a node's metadata (the node may not exist yet)."""

    path: str
    """Absolute path of the node (``"/"`` for the root)."""


@dataclass(frozen=True, slots=True)
class ChunkKey:
    """A chunk of an existing array."""

    view: NodeView
    """The array."""
    coords: tuple[int, ...]
    """Chunk coordinates (not yet checked against the chunk grid)."""


@dataclass(frozen=True, slots=True)
class BlobKey:
    """Any other key, stored as an opaque value."""

    key: str
    """The key itself."""


type StoreKey = MetadataKey | ChunkKey | BlobKey


def node_key_prefix(path: str) -> str:
    """Store-key prefix of a node: ``"/"`` -> ``""``, ``"/a/b"`` -> ``"a/b/"``."""
    return "" if path == "/" else path[1:] + "/"


def resolve_key(ws: Workspace, key: str, *, writing: bool = False) -> StoreKey:
    """Classify a store key against the nodes of ``ws``.

    ``writing`` refuses malformed chunk keys of an existing array (``"a/c/-1"``,
    ``"a/c/0/0"`` for a 1-d array, ``"a/c/01"``) instead of treating them as blobs.

    Raises
    ------
    InvalidInputError
        If the key is not a valid key at all (kind ``invalid-key``), or, when writing, a
        malformed chunk key (kind ``invalid-chunk-index``).
    """
    try:
        validate_key(key)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"invalid zarr key {key!r}: {exc.message.partition(': ')[2]}",
            kind=ErrorKind.INVALID_KEY,
        ) from None
    if key == METADATA_KEY or key.endswith("/" + METADATA_KEY):
        return MetadataKey("/" + key[: -len(METADATA_KEY)].rstrip("/"))
    nodes = ws.nodes
    segments = key.split("/")
    for i in range(len(segments) - 1, -1, -1):
        view = nodes.get("/" + "/".join(segments[:i]))
        if view is None:
            continue
        if view.kind == "array":
            rest = "/".join(segments[i:])
            coords = view.layout.parse_chunk_key(rest)
            if coords is not None:
                return ChunkKey(view, coords)
            if writing and view.layout.looks_like_chunk_key(rest):
                example = view.layout.chunk_key([0] * view.layout.ndim)
                raise InvalidInputError(
                    f"invalid chunk key {key!r} for the {view.layout.ndim}-d array "
                    f"{view.path!r}: expected {view.layout.ndim} non-negative integers "
                    f"without leading zeros, like {example!r}",
                    kind=ErrorKind.INVALID_CHUNK_INDEX,
                )
        break
    return BlobKey(key)


def chunk_keys(view: NodeView, table: ChunkRefs) -> np.ndarray[Any, Any]:
    """The store key of every row of ``table`` (chunks of the array ``view``), as strings."""
    layout = view.layout
    prefix = node_key_prefix(view.path)
    coords = table.coords
    if layout.ndim == 0:
        return np.full(len(coords), prefix + layout.chunk_key(()), dtype=object).astype(str)
    parts = coords.astype(str)
    joined = parts[:, 0]
    for d in range(1, layout.ndim):
        joined = np.char.add(np.char.add(joined, layout.separator), parts[:, d])
    head = prefix + (
        layout.chunk_prefix() + layout.separator if layout.encoding == "default" else ""
    )
    keys: np.ndarray[Any, Any] = np.char.add(head, joined)
    return keys
