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

``import frazil`` imports none of dask, distributed, xarray or s3fs, and loads the rest of
the package on first use of a public name (Scientific Python SPEC 1 lazy loading).
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
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

_LAZY = {
    "AlreadyExistsError": "frazil._errors",
    "BasicConflictSolver": "frazil._conflicts",
    "CachingConfig": "frazil._config",
    "ChunkType": "frazil._session",
    "CommitRetryConfig": "frazil._config",
    "CompressionConfig": "frazil._config",
    "Conflict": "frazil._conflict_types",
    "ConflictDetector": "frazil._conflicts",
    "ConflictError": "frazil._errors",
    "ConflictSolver": "frazil._conflicts",
    "ConflictType": "frazil._conflict_types",
    "Diff": "frazil._history",
    "ErrorKind": "frazil._errors",
    "ForkSession": "frazil._session",
    "FormatError": "frazil._errors",
    "FrazilError": "frazil._errors",
    "FrazilStore": "frazil._store",
    "GCSummary": "frazil._gc",
    "InternalError": "frazil._errors",
    "InvalidInputError": "frazil._errors",
    "ManifestConfig": "frazil._config",
    "MergeConflictError": "frazil._errors",
    "NoChangesToCommitError": "frazil._errors",
    "NodeNotFoundError": "frazil._errors",
    "NotFoundError": "frazil._errors",
    "ObjectNotFoundError": "frazil._errors",
    "PreconditionFailedError": "frazil._errors",
    "ReadOnlyError": "frazil._errors",
    "RebaseFailedError": "frazil._errors",
    "RefNotFoundError": "frazil._errors",
    "Repository": "frazil._repository",
    "RepositoryConfig": "frazil._config",
    "RepositoryNotFoundError": "frazil._errors",
    "Session": "frazil._session",
    "SessionMode": "frazil._session",
    "SessionStateError": "frazil._errors",
    "SnapshotInfo": "frazil._history",
    "SnapshotNotFoundError": "frazil._errors",
    "Storage": "frazil.storage",
    "StorageError": "frazil._errors",
    "VersionSelection": "frazil._conflict_types",
    "in_memory_storage": "frazil.storage",
    "local_filesystem_storage": "frazil.storage",
    "s3_storage": "frazil.storage",
    "storage_from_url": "frazil.storage",
}

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


_SUBMODULES = frozenset({"dask", "distributed", "format", "storage", "testing", "xarray"})


def __getattr__(name: str) -> object:
    """Load public names on first use, so ``import frazil`` itself stays cheap."""
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBMODULES:  # frazil.storage etc. work after a bare "import frazil"
            return _importlib.import_module(f"frazil.{name}")
        raise AttributeError(f"module 'frazil' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
