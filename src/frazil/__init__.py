"""frazil: git-like transactions for Zarr v3 on any object store, with safe distributed writes.

The package is layered; each layer is a package (or, at the bottom, a module) that imports
only from the layers below it, through their faces (``__init__``), never their private
modules. ``tests/test_imports.py`` holds the map and enforces it; ``docs/design/005-layout.md``
explains it::

    L9 applications   catalog/  cli/  testing/
    L8 integrations   jobs/  virtual/  dask  xarray  distributed  credentials  (_dask _xarray _distributed)
    L8 (faces)        session  store  repository  config  conflicts  ops  snapshots
    L7 facade         _repository/  repository, refs, history, sessions, maintenance, jobs
    L6 sessions       _session/   state, store, committer, forks, session
    L5 transactions   _commit/    build, protocol, rebase, solvers, staging, tickets
    L4 changes        _changes/   changeset, merge, conflict, workspace, keys, zarrmeta, reindex
    L3 mechanics      _repo/      io, context, bootstrap, refs, history, gc, virtual;  _ops/
    L2 format         format/
    L1 storage        storage/
    L0 foundation     _errors  _config  _sync  _check  _checksum  _logs

``import frazil`` imports none of dask, distributed, xarray or s3fs, and loads the rest of
the package on first use of a public name (Scientific Python SPEC 1 lazy loading).
"""

from __future__ import annotations

import importlib as _importlib

from frazil import _errors

# Not ``typing.TYPE_CHECKING``: importing typing would double the cost of ``import frazil``.
# Type checkers read any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:  # explicit re-exports for type checkers: the same names as _LAZY
    from frazil._changes import (
        Conflict as Conflict,
        ConflictType as ConflictType,
        VersionSelection as VersionSelection,
    )
    from frazil._commit import (
        BasicConflictSolver as BasicConflictSolver,
        ConflictDetector as ConflictDetector,
        ConflictSolver as ConflictSolver,
    )
    from frazil._config import (
        CachingConfig as CachingConfig,
        CommitRetryConfig as CommitRetryConfig,
        CompressionAlgorithm as CompressionAlgorithm,
        CompressionConfig as CompressionConfig,
        Credentials as Credentials,
        ManifestConfig as ManifestConfig,
        ManifestPreloadCondition as ManifestPreloadCondition,
        ManifestPreloadConfig as ManifestPreloadConfig,
        ManifestSplitCondition as ManifestSplitCondition,
        ManifestSplitDimCondition as ManifestSplitDimCondition,
        ManifestSplittingConfig as ManifestSplittingConfig,
        ManifestVirtualChunkLocationCompressionConfig as ManifestVirtualChunkLocationCompressionConfig,
        ObjectStoreConfig as ObjectStoreConfig,
        RepositoryConfig as RepositoryConfig,
        S3Credentials as S3Credentials,
        S3StaticCredentials as S3StaticCredentials,
        StorageConcurrencySettings as StorageConcurrencySettings,
        StorageRetriesSettings as StorageRetriesSettings,
        StorageSettings as StorageSettings,
        StorageTimeoutSettings as StorageTimeoutSettings,
        VirtualChunkContainer as VirtualChunkContainer,
        azure_store as azure_store,
        containers_credentials as containers_credentials,
        fsspec_store as fsspec_store,
        gcs_store as gcs_store,
        http_store as http_store,
        local_filesystem_store as local_filesystem_store,
        s3_anonymous_credentials as s3_anonymous_credentials,
        s3_compatible_store as s3_compatible_store,
        s3_credentials as s3_credentials,
        s3_from_env_credentials as s3_from_env_credentials,
        s3_refreshable_credentials as s3_refreshable_credentials,
        s3_static_credentials as s3_static_credentials,
        s3_store as s3_store,
    )
    from frazil._errors import (
        AlreadyExistsError as AlreadyExistsError,
        ConflictError as ConflictError,
        ErrorKind as ErrorKind,
        FormatError as FormatError,
        FrazilError as FrazilError,
        InternalError as InternalError,
        InvalidInputError as InvalidInputError,
        InvalidTypeError as InvalidTypeError,
        MergeConflictError as MergeConflictError,
        NoChangesToCommitError as NoChangesToCommitError,
        NodeNotFoundError as NodeNotFoundError,
        NotFoundError as NotFoundError,
        NotPicklableError as NotPicklableError,
        ObjectNotFoundError as ObjectNotFoundError,
        PreconditionFailedError as PreconditionFailedError,
        ReadOnlyError as ReadOnlyError,
        RebaseFailedError as RebaseFailedError,
        RefNotFoundError as RefNotFoundError,
        RepositoryNotFoundError as RepositoryNotFoundError,
        SessionStateError as SessionStateError,
        ShardsFailedError as ShardsFailedError,
        SnapshotNotFoundError as SnapshotNotFoundError,
        StorageError as StorageError,
        VirtualChunkNotAuthorizedError as VirtualChunkNotAuthorizedError,
        VirtualSourceChangedError as VirtualSourceChangedError,
    )
    from frazil._logs import (
        initialize_logs as initialize_logs,
        print_debug_info as print_debug_info,
        set_logs_filter as set_logs_filter,
    )
    from frazil._ops import (
        ChunkStorageStats as ChunkStorageStats,
        Finding as Finding,
        IntegrityReport as IntegrityReport,
    )
    from frazil._repo import (
        Diff as Diff,
        FeatureFlag as FeatureFlag,
        GCSummary as GCSummary,
        JobRecord as JobRecord,
        RepoAvailability as RepoAvailability,
        RepoStatus as RepoStatus,
        SnapshotInfo as SnapshotInfo,
        Update as Update,
        UpdateType as UpdateType,
    )
    from frazil._repository import (
        AncestryGraph as AncestryGraph,
        ManifestFileInfo as ManifestFileInfo,
        Repository as Repository,
        upgrade_icechunk_repository as upgrade_icechunk_repository,
    )
    from frazil._session import (
        ChunkType as ChunkType,
        ForkSession as ForkSession,
        FrazilStore as FrazilStore,
        Session as Session,
        SessionMode as SessionMode,
        VirtualChunkSpec as VirtualChunkSpec,
    )
    from frazil.catalog import (
        AsyncClient as AsyncClient,
        BucketConfig as BucketConfig,
        Client as Client,
        RepoModel as RepoModel,
        StorageSize as StorageSize,
    )
    from frazil.format import (
        SpecVersion as SpecVersion,
        spec_version as spec_version,
        supported_spec_versions as supported_spec_versions,
    )
    from frazil.jobs import (
        Job as Job,
    )
    from frazil.storage import (
        S3Options as S3Options,
        Storage as Storage,
        azure_storage as azure_storage,
        gcs_storage as gcs_storage,
        http_storage as http_storage,
        in_memory_storage as in_memory_storage,
        local_filesystem_storage as local_filesystem_storage,
        r2_storage as r2_storage,
        s3_object_store_storage as s3_object_store_storage,
        s3_storage as s3_storage,
        storage_from_url as storage_from_url,
        tigris_storage as tigris_storage,
    )

