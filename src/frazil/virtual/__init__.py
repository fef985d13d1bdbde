"""Virtual datasets: references into archival files (netCDF, HDF5, ...) committed as
virtual chunks.

:func:`write_virtual_dataset` writes what VirtualiZarr's ``open_virtual_dataset`` returns;
:func:`import_kerchunk` writes kerchunk reference sets. Both need the ``virtual`` extra
(``pip install frazil[virtual]``) only for the readers that build references.
"""

from __future__ import annotations

__all__: list[str] = []
