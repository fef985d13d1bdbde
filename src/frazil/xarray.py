"""xarray integration: ``to_frazil``, the ``Dataset.to_zarr`` of frazil sessions."""

from __future__ import annotations

from frazil._xarray import to_frazil

__all__ = ["to_frazil"]