del TYPE_CHECKING

_LAZY: dict[str, str] = {
    **dict.fromkeys(_errors.__all__, "frazil._errors"),
    **dict.fromkeys(("Conflict", "ConflictType", "VersionSelection"), "frazil._changes"),
    **dict.fromkeys(
        ("BasicConflictSolver", "ConflictDetector", "ConflictSolver"), "frazil._commit"
    ),
    **dict.fromkeys(
        (
            "CachingConfig",
            "CommitRetryConfig",
            "Credentials",
            "S3Credentials",
            "S3StaticCredentials",
            "containers_credentials",
            "s3_anonymous_credentials",
            "s3_credentials",
            "s3_from_env_credentials",
            "s3_refreshable_credentials",
            "s3_static_credentials",
            "CompressionAlgorithm",
            "CompressionConfig",
            "ManifestConfig",
            "ManifestPreloadCondition",
            "ManifestPreloadConfig",
            "ManifestSplitCondition",
            "ManifestSplitDimCondition",
            "ManifestSplittingConfig",
            "ManifestVirtualChunkLocationCompressionConfig",
            "ObjectStoreConfig",
            "RepositoryConfig",
            "StorageConcurrencySettings",
            "StorageRetriesSettings",
            "StorageSettings",
            "StorageTimeoutSettings",
            "VirtualChunkContainer",
            "azure_store",
            "fsspec_store",
            "gcs_store",
            "http_store",
            "local_filesystem_store",
            "s3_compatible_store",
            "s3_store",
        ),
        "frazil._config",
    ),
    **dict.fromkeys(("initialize_logs", "print_debug_info", "set_logs_filter"), "frazil._logs"),
    **dict.fromkeys(
        (
            "Diff",
            "FeatureFlag",
            "GCSummary",
            "JobRecord",
            "RepoAvailability",
            "RepoStatus",
            "SnapshotInfo",
        ),
        "frazil._repo",
    ),
    **dict.fromkeys(("Update", "UpdateType"), "frazil._repo"),
    **dict.fromkeys(("ChunkStorageStats", "Finding", "IntegrityReport"), "frazil._ops"),
    **dict.fromkeys(("SpecVersion", "spec_version", "supported_spec_versions"), "frazil.format"),
    "Job": "frazil.jobs",
    **dict.fromkeys(
        ("AsyncClient", "BucketConfig", "Client", "RepoModel", "StorageSize"), "frazil.catalog"
    ),
    **dict.fromkeys(
        ("AncestryGraph", "ManifestFileInfo", "Repository", "upgrade_icechunk_repository"),
        "frazil._repository",
    ),
    **dict.fromkeys(
        ("ChunkType", "ForkSession", "FrazilStore", "Session", "SessionMode", "VirtualChunkSpec"),
        "frazil._session",
    ),
    **dict.fromkeys(
        (
            "S3Options",
            "Storage",
            "azure_storage",
            "gcs_storage",
            "http_storage",
            "in_memory_storage",
            "local_filesystem_storage",
            "r2_storage",
            "s3_object_store_storage",
            "s3_storage",
            "storage_from_url",
            "tigris_storage",
        ),
        "frazil.storage",
    ),
}
"""Every public name and the module that defines it: the one list of the public API."""

__version__ = "0.1.0"

__all__ = sorted([*_LAZY, "__version__"])  # noqa: PLE0605 -- derived from the one table

_SUBMODULES = frozenset(
    {
        "catalog",
        "config",
        "conflicts",
        "credentials",
        "dask",
        "distributed",
        "format",
        "jobs",
        "ops",
        "repository",
        "session",
        "snapshots",
        "storage",
        "store",
        "testing",
        "virtual",
        "xarray",
    }
)


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


def _logs_from_environment() -> None:
    import os

    if os.environ.get("FRAZIL_LOG") or os.environ.get("ICECHUNK_LOG"):
        from frazil._logs import initialize_logs

        initialize_logs()


_logs_from_environment()
