"""Writing virtual chunk references in bulk: the vectorised core of the store's
``set_virtual_ref``, ``set_virtual_refs`` and ``set_virtual_refs_arr``.

Locations are deduplicated with one ``np.unique`` over the batch; containers are checked
once per distinct location; rows become one :class:`~frazil.format.ChunkRefs` table that
joins the session's changes in one step. Every check runs before anything is recorded, so
a refused batch leaves the session as it was.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._errors import ErrorKind, InvalidInputError
from frazil._repo import container_of
from frazil.format import ChunkRefs, RefKind, pin_location

if TYPE_CHECKING:
    from collections.abc import Sequence

    from frazil._changes import NodeView, Workspace
    from frazil._session.state import SessionState

__all__ = ["VirtualChunkSpec", "checksum_pins", "write_virtual_table"]


@dataclass(frozen=True, slots=True)
class VirtualChunkSpec:
    """One virtual chunk reference, for ``FrazilStore.set_virtual_refs``.

    Parameters
    ----------
    index
        The chunk's grid coordinates.
    location
        The URL of the file holding the bytes.
    offset
        Where the chunk starts in the file.
    length
        Its size in bytes.
    etag_checksum
        The file's ETag; reading fails if the file's ETag differs.
    last_updated_at_checksum
        Reading fails if the file was modified after this time.
    """

    index: Sequence[int]
    """The chunk's grid coordinates."""
    location: str
    """The URL of the file holding the bytes."""
    offset: int
    """Where the chunk starts in the file."""
    length: int
    """Its size in bytes."""
    etag_checksum: str | None = None
    """The file's ETag."""
    last_updated_at_checksum: datetime.datetime | None = None
    """The time after which the file must not have been modified."""


VirtualChunkSpec.__module__ = "frazil"


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, kind=ErrorKind.INVALID_ARGUMENT)


def _seconds(value: object, what: str) -> int:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return math.floor(value.timestamp())
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[s]").astype(np.int64))
    raise _bad(f"{what} must be a datetime (or an ETag string), got {value!r}")


def checksum_pins(checksum: object, n: int) -> str | np.ndarray[Any, Any] | None:
    """The pin suffix of ``n`` references (see :func:`frazil.format.pin_location`): one
    string for all when ``checksum`` is one value (str: an ETag, datetime: a last-modified
    time), an array of ``n`` suffixes for a sequence of them, or None."""
    if checksum is None:
        return None
    if isinstance(checksum, str | datetime.datetime | np.datetime64):
        return _pin(checksum)
    array = np.asarray(checksum)
    if array.size != n:
        raise _bad(f"checksum has {array.size} entries for {n} references")
    array = array.reshape(-1)
    if array.dtype.kind == "M":  # datetime64: vectorised
        seconds = array.astype("datetime64[s]").astype(np.int64)
        suffixes: np.ndarray[Any, Any] = np.char.add("\x00\x00", seconds.astype(str))
        return suffixes.astype(object)
    return np.asarray([_pin(x) for x in array.tolist()], dtype=object)


def _pin(item: object) -> str:
    if item is None or item == "":
        return ""
    if isinstance(item, str):
        return pin_location("", item)
    return pin_location("", None, _seconds(item, "checksum"))


