"""Read-only storage over any fsspec file system (http, gcs, az, zip, ...).

fsspec offers no portable atomic create or compare-and-swap (its default exclusive create
is check-then-write), so a repository on such a URL can be read but not written: refs could
not be updated safely.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, ObjectNotFoundError, ReadOnlyError, StorageError
from frazil.storage._base import (
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

__all__ = ["FsspecStorage"]


class FsspecStorage(Storage):
    """Read-only storage at an fsspec URL.

    Parameters
    ----------
    url
        The repository's root, e.g. ``"https://example.org/repo"`` or ``"gs://b/repo"``.
    **options
        Passed to ``fsspec.url_to_fs``.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._url = url.rstrip("/")
        self._options = options
        self._fs: Any = None
        self._root = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_fsspec, (self._url, self._options))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FsspecStorage) and (other._url, other._options) == (
            self._url,
            self._options,
        )

    def __hash__(self) -> int:
        return hash(("fsspec", self._url))

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            import fsspec

            self._fs, self._root = fsspec.url_to_fs(self._url, **self._options)
        return self._fs, self._root.rstrip("/")

    @property
    def supports_writes(self) -> bool:
        # docstring inherited
        return False

    @property
    def supports_conditional_writes(self) -> bool:
        # docstring inherited
        return False

    def describe(self) -> str:
        # docstring inherited
        return self._url

    def _read(self, key: str) -> bytes:
        fs, root = self._filesystem()
        try:
            data: bytes = fs.cat_file(f"{root}/{validate_key(key)}")
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {key!r} not found in {self._url}", key=key) from None
        except OSError as exc:
            raise StorageError(f"fsspec read of {key!r} failed: {exc}", key=key) from exc
        return data

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        data = await asyncio.to_thread(self._read, key)
        return slice_range(data, byte_range)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        from frazil.storage._local import content_version

        data = await asyncio.to_thread(self._read, key)
        return Versioned(data=data, version=content_version(data))

    async def exists(self, key: str) -> bool:
        # docstring inherited
        fs, root = self._filesystem()
        return bool(await asyncio.to_thread(fs.exists, f"{root}/{validate_key(key)}"))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        validate_prefix(prefix)
        fs, root = self._filesystem()
        directory = prefix.rpartition("/")[0]
        base = f"{root}/{directory}" if directory else root

        def scan() -> dict[str, Any]:
            try:
                found: dict[str, Any] = fs.find(base, detail=True)
            except FileNotFoundError:
                return {}
            return found

        for path, info in (await asyncio.to_thread(scan)).items():
            key = str(path).removeprefix(root.lstrip("/")).removeprefix(root).lstrip("/")
            if not key.startswith(prefix):
                continue
            modified = info.get("mtime") or info.get("LastModified") or 0
            if not isinstance(modified, datetime.datetime):
                modified = datetime.datetime.fromtimestamp(float(modified), datetime.UTC)
            yield ObjectInfo(key=key, size=int(info.get("size") or 0), last_modified=modified)

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        raise ReadOnlyError(
            f"{self._url} is read-only: fsspec cannot make atomic conditional writes on it. "
            "Write through local_filesystem_storage or s3_storage instead.",
            kind=ErrorKind.READ_ONLY_STORAGE,
        )

    async def delete(self, key: str) -> None:
        # docstring inherited
        await self.put(key, b"")


def _restore_fsspec(url: str, options: dict[str, Any]) -> FsspecStorage:
    return FsspecStorage(url, **options)
