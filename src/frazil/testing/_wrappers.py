"""Storage wrappers for tests: counting operations, injecting faults, adding latency."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, StorageError
from frazil.storage import WrapperStorage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from frazil.storage import ByteRange, Bytes, ObjectInfo, PutMode, Storage, Versioned

__all__ = ["CountingStorage", "FaultSettings", "FaultyStorage", "LatencyStorage"]


class _Wrapper(WrapperStorage):
    def describe(self) -> str:
        # docstring inherited
        return f"{type(self).__name__}({self._inner.describe()})"


class CountingStorage(_Wrapper):
    """Counts storage operations by kind and by key prefix (``"get:chunks"``).

    Examples
    --------
    >>> storage = CountingStorage(in_memory_storage())  # doctest: +SKIP
    >>> storage.reset(); ...; storage.counts["get:manifests"]  # doctest: +SKIP
    """

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.counts: Counter[str] = Counter()
        self.keys: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (CountingStorage, (self._inner,))

    # counters are per object: two wrappers of one storage are different storages here
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def _count(self, op: str, key: str) -> None:
        family = key.split("/", 1)[0] if "/" in key else key
        with self._lock:
            self.counts[op] += 1
            self.counts[f"{op}:{family}"] += 1
            self.keys.append((op, key))

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self.counts.clear()
            self.keys.clear()

    def total(self, *ops: str) -> int:
        """Sum of the counts of the given operations (all if none given)."""
        names = ops or ("get", "put", "list", "delete", "exists")
        return sum(self.counts[o] for o in names)

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        self._count("get", key)
        return await super().get(key, byte_range)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        self._count("get", key)
        return await super().get_versioned(key)

    async def exists(self, key: str) -> bool:
        # docstring inherited
        self._count("exists", key)
        return await super().exists(key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        self._count("list", prefix or "<root>")
        async for info in super().list(prefix):
            yield info

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        self._count("put", key)
        return await super().put(key, data, mode=mode)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._count("delete", key)
        await super().delete(key)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSettings:
    """Probabilities of injected faults, per call."""

    error_rate: float = 0.0
    """Raise a transient error before doing anything."""
    timeout_rate: float = 0.0
    """Raise a transient timeout before doing anything."""
    lost_response_rate: float = 0.0
    """Do the operation, then raise a transient error as if the response was lost."""
    seed: int | None = None
    """Seed of the fault generator (None: random)."""


class FaultyStorage(_Wrapper):
    """Injects transient errors, timeouts and lost responses at random.

    Only writes and reads of existing keys are affected; the faults are what retries must
    absorb: a repository over this storage must behave exactly as over the inner one.
    """

    def __init__(self, inner: Storage, settings: FaultSettings) -> None:
        super().__init__(inner)
        self._settings = settings
        self._random = random.Random(settings.seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def __reduce__(self) -> tuple[Any, ...]:
        return (FaultyStorage, (self._inner, self._settings))

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def _draw(self) -> str | None:
        s = self._settings
        with self._lock:
            x = self._random.random()
        if x < s.error_rate:
            return "error"
        x -= s.error_rate
        if x < s.timeout_rate:
            return "timeout"
        x -= s.timeout_rate
        if x < s.lost_response_rate:
            return "lost"
        return None

    def _fault(self, kind: str, what: str) -> StorageError:
        with self._lock:
            self.injected[kind] += 1
        return StorageError(
            f"injected {kind} on {what}", kind=ErrorKind.STORAGE_TRANSIENT, transient=True
        )

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        fault = self._draw()
        if fault in ("error", "timeout"):
            raise self._fault(fault, f"get {key}")
        data = await super().get(key, byte_range)
        if fault == "lost":
            raise self._fault(fault, f"get {key}")
        return data

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        fault = self._draw()
        if fault in ("error", "timeout"):
            raise self._fault(fault, f"get {key}")
        return await super().get_versioned(key)

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        fault = self._draw()
        if fault in ("error", "timeout"):
            raise self._fault(fault, f"put {key}")
        version = await super().put(key, data, mode=mode)
        if fault == "lost":
            raise self._fault(fault, f"put {key}")
        return version

    async def delete(self, key: str) -> None:
        # docstring inherited
        fault = self._draw()
        if fault in ("error", "timeout"):
            raise self._fault(fault, f"delete {key}")
        await super().delete(key)
        if fault == "lost":
            raise self._fault(fault, f"delete {key}")


class LatencyStorage(_Wrapper):
    """Adds a delay to every call, to model a remote object store.

    Parameters
    ----------
    inner
        The storage to wrap.
    seconds
        Delay of every read and write, in seconds.
    write_latency_ms, read_latency_ms
        Icechunk's spelling: delays of writes (puts, deletes) and of reads, in
        milliseconds; they override ``seconds`` for their kind of call. Both are attributes
        that can be changed while the storage is in use.
    """

    def __init__(
        self,
        inner: Storage,
        *,
        seconds: float = 0.0,
        write_latency_ms: float | None = None,
        read_latency_ms: float | None = None,
    ) -> None:
        super().__init__(inner)
        self.write_latency_ms = seconds * 1000 if write_latency_ms is None else write_latency_ms
        self.read_latency_ms = seconds * 1000 if read_latency_ms is None else read_latency_ms

    def __reduce__(self) -> tuple[Any, ...]:
        return (_latency, (self._inner, self.write_latency_ms, self.read_latency_ms))

    async def _read_delay(self) -> None:
        await asyncio.sleep(self.read_latency_ms / 1000)

    async def _write_delay(self) -> None:
        await asyncio.sleep(self.write_latency_ms / 1000)

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        await self._read_delay()
        return await super().get(key, byte_range)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        await self._read_delay()
        return await super().get_versioned(key)

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        await self._write_delay()
        return await super().put(key, data, mode=mode)

    async def delete(self, key: str) -> None:
        # docstring inherited
        await self._write_delay()
        await super().delete(key)


def _latency(inner: Storage, write_ms: float, read_ms: float) -> LatencyStorage:
    return LatencyStorage(inner, write_latency_ms=write_ms, read_latency_ms=read_ms)
