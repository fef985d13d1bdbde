"""Local file system storage with conditional writes that are safe across processes.

Writes go to a temporary file in the target directory and are renamed into place, so a
reader sees the old bytes or the new ones, never a torn file.

Conditional writes (``"create"`` and ``IfMatch``) run the check and the rename while holding
an exclusive ``fcntl.flock`` on a per-key lock file under ``.locks/``. Every process on the
machine uses the same lock files, so exactly one of any set of racing writers wins.

The version that ``IfMatch`` compares is a 128-bit BLAKE2b digest of the object's bytes.
A digest is not a *fingerprint* of the file (mtime, inode and size repeat after renames,
so a stale writer would pass); it changes whenever the bytes change. Objects that are
compared-and-swapped (the refs) carry a random write token, so their bytes never repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import fcntl
import hashlib
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
    FrazilError,
    InvalidInputError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from frazil.storage._base import (
    IfMatch,
    ObjectInfo,
    OffsetRange,
    Storage,
    SuffixRange,
    Versioned,
    WindowRange,
    check_range,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from frazil.storage._base import ByteRange, Bytes, PutMode

__all__ = ["LocalStorage", "content_version"]

_LOCK_DIR = ".locks"
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK})
_INLINE_BYTES = 64 * 1024
"""Reads and writes up to this size run on the event loop itself: a few system calls on
the page cache cost less than the hop to a worker thread and back. Nothing that can wait
(a key lock, an fsync) runs there."""


def _fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def content_version(data: Bytes) -> str:
    """The version of an object with these bytes: a hex BLAKE2b-128 digest."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _check_root(path: str | os.PathLike[str]) -> Path:
    text = os.fspath(path)
    if not text or "\x00" in text:
        raise InvalidInputError(
            f"invalid local repository path {text!r}: expected a non-empty path",
            kind=ErrorKind.INVALID_PATH,
        )
    parts = Path(text).parts
    if ".." in parts:
        raise InvalidInputError(
            f"invalid local repository path {text!r}: it contains a '..' segment. Pass the "
            "path you mean without '..' (for example os.path.abspath of it), so the "
            "repository cannot land outside the directory you expect.",
            kind=ErrorKind.INVALID_PATH,
        )
    return Path(os.path.abspath(text))


