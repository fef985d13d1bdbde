"""L3, operations on stored repositories: integrity checks, snapshot expiry, storage
statistics and manifest rewriting.

Like ``_repo`` these work on stored objects, never on sessions; ``_repo`` never imports
this package. The layers above import these names from ``frazil._ops`` only.
"""

from __future__ import annotations

from frazil._ops.expiry import check_cutoff, expire_snapshots
from frazil._ops.integrity import (
    Finding,
    IntegrityReport,
    ProgressCallback,
    check_integrity,
    encode_ids,
)
from frazil._ops.rewrite import rewrite_manifests
from frazil._ops.statistics import (
    ChunkStorageStats,
    chunk_storage_stats,
    node_table,
    reachable_snapshots,
    ref_targets,
)

__all__ = [
    "ChunkStorageStats",
    "Finding",
    "IntegrityReport",
    "ProgressCallback",
    "check_cutoff",
    "check_integrity",
    "chunk_storage_stats",
    "encode_ids",
    "expire_snapshots",
    "node_table",
    "reachable_snapshots",
    "ref_targets",
    "rewrite_manifests",
]
