"""How frazil talks to its storage: concurrency, retries, timeouts (Icechunk's shape)."""

from __future__ import annotations

from frazil._config.base import (
    MIB,
    Section,
    Setting,
    check_bool,
    check_instance,
    check_int,
    check_text,
    given,
)

__all__ = [
    "RepoUpdateRetryConfig",
    "StorageConcurrencySettings",
    "StorageRetriesSettings",
    "StorageSettings",
    "StorageTimeoutSettings",
]


# ---------------------------------------------------------------------- storage settings
class StorageConcurrencySettings(Section):
    """How large reads are split into concurrent requests."""

    max_concurrent_requests_for_object = Setting(18, check_int(1))
    """Requests in flight for one object."""
    ideal_concurrent_request_size = Setting(12 * MIB, check_int(1))
    """Bytes per request when one object is read in parts."""

    def __init__(
        self,
        max_concurrent_requests_for_object: int | None = None,
        ideal_concurrent_request_size: int | None = None,
    ) -> None:
        super().__init__(**given(locals()))


class StorageRetriesSettings(Section):
    """Retries of transient storage errors (throttling, timeouts, lost connections)."""

    max_tries = Setting(10, check_int(1))
    """Attempts per request, the first included."""
    initial_backoff_ms = Setting(100, check_int())
    """The first wait; each further wait doubles, with full jitter."""
    max_backoff_ms = Setting(5 * 60 * 1000, check_int())
    """The longest single wait."""

    def __init__(
        self,
        max_tries: int | None = None,
        initial_backoff_ms: int | None = None,
        max_backoff_ms: int | None = None,
    ) -> None:
        super().__init__(**given(locals()))


class StorageTimeoutSettings(Section):
    """Timeouts of storage requests."""

    connect_timeout_ms = Setting[int | None](None, check_int(1))
    """Time to establish a connection."""
    read_timeout_ms = Setting[int | None](None, check_int(1))
    """Time to wait for data on an open connection."""
    operation_timeout_ms = Setting[int | None](None, check_int(1))
    """Time for a whole operation, retries included."""
    operation_attempt_timeout_ms = Setting[int | None](None, check_int(1))
    """Time for one attempt of an operation."""

    def __init__(
        self,
        connect_timeout_ms: int | None = None,
        read_timeout_ms: int | None = None,
        operation_timeout_ms: int | None = None,
        operation_attempt_timeout_ms: int | None = None,
    ) -> None:
        super().__init__(**given(locals()))


class StorageSettings(Section):
    """How frazil talks to its storage."""

    concurrency = Setting(
        StorageConcurrencySettings(),
        check_instance(StorageConcurrencySettings),
        factory=StorageConcurrencySettings,
    )
    """Concurrent requests per object."""
    retries = Setting(
        StorageRetriesSettings(),
        check_instance(StorageRetriesSettings),
        factory=StorageRetriesSettings,
    )
    """Retries of transient errors."""
    timeouts = Setting(
        StorageTimeoutSettings(),
        check_instance(StorageTimeoutSettings),
        factory=StorageTimeoutSettings,
    )
    """Request timeouts."""
    unsafe_use_conditional_create = Setting[bool | None](None, check_bool)
    """Accepted for Icechunk scripts. frazil never turns conditional writes off: without
    them concurrent commits can be lost."""
    unsafe_use_conditional_update = Setting[bool | None](None, check_bool)
    """Accepted for Icechunk scripts; see ``unsafe_use_conditional_create``."""
    unsafe_use_metadata = Setting[bool | None](None, check_bool)
    """Accepted for Icechunk scripts; no effect."""
    storage_class = Setting[str | None](None, check_text)
    """S3 storage class of every object written."""
    metadata_storage_class = Setting[str | None](None, check_text)
    """S3 storage class of metadata objects (overrides ``storage_class``)."""
    chunks_storage_class = Setting[str | None](None, check_text)
    """S3 storage class of chunk objects (overrides ``storage_class``)."""
    minimum_size_for_multipart_upload = Setting[int | None](None, check_int(1))
    """Objects at least this large are uploaded in parts."""

    def __init__(
        self,
        concurrency: StorageConcurrencySettings | None = None,
        retries: StorageRetriesSettings | None = None,
        unsafe_use_conditional_create: bool | None = None,
        unsafe_use_conditional_update: bool | None = None,
        unsafe_use_metadata: bool | None = None,
        storage_class: str | None = None,
        metadata_storage_class: str | None = None,
        chunks_storage_class: str | None = None,
        minimum_size_for_multipart_upload: int | None = None,
        timeouts: StorageTimeoutSettings | None = None,
    ) -> None:
        super().__init__(**given(locals()))


class _RepoUpdateRetries(StorageRetriesSettings):
    """Retries of repository-wide documents: more tries, shorter waits than requests."""

    max_tries = Setting(100, check_int(1))
    """Attempts, the first included."""
    initial_backoff_ms = Setting(50, check_int())
    """The first wait; each further wait doubles, with full jitter."""
    max_backoff_ms = Setting(30_000, check_int())
    """The longest single wait."""


def _repo_update_retries(name: str, value: object) -> StorageRetriesSettings:
    # what was not set reads as the repository-document defaults, not the request ones
    given_settings = check_instance(StorageRetriesSettings)(name, value)
    return _RepoUpdateRetries.from_dict(given_settings.to_dict())


class RepoUpdateRetryConfig(Section):
    """Retries of the repository-wide documents (metadata, status) when another writer
    changed them at the same moment: each attempt re-reads the document and applies the
    change again."""

    # Icechunk names this setting ``default``; it hides Section.default() on this class only
    default = Setting[StorageRetriesSettings](  # type: ignore[assignment]
        _RepoUpdateRetries(),
        _repo_update_retries,
        factory=_RepoUpdateRetries,
    )
    """Attempts and backoff (a :class:`StorageRetriesSettings`); unset, 100 tries waiting
    from 50 ms up to 30 s."""

    def __init__(self, default: StorageRetriesSettings | None = None) -> None:
        super().__init__(default=default)