class LocalStorage(Storage):
    """Storage in a directory of the local file system.

    Parameters
    ----------
    path
        The repository's root directory; created on first write. It must not contain
        ``..`` segments.
    durable
        If True, ``fsync`` every written file and its directory before returning. Off by
        default: a killed process never loses completed writes either way; only a power
        loss or kernel crash can.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = False) -> None:
        root = _check_root(path)
        self._set_up(root, durable, existed=root.is_dir())

    def _set_up(self, root: Path, durable: bool, *, existed: bool) -> None:
        self._root = root
        self._root_text = str(root).rstrip("/")  # "" for the root directory
        self._durable = durable
        self._links = True  # hard links publish creates; cleared where the file system has none
        # once the root has existed, it is never created again: a repository deleted
        # underneath a live object must not come back as a half-empty directory tree
        self._root_existed = existed

    def __reduce__(self) -> tuple[Any, ...]:
        existed = self._root_existed or self._root.is_dir()
        return (_restore_local, (str(self._root), self._durable, existed))

    def _ensure_dir(self, directory: Path, key: str) -> None:
        """Create ``directory`` (inside the root); the root itself only on first use."""
        root = self._root
        if not root.is_dir():
            if self._root_existed:
                raise StorageError(
                    f"cannot write {key!r}: the repository directory {str(root)!r} no longer "
                    "exists (deleted or moved while open); nothing is recreated",
                    kind=ErrorKind.STORAGE_IO,
                    key=key,
                )
            try:
                root.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise StorageError(
                    f"cannot write {key!r}: the repository path {str(root)!r} (or a parent of "
                    "it) is a file, not a directory; choose another path",
                    kind=ErrorKind.STORAGE_CONFIG,
                    key=key,
                ) from None
        self._root_existed = True
        directory.mkdir(parents=True, exist_ok=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalStorage) and other._root == self._root

    def __hash__(self) -> int:
        return hash(("local", self._root))

    @property
    def root(self) -> Path:
        """The absolute root directory."""
        return self._root

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
        return f"file://{self._root}"

    def _path(self, key: str) -> Path:
        return Path(f"{self._root_text}/{validate_key(key)}")

    # ------------------------------------------------------------------ sync core
    def get_sync(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        """Synchronous :meth:`get`."""
        path = self._path(key)
        check_range(byte_range)
        try:
            with open(path, "rb") as f:
                match byte_range:
                    case None:
                        return f.read()
                    case WindowRange(start=start, end=end):
                        f.seek(start)
                        return f.read(max(0, end - start))
                    case OffsetRange(offset=offset):
                        f.seek(offset)
                        return f.read()
                    case SuffixRange(length=length):
                        size = os.fstat(f.fileno()).st_size
                        f.seek(max(0, size - length))
                        return f.read()
                    case _:
                        raise InvalidInputError(
                            f"unexpected byte range {byte_range!r}",
                            kind=ErrorKind.INVALID_BYTE_RANGE,
                        )
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(
                f"object {key!r} not found in {self.describe()}", key=key
            ) from None
        except OSError as exc:
            raise _io_error(exc, key) from exc

    def put_sync(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        """Synchronous :meth:`put`."""
        path = self._path(key)
        if mode == "overwrite":
            self._write_replace(path, data, key)
            return None
        if not isinstance(mode, IfMatch) and mode != "create":
            raise InvalidInputError(
                f"invalid put mode {mode!r}: expected 'create', 'overwrite' or IfMatch(version)"
            )
        if mode == "create" and self._links:
            if self._write_exclusive(path, data, key):
                return content_version(data)
            self._links = False  # no hard links here: creates take the key lock instead
        with self._key_lock(key):
            return self._put_locked(path, key, data, mode)

    def _put_locked(
        self, path: Path, key: str, data: Bytes, mode: Literal["create"] | IfMatch
    ) -> str:
        """The conditional write, with the key lock held."""
        current = self._read_or_none(path, key)
        if mode == "create":
            if current is not None:
                raise AlreadyExistsError(f"object {key!r} already exists in {self.describe()}")
        elif current is None or content_version(current) != mode.version:
            raise PreconditionFailedError(
                f"object {key!r} is not at version {mode.version!r}", key=key
            )
        self._write_replace(path, data, key)
        return content_version(data)

    def delete_sync(self, key: str) -> None:
        """Synchronous :meth:`delete`."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise _io_error(exc, key) from exc
        # drop folders the key left empty below its top-level one (a deleted branch
        # "q/r" must not leave a directory "refs/branch.q" that blocks a branch "q")
        top = self._root / key.split("/", 1)[0]
        parent = path.parent
        while top in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def _read_or_none(self, path: Path, key: str) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _io_error(exc, key) from exc

    def _write_replace(self, path: Path, data: Bytes, key: str) -> None:
        tmp = self._write_temporary(path, data, key)
        try:
            os.replace(tmp, path)
            if self._durable:
                _fsync_directory(path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise _io_error(exc, key) from exc

    def _write_exclusive(self, path: Path, data: Bytes, key: str) -> bool:
        """Publish ``data`` at ``path`` only if nothing is there, without the key lock.

        The complete file is written under a temporary name and hard-linked into place:
        ``link`` fails atomically when the name exists, so readers never see a partial
        object and two creators cannot both win. Returns False (nothing published) on a
        file system without hard links; the caller then takes the locked path.

        Raises
        ------
        AlreadyExistsError
            If the object exists.
        """
        tmp = self._write_temporary(path, data, key)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise AlreadyExistsError(
                f"object {key!r} already exists in {self.describe()}"
            ) from None
        except OSError as exc:
            if exc.errno in _NO_LINKS:
                return False
            raise _io_error(exc, key) from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if self._durable:
            try:
                _fsync_directory(path.parent)
            except OSError as exc:
                raise _io_error(exc, key) from exc
        return True

    def _write_temporary(self, path: Path, data: Bytes, key: str) -> Path:
        """Write ``data`` to a new temporary file beside ``path``; return its path."""
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except (FileNotFoundError, NotADirectoryError):
                self._ensure_dir(path.parent, key)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if self._durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise _io_error(exc, key) from exc
        return tmp

    def _key_lock(self, key: str) -> _FileLock:
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return _FileLock(
            self._root / _LOCK_DIR / f"{digest}.lock", partial(self._ensure_dir, key=key)
        )

    def _scan(self, prefix: str) -> list[ObjectInfo]:
        directory, _, name_prefix = prefix.rpartition("/")
        base = self._root.joinpath(*directory.split("/")) if directory else self._root
        found: list[ObjectInfo] = []
        key_base = f"{directory}/" if directory else ""
        for entry_key, entry in _walk(base, key_base, name_prefix):
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            found.append(
                ObjectInfo(
                    key=entry_key,
                    size=stat.st_size,
                    last_modified=datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC),
                )
            )
        return found

    # ------------------------------------------------------------------ async API
    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        if self._small(key, byte_range):
            return self.get_sync(key, byte_range)
        return await asyncio.to_thread(self.get_sync, key, byte_range)

    def get_now(self, key: str) -> Versioned | None:
        # docstring inherited
        try:
            data = self.get_sync(key)
        except ObjectNotFoundError:
            raise
        except (FrazilError, OSError, ValueError):
            return None
        return Versioned(data=data, version=content_version(data))

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        if self._small(key, None):
            data = self.get_sync(key)
        else:
            data = await asyncio.to_thread(self.get_sync, key)
        return Versioned(data=data, version=content_version(data))

    def _small(self, key: str, byte_range: ByteRange | None) -> bool:
        """Whether reading ``key`` (or its range) is small enough to do on the loop."""
        if isinstance(byte_range, WindowRange):
            return byte_range.end - byte_range.start <= _INLINE_BYTES
        try:
            return os.stat(self._path(key)).st_size <= _INLINE_BYTES
        except (FileNotFoundError, NotADirectoryError):
            return True  # get_sync reports it at once
        except (OSError, ValueError, FrazilError):
            return False  # get_sync reports it, off the loop

    async def exists(self, key: str) -> bool:
        # docstring inherited
        path = self._path(key)
        return await asyncio.to_thread(path.is_file)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        validate_prefix(prefix)
        for info in await asyncio.to_thread(self._scan, prefix):
            yield info

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        if not self._durable and memoryview(data).nbytes <= _INLINE_BYTES:
            if mode == "overwrite" or (mode == "create" and self._links):
                return self.put_sync(key, data, mode=mode)
            if isinstance(mode, IfMatch):  # a compare-and-swap: here if its lock is free
                lock = self._key_lock(key)
                if lock.acquire(blocking=False):
                    try:
                        return self._put_locked(self._path(key), key, data, mode)
                    finally:
                        lock.release()
        return await asyncio.to_thread(self.put_sync, key, data, mode=mode)

    async def delete(self, key: str) -> None:
        # docstring inherited
        await asyncio.to_thread(self.delete_sync, key)

    async def delete_many(self, keys: Any) -> None:
        # docstring inherited
        def run() -> None:
            for key in keys:
                self.delete_sync(key)

        await asyncio.to_thread(run)


