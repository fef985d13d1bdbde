"""Virtual datasets: references into archival files (netCDF, HDF5, ...) committed as
virtual chunks.

:func:`write_virtual_dataset` writes what VirtualiZarr's ``open_virtual_dataset`` returns;
:func:`import_kerchunk` writes kerchunk reference sets. Both need the ``virtual`` extra
(``pip install frazil[virtual]``); neither is imported by ``import frazil``.
``VirtualChunkContainer`` and ``VirtualChunkSpec`` are here too, as in Icechunk's
``icechunk.virtual``.
"""

from __future__ import annotations

from frazil._config import VirtualChunkContainer
from frazil._session import VirtualChunkSpec
from frazil.virtual._write import import_kerchunk, write_virtual_dataset

__all__ = [
    "VirtualChunkContainer",
    "VirtualChunkSpec",
    "import_kerchunk",
    "write_virtual_dataset",
]
