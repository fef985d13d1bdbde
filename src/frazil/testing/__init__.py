"""Test kit for code built on frazil, and for frazil's own tests.

* :class:`StorageTests` - a conformance suite for storage backends;
* :class:`CountingStorage`, :class:`FaultyStorage`, :class:`LatencyStorage` - wrappers that
  count operations, inject transient faults and lost responses, or add latency;
* :func:`bulk_chunk_refs` - give an array a million chunk references in one step;
* :func:`drop_caches` - forget what the process has cached, for cold measurements.

:class:`StorageTests` and :data:`BAD_KEYS` import pytest when first used; the rest does
not need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil.testing._bulk import bulk_chunk_refs
from frazil.testing._caches import drop_caches
from frazil.testing._wrappers import CountingStorage, FaultSettings, FaultyStorage, LatencyStorage

if TYPE_CHECKING:
    from frazil.testing._storage_tests import BAD_KEYS, StorageTests

__all__ = [
    "BAD_KEYS",
    "CountingStorage",
    "FaultSettings",
    "FaultyStorage",
    "LatencyStorage",
    "StorageTests",
    "bulk_chunk_refs",
    "drop_caches",
]


def __getattr__(name: str) -> Any:
    if name in ("BAD_KEYS", "StorageTests"):
        from frazil.testing import _storage_tests

        return getattr(_storage_tests, name)
    raise AttributeError(f"module 'frazil.testing' has no attribute {name!r}")