class _FileLock:
    """An exclusive ``flock`` on a lock file, held for a ``with`` block."""

    def __init__(self, path: Path, ensure_dir: Callable[[Path], None]) -> None:
        self._path = path
        self._ensure_dir = ensure_dir
        self._fd = -1

    def __enter__(self) -> None:
        self.acquire(blocking=True)

    def acquire(self, *, blocking: bool) -> bool:
        """Take the lock; without ``blocking``, return False at once if it is held."""
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        while True:
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            except (FileNotFoundError, NotADirectoryError):
                self._ensure_dir(self._path.parent)
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            # a lock file that no process held may be removed (Client.clear_locks) while we
            # waited for it: then we hold a lock on a file nobody else can see; lock anew
            try:
                same = os.fstat(fd).st_ino == os.stat(self._path).st_ino
            except FileNotFoundError:
                same = False
            except OSError:
                same = True  # cannot tell: keep the lock, as without the check
            if same:
                self._fd = fd
                return True
            os.close(fd)

    def release(self) -> None:
        """Give the lock back."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)

    def __exit__(self, *exc: object) -> None:
        self.release()


def _walk(base: Path, key_base: str, name_prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not name.startswith(name_prefix):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), f"{key_base}{name}/", "")
        elif entry.is_file(follow_symlinks=False):
            yield f"{key_base}{name}", entry


def _io_error(exc: OSError, key: str) -> StorageError:
    transient = exc.errno in (errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT)
    return StorageError(
        f"file system error on {key!r}: {exc}",
        kind=ErrorKind.STORAGE_TRANSIENT if transient else ErrorKind.STORAGE_IO,
        transient=transient,
        key=key,
    )


def _restore_local(root: str, durable: bool, existed: bool = False) -> LocalStorage:
    if not existed:
        return LocalStorage(root, durable=durable)
    # a copy of a storage whose root exists: it was checked when first made, and nothing
    # needs a look at the disk (every write task of a Dask job unpickles one)
    storage = LocalStorage.__new__(LocalStorage)
    storage._set_up(Path(root), durable, existed=True)
    return storage
