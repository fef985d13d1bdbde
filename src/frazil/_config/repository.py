"""The repository config and its own sections: caching, compression, commit retries."""

from __future__ import annotations

import enum

from frazil._config.base import (
    MIB,
    Section,
    Setting,
    bad,
    check_instance,
    check_int,
    check_number,
    given,
)
from frazil._config.manifest import ManifestConfig
from frazil._config.storage import RepoUpdateRetryConfig, StorageSettings
from frazil._config.virtual import VirtualChunkContainer, check_overlap, containers

__all__ = [
    "CachingConfig",
    "CommitRetryConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "RepositoryConfig",
]


# ---------------------------------------------------------------------- caching
_BYTES_PER_REF = 40
"""Approximate decoded size of one chunk reference (columns plus index)."""
_BYTES_PER_NODE = 400
"""Approximate decoded size of one node of a snapshot."""
_BYTES_PER_CHANGE = 16
"""Approximate decoded size of one change in a transaction log."""


class CachingConfig(Section):
    """Sizes of the in-memory caches of decoded objects.

    frazil bounds its caches in bytes. Icechunk's count settings (``num_snapshot_nodes``,
    ``num_chunk_refs``, ``num_transaction_changes``) are accepted too and converted to
    bytes where the byte setting is not set; ``num_bytes_attributes`` and
    ``num_bytes_chunks`` are persisted but have no effect (frazil caches no chunk bytes).
    """

    snapshot_cache_bytes = Setting(64 * MIB, check_int())
    """Decoded snapshots (node tables) kept per repository, in bytes."""
    manifest_cache_bytes = Setting(512 * MIB, check_int())
    """Decoded manifests (chunk reference columns) kept per repository, in bytes."""
    transaction_cache_bytes = Setting(32 * MIB, check_int())
    """Decoded transaction logs kept per repository (used by rebase), in bytes."""
    num_snapshot_nodes = Setting[int | None](None, check_int())
    """Icechunk's bound on cached snapshot nodes; sets the snapshot cache size when
    ``snapshot_cache_bytes`` is not set."""
    num_chunk_refs = Setting[int | None](None, check_int())
    """Icechunk's bound on cached chunk references; sets the manifest cache size when
    ``manifest_cache_bytes`` is not set."""
    num_transaction_changes = Setting[int | None](None, check_int())
    """Icechunk's bound on cached transaction-log changes; sets the transaction cache size
    when ``transaction_cache_bytes`` is not set."""
    num_bytes_attributes = Setting[int | None](None, check_int())
    """Accepted for Icechunk scripts; no effect."""
    num_bytes_chunks = Setting[int | None](None, check_int())
    """Accepted for Icechunk scripts; no effect (frazil caches no chunk bytes)."""

    def __init__(
        self,
        num_snapshot_nodes: int | None = None,
        num_chunk_refs: int | None = None,
        num_transaction_changes: int | None = None,
        num_bytes_attributes: int | None = None,
        num_bytes_chunks: int | None = None,
        *,
        snapshot_cache_bytes: int | None = None,
        manifest_cache_bytes: int | None = None,
        transaction_cache_bytes: int | None = None,
    ) -> None:
        super().__init__(**given(locals()))

    def _bytes(self, byte_setting: str, count_setting: str, per_item: int) -> int:
        count = getattr(self, count_setting)
        if self.is_set(byte_setting) or count is None:
            return int(getattr(self, byte_setting))
        return int(count) * per_item

    @property
    def effective_snapshot_cache_bytes(self) -> int:
        """The snapshot cache's bound in bytes, from whichever setting applies."""
        return self._bytes("snapshot_cache_bytes", "num_snapshot_nodes", _BYTES_PER_NODE)

    @property
    def effective_manifest_cache_bytes(self) -> int:
        """The manifest cache's bound in bytes, from whichever setting applies."""
        return self._bytes("manifest_cache_bytes", "num_chunk_refs", _BYTES_PER_REF)

    @property
    def effective_transaction_cache_bytes(self) -> int:
        """The transaction-log cache's bound in bytes, from whichever setting applies."""
        return self._bytes("transaction_cache_bytes", "num_transaction_changes", _BYTES_PER_CHANGE)


# ---------------------------------------------------------------------- compression
class CompressionAlgorithm(enum.StrEnum):
    """How metadata objects (snapshots, manifests, transaction logs) are compressed."""

    Zstd = "zstd"
    """Zstandard (the default)."""
    Uncompressed = "none"
    """No compression."""

    @classmethod
    def default(cls) -> CompressionAlgorithm:
        """The default algorithm, Zstd."""
        return cls.Zstd


def _algorithm(name: str, value: object) -> CompressionAlgorithm:
    if isinstance(value, str):  # CompressionAlgorithm members are strs too
        try:
            return CompressionAlgorithm(value)
        except ValueError:
            pass
    raise bad(f"{name} must be a CompressionAlgorithm (or 'zstd' / 'none'), got {value!r}")


class CompressionConfig(Section):
    """Compression of metadata objects. Chunk bytes are never recompressed: zarr's codecs
    own them."""

    algorithm = Setting(CompressionAlgorithm.Zstd, _algorithm, dump=str, load=CompressionAlgorithm)
    """``CompressionAlgorithm.Zstd`` (default) or ``Uncompressed``; strings work too."""
    level = Setting(3, check_int(0, 22))
    """The zstd level, 1 (fast) to 22 (small); 0 is zstd's default (3)."""

    def __init__(
        self, algorithm: CompressionAlgorithm | str | None = None, level: int | None = None
    ) -> None:
        super().__init__(algorithm=algorithm, level=level)


