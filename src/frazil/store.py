"""The zarr store of a session (``frazil.FrazilStore``; Icechunk's ``icechunk.store``)."""

from __future__ import annotations

from frazil._session import FrazilStore

__all__ = ["FrazilStore"]
