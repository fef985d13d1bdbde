"""frazil: git-like transactions for Zarr v3 on any object store, with safe distributed writes.

The layers, from the bottom up (imports point downward only)::

    L8 integrations  distributed  dask  xarray             (imported on demand)
    L7 facades       _repository  _session
    L6 zarr adapter  _store
    L5 transactions  _conflicts  _commit  _staging
    L4 changes       _changeset  _merge  _workspace  _zarrmeta  _conflict_types
    L3 mechanics     _refs  _history  _io  _virtual
    L2 format        format/
    L1 storage       storage/
    L0 foundation    _errors  _config  _sync

``import frazil`` imports none of dask, distributed, xarray or s3fs.
"""

from __future__ import annotations

from frazil._config import (
    CachingConfig,
    CommitRetryConfig,
    CompressionConfig,
    ManifestConfig,
    RepositoryConfig,
)
from frazil._conflict_types import Conflict, ConflictType, VersionSelection
from frazil._conflicts import BasicConflictSolver, ConflictDetector, ConflictSolver
from frazil._errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    FormatError,
    FrazilError,
    InternalError,
    InvalidInputError,
    MergeConflictError,
    NoChangesToCommitError,
    NodeNotFoundError,
    NotFoundError,
    ObjectNotFoundError,
    PreconditionFailedError,
    ReadOnlyError,
    RebaseFailedError,
    RefNotFoundError,
    RepositoryNotFoundError,
    SessionStateError,
    SnapshotNotFoundError,
    StorageError,
)
from frazil._gc import GCSummary
from frazil._history import Diff, SnapshotInfo
from frazil._repository import Repository
from frazil._session import ChunkType, ForkSession, Session, SessionMode
from frazil._store import FrazilStore
from frazil.storage import (
    Storage,
    in_memory_storage,
    local_filesystem_storage,
    s3_storage,
    storage_from_url,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "BasicConflictSolver",
    "CachingConfig",
    "ChunkType",
    "CommitRetryConfig",
    "CompressionConfig",
    "Conflict",
    "ConflictDetector",
    "ConflictError",
    "ConflictSolver",
    "ConflictType",
    "Diff",
    "ErrorKind",
    "ForkSession",
    "FormatError",
    "FrazilError",
    "FrazilStore",
    "GCSummary",
    "InternalError",
    "InvalidInputError",
    "ManifestConfig",
    "MergeConflictError",
    "NoChangesToCommitError",
    "NodeNotFoundError",
    "NotFoundError",
    "ObjectNotFoundError",
    "PreconditionFailedError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "Repository",
    "RepositoryConfig",
    "RepositoryNotFoundError",
    "Session",
    "SessionMode",
    "SessionStateError",
    "SnapshotInfo",
    "SnapshotNotFoundError",
    "Storage",
    "StorageError",
    "VersionSelection",
    "__version__",
    "in_memory_storage",
    "local_filesystem_storage",
    "s3_storage",
    "storage_from_url",
]

for _name in ("FrazilStore", "ForkSession", "Session"):
    globals()[_name].__module__ = "frazil"
del _name
