"""L4, uncommitted changes in memory: change sets, their merges, the workspace view.

A :class:`ChangeSet` holds what a session changed since its base snapshot, with chunk
references in NumPy columns; a :class:`Workspace` overlays it on the base snapshot and
answers reads; :func:`merge_into` folds forks (or staged writes) into it. No I/O happens
here beyond reading the base snapshot's manifests through ``frazil._repo``.
"""

from __future__ import annotations

from frazil._changes.changeset import (
    ChangeSet,
    ChunkRef,
    ChunkWrites,
    NodeOp,
    inheriting,
    matching_rows,
    ref_at,
    refs_identical,
)
from frazil._changes.conflict import Conflict, ConflictType, VersionSelection
from frazil._changes.keys import (
    METADATA_KEY,
    BlobKey,
    ChunkKey,
    MetadataKey,
    StoreKey,
    chunk_keys,
    node_key_prefix,
    resolve_key,
)
from frazil._changes.merge import MergePlan, merge_into, merge_tables, plan_merge, selection
from frazil._changes.reindex import reindex_changes, shift_changes
from frazil._changes.workspace import (
    NodeView,
    Workspace,
    child_path,
    join_path,
    normalize_path,
    parent_path,
)
from frazil._changes.zarrmeta import ArrayLayout, NodeMeta, parse_node_metadata

__all__ = [
    "METADATA_KEY",
    "ArrayLayout",
    "BlobKey",
    "ChangeSet",
    "ChunkKey",
    "ChunkRef",
    "ChunkWrites",
    "Conflict",
    "ConflictType",
    "MergePlan",
    "MetadataKey",
    "NodeMeta",
    "NodeOp",
    "NodeView",
    "StoreKey",
    "VersionSelection",
    "Workspace",
    "child_path",
    "chunk_keys",
    "inheriting",
    "join_path",
    "matching_rows",
    "merge_into",
    "merge_tables",
    "node_key_prefix",
    "normalize_path",
    "parent_path",
    "parse_node_metadata",
    "plan_merge",
    "ref_at",
    "refs_identical",
    "reindex_changes",
    "resolve_key",
    "selection",
    "shift_changes",
]