# ---------------------------------------------------------------------- commit retries
class CommitRetryConfig(Section):
    """Backoff between the rebase-and-retry attempts of ``commit(rebase_with=...)``."""

    initial_backoff_seconds = Setting(0.005, check_number())
    """The first wait; each further wait doubles, with full jitter."""
    max_backoff_seconds = Setting(0.5, check_number())
    """The longest single wait."""
    deadline_seconds = Setting[float | None](None, check_number(1e-9))
    """Give up (raising the last :class:`~frazil.ConflictError`) once this many seconds have
    passed since the commit started; ``None`` means only ``rebase_tries`` bounds the loop."""

    def __init__(
        self,
        *,
        initial_backoff_seconds: float | None = None,
        max_backoff_seconds: float | None = None,
        deadline_seconds: float | None = None,
    ) -> None:
        super().__init__(**given(locals()))


# ---------------------------------------------------------------------- the repository config
class RepositoryConfig(Section):
    """Configuration of a repository, persisted with ``Repository.save_config``.

    Every setting is validated when set; a setting never set reads as its default.

    Examples
    --------
    >>> config = RepositoryConfig.default()
    >>> config.inline_chunk_threshold_bytes = 1024
    >>> config.manifest = ManifestConfig(split_size=10_000)
    >>> config.manifest.split_size
    10000
    """

    inline_chunk_threshold_bytes = Setting(512, check_int())
    """Chunks of at most this many bytes are stored inside the manifest, not as objects."""
    get_partial_values_concurrency = Setting(10, check_int(1))
    """Accepted for Icechunk scripts; partial reads run within ``max_concurrent_requests``."""
    compression = Setting(
        CompressionConfig(), check_instance(CompressionConfig), factory=CompressionConfig
    )
    """Compression of metadata objects."""
    max_concurrent_requests = Setting(64, check_int(1))
    """Upper bound on storage requests in flight for one operation."""
    caching = Setting(CachingConfig(), check_instance(CachingConfig), factory=CachingConfig)
    """Cache sizes."""
    storage = Setting(StorageSettings(), check_instance(StorageSettings), factory=StorageSettings)
    """How frazil talks to the storage (retries have effect; see the docs for the rest)."""
    manifest = Setting(ManifestConfig(), check_instance(ManifestConfig), factory=ManifestConfig)
    """Manifest splitting and preloading."""
    commit_retry = Setting(
        CommitRetryConfig(), check_instance(CommitRetryConfig), factory=CommitRetryConfig
    )
    """Backoff of the commit retry loop."""
    virtual_chunk_containers = Setting[dict[str, VirtualChunkContainer] | None](
        None,
        containers,
        dump=lambda d: [c.to_json() for c in (d or {}).values()],
        load=lambda data: {
            c.url_prefix: c for c in (VirtualChunkContainer.from_json(x) for x in data)
        },
    )
    """The containers virtual chunks may live in, by URL prefix."""
    repo_update_retries = Setting(
        RepoUpdateRetryConfig(),
        check_instance(RepoUpdateRetryConfig),
        factory=RepoUpdateRetryConfig,
    )
    """Retries of concurrent changes to the repository's metadata and status documents."""
    num_updates_per_repo_info_file = Setting(1000, check_int(1))
    """Accepted for Icechunk scripts; no effect."""
    max_concurrent_decodes = Setting(2, check_int(1))
    """Accepted for Icechunk scripts; no effect."""

    def __init__(
        self,
        inline_chunk_threshold_bytes: int | None = None,
        get_partial_values_concurrency: int | None = None,
        compression: CompressionConfig | None = None,
        max_concurrent_requests: int | None = None,
        caching: CachingConfig | None = None,
        storage: StorageSettings | None = None,
        virtual_chunk_containers: dict[str, VirtualChunkContainer]
        | list[VirtualChunkContainer]
        | None = None,
        manifest: ManifestConfig | None = None,
        repo_update_retries: RepoUpdateRetryConfig | None = None,
        num_updates_per_repo_info_file: int | None = None,
        max_concurrent_decodes: int | None = None,
        *,
        commit_retry: CommitRetryConfig | None = None,
    ) -> None:
        super().__init__(**given(locals()))

    def set_virtual_chunk_container(self, container: VirtualChunkContainer) -> None:
        """Declare a virtual chunk container (replacing one with the same prefix).

        Raises
        ------
        InvalidInputError
            If it is not a VirtualChunkContainer, or its prefix overlaps another's.
        """
        check_instance(VirtualChunkContainer)("set_virtual_chunk_container", container)
        current = dict(self.virtual_chunk_containers or {})
        current.pop(container.url_prefix, None)
        check_overlap(current, container)
        current[container.url_prefix] = container
        self._values["virtual_chunk_containers"] = current

    def get_virtual_chunk_container(self, url_prefix: str) -> VirtualChunkContainer | None:
        """The container declared for ``url_prefix``, or None."""
        return (self.virtual_chunk_containers or {}).get(url_prefix)

    def clear_virtual_chunk_containers(self) -> None:
        """Remove every virtual chunk container.

        The setting becomes an explicit ``{}``, so merging this config over another
        (``other.merge(this)``) clears the other's containers too.
        """
        self._values["virtual_chunk_containers"] = {}

    def container_for(self, location: str) -> VirtualChunkContainer | None:
        """The container whose prefix a chunk location starts with, or None."""
        for prefix, container in (self.virtual_chunk_containers or {}).items():
            if location.startswith(prefix):
                return container
        return None
