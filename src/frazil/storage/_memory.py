"""In-memory storage: a dict behind a lock. The reference backend and the test model."""

from __future__ import annotations

import datetime
import itertools
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
    FrazilError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from frazil.storage._base import (
    IfMatch,
    ObjectInfo,
    Storage,
    Versioned,
    slice_range,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from frazil.storage._base import ByteRange, Bytes, PutMode

__all__ = ["MemoryStorage"]


class _Bucket:
    """The shared contents of one in-memory storage (all its pickled copies in a process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, tuple[bytes, str, datetime.datetime]] = {}
        self.versions = itertools.count(1)


_BUCKETS: weakref.WeakValueDictionary[str, _Bucket] = weakref.WeakValueDictionary()
_BUCKETS_LOCK = threading.Lock()


class MemoryStorage(Storage):
    """Storage kept in this process's memory.

    Copies made by pickling inside the same process share the contents (threads, the
    threaded Dask scheduler). A copy unpickled in *another* process cannot see them and
    raises a :class:`~frazil.StorageError` on first use instead of silently starting empty.
    """

    def __init__(self) -> None:
        self._name = os.urandom(8).hex()
        self._pid = os.getpid()
        self._bucket: _Bucket | None = _Bucket()
        with _BUCKETS_LOCK:
            _BUCKETS[self._name] = self._bucket

    def __reduce__(self) -> tuple[Any, ...]:
        # keep the bucket alive through pickling; copies in this process find it by name
        return (_restore_memory_storage, (self._name, self._pid))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemoryStorage) and other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)

    def _contents(self) -> _Bucket:
        if self._bucket is None:
            raise StorageError(
                "in-memory storage cannot be shared between processes: this copy was "
                "unpickled in another process and sees none of the data. Use "
                "local_filesystem_storage(path) or s3_storage(...) for multi-process work.",
                kind=ErrorKind.STORAGE_CONFIG,
            )
        return self._bucket

    @property
    def supports_writes(self) -> bool:
        # docstring inherited
        return True

    @property
    def supports_conditional_writes(self) -> bool:
        # docstring inherited
        return True

    def describe(self) -> str:
        # docstring inherited
        return f"memory://{self._name}"

    def _entry(self, key: str) -> tuple[bytes, str, datetime.datetime]:
        validate_key(key)
        bucket = self._contents()
        with bucket.lock:
            entry = bucket.objects.get(key)
        if entry is None:
            raise ObjectNotFoundError(f"object {key!r} not found in {self.describe()}", key=key)
        return entry

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        return slice_range(self._entry(key)[0], byte_range)

    def get_now(self, key: str) -> Versioned | None:
        # docstring inherited
        try:
            data, version, _ = self._entry(key)
        except ObjectNotFoundError:
            raise
        except FrazilError:
            return None
        return Versioned(data=data, version=version)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        data, version, _ = self._entry(key)
        return Versioned(data=data, version=version)

    async def exists(self, key: str) -> bool:
        # docstring inherited
        validate_key(key)
        bucket = self._contents()
        with bucket.lock:
            return key in bucket.objects

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        validate_prefix(prefix)
        bucket = self._contents()
        with bucket.lock:
            entries = [
                ObjectInfo(key=k, size=len(v[0]), last_modified=v[2])
                for k, v in bucket.objects.items()
                if k.startswith(prefix)
            ]
        for entry in entries:
            yield entry

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        validate_key(key)
        data = bytes(data)
        bucket = self._contents()
        now = datetime.datetime.now(datetime.UTC)
        with bucket.lock:
            current = bucket.objects.get(key)
            match mode:
                case "create":
                    if current is not None:
                        raise AlreadyExistsError(
                            f"object {key!r} already exists in {self.describe()}"
                        )
                case IfMatch(version=expected):
                    if current is None or current[1] != expected:
                        raise PreconditionFailedError(
                            f"object {key!r} is not at version {expected!r}", key=key
                        )
                case "overwrite":
                    pass
                case _:
                    raise _bad_mode(mode)
            version = str(next(bucket.versions))
            bucket.objects[key] = (data, version, now)
        return version

    async def delete(self, key: str) -> None:
        # docstring inherited
        validate_key(key)
        bucket = self._contents()
        with bucket.lock:
            bucket.objects.pop(key, None)


def _bad_mode(mode: object) -> Exception:
    from frazil._errors import InvalidInputError

    return InvalidInputError(
        f"invalid put mode {mode!r}: expected 'create', 'overwrite' or IfMatch(version)"
    )


def _restore_memory_storage(name: str, pid: int) -> MemoryStorage:
    storage = MemoryStorage.__new__(MemoryStorage)
    storage._name = name
    storage._pid = pid
    with _BUCKETS_LOCK:
        storage._bucket = _BUCKETS.get(name) if pid == os.getpid() else None
    return storage
