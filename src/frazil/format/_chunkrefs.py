"""Columnar chunk references: the one representation of "where each chunk lives".

A :class:`ChunkRefs` table holds the references of one array (one ``ndim``) as NumPy
columns. Manifests store them, change sets accumulate them, forks carry them and merges
combine them, always with vectorised operations: nothing here loops in Python per chunk.

Row kinds:

* ``TOMBSTONE`` - the chunk was deleted (only in change sets, never in manifests);
* ``INLINE`` - the bytes are ``inline[offset:offset+length]`` of this table;
* ``NATIVE`` - the bytes are the object ``chunks/<chunk_id>`` of ``length`` bytes;
* ``VIRTUAL`` - the bytes are ``length`` bytes at ``offset`` of ``locations[location]``.

``checksum`` is the crc32c of the chunk's bytes (0 for tombstones and virtual refs).

Virtual locations are a table of distinct entries per table (``locations``), indexed by
the ``location`` column. An entry may pin the source object: :func:`pin_location` joins a
URL with the ETag and/or last-modified time the source must still have, and
:func:`split_location` takes them apart again. Stored objects hold the plain URLs and the
pins as separate lists (:func:`locations_to_json`), so readers that predate pins still
find the URLs.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._errors import FormatError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ChunkRefs",
    "RefIndex",
    "RefKind",
    "coord_keys",
    "locations_from_json",
    "locations_to_json",
    "pin_location",
    "split_location",
]

type IntArray = np.ndarray[Any, np.dtype[np.int64]]


class RefKind(enum.IntEnum):
    """What a chunk reference row points to."""

    TOMBSTONE = 0
    INLINE = 1
    NATIVE = 2
    VIRTUAL = 3


_EMPTY_ID = np.zeros(12, dtype=np.uint8)

_PIN = "\x00"
"""Separates a URL from its pins inside an in-memory location entry (never in a URL)."""


def pin_location(url: str, etag: str | None = None, modified: int | None = None) -> str:
    """A location entry: ``url`` alone, or with the source's ETag and/or the time (whole
    seconds since the epoch) after which the source must not have been modified."""
    if etag is None and modified is None:
        return url
    return f"{url}{_PIN}{etag or ''}{_PIN}{'' if modified is None else int(modified)}"


def split_location(entry: str) -> tuple[str, str | None, int | None]:
    """``(url, etag, modified)`` of a location entry made by :func:`pin_location`."""
    if _PIN not in entry:
        return entry, None, None
    url, etag, modified = entry.split(_PIN, 2)
    return url, etag or None, int(modified) if modified else None


def locations_to_json(locations: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """The stored form of a location table: the URLs, and ``[index, etag, modified]``
    for each pinned entry."""
    urls = []
    pins: list[list[Any]] = []
    for i, entry in enumerate(locations):
        url, etag, modified = split_location(entry)
        urls.append(url)
        if etag is not None or modified is not None:
            pins.append([i, etag, modified])
    return urls, pins


def locations_from_json(urls: Sequence[Any], pins: Sequence[Any], *, key: str) -> tuple[str, ...]:
    """Rebuild a location table from :func:`locations_to_json` output."""
    out = [str(u) for u in urls]
    try:
        for i, etag, modified in pins:
            out[int(i)] = pin_location(
                out[int(i)],
                None if etag is None else str(etag),
                None if modified is None else int(modified),
            )
    except (TypeError, ValueError, IndexError) as exc:
        raise FormatError(f"object {key!r} has malformed location pins: {exc}", key=key) from exc
    return tuple(out)


def coord_keys(coords: Sequence[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
    """Return one 1-D sortable key per row for each coordinate matrix, on a shared scale.

    Equal coordinates get equal keys across all the given matrices, and key order is
    row-major coordinate order. Keys are ``int64`` when the coordinate space fits, and
    fixed-width byte strings (big-endian coordinates) otherwise.
    """
    if not coords:
        return []
    ndim = coords[0].shape[1]
    if ndim == 0:
        return [np.zeros(len(c), dtype=np.int64) for c in coords]
    nonempty = [c for c in coords if len(c)]
    if not nonempty:
        return [np.zeros(0, dtype=np.int64) for _ in coords]
    maxima = np.max(np.stack([c.max(axis=0) for c in nonempty]), axis=0).astype(np.int64) + 1
    span = 1.0
    for m in maxima.tolist():
        span *= max(1, m)
    if span < 2.0**62:
        strides = np.ones(ndim, dtype=np.int64)
        for d in range(ndim - 2, -1, -1):
            strides[d] = strides[d + 1] * max(1, int(maxima[d + 1]))
        return [c.astype(np.int64, copy=False) @ strides for c in coords]
    width = 8 * ndim
    return [np.ascontiguousarray(c.astype(">i8")).view(f"V{width}").reshape(-1) for c in coords]


@dataclass(frozen=True, slots=True, eq=False)
class ChunkRefs:
    """Chunk references of one array, as parallel NumPy columns."""

    coords: np.ndarray[Any, np.dtype[np.int64]]
    """Chunk grid coordinates, shape ``(n, ndim)``."""
    kind: np.ndarray[Any, np.dtype[np.uint8]]
    """:class:`RefKind` per row."""
    chunk_id: np.ndarray[Any, np.dtype[np.uint8]]
    """Object id bytes of native chunks, shape ``(n, 12)``."""
    offset: np.ndarray[Any, np.dtype[np.uint64]]
    """Byte offset: into ``inline`` (inline) or into the location (virtual)."""
    length: np.ndarray[Any, np.dtype[np.uint64]]
    """Chunk size in bytes."""
    checksum: np.ndarray[Any, np.dtype[np.uint32]]
    """crc32c of the chunk bytes (inline and native)."""
    location: np.ndarray[Any, np.dtype[np.uint32]]
    """Index into ``locations`` (virtual)."""
    inline: bytes = b""
    """Concatenated bytes of inline chunks."""
    locations: tuple[str, ...] = ()
    """URLs of virtual chunk containers."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, ndim: int) -> ChunkRefs:
        """An empty table for an array of ``ndim`` dimensions."""
        return cls(
            coords=np.zeros((0, ndim), dtype=np.int64),
            kind=np.zeros(0, dtype=np.uint8),
            chunk_id=np.zeros((0, 12), dtype=np.uint8),
            offset=np.zeros(0, dtype=np.uint64),
            length=np.zeros(0, dtype=np.uint64),
            checksum=np.zeros(0, dtype=np.uint32),
            location=np.zeros(0, dtype=np.uint32),
        )

    @classmethod
    def tombstones(cls, coords: np.ndarray[Any, Any]) -> ChunkRefs:
        """Deletion markers for every row of ``coords`` (shape ``(n, ndim)``)."""
        n = len(coords)
        return dataclasses.replace(
            cls.empty(int(coords.shape[1])),
            coords=np.asarray(coords, dtype=np.int64),
            kind=np.full(n, RefKind.TOMBSTONE, dtype=np.uint8),
            chunk_id=np.zeros((n, 12), dtype=np.uint8),
            offset=np.zeros(n, dtype=np.uint64),
            length=np.zeros(n, dtype=np.uint64),
            checksum=np.zeros(n, dtype=np.uint32),
            location=np.zeros(n, dtype=np.uint32),
        )

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray[Any, Any]], *, key: str) -> ChunkRefs:
        """Rebuild a table from stored columns, checking their shapes agree."""
        try:
            coords = columns["coords"]
            n = coords.shape[0]
            table = cls(
                coords=coords.astype(np.int64, copy=False),
                kind=columns["kind"].astype(np.uint8, copy=False),
                chunk_id=columns["chunk_id"].astype(np.uint8, copy=False).reshape(n, 12),
                offset=columns["offset"].astype(np.uint64, copy=False),
                length=columns["length"].astype(np.uint64, copy=False),
                checksum=columns["checksum"].astype(np.uint32, copy=False),
                location=columns["location"].astype(np.uint32, copy=False),
                inline=columns["inline"].tobytes() if "inline" in columns else b"",
            )
        except (KeyError, ValueError) as exc:
            raise FormatError(
                f"object {key!r} has malformed chunk columns: {exc}", key=key
            ) from exc
        for name in ("kind", "offset", "length", "checksum", "location"):
            if getattr(table, name).shape != (n,):
                raise FormatError(f"object {key!r} has a malformed {name!r} column", key=key)
        return table

    def columns(self) -> dict[str, np.ndarray[Any, Any]]:
        """The columns to store (call :meth:`compact` first to drop garbage)."""
        return {
            "coords": self.coords,
            "kind": self.kind,
            "chunk_id": self.chunk_id,
            "offset": self.offset,
            "length": self.length,
            "checksum": self.checksum,
            "location": self.location,
            "inline": np.frombuffer(self.inline, dtype=np.uint8),
        }

    @classmethod
    def concat(cls, parts: Sequence[ChunkRefs], ndim: int) -> ChunkRefs:
        """Stack tables (same ``ndim``); inline and location indices are rebased."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(ndim)
        if len(parts) == 1:
            return parts[0]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        kind = np.concatenate([p.kind for p in parts])
        offset = np.concatenate([p.offset for p in parts])
        location = np.concatenate([p.location for p in parts])
        inline_sizes = [len(p.inline) for p in parts]
        if any(inline_sizes[:-1]):
            shift = np.repeat(np.cumsum([0, *inline_sizes[:-1]], dtype=np.uint64), lengths)
            offset = np.where(kind == RefKind.INLINE, offset + shift, offset)
        location_counts = [len(p.locations) for p in parts]
        if any(location_counts[:-1]):
            shift32 = np.repeat(np.cumsum([0, *location_counts[:-1]], dtype=np.uint32), lengths)
            location = np.where(kind == RefKind.VIRTUAL, location + shift32, location)
        return cls(
            coords=np.concatenate([p.coords for p in parts]),
            kind=kind,
            chunk_id=np.concatenate([p.chunk_id for p in parts]),
            offset=offset.astype(np.uint64, copy=False),
            length=np.concatenate([p.length for p in parts]),
            checksum=np.concatenate([p.checksum for p in parts]),
            location=location.astype(np.uint32, copy=False),
            inline=b"".join(p.inline for p in parts),
            locations=tuple(loc for p in parts for loc in p.locations),
        )

    def with_coords(self, coords: np.ndarray[Any, Any]) -> ChunkRefs:
        """The same references at other coordinates (same number of rows)."""
        return dataclasses.replace(self, coords=np.asarray(coords, dtype=np.int64))

    def with_locations(self, locations: tuple[str, ...]) -> ChunkRefs:
        """The same rows with another list of virtual locations."""
        return dataclasses.replace(self, locations=locations)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.kind.shape[0])

    @property
    def ndim(self) -> int:
        """Number of array dimensions."""
        return int(self.coords.shape[1])

    def take(self, index: np.ndarray[Any, Any]) -> ChunkRefs:
        """Rows selected by an integer index array or a boolean mask."""
        return ChunkRefs(
            coords=self.coords[index],
            kind=self.kind[index],
            chunk_id=self.chunk_id[index],
            offset=self.offset[index],
            length=self.length[index],
            checksum=self.checksum[index],
            location=self.location[index],
            inline=self.inline,
            locations=self.locations,
        )

    def live(self) -> ChunkRefs:
        """Rows that are not tombstones."""
        mask = self.kind != RefKind.TOMBSTONE
        return self if bool(mask.all()) else self.take(mask)

    def compact(self) -> ChunkRefs:
        """Copy with the inline blob and location list reduced to what the rows use."""
        inline_rows = np.flatnonzero(self.kind == RefKind.INLINE)
        starts = self.offset[inline_rows].astype(np.int64)
        lengths = self.length[inline_rows].astype(np.int64)
        total = int(lengths.sum())
        new_offset = self.offset.copy()
        if total != len(self.inline) or (len(starts) and int(starts[0]) != 0):
            new_starts = np.cumsum(lengths) - lengths
            gather = np.repeat(starts - new_starts, lengths) + np.arange(total, dtype=np.int64)
            blob = np.frombuffer(self.inline, dtype=np.uint8)[gather].tobytes()
            new_offset[inline_rows] = new_starts.astype(np.uint64)
        else:
            blob = self.inline
        virtual_rows = self.kind == RefKind.VIRTUAL
        locations = self.locations
        location = self.location
        if len(locations):
            # one entry per distinct location string (tables concatenated from many parts
            # repeat entries); a loop over distinct entries, never over rows
            table = np.asarray(self.locations, dtype=object)
            names, first = np.unique(table, return_inverse=True)
            remap = first.reshape(-1).astype(np.uint32)
            used, inverse = np.unique(remap[self.location[virtual_rows]], return_inverse=True)
            location = self.location.copy()
            location[virtual_rows] = inverse.astype(np.uint32)
            locations = tuple(names[used].tolist())
        return ChunkRefs(
            coords=self.coords,
            kind=self.kind,
            chunk_id=self.chunk_id,
            offset=new_offset,
            length=self.length,
            checksum=self.checksum,
            location=location,
            inline=blob,
            locations=locations,
        )

    def nbytes(self) -> int:
        """Approximate memory held by the table, for byte-bounded caches."""
        return (
            self.coords.nbytes
            + self.kind.nbytes
            + self.chunk_id.nbytes
            + self.offset.nbytes
            + self.length.nbytes
            + self.checksum.nbytes
            + self.location.nbytes
            + len(self.inline)
            + 64
        )

    # ------------------------------------------------------------------ set algebra
    def dedup_last(self) -> ChunkRefs:
        """Keep the last row for each coordinate, sorted by coordinate."""
        n = len(self)
        if n <= 1:
            return self
        (keys,) = coord_keys([self.coords])
        _, first_in_reversed = np.unique(keys[::-1], return_index=True)
        last = (n - 1) - first_in_reversed
        if len(last) == n and bool(np.all(last[1:] > last[:-1])):
            return self
        return self.take(last)

    def sorted(self) -> ChunkRefs:
        """Rows in coordinate order (stable)."""
        if len(self) <= 1:
            return self
        (keys,) = coord_keys([self.coords])
        order = np.argsort(keys, kind="stable")
        return self.take(order)

    def overlay(self, changes: ChunkRefs) -> ChunkRefs:
        """This table with ``changes`` applied: changed coordinates replaced, tombstones
        removed. Both must be free of duplicate coordinates; the result is sorted."""
        if not len(changes):
            return self
        if not len(self):
            return changes.live().sorted()
        base_keys, change_keys = coord_keys([self.coords, changes.coords])
        keep = ~_isin_sorted(base_keys, np.sort(change_keys))
        merged = ChunkRefs.concat([self.take(keep), changes.live()], self.ndim)
        return merged.sorted()

    def without(self, coords: np.ndarray[Any, Any]) -> ChunkRefs:
        """Rows whose coordinates are not in ``coords``."""
        if not len(self) or not len(coords):
            return self
        mine, theirs = coord_keys([self.coords, coords])
        return self.take(~_isin_sorted(mine, np.sort(theirs)))

    def mask_in(self, coords: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Boolean mask of rows whose coordinates appear in ``coords``."""
        if not len(self) or not len(coords):
            return np.zeros(len(self), dtype=bool)
        mine, theirs = coord_keys([self.coords, coords])
        return _isin_sorted(mine, np.sort(theirs))

    def block_groups(self, split_shape: Sequence[int]) -> list[tuple[tuple[int, ...], IntArray]]:
        """Group row indices by manifest block (``coords // split_shape``)."""
        n = len(self)
        if n == 0:
            return []
        if self.ndim == 0:
            return [((), np.arange(n, dtype=np.int64))]
        blocks = self.coords // np.asarray(split_shape, dtype=np.int64)
        (keys,) = coord_keys([blocks])
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        boundaries = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        groups = np.split(order, boundaries)
        return [(tuple(int(v) for v in blocks[g[0]]), g) for g in groups]


