"""Just enough understanding of Zarr v3 ``zarr.json`` documents to map keys to chunks.

frazil stores each node's ``zarr.json`` verbatim; it parses it only to learn the node's
kind and, for arrays, the chunk grid and the chunk key encoding, so that a key such as
``temperature/c/3/0/1`` can be turned into (array, chunk coordinates) and back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from frazil._errors import ErrorKind, InvalidInputError

__all__ = ["ArrayLayout", "NodeMeta", "parse_node_metadata"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayLayout:
    """How an array's chunks are addressed."""

    shape: tuple[int, ...]
    """Array shape."""
    chunk_shape: tuple[int, ...] | None
    """Regular chunk shape, or None for grids frazil does not bound-check."""
    encoding: Literal["default", "v2"]
    """Zarr chunk key encoding name."""
    separator: str
    """``"/"`` or ``"."``."""
    dimension_names: tuple[str | None, ...] = ()
    """The array's dimension names (empty if it has none)."""

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def grid(self) -> tuple[int, ...] | None:
        """Number of chunks along each dimension, if the grid is regular."""
        if self.chunk_shape is None:
            return None
        return tuple(
            math.ceil(s / c) if c > 0 else 0
            for s, c in zip(self.shape, self.chunk_shape, strict=True)
        )

    def parse_chunk_key(self, rest: str) -> tuple[int, ...] | None:
        """Chunk coordinates for a key relative to the array (``"c/0/1"``), or None."""
        ndim = self.ndim
        if self.encoding == "default":
            if ndim == 0:
                return () if rest == "c" else None
            head = "c" + self.separator
            if not rest.startswith(head):
                return None
            parts = rest[len(head) :].split(self.separator)
        else:
            if ndim == 0:
                return () if rest == "0" else None
            parts = rest.split(self.separator)
        if len(parts) != ndim:
            return None
        for part in parts:
            # canonical decimal only: "0001" or "+1" must not alias chunk 1
            if not part.isdigit() or not part.isascii() or (part[0] == "0" and part != "0"):
                return None
        return tuple(int(p) for p in parts)

    def looks_like_chunk_key(self, rest: str) -> bool:
        """Whether a key relative to the array is in the chunk namespace (``"c/..."``)."""
        if self.encoding != "default":
            return False  # v2 keys have no chunk prefix to tell them apart
        return rest == "c" or rest.startswith("c" + self.separator)

    def chunk_key(self, coords: tuple[int, ...] | list[int]) -> str:
        """The key of a chunk relative to the array."""
        if self.encoding == "default":
            if not coords:
                return "c"
            return "c" + self.separator + self.separator.join(str(c) for c in coords)
        if not coords:
            return "0"
        return self.separator.join(str(c) for c in coords)

    def chunk_prefix(self) -> str:
        """The first segment of every chunk key (``"c"`` for the default encoding)."""
        return "c" if self.encoding == "default" else ""

    def in_grid(self, coords: tuple[int, ...]) -> bool:
        """Whether the coordinates fall inside the (regular) chunk grid."""
        grid = self.grid
        if grid is None:
            return True
        return all(0 <= c < g for c, g in zip(coords, grid, strict=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeMeta:
    """The kind of a node and, for arrays, its layout."""

    kind: Literal["group", "array"]
    """Node kind."""
    array: ArrayLayout | None
    """Array layout (arrays only)."""


def parse_node_metadata(text: bytes | str, *, path: str) -> NodeMeta | None:
    """Parse a ``zarr.json``; None if it is not a Zarr v3 group or array document.

    Raises
    ------
    InvalidInputError
        If it claims to be a Zarr v3 array but its shape, chunk grid or chunk key encoding
        cannot be understood.
    """
    try:
        # zarr.json is UTF-8 JSON; anything else is not a Zarr v3 document
        doc = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("zarr_format") != 3:
        return None
    node_type = doc.get("node_type")
    if node_type == "group":
        return NodeMeta(kind="group", array=None)
    if node_type != "array":
        return None
    return NodeMeta(kind="array", array=_parse_array(doc, path))


def _bad(path: str, what: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid array metadata for {path!r}: {what}", kind=ErrorKind.INVALID_METADATA
    )


def _int_tuple(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        return None
    return tuple(value)


def _parse_array(doc: dict[str, Any], path: str) -> ArrayLayout:
    shape = _int_tuple(doc.get("shape"))
    if shape is None:
        raise _bad(path, f"'shape' must be a list of non-negative ints, got {doc.get('shape')!r}")
    grid = doc.get("chunk_grid")
    chunk_shape: tuple[int, ...] | None = None
    if isinstance(grid, dict) and grid.get("name") == "regular":
        config = grid.get("configuration") or {}
        chunk_shape = _int_tuple(config.get("chunk_shape"))
        if chunk_shape is None or len(chunk_shape) != len(shape):
            raise _bad(path, "'chunk_grid.configuration.chunk_shape' must match the shape's rank")
    elif not isinstance(grid, dict):
        raise _bad(path, "'chunk_grid' is missing")
    encoding = doc.get("chunk_key_encoding") or {"name": "default"}
    if not isinstance(encoding, dict):
        raise _bad(path, "'chunk_key_encoding' must be an object")
    name = encoding.get("name")
    config = encoding.get("configuration") or {}
    if name == "default":
        separator = config.get("separator", "/")
        kind: Literal["default", "v2"] = "default"
    elif name == "v2":
        separator = config.get("separator", ".")
        kind = "v2"
    else:
        raise _bad(path, f"unknown chunk key encoding {name!r}")
    if separator not in ("/", "."):
        raise _bad(path, f"unknown chunk key separator {separator!r}")
    names = doc.get("dimension_names")
    dimension_names: tuple[str | None, ...] = ()
    if isinstance(names, list | tuple) and len(names) == len(shape):
        dimension_names = tuple(n if isinstance(n, str) else None for n in names)
    return ArrayLayout(
        shape=shape,
        chunk_shape=chunk_shape,
        encoding=kind,
        separator=separator,
        dimension_names=dimension_names,
    )
