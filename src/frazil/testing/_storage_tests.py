"""A reusable conformance suite for :class:`frazil.storage.Storage` implementations.

Subclass :class:`StorageTests` in a pytest module and provide a ``storage`` fixture that
returns an empty, writable storage::

    class TestMyStorage(StorageTests):
        @pytest.fixture
        def storage(self, tmp_path):
            return MyStorage(tmp_path)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import pickle
from typing import TYPE_CHECKING

import pytest

from frazil._errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    ObjectNotFoundError,
    PreconditionFailedError,
)
from frazil.storage import IfMatch, OffsetRange, SuffixRange, WindowRange

if TYPE_CHECKING:
    from frazil.storage import Storage

__all__ = ["BAD_KEYS", "StorageTests"]

BAD_KEYS = [
    "",
    "/abs",
    "a//b",
    "a/../b",
    "..",
    "../x",
    "a/./b",
    "a/",
    "a\x00b",
    "a\\b",
    "a\nb",
]
"""Keys every storage must refuse before doing any I/O."""


class StorageTests:
    """Behaviour every storage backend must have. Requires a ``storage`` fixture."""

    async def _collect(self, storage: Storage, prefix: str = "") -> dict[str, int]:
        return {info.key: info.size async for info in storage.list(prefix)}

    async def test_roundtrip(self, storage: Storage) -> None:
        await storage.put("a/b/c", b"hello")
        assert await storage.get("a/b/c") == b"hello"
        assert await storage.exists("a/b/c")
        assert not await storage.exists("a/b")

    async def test_missing_key(self, storage: Storage) -> None:
        with pytest.raises(ObjectNotFoundError) as info:
            await storage.get("nope/x")
        assert isinstance(info.value, NotFoundError)
        assert isinstance(info.value, KeyError)
        assert "nope/x" in str(info.value)
        with pytest.raises(ObjectNotFoundError):
            await storage.get_versioned("nope/x")
        assert not await storage.exists("nope/x")

    async def test_byte_ranges(self, storage: Storage) -> None:
        await storage.put("r", b"0123456789")
        assert await storage.get("r", WindowRange(2, 5)) == b"234"
        assert await storage.get("r", WindowRange(8, 20)) == b"89"
        assert await storage.get("r", WindowRange(12, 20)) == b""
        assert await storage.get("r", OffsetRange(7)) == b"789"
        assert await storage.get("r", SuffixRange(3)) == b"789"
        assert await storage.get("r", SuffixRange(30)) == b"0123456789"
        for bad in (WindowRange(-1, 2), WindowRange(5, 2), OffsetRange(-1), SuffixRange(-1)):
            with pytest.raises(InvalidInputError):
                await storage.get("r", bad)

    async def test_empty_object(self, storage: Storage) -> None:
        await storage.put("empty", b"")
        assert await storage.get("empty") == b""
        assert await storage.exists("empty")

    async def test_overwrite(self, storage: Storage) -> None:
        await storage.put("k", b"1")
        await storage.put("k", b"2")
        assert await storage.get("k") == b"2"

    async def test_create_is_exclusive(self, storage: Storage) -> None:
        version = await storage.put("k", b"first", mode="create")
        assert version
        with pytest.raises(AlreadyExistsError):
            await storage.put("k", b"second", mode="create")
        assert await storage.get("k") == b"first"

    async def test_compare_and_swap(self, storage: Storage) -> None:
        v1 = await storage.put("ref", b"one", mode="create")
        current = await storage.get_versioned("ref")
        assert current.data == b"one"
        assert current.version == v1
        v2 = await storage.put("ref", b"two", mode=IfMatch(current.version))
        assert v2
        assert v2 != v1
        with pytest.raises(PreconditionFailedError):
            await storage.put("ref", b"three", mode=IfMatch(current.version))
        assert await storage.get("ref") == b"two"
        assert (await storage.get_versioned("ref")).version == v2

    async def test_compare_and_swap_missing(self, storage: Storage) -> None:
        with pytest.raises(PreconditionFailedError):
            await storage.put("absent", b"x", mode=IfMatch("whatever"))
        assert not await storage.exists("absent")

    async def test_delete(self, storage: Storage) -> None:
        await storage.put("d/x", b"1")
        await storage.delete("d/x")
        assert not await storage.exists("d/x")
        await storage.delete("d/x")  # idempotent
        await storage.put("d/y", b"1")
        await storage.put("d/z", b"1")
        await storage.delete_many(["d/y", "d/z", "d/missing"])
        assert await self._collect(storage, "d/") == {}

    async def test_list(self, storage: Storage) -> None:
        for key in ("refs/branch.main", "refs/branch.dev", "refs/tag.v1", "chunks/A", "x"):
            await storage.put(key, key.encode())
        assert await self._collect(storage) == {
            k: len(k)
            for k in ("refs/branch.main", "refs/branch.dev", "refs/tag.v1", "chunks/A", "x")
        }
        assert set(await self._collect(storage, "refs/branch.")) == {
            "refs/branch.main",
            "refs/branch.dev",
        }
        assert set(await self._collect(storage, "refs/")) == {
            "refs/branch.main",
            "refs/branch.dev",
            "refs/tag.v1",
        }
        assert await self._collect(storage, "nothing/") == {}
        async for info in storage.list("x"):
            assert info.last_modified.tzinfo is not None
            delta = abs(datetime.datetime.now(datetime.UTC) - info.last_modified)
            assert delta < datetime.timedelta(hours=1)

    async def test_nested_list(self, storage: Storage) -> None:
        await storage.put("p/a/b/c", b"1")
        await storage.put("p/a/d", b"22")
        assert await self._collect(storage, "p/") == {"p/a/b/c": 1, "p/a/d": 2}
        assert await self._collect(storage, "p/a/b") == {"p/a/b/c": 1}

    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_bad_keys_are_refused(self, storage: Storage, key: str) -> None:
        with pytest.raises(InvalidInputError):
            await storage.put(key, b"x")
        with pytest.raises(InvalidInputError):
            await storage.get(key)
        with pytest.raises(InvalidInputError):
            await storage.delete(key)
        assert await self._collect(storage) == {}

    async def test_get_now_is_the_object_or_nothing(self, storage: Storage) -> None:
        # a hint: what get_versioned would return, or None (cannot read at once)
        await storage.put("n/a", b"now")
        for data in (b"now", b"later"):
            await storage.put("n/a", data)
            now = storage.get_now("n/a")
            if now is not None:
                assert now.data == data
                assert now.version == (await storage.get_versioned("n/a")).version
        with contextlib.suppress(ObjectNotFoundError):  # one that answers at once may say so
            assert storage.get_now("n/missing") is None
        for key in BAD_KEYS:
            assert storage.get_now(key) is None

    async def test_pickle_roundtrip(self, storage: Storage) -> None:
        await storage.put("p", b"data")
        copy = pickle.loads(pickle.dumps(storage))
        assert copy == storage
        assert await copy.get("p") == b"data"

    async def test_concurrent_creates_have_one_winner(self, storage: Storage) -> None:
        async def attempt(i: int) -> bool:
            try:
                await storage.put("race", str(i).encode(), mode="create")
            except AlreadyExistsError:
                return False
            return True

        results = await asyncio.gather(*(attempt(i) for i in range(16)))
        assert sum(results) == 1