class RefIndex:
    """A lookup index over the coordinates of one :class:`ChunkRefs` table.

    Built once per table (vectorised), then each :meth:`find` is a binary search.
    """

    __slots__ = ("_maxima", "_ndim", "_order", "_sorted", "_strides")

    def __init__(self, coords: np.ndarray[Any, Any]) -> None:
        self._ndim = int(coords.shape[1])
        n = len(coords)
        self._strides: np.ndarray[Any, Any] | None = None
        if n == 0 or self._ndim == 0:
            self._maxima = np.zeros(self._ndim, dtype=np.int64)
            self._order = np.arange(n, dtype=np.int64)
            self._sorted = np.zeros(n, dtype=np.int64)
            return
        maxima = coords.max(axis=0).astype(np.int64) + 1
        self._maxima = maxima
        span = 1.0
        for m in maxima.tolist():
            span *= max(1, m)
        if span < 2.0**62:
            strides = np.ones(self._ndim, dtype=np.int64)
            for d in range(self._ndim - 2, -1, -1):
                strides[d] = strides[d + 1] * max(1, int(maxima[d + 1]))
            self._strides = strides
            keys = coords.astype(np.int64, copy=False) @ strides
        else:
            keys = np.ascontiguousarray(coords.astype(">i8")).view(f"V{8 * self._ndim}")
            keys = keys.reshape(-1)
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def find(self, coords: Sequence[int]) -> int:
        """Row index of ``coords`` (the last one if repeated), or -1."""
        n = len(self._order)
        if n == 0 or len(coords) != self._ndim:
            return -1
        if self._ndim == 0:
            return int(self._order[-1])
        if any(c < 0 or c >= m for c, m in zip(coords, self._maxima.tolist(), strict=True)):
            return -1
        if self._strides is not None:
            key: Any = int(np.dot(np.asarray(coords, dtype=np.int64), self._strides))
        else:
            key = np.asarray([coords], dtype=">i8").view(f"V{8 * self._ndim}").reshape(-1)[0]
        pos = int(np.searchsorted(self._sorted, key, side="right")) - 1
        if pos >= 0 and self._sorted[pos] == key:
            return int(self._order[pos])
        return -1


def _isin_sorted(
    values: np.ndarray[Any, Any], sorted_pool: np.ndarray[Any, Any]
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Vectorised membership test of ``values`` in an already sorted array."""
    if not len(sorted_pool):
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_pool, values)
    pos = np.minimum(pos, len(sorted_pool) - 1)
    return np.asarray(sorted_pool[pos] == values)
