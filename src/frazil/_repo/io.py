"""Reading and writing the stored objects of one repository, with byte-bounded caches.

:class:`RepoIO` is what every layer above storage talks to: it encodes and decodes the
format objects, keeps recently used snapshots, manifests and transaction logs in LRU
caches bounded in bytes, and bounds concurrency of fan-out reads and writes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from frazil._checksum import crc32c
from frazil._errors import (
    ErrorKind,
    FormatError,
    FrazilError,
    ObjectNotFoundError,
    SnapshotNotFoundError,
)
from frazil.format import (
    ChunkRefs,
    Compression,
    Manifest,
    RefIndex,
    Snapshot,
    TransactionLog,
    layout,
)
from frazil.storage import RetryingStorage, RetrySettings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from frazil._config import RepositoryConfig, StorageSettings
    from frazil.storage import ByteRange, Bytes, Storage

__all__ = ["ByteLRU", "RepoIO", "gather_limited", "retrying"]


logger = logging.getLogger("frazil.cache")
_WARNED: set[tuple[str, int]] = set()
"""(setting, capacity) pairs already reported as too small."""


class ByteLRU[K, V]:
    """A thread-safe LRU cache whose bound is the total size of its values in bytes.

    With ``setting`` (the configuration that bounds it), a value too big to be kept is
    reported at warning level, once per process for each setting and size: every later
    use of such a value reads it again.
    """

    def __init__(
        self, capacity: int, size_of: Callable[[V], int], *, setting: str | None = None
    ) -> None:
        self._capacity = capacity
        self._size_of = size_of
        self._setting = setting
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The cached value, marked most recently used, or None."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Insert, evicting least recently used values beyond the byte bound."""
        size = self._size_of(value)
        if size > self._capacity:
            if self._setting is not None and (self._setting, self._capacity) not in _WARNED:
                _WARNED.add((self._setting, self._capacity))
                logger.warning(
                    "an object of %d bytes does not fit in a cache of %d bytes, so it is read "
                    "from storage at every use; raise %s (said once per process)",
                    size,
                    self._capacity,
                    self._setting,
                )
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._total -= old[1]
            self._items[key] = (value, size)
            self._total += size
            while self._total > self._capacity and self._items:
                _, (_, evicted) = self._items.popitem(last=False)
                self._total -= evicted

    @property
    def total_bytes(self) -> int:
        """Bytes held now."""
        return self._total

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()
            self._total = 0


