"""How an array's chunk references are laid out in manifest objects.

Every array's references are cut into *blocks* of chunk coordinates (its split shape). A
commit rewrites only the blocks it touched; :func:`pack_segments` then groups blocks into
manifest objects. Without split rules, small blocks share objects (up to ``split_size``
references each) so that a commit of many small arrays writes few objects. With split
rules (``ManifestConfig.splitting``), a repository asked for per-array manifests: no object
mixes arrays, and each block of an array a rule matched is an object of its own, so a
reader of one region loads that region's references only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from frazil.format import ChunkRefs, Manifest, ManifestSegment, new_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from frazil._config import ManifestConfig

__all__ = ["UNSPLIT", "auto_split_shape", "pack_segments", "split_plan"]

UNSPLIT = 1 << 40
"""Chunks per block along a dimension that a split rule leaves whole. No grid reaches it,
so an array growing along such a dimension keeps its block shape."""


def auto_split_shape(grid: tuple[int, ...], split_size: int) -> tuple[int, ...]:
    """Block shape (in chunks) for an array that no split rule matches.

    Starts from the grid rounded up to powers of two, halves the largest side until a block
    holds at most ``split_size`` chunks, then doubles sides round-robin (first dimension
    first, the usual append dimension) while it still fits, so an array that grows keeps
    filling large blocks.
    """
    if not grid:
        return ()
    block = [1 << max(0, int(g) - 1).bit_length() if g > 1 else 1 for g in grid]
    while math.prod(block) > split_size:
        i = max(range(len(block)), key=block.__getitem__)
        block[i] = max(1, block[i] // 2)
    grew = True
    while grew:
        grew = False
        for dim in range(len(block)):
            if math.prod(block) * 2 <= split_size:
                block[dim] *= 2
                grew = True
    return tuple(block)


def split_plan(
    manifest: ManifestConfig,
    path: str,
    dimension_names: tuple[str | None, ...],
    grid: tuple[int, ...],
) -> tuple[tuple[int, ...], bool]:
    """The block shape for the array at ``path`` and whether a split rule chose it (its
    blocks are then each an object of their own)."""
    if manifest.splitting.split_sizes:
        ruled = manifest.splitting.split_shape(path, dimension_names, grid, unsplit=UNSPLIT)
        if ruled is not None:
            return ruled, True
    return auto_split_shape(grid, manifest.split_size), False


def pack_segments(
    pending: Iterable[tuple[str, tuple[int, ...], ChunkRefs]],
    manifest: ManifestConfig,
    *,
    alone: set[str],
) -> list[Manifest]:
    """Group ``(node id, block, refs)`` segments into manifests, in (node, block) order.

    Segments share an object while it holds at most ``manifest.split_size`` references;
    with split rules set, an object never holds two arrays, and the blocks of a node in
    ``alone`` (one a rule matched) each get their own object. Empty segments are skipped.
    """
    split_size = manifest.split_size
    per_array = bool(manifest.splitting.split_sizes)
    manifests: list[Manifest] = []
    segments: list[ManifestSegment] = []
    rows = 0

    def flush() -> None:
        nonlocal segments, rows
        if segments:
            manifests.append(Manifest(manifest_id=new_id(), segments=tuple(segments)))
        segments, rows = [], 0

    for node_id, block, table in sorted(pending, key=lambda p: (p[0], p[1])):
        if not len(table):
            continue
        if segments and (
            rows + len(table) > split_size
            or node_id in alone
            or segments[-1].node_id in alone
            or (per_array and segments[-1].node_id != node_id)
        ):
            flush()
        segments.append(ManifestSegment(node_id=node_id, block=block, refs=table))
        rows += len(table)
    flush()
    return manifests
