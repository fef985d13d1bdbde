"""Repository configuration, in the mutable shape of Icechunk's, validated on assignment.

A :class:`RepositoryConfig` holds sections (:class:`CachingConfig`,
:class:`CompressionConfig`, :class:`ManifestConfig`, :class:`StorageSettings`,
:class:`CommitRetryConfig`), scalar settings and the virtual chunk containers. Every
setting is validated when it is set (in the constructor or by assignment) and raises
:class:`~frazil.InvalidInputError` naming the setting; a setting never set reads as its
documented default, and assigning ``None`` returns it to the default. Only settings that
were set are persisted by ``Repository.save_config`` (``to_dict``), so a repository keeps
following frazil's defaults where its owner did not choose otherwise.

A repository keeps its own copy of the configuration it was opened with: changing a config
object afterwards changes nothing until it is passed to ``Repository.reopen``.

Which settings have an effect is listed in ``docs/configuration.md``; the others (Icechunk's
names for knobs frazil's engine does not have) are accepted, persisted and reported.
"""

from __future__ import annotations

from frazil._config.credentials import (
    AnyCredential,
    AnyS3Credential,
    Credentials,
    HttpAccess,
    LocalFileSystemAccess,
    S3Credentials,
    S3StaticCredentials,
    check_credentials,
    containers_credentials,
    s3_anonymous_credentials,
    s3_credentials,
    s3_from_env_credentials,
    s3_refreshable_credentials,
    s3_static_credentials,
    s3fs_credential_options,
)
from frazil._config.manifest import (
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
    ManifestVirtualChunkLocationCompressionConfig,
    SplitSizes,
)
from frazil._config.repository import (
    CachingConfig,
    CommitRetryConfig,
    CompressionAlgorithm,
    CompressionConfig,
    RepositoryConfig,
)
from frazil._config.storage import (
    RepoUpdateRetryConfig,
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
    StorageTimeoutSettings,
)
from frazil._config.virtual import (
    ObjectStoreConfig,
    VirtualChunkContainer,
    azure_store,
    fsspec_store,
    gcs_store,
    http_store,
    local_filesystem_store,
    s3_compatible_store,
    s3_store,
)

__all__ = [
    "AnyCredential",
    "AnyS3Credential",
    "CachingConfig",
    "CommitRetryConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "Credentials",
    "HttpAccess",
    "LocalFileSystemAccess",
    "ManifestConfig",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "ObjectStoreConfig",
    "RepoUpdateRetryConfig",
    "RepositoryConfig",
    "S3Credentials",
    "S3StaticCredentials",
    "SplitSizes",
    "StorageConcurrencySettings",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
    "VirtualChunkContainer",
    "azure_store",
    "check_credentials",
    "containers_credentials",
    "fsspec_store",
    "gcs_store",
    "http_store",
    "local_filesystem_store",
    "s3_anonymous_credentials",
    "s3_compatible_store",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
    "s3_store",
    "s3fs_credential_options",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "frazil"