async def gather_limited[T](calls: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the calls concurrently, at most ``limit`` at a time; results in input order."""
    calls = list(calls)
    if not calls:
        return []
    if len(calls) == 1:
        return [await calls[0]()]
    semaphore = asyncio.Semaphore(max(1, limit))

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(run(c) for c in calls)))


def retry_settings(settings: StorageSettings) -> RetrySettings | None:
    """``settings.retries`` as the retrying storage's settings, when it was set."""
    if not settings.is_set("retries"):
        return None
    retries = settings.retries
    return RetrySettings(
        max_tries=retries.max_tries,
        initial_backoff_seconds=retries.initial_backoff_ms / 1000,
        max_backoff_seconds=retries.max_backoff_ms / 1000,
    )


def retrying(storage: Storage, settings: StorageSettings | None = None) -> RetryingStorage:
    """``storage`` with retries (``settings.retries`` when given and set)."""
    if isinstance(storage, RetryingStorage):
        return storage
    return RetryingStorage(storage, retry_settings(settings) if settings is not None else None)


class RepoIO:
    """Encoded object I/O for one repository over one storage."""

    def __init__(self, storage: Storage, config: RepositoryConfig) -> None:
        self.raw_storage = storage
        self.storage: Storage = retrying(storage, config.storage)
        self.config = config.copy()
        """This repository's own copy: changing the caller's object later changes nothing."""
        self.config_fingerprint = self.config.fingerprint()
        caching = self.config.caching
        manifest_bytes = caching.effective_manifest_cache_bytes
        self.snapshots: ByteLRU[str, Snapshot] = ByteLRU(
            caching.effective_snapshot_cache_bytes,
            Snapshot.nbytes,
            setting="caching.snapshot_cache_bytes (or num_snapshot_nodes)",
        )
        self.manifests: ByteLRU[str, Manifest] = ByteLRU(
            manifest_bytes,
            Manifest.nbytes,
            setting="caching.manifest_cache_bytes (or num_chunk_refs)",
        )
        self.transactions: ByteLRU[str, TransactionLog] = ByteLRU(
            caching.effective_transaction_cache_bytes,
            TransactionLog.nbytes,
            setting="caching.transaction_cache_bytes (or num_transaction_changes)",
        )
        self.indexes: ByteLRU[tuple[str, str, tuple[int, ...]], tuple[ChunkRefs, RefIndex]] = (
            ByteLRU(max(1, manifest_bytes // 4), lambda e: 24 * len(e[0]) + 128)
        )

    @property
    def compression(self) -> tuple[Compression, int]:
        """Compression settings for metadata objects."""
        comp = self.config.compression
        return (Compression.ZSTD if comp.algorithm == "zstd" else Compression.NONE, comp.level)

    @property
    def concurrency(self) -> int:
        """Bound on requests in flight for one operation."""
        return self.config.max_concurrent_requests

    # ------------------------------------------------------------------ cached objects
    async def _read_cached[T](
        self,
        cache: ByteLRU[str, T],
        object_id: str,
        key: str,
        decode: Callable[[bytes], T],
        missing: Callable[[], FrazilError],
    ) -> T:
        """The one read path of the cached kinds: cache, else get, decode and cache."""
        cached = cache.get(object_id)
        if cached is not None:
            return cached
        try:
            data = await self.storage.get(key)
        except ObjectNotFoundError:
            raise missing() from None
        value = decode(data)
        cache.put(object_id, value)
        return value

    async def _write_cached[T](
        self, cache: ByteLRU[str, T], object_id: str, key: str, value: T, data: bytes
    ) -> None:
        await self.storage.put(key, data)
        cache.put(object_id, value)

    async def read_snapshot(self, snapshot_id: str) -> Snapshot:
        """Read (or take from cache) a snapshot.

        Raises
        ------
        SnapshotNotFoundError
            If no snapshot has this id.
        FormatError
            If the object is corrupt or holds another snapshot.
        """
        key = layout.snapshot_key(snapshot_id)
        return await self._read_cached(
            self.snapshots,
            snapshot_id,
            key,
            lambda data: _decode_snapshot(data, key, snapshot_id),
            lambda: SnapshotNotFoundError(
                f"snapshot {snapshot_id!r} not found in {self.storage.describe()}",
                kind=ErrorKind.SNAPSHOT_NOT_FOUND,
            ),
        )

    def snapshot_now(self, snapshot_id: str) -> Snapshot | None:
        """The snapshot from the cache, or read and decoded in the calling thread if the
        storage can read it at once (:meth:`Storage.get_now`; it is cached then, as by
        :meth:`read_snapshot`). None when it needs the IO loop, and when it is missing or
        does not decode: the awaited :meth:`read_snapshot` reports those."""
        cached = self.snapshots.get(snapshot_id)
        if cached is not None:
            return cached
        try:
            key = layout.snapshot_key(snapshot_id)
            found = self.storage.get_now(key)
            if found is None:
                return None
            snapshot = _decode_snapshot(found.data, key, snapshot_id)
        except FrazilError:
            return None
        self.snapshots.put(snapshot_id, snapshot)
        return snapshot

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        """Write a new snapshot object."""
        comp, level = self.compression
        await self._write_cached(
            self.snapshots,
            snapshot.id,
            layout.snapshot_key(snapshot.id),
            snapshot,
            snapshot.encode(compression=comp, level=level),
        )

    async def read_manifest(self, manifest_id: str) -> Manifest:
        """Read (or take from cache) a manifest.

        Raises
        ------
        FormatError
            If it is missing (a snapshot references it) or corrupt.
        """
        key = layout.manifest_key(manifest_id)
        return await self._read_cached(
            self.manifests,
            manifest_id,
            key,
            lambda data: Manifest.decode(data, key=key),
            lambda: FormatError(
                f"manifest {manifest_id!r} referenced by a snapshot is missing from "
                f"{self.storage.describe()} (was it garbage-collected or deleted by hand?)",
                key=key,
            ),
        )

    async def write_manifest(self, manifest: Manifest) -> None:
        """Write a new manifest object."""
        comp, level = self.compression
        await self._write_cached(
            self.manifests,
            manifest.manifest_id,
            layout.manifest_key(manifest.manifest_id),
            manifest,
            manifest.encode(compression=comp, level=level),
        )

    async def read_transaction(self, snapshot_id: str) -> TransactionLog:
        """Read (or take from cache) the transaction log of a commit.

        Raises
        ------
        FormatError
            If it is missing or corrupt.
        """
        key = layout.transaction_key(snapshot_id)
        return await self._read_cached(
            self.transactions,
            snapshot_id,
            key,
            lambda data: TransactionLog.decode(data, key=key),
            lambda: FormatError(
                f"transaction log of snapshot {snapshot_id!r} is missing from "
                f"{self.storage.describe()}",
                key=key,
            ),
        )

    async def write_transaction(self, log: TransactionLog) -> None:
        """Write a transaction log."""
        comp, level = self.compression
        await self._write_cached(
            self.transactions,
            log.snapshot_id,
            layout.transaction_key(log.snapshot_id),
            log,
            log.encode(compression=comp, level=level),
        )

    async def segment(
        self, manifest_id: str, node_id: str, block: tuple[int, ...]
    ) -> tuple[ChunkRefs, RefIndex]:
        """The references of one (node, block) of a manifest, with a lookup index."""
        cache_key = (manifest_id, node_id, block)
        cached = self.indexes.get(cache_key)
        if cached is not None:
            return cached
        manifest = await self.read_manifest(manifest_id)
        for seg in manifest.segments:
            if seg.node_id == node_id and seg.block == block:
                entry = (seg.refs, RefIndex(seg.refs.coords))
                self.indexes.put(cache_key, entry)
                return entry
        key = layout.manifest_key(manifest_id)
        raise FormatError(
            f"manifest {key!r} has no block {block} of node {node_id!r}, but a snapshot says "
            "it does",
            key=key,
        )

    # ------------------------------------------------------------------ chunks
    async def read_chunk(
        self,
        chunk_id: str,
        *,
        checksum: int | None,
        length: int | None,
        byte_range: ByteRange | None = None,
    ) -> bytes:
        """Read a chunk object; whole reads are verified against the stored crc32c.

        Raises
        ------
        FormatError
            If the chunk object is missing or its bytes do not match the manifest.
        """
        key = layout.chunk_key(chunk_id)
        try:
            data = await self.storage.get(key, byte_range)
        except ObjectNotFoundError:
            raise FormatError(
                f"chunk object {key!r} referenced by a manifest is missing from "
                f"{self.storage.describe()}",
                key=key,
            ) from None
        if (
            byte_range is None
            and checksum is not None
            and ((length is not None and len(data) != length) or crc32c(data) != checksum)
        ):
            raise FormatError(
                f"chunk object {key!r} is corrupt: its crc32c or length does not match "
                "the manifest",
                key=key,
            )
        return data

    async def write_chunk(self, chunk_id: str, data: Bytes) -> None:
        """Write a chunk object (ids are random, so an overwrite never clobbers)."""
        await self.storage.put(layout.chunk_key(chunk_id), data)

    async def read_many[T](self, calls: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run reads concurrently within the configured bound."""
        return await gather_limited(calls, self.concurrency)

    def describe(self) -> str:
        """Where the repository lives."""
        return self.storage.describe()


def _decode_snapshot(data: bytes, key: str, snapshot_id: str) -> Snapshot:
    snapshot = Snapshot.decode(data, key=key)
    if snapshot.id != snapshot_id:
        raise FormatError(
            f"object {key!r} holds snapshot {snapshot.id!r}, not {snapshot_id!r}", key=key
        )
    return snapshot
