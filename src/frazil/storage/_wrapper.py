"""A storage that delegates every call to another one: the base of layered storages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frazil.storage._base import Storage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from frazil.storage._base import ByteRange, Bytes, ObjectInfo, PutMode, Versioned

__all__ = ["WrapperStorage"]


class WrapperStorage(Storage):
    """Delegates everything to ``inner``; subclasses override what they change.

    Two wrappers are equal when they are of the same type around equal storages.
    """

    def __init__(self, inner: Storage) -> None:
        self._inner = inner

    @property
    def inner(self) -> Storage:
        """The wrapped storage."""
        return self._inner

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WrapperStorage)
            and type(other) is type(self)
            and other._inner == self._inner
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._inner))

    @property
    def supports_writes(self) -> bool:
        # docstring inherited
        return self._inner.supports_writes

    @property
    def supports_conditional_writes(self) -> bool:
        # docstring inherited
        return self._inner.supports_conditional_writes

    @property
    def supports_deletes(self) -> bool:
        # docstring inherited
        return self._inner.supports_deletes

    @property
    def supports_listing(self) -> bool:
        # docstring inherited
        return self._inner.supports_listing

    def describe(self) -> str:
        # docstring inherited
        return self._inner.describe()

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        return await self._inner.get(key, byte_range)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        return await self._inner.get_versioned(key)

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await self._inner.exists(key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        async for info in self._inner.list(prefix):
            yield info

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        return await self._inner.put(key, data, mode=mode)

    async def delete(self, key: str) -> None:
        # docstring inherited
        await self._inner.delete(key)

    async def delete_many(self, keys: Iterable[str]) -> None:
        # docstring inherited
        await self._inner.delete_many(keys)
