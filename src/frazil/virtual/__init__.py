"""Virtual datasets: references into archival files (netCDF, HDF5, ...) committed as
virtual chunks.

:func:`write_virtual_dataset` writes what VirtualiZarr's ``open_virtual_dataset`` returns;
:func:`import_kerchunk` writes kerchunk reference sets. Both need the ``virtual`` extra
(``pip install frazil[virtual]``); neither is imported by ``import frazil``.
"""

from __future__ import annotations

from frazil.virtual._write import import_kerchunk, write_virtual_dataset

__all__ = ["import_kerchunk", "write_virtual_dataset"]
