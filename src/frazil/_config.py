"""Repository configuration: frozen value objects with documented defaults.

A :class:`RepositoryConfig` can be persisted in the repository (``repo.save_config()``) and
is read back when the repository is opened without an explicit config. There is no global
mutable configuration: every setting is an explicit argument.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from frazil._errors import ErrorKind, InvalidInputError

__all__ = [
    "CachingConfig",
    "CommitRetryConfig",
    "CompressionConfig",
    "ManifestConfig",
    "RepositoryConfig",
]

_MIB = 1024 * 1024


def _int_at_least(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidInputError(message, kind=ErrorKind.INVALID_CONFIG)


@dataclass(frozen=True, slots=True, kw_only=True)
class CachingConfig:
    """Sizes of the in-memory caches, in bytes of decoded objects."""

    snapshot_cache_bytes: int = 64 * _MIB
    """Decoded snapshots (node tables) kept per repository."""
    manifest_cache_bytes: int = 512 * _MIB
    """Decoded manifests (chunk reference columns) kept per repository."""
    transaction_cache_bytes: int = 32 * _MIB
    """Decoded transaction logs kept per repository (used by rebase)."""

    def __post_init__(self) -> None:
        for name in ("snapshot_cache_bytes", "manifest_cache_bytes", "transaction_cache_bytes"):
            value = getattr(self, name)
            _check(
                _int_at_least(value, 0),
                f"CachingConfig.{name} must be a non-negative int of bytes, got {value!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestConfig:
    """How chunk references are split into manifest objects."""

    split_size: int = 50_000
    """At most this many chunk references per manifest object.

    Large arrays are split into blocks of chunk coordinates holding at most this many
    references each, so a commit rewrites only the blocks it touched."""

    def __post_init__(self) -> None:
        _check(
            _int_at_least(self.split_size, 1),
            f"ManifestConfig.split_size must be an int >= 1, got {self.split_size!r}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressionConfig:
    """Compression of metadata objects (snapshots, manifests, transaction logs)."""

    algorithm: Literal["zstd", "none"] = "zstd"
    """``"zstd"`` or ``"none"``. Chunk bytes are never recompressed: zarr's codecs own them."""
    level: int = 3
    """The zstd level, 1 (fast) to 19 (small)."""

    def __post_init__(self) -> None:
        _check(
            self.algorithm in ("zstd", "none"),
            f"CompressionConfig.algorithm must be 'zstd' or 'none', got {self.algorithm!r}",
        )
        _check(
            _int_at_least(self.level, 1) and self.level <= 22,
            f"CompressionConfig.level must be an int in 1..22, got {self.level!r}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRetryConfig:
    """Backoff between the rebase-and-retry attempts of ``commit(rebase_with=...)``."""

    initial_backoff_seconds: float = 0.005
    """The first wait; each further wait doubles, with full jitter."""
    max_backoff_seconds: float = 0.5
    """The longest single wait."""
    deadline_seconds: float | None = None
    """Give up (raising the last :class:`~frazil.ConflictError`) once this many seconds have
    passed since the commit started; ``None`` means only ``rebase_tries`` bounds the loop."""

    def __post_init__(self) -> None:
        _check(
            self.initial_backoff_seconds >= 0 and self.max_backoff_seconds >= 0,
            "CommitRetryConfig backoffs must be >= 0 seconds",
        )
        _check(
            self.deadline_seconds is None or self.deadline_seconds > 0,
            f"CommitRetryConfig.deadline_seconds must be > 0 or None, "
            f"got {self.deadline_seconds!r}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryConfig:
    """Configuration of a repository, persisted with ``Repository.save_config``.

    Examples
    --------
    >>> config = RepositoryConfig(inline_chunk_threshold_bytes=1024)
    >>> config.replace(manifest=ManifestConfig(split_size=10_000)).manifest.split_size
    10000
    """

    inline_chunk_threshold_bytes: int = 512
    """Chunks of at most this many bytes are stored inside the manifest, not as objects."""
    max_concurrent_requests: int = 64
    """Upper bound on storage requests in flight for one operation."""
    manifest: ManifestConfig = field(default_factory=ManifestConfig)
    """Manifest splitting."""
    caching: CachingConfig = field(default_factory=CachingConfig)
    """Cache sizes in bytes."""
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    """Compression of metadata objects."""
    commit_retry: CommitRetryConfig = field(default_factory=CommitRetryConfig)
    """Backoff of the commit retry loop."""

    def __post_init__(self) -> None:
        _check(
            _int_at_least(self.inline_chunk_threshold_bytes, 0),
            "RepositoryConfig.inline_chunk_threshold_bytes must be an int >= 0, "
            f"got {self.inline_chunk_threshold_bytes!r}",
        )
        _check(
            _int_at_least(self.max_concurrent_requests, 1),
            "RepositoryConfig.max_concurrent_requests must be an int >= 1, "
            f"got {self.max_concurrent_requests!r}",
        )
        for name, expected in (
            ("manifest", ManifestConfig),
            ("caching", CachingConfig),
            ("compression", CompressionConfig),
            ("commit_retry", CommitRetryConfig),
        ):
            value: object = getattr(self, name)
            _check(
                isinstance(value, expected),
                f"RepositoryConfig.{name} must be a {expected.__name__}, got {value!r}",
            )

    @classmethod
    def default(cls) -> Self:
        """Return the default configuration."""
        return cls()

    def replace(self, **changes: Any) -> Self:
        """Return a copy with the given fields replaced (the config itself is frozen)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are ignored.

        Ignoring unknown keys lets an older frazil open a repository whose config was saved
        by a newer one.
        """
        _check(
            isinstance(data, dict),
            f"RepositoryConfig.from_dict takes a dict (from to_dict()), got {data!r}",
        )
        nested: dict[str, type[Any]] = {
            "manifest": ManifestConfig,
            "caching": CachingConfig,
            "compression": CompressionConfig,
            "commit_retry": CommitRetryConfig,
        }
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            if name in nested and isinstance(value, dict):
                sub = nested[name]
                sub_known = {f.name for f in dataclasses.fields(sub)}
                kwargs[name] = sub(**{k: v for k, v in value.items() if k in sub_known})
            else:
                kwargs[name] = value
        return cls(**kwargs)


for _cls in (CachingConfig, CommitRetryConfig, CompressionConfig, ManifestConfig, RepositoryConfig):
    _cls.__module__ = "frazil"
