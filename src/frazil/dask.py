"""Dask integration: write Dask arrays through forks, merged inside the graph."""

from __future__ import annotations

from frazil._dask import store_dask

__all__ = ["store_dask"]
