"""Retries of transient storage failures with jittered exponential backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frazil._errors import StorageError
from frazil.storage._wrapper import WrapperStorage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from frazil.storage._base import ByteRange, Bytes, ObjectInfo, PutMode, Storage, Versioned

__all__ = ["RetrySettings", "RetryingStorage", "backoff_delay"]

logger = logging.getLogger("frazil.storage")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySettings:
    """How transient storage errors are retried."""

    max_tries: int = 6
    """Attempts per call, the first included."""
    initial_backoff_seconds: float = 0.02
    """Upper bound of the first random wait; it doubles per attempt."""
    max_backoff_seconds: float = 2.0
    """Upper bound of any single wait."""


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Full-jitter exponential backoff: a uniform wait in ``[0, min(max, initial*2**n)]``."""
    return random.uniform(0.0, min(maximum, initial * (2.0 ** max(0, attempt))))


class RetryingStorage(WrapperStorage):
    """Wraps a storage and retries calls that fail with a *transient* :class:`StorageError`.

    A retried conditional put whose first attempt landed but whose response was lost
    surfaces as ``AlreadyExistsError`` or ``PreconditionFailedError``; callers that need to
    tell that from a real conflict write a unique token in the object and read it back
    (the refs do exactly that).
    """

    def __init__(self, inner: Storage, settings: RetrySettings | None = None) -> None:
        super().__init__(inner)
        self._settings = settings or RetrySettings()

    def __reduce__(self) -> tuple[Any, ...]:
        return (RetryingStorage, (self._inner, self._settings))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RetryingStorage) and other._inner == self._inner

    def __hash__(self) -> int:
        return hash(self._inner)

    async def _retry[T](self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        settings = self._settings
        attempt = 0
        while True:
            try:
                return await call()
            except StorageError as exc:
                attempt += 1
                if not exc.transient or attempt >= settings.max_tries:
                    raise
                delay = backoff_delay(
                    attempt - 1, settings.initial_backoff_seconds, settings.max_backoff_seconds
                )
                logger.debug(
                    "transient storage error on %s (attempt %d/%d), retrying in %.3fs: %s",
                    what,
                    attempt,
                    settings.max_tries,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        return await self._retry(f"get {key!r}", lambda: self._inner.get(key, byte_range))

    def get_now(self, key: str) -> Versioned | None:
        # docstring inherited: a failed read is None, so there is nothing to retry
        return self._inner.get_now(key)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        return await self._retry(f"get {key!r}", lambda: self._inner.get_versioned(key))

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await self._retry(f"exists {key!r}", lambda: self._inner.exists(key))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        async def collect() -> list[ObjectInfo]:
            return [info async for info in self._inner.list(prefix)]

        for info in await self._retry(f"list {prefix!r}", collect):
            yield info

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        return await self._retry(f"put {key!r}", lambda: self._inner.put(key, data, mode=mode))

    async def delete(self, key: str) -> None:
        # docstring inherited
        await self._retry(f"delete {key!r}", lambda: self._inner.delete(key))

    async def delete_many(self, keys: Iterable[str]) -> None:
        # docstring inherited
        batch = list(keys)
        await self._retry("delete_many", lambda: self._inner.delete_many(batch))
