"""Test kit for code built on frazil, and for frazil's own tests.

* :class:`StorageTests` - a conformance suite for storage backends;
* :class:`CountingStorage`, :class:`FaultyStorage`, :class:`LatencyStorage` - wrappers that
  count operations, inject transient faults and lost responses, or add latency;
* :func:`bulk_chunk_refs` - give an array a million chunk references in one step;
* :func:`drop_caches` - forget what the process has cached, for cold measurements.

Importing this module imports pytest.
"""

from __future__ import annotations

from frazil.testing._bulk import bulk_chunk_refs
from frazil.testing._caches import drop_caches
from frazil.testing._storage_tests import BAD_KEYS, StorageTests
from frazil.testing._wrappers import CountingStorage, FaultSettings, FaultyStorage, LatencyStorage

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
