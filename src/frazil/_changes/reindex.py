"""Plans for moving chunk references inside one array (``shift_array``, ``reindex_array``).

A plan is computed from the array's live chunk table as the session sees it and yields one
table of changes: the moved references at their new coordinates, and tombstones for the
positions that are cleared. Moves are computed from the state *before* the operation, so a
permutation (such as reversing the chunk order) is applied all at once. No chunk bytes are
read or written; only references move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._changes.changeset import matching_rows, refs_identical
from frazil._errors import ErrorKind, InvalidInputError
from frazil.format import ChunkRefs, coord_keys

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = ["reindex_changes", "shift_changes"]


def _moved_refs(
    table: ChunkRefs, rows: np.ndarray[Any, Any], dest: np.ndarray[Any, Any]
) -> ChunkRefs:
    return table.take(rows).with_coords(dest)


def _check_distinct(dest: np.ndarray[Any, Any], path: str) -> None:
    """Refuse two chunks sent to one position (one of them would silently vanish)."""
    if len(dest) < 2:
        return
    (keys,) = coord_keys([dest])
    unique, counts = np.unique(keys, return_counts=True)
    if len(unique) != len(keys):
        clash = dest[np.flatnonzero(np.isin(keys, unique[counts > 1]))[0]]
        raise InvalidInputError(
            f"reindexing {path!r} maps several chunks onto chunk {tuple(clash.tolist())}; "
            "the mapping must send different chunks to different positions",
            kind=ErrorKind.INVALID_ARGUMENT,
        )


def _changes(
    table: ChunkRefs, moved: ChunkRefs, cleared: np.ndarray[Any, Any], path: str
) -> ChunkRefs:
    """Tombstones for ``cleared`` overlaid by ``moved`` (moves win), minus no-op moves."""
    ndim = table.ndim
    _check_distinct(moved.coords, path)
    at, current = matching_rows(moved, table)
    unchanged = refs_identical(moved.take(at), table.take(current))
    if bool(unchanged.any()):
        keep = np.ones(len(moved), dtype=bool)
        keep[at[unchanged]] = False
        moved = moved.take(keep)
    if len(cleared):
        tombs = ChunkRefs.tombstones(cleared).without(moved.coords)
        return ChunkRefs.concat([tombs, moved], ndim).sorted().compact()
    return moved.sorted().compact()


def shift_changes(
    table: ChunkRefs, offset: Sequence[int], grid: Sequence[int], path: str
) -> ChunkRefs:
    """Changes that shift every chunk of ``table`` by ``offset`` chunks (vectorised).

    Chunks shifted outside the grid are dropped; positions that no chunk moves into are
    cleared.
    """
    shift = np.asarray(offset, dtype=np.int64)
    bounds = np.asarray(grid, dtype=np.int64)
    dest = table.coords + shift
    inside = np.all((dest >= 0) & (dest < bounds), axis=1) if len(dest) else np.zeros(0, bool)
    rows = np.flatnonzero(inside)
    moved = _moved_refs(table, rows, dest[rows])
    cleared = table.without(moved.coords).coords
    return _changes(table, moved, cleared, path)


def _checked_index(
    value: Iterable[int] | None, grid: Sequence[int], path: str, what: str, source: list[int]
) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        index = tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"the {what} function returned {value!r} for chunk {tuple(source)} of {path!r}; "
            "it must return a sequence of integers or None",
            kind=ErrorKind.INVALID_ARGUMENT,
        ) from exc
    if len(index) != len(grid) or any(not 0 <= c < g for c, g in zip(index, grid, strict=False)):
        raise InvalidInputError(
            f"the {what} function mapped chunk {tuple(source)} of {path!r} to {index}, "
            f"which is outside the chunk grid {tuple(grid)}; return None to leave a chunk "
            "where it is",
            kind=ErrorKind.INVALID_CHUNK_INDEX,
        )
    return index


def reindex_changes(
    table: ChunkRefs,
    forward: Callable[[list[int]], Iterable[int] | None],
    backward: Callable[[list[int]], Iterable[int] | None] | None,
    grid: Sequence[int],
    path: str,
) -> ChunkRefs:
    """Changes that move every chunk ``c`` of ``table`` to ``forward(c)``.

    ``forward`` returning None leaves a chunk where it is. With ``backward``, every
    existing position ``p`` whose ``backward(p)`` is None or names no existing chunk is
    cleared. The user's functions are called once per existing chunk; everything else is
    vectorised.
    """
    ndim = table.ndim
    coords = table.coords.tolist()
    rows: list[int] = []
    dest: list[tuple[int, ...]] = []
    for row, source in enumerate(coords):
        index = _checked_index(forward(list(source)), grid, path, "forward", source)
        if index is not None:
            rows.append(row)
            dest.append(index)
    dest_array = np.asarray(dest, dtype=np.int64).reshape(len(dest), ndim)
    # chunks mapped onto themselves take part in the collision check, then drop out
    _check_distinct(dest_array, path)
    row_array = np.asarray(rows, dtype=np.int64)
    moving = ~np.all(dest_array == table.coords[row_array], axis=1)
    moved = _moved_refs(table, row_array[moving], dest_array[moving])
    cleared = np.zeros((0, ndim), dtype=np.int64)
    if backward is not None:
        sources: list[tuple[int, ...]] = []
        positions: list[int] = []
        empty: list[int] = []
        for row, position in enumerate(coords):
            index = _checked_index(backward(list(position)), grid, path, "backward", position)
            if index is None:
                empty.append(row)
            else:
                sources.append(index)
                positions.append(row)
        source_array = np.asarray(sources, dtype=np.int64).reshape(len(sources), ndim)
        missing = ~ChunkRefs.tombstones(source_array).mask_in(table.coords)
        clear_rows = np.concatenate(
            [np.asarray(empty, dtype=np.int64), np.asarray(positions, dtype=np.int64)[missing]]
        )
        cleared = table.coords[clear_rows]
    return _changes(table, moved, cleared, path)
