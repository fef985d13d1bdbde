"""Reading virtual chunks: byte ranges of files that live outside the repository."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from frazil._errors import ErrorKind, StorageError

__all__ = ["read_virtual"]

_filesystems: dict[str, Any] = {}
_lock = threading.Lock()


def _filesystem(location: str) -> tuple[Any, str]:
    import fsspec

    scheme = location.split("://", 1)[0] if "://" in location else "file"
    with _lock:
        fs = _filesystems.get(scheme)
        if fs is None:
            fs = _filesystems[scheme] = fsspec.filesystem(scheme)
    return fs, location


async def read_virtual(location: str, offset: int, length: int) -> bytes:
    """Read ``length`` bytes at ``offset`` of the file at ``location``.

    Raises
    ------
    StorageError
        If the file cannot be read or is shorter than the reference says.
    """

    def read() -> bytes:
        fs, path = _filesystem(location)
        data: bytes = fs.cat_file(path, start=offset, end=offset + length)
        return data

    try:
        data = await asyncio.to_thread(read)
    except (OSError, ValueError) as exc:
        raise StorageError(
            f"cannot read virtual chunk at {location!r} [{offset}, {offset + length}): {exc}",
            kind=ErrorKind.STORAGE_IO,
        ) from exc
    if len(data) != length:
        raise StorageError(
            f"virtual chunk at {location!r} is shorter than its reference "
            f"({len(data)} of {length} bytes): the file changed since it was referenced",
            kind=ErrorKind.STORAGE_IO,
        )
    return data
