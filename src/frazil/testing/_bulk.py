"""Building large repositories quickly, for scale tests and benchmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._checksum import crc32c
from frazil._session import state_of
from frazil._sync import sync
from frazil.format import ChunkRefs, RefKind, encode_id, new_id_bytes

if TYPE_CHECKING:
    from frazil._session import Session

__all__ = ["bulk_chunk_refs"]


def bulk_chunk_refs(
    session: Session, array_path: str, coords: np.ndarray[Any, Any], data: bytes
) -> None:
    """Record chunk references for every row of ``coords`` in one vectorised step.

    One chunk object holding ``data`` is written, and every reference points at it, so a
    million-chunk array costs one object and a few NumPy calls instead of a million zarr
    writes. Reading any of those chunks returns ``data``.
    """
    state = state_of(session)
    state.check_writable()
    ws = sync(state.workspace())
    view = ws.require_node(array_path)
    chunk_id = new_id_bytes()
    sync(state.io.write_chunk(encode_id(chunk_id), data))
    coords = np.ascontiguousarray(coords, dtype=np.int64)
    n = len(coords)
    table = ChunkRefs(
        coords=coords,
        kind=np.full(n, RefKind.NATIVE, dtype=np.uint8),
        chunk_id=np.tile(np.frombuffer(chunk_id, dtype=np.uint8), (n, 1)),
        offset=np.zeros(n, dtype=np.uint64),
        length=np.full(n, len(data), dtype=np.uint64),
        checksum=np.full(n, crc32c(data), dtype=np.uint32),
        location=np.zeros(n, dtype=np.uint32),
    )
    state.add_chunk_table(ws, view, table.dedup_last())