def _int_column(name: str, values: object, n: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
    array = np.asarray(values)
    if array.dtype == object or array.dtype.kind not in "iu":
        if array.size == 0:
            array = array.astype(np.int64)
        else:
            raise _bad(f"{name} must be integers, got an array of {array.dtype}")
    array = array.reshape(-1)
    if len(array) != n:
        raise _bad(f"{name} has {len(array)} entries, expected {n}")
    if array.dtype.kind == "i" and len(array) and int(array.min()) < 0:
        raise _bad(f"{name} must not be negative (found {int(array.min())})")
    return array.astype(np.uint64, copy=False)


def write_virtual_table(
    state: SessionState,
    ws: Workspace,
    view: NodeView,
    coords: np.ndarray[Any, Any],
    locations: np.ndarray[Any, Any],
    offsets: object,
    lengths: object,
    *,
    pins: str | np.ndarray[Any, Any] | None = None,
    validate_containers: bool,
    unique: bool = False,
) -> list[tuple[int, ...]] | None:
    """Record virtual references of ``view``, one per row of ``coords`` (``(n, ndim)``).

    ``locations`` is a 1-D string array; rows with an empty location are skipped.
    ``pins`` (from :func:`checksum_pins`) pins the sources' ETags or times.
    ``unique=True`` promises the coordinates are distinct and in row-major order. With
    ``validate_containers``, rows whose location is in no declared container are not
    written and their coordinates are returned.

    Raises
    ------
    InvalidInputError
        If a location is not a string, an offset or length is negative or not an
        integer, or a coordinate is outside the array's chunk grid (nothing is written).
    """
    n = len(coords)
    offset = _int_column("offsets", offsets, n)
    length = _int_column("lengths", lengths, n)
    if locations.dtype.kind == "T":  # numpy's variable-width StringDType
        width = int(np.strings.str_len(locations).max()) if n else 1
        locations = locations.astype(f"U{max(width, 1)}")
    if locations.dtype.kind != "U":
        if locations.dtype == object and set(map(type, locations.tolist())) <= {str}:
            locations = locations.astype(str) if n else np.zeros(0, dtype="U1")
        else:
            bad = next((x for x in locations.tolist() if not isinstance(x, str)), None)
            raise _bad(f"virtual chunk locations must be strings, got {bad!r}")
    grid = view.layout.grid
    if grid is not None and n:
        limits = np.asarray(grid, dtype=np.int64)
        outside = np.any((coords < 0) | (coords >= limits), axis=1)
        if bool(outside.any()):
            first = tuple(int(c) for c in coords[int(np.argmax(outside))])
            raise InvalidInputError(
                f"chunk index {first} is outside the chunk grid {tuple(grid)} of {view.path!r}",
                kind=ErrorKind.INVALID_CHUNK_INDEX,
            )
    keep = locations != ""
    # numpy's unicode arrays drop trailing NULs, which only the keys see: entries are
    # rebuilt below from the Python strings
    keys = np.char.add(locations, pins.astype(str)) if isinstance(pins, np.ndarray) else locations
    kept = np.flatnonzero(keep)
    names, inverse, first_seen = _factorize(keys[kept] if len(kept) != n else keys)
    entries: list[str] = []
    failed_entry = np.zeros(len(names), dtype=bool)
    first_row = kept[first_seen]
    for i, row in enumerate(first_row.tolist()):
        url = str(locations[row])
        suffix = pins if isinstance(pins, str) else "" if pins is None else str(pins[row])
        entry = url + suffix
        entries.append(entry)
        if validate_containers:
            try:
                container_of(state.config.virtual_chunk_containers, url)
            except InvalidInputError:
                failed_entry[i] = True
        elif "://" not in url and not url.startswith("/"):
            raise _bad(f"virtual chunk location {url!r} is not a URL like 's3://bucket/file'")
    rows = kept
    failed: list[tuple[int, ...]] | None = None
    if bool(failed_entry.any()):
        bad_rows = failed_entry[inverse]
        failed = [tuple(int(c) for c in r) for r in coords[rows[bad_rows]].tolist()]
        rows = rows[~bad_rows]
        inverse = inverse[~bad_rows]
    m = len(rows)
    table = ChunkRefs(
        coords=np.ascontiguousarray(coords[rows], dtype=np.int64),
        kind=np.full(m, RefKind.VIRTUAL, dtype=np.uint8),
        chunk_id=np.zeros((m, 12), dtype=np.uint8),
        offset=offset[rows],
        length=length[rows],
        checksum=np.zeros(m, dtype=np.uint32),
        location=inverse.astype(np.uint32),
        locations=tuple(entries),
    )
    if not unique:
        table = table.dedup_last()
    state.add_chunk_table(ws, view, table.compact() if failed else table)
    return failed


def _factorize(
    keys: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Distinct keys, each row's index into them, and each distinct key's first row.

    References usually come in runs (every chunk of one file, then the next file), so the
    distinct values of the run heads are found first: one vectorised comparison of
    neighbours and a sort of the heads, instead of a sort of every row.
    """
    n = len(keys)
    if n == 0:
        return keys[:0], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    heads = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    if 4 * len(heads) > n:
        names, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return names, inverse.reshape(-1), first
    names, head_first, head_inverse = np.unique(keys[heads], return_index=True, return_inverse=True)
    runs = np.diff(np.append(heads, n))
    inverse = np.repeat(head_inverse.reshape(-1), runs)
    return names, inverse, heads[head_first]
