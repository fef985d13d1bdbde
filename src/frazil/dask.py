"""Dask integration: write Dask arrays through forks, merged inside the graph."""

from __future__ import annotations

from frazil._dask import session_merge_reduction, store_dask
from frazil._distributed import merge_sessions

__all__ = ["merge_sessions", "session_merge_reduction", "store_dask"]
