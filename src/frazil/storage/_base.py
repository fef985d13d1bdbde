"""The storage specification: an async, object-store-shaped key/value interface.

Every backend (memory, local file system, S3, any fsspec URL) implements :class:`Storage`.
Layers above use nothing else: they do not know whether they talk to a disk or a bucket.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from frazil._config import (
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
)
from frazil._errors import ErrorKind, InvalidInputError

if TYPE_CHECKING:
    import datetime
    from collections.abc import AsyncIterator, Iterable

__all__ = [
    "ByteRange",
    "Bytes",
    "IfMatch",
    "ObjectInfo",
    "OffsetRange",
    "PutMode",
    "Storage",
    "SuffixRange",
    "Versioned",
    "WindowRange",
    "check_range",
    "slice_range",
    "validate_key",
    "validate_prefix",
]


@dataclass(frozen=True, slots=True)
class IfMatch:
    """Put mode: replace the object only if its current version is ``version``."""

    version: str
    """The version returned by :meth:`Storage.get_versioned` or a conditional put."""


type PutMode = Literal["create", "overwrite"] | IfMatch
"""``"create"`` writes only if the key is absent, ``"overwrite"`` writes unconditionally,
``IfMatch(version)`` writes only if the current version is ``version``."""


@dataclass(frozen=True, slots=True)
class WindowRange:
    """Bytes ``[start, end)`` of an object; ``end`` past the object's end is clamped."""

    start: int
    """First byte, inclusive."""
    end: int
    """Last byte, exclusive."""


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """Every byte from ``offset`` to the end of the object."""

    offset: int
    """First byte, inclusive."""


@dataclass(frozen=True, slots=True)
class SuffixRange:
    """The last ``length`` bytes of the object (all of it if it is shorter)."""

    length: int
    """How many bytes, counted from the end."""


type ByteRange = WindowRange | OffsetRange | SuffixRange

type Bytes = bytes | bytearray | memoryview
"""What ``put`` accepts: any contiguous bytes-like object; it is not kept after the call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """One entry of a listing."""

    key: str
    """The key, relative to the storage's root."""
    size: int
    """Size in bytes."""
    last_modified: datetime.datetime
    """Time of the last write, timezone-aware (UTC)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Versioned:
    """An object's bytes together with the version a compare-and-swap compares."""

    data: bytes
    """The whole object."""
    version: str
    """Opaque version; pass it to :class:`IfMatch`."""


def slice_range(data: bytes, byte_range: ByteRange | None) -> bytes:
    """Return the part of ``data`` that ``byte_range`` selects (all of it for ``None``)."""
    check_range(byte_range)
    match byte_range:
        case None:
            return data
        case WindowRange(start=start, end=end):
            return data[start:end]
        case OffsetRange(offset=offset):
            return data[offset:]
        case SuffixRange(length=length):
            return data[max(0, len(data) - length) :]
    raise InvalidInputError(  # pragma: no cover - exhaustive match above
        f"unexpected byte range {byte_range!r}", kind=ErrorKind.INVALID_BYTE_RANGE
    )


def check_range(byte_range: ByteRange | None) -> None:
    """Raise :class:`~frazil.InvalidInputError` for a malformed byte range."""
    match byte_range:
        case None:
            return
        case WindowRange(start=start, end=end) if 0 <= start <= end:
            return
        case OffsetRange(offset=offset) if offset >= 0:
            return
        case SuffixRange(length=length) if length >= 0:
            return
    raise InvalidInputError(
        f"invalid byte range {byte_range!r}: offsets and lengths must be >= 0 and end >= start",
        kind=ErrorKind.INVALID_BYTE_RANGE,
    )


_FORBIDDEN_CHARS = frozenset("\x00\\")
# the common case in one pass: segments of allowed characters, none of them "." or ".."
_SAFE_KEY = re.compile(r"(?!\.\.?(?:/|$))[^/\x00-\x1f\\]+(?:/(?!\.\.?(?:/|$))[^/\x00-\x1f\\]+)*")


def _check_segments(key: str, *, what: str) -> None:
    if _SAFE_KEY.fullmatch(key):
        return
    if any(ch in _FORBIDDEN_CHARS or ord(ch) < 0x20 for ch in key):
        raise InvalidInputError(
            f"invalid {what} {key!r}: NUL, backslash and control characters are not allowed",
            kind=ErrorKind.INVALID_KEY,
        )
    if key.startswith("/"):
        raise InvalidInputError(
            f"invalid {what} {key!r}: it must be relative (no leading '/')",
            kind=ErrorKind.INVALID_KEY,
        )
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInputError(
                f"invalid {what} {key!r}: empty, '.' and '..' path segments are not allowed",
                kind=ErrorKind.INVALID_KEY,
            )


def validate_key(key: object) -> str:
    """Check that ``key`` is a safe storage key and return it.

    A key is a non-empty, relative, ``/``-separated path without empty, ``.`` or ``..``
    segments, NUL, backslashes or control characters, so it can never name anything outside
    the storage's root.

    Raises
    ------
    InvalidInputError
        With kind ``invalid-key``, naming the key and the rule it breaks.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInputError(
            f"invalid storage key {key!r}: expected a non-empty str", kind=ErrorKind.INVALID_KEY
        )
    _check_segments(key, what="storage key")
    return key


def validate_prefix(prefix: object) -> str:
    """Check a listing prefix: like a key, but it may be empty or end in ``/``.

    The last segment may be a partial name (``"refs/branch."``).
    """
    if not isinstance(prefix, str):
        raise InvalidInputError(
            f"invalid storage prefix {prefix!r}: expected a str", kind=ErrorKind.INVALID_KEY
        )
    body = prefix.removesuffix("/")
    if body:
        _check_segments(body, what="storage prefix")
    elif prefix == "/":
        raise InvalidInputError(
            "invalid storage prefix '/': use '' for the whole storage",
            kind=ErrorKind.INVALID_KEY,
        )
    return prefix


class Storage(abc.ABC):
    """Async object-store interface that every backend implements.

    Keys are validated with :func:`validate_key` by every method; a bad key raises
    :class:`~frazil.InvalidInputError` before any I/O happens. Storages pickle by
    configuration, never with live clients, so they can travel to other processes.

    Capabilities are declared by ``supports_*`` properties; callers never probe with a call
    that may raise ``NotImplementedError``.

    ``Storage.new_s3(S3Options(...), bucket, prefix, credentials)``, ``new_local_filesystem``,
    ``new_in_memory``, ``new_r2``, ``new_tigris``, ``new_s3_object_store`` and ``new_http``
    are the constructor functions spelled as class methods.
    """

    # ------------------------------------------------------------------ capabilities
    @property
    @abc.abstractmethod
    def supports_writes(self) -> bool:
        """Whether :meth:`put` and :meth:`delete` may be called at all."""

    @property
    @abc.abstractmethod
    def supports_conditional_writes(self) -> bool:
        """Whether ``put(mode="create")`` and ``put(mode=IfMatch(...))`` are atomic.

        Only storages that return True can hold branches: every ref update depends on it.
        """

    def default_settings(self) -> StorageSettings:
        """The storage settings a repository on this storage uses unless configured
        (Icechunk's spelling; change them and assign to ``RepositoryConfig.storage``)."""
        return StorageSettings(
            concurrency=StorageConcurrencySettings(
                max_concurrent_requests_for_object=18, ideal_concurrent_request_size=12 << 20
            ),
            retries=StorageRetriesSettings(max_tries=6, initial_backoff_ms=20, max_backoff_ms=2000),
        )

    @property
    def supports_deletes(self) -> bool:
        """Whether :meth:`delete` removes objects (all writable backends do)."""
        return self.supports_writes

    @property
    def supports_listing(self) -> bool:
        """Whether :meth:`list` is available (all built-in backends list)."""
        return True

    # ------------------------------------------------------------------ reads
    @abc.abstractmethod
    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        """Return the object's bytes, or the selected range of them.

        Effect: none. Idempotent.

        Raises
        ------
        ObjectNotFoundError
            If the key does not exist.
        InvalidInputError
            If the key or the range is invalid (a negative offset, ``end < start``).
        StorageError
            On I/O failure; ``transient=True`` when a retry may succeed.
        """

    def get_now(self, key: str) -> Versioned | None:
        """Return the whole object and its version if this storage can read them in the
        calling thread at once, else None.

        A hint for the synchronous API's fast paths (a branch lookup, opening a session,
        a warm walk of the history), which then need no trip through the IO event loop.
        Storages whose reads are local (files, memory) answer; every other storage
        returns None, as does any read that fails (an invalid key, an I/O error): the
        caller then awaits :meth:`get_versioned`, which reports it. The default returns
        None, so a storage (or a wrapper adding latency, counting or faults) takes part
        only by overriding it.

        Raises
        ------
        ObjectNotFoundError
            If the storage knows at once that the key does not exist (only storages that
            answer at all).
        """
        return None

    @abc.abstractmethod
    async def get_versioned(self, key: str) -> Versioned:
        """Return the whole object and its current version, read atomically together.

        Raises
        ------
        ObjectNotFoundError
            If the key does not exist.
        StorageError
            On I/O failure.
        """

    @abc.abstractmethod
    async def exists(self, key: str) -> bool:
        """Return whether the key exists.

        Raises
        ------
        StorageError
            On I/O failure.
        """

    @abc.abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix``, in no particular order.

        ``prefix`` is a plain string prefix (``"refs/branch."`` matches
        ``"refs/branch.main"``). Objects written or deleted while the listing runs may or
        may not appear.

        Raises
        ------
        InvalidInputError
            If the prefix is invalid.
        StorageError
            On I/O failure.
        """

    # ------------------------------------------------------------------ writes
    @abc.abstractmethod
    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        """Write an object atomically: readers see the old bytes or the new, never a mix.

        Parameters
        ----------
        key
            Where to write.
        data
            The whole object.
        mode
            ``"overwrite"`` (unconditional), ``"create"`` (only if absent) or
            ``IfMatch(version)`` (only if the current version is ``version``).

        Returns
        -------
        str or None
            The new version for conditional writes; ``None`` may be returned for
            ``"overwrite"``, where backends skip computing it.

        Raises
        ------
        AlreadyExistsError
            ``mode="create"`` and the key exists. Nothing was written.
        PreconditionFailedError
            ``IfMatch`` and the key is absent or has another version. Nothing was written.
        ReadOnlyError
            The storage is read-only, or cannot make conditional modes atomic.
        StorageError
            On I/O failure. If the call raises or is cancelled, the object holds either the
            old bytes or the new ones; a retry of the same call is safe.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete an object. Deleting a missing key is not an error (idempotent).

        Raises
        ------
        ReadOnlyError
            If the storage is read-only.
        StorageError
            On I/O failure; the object is then either present or gone.
        """

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Delete many objects; backends with batch deletes override this."""
        for key in keys:
            await self.delete(key)

    # ------------------------------------------------------------------ identity
    @abc.abstractmethod
    def describe(self) -> str:
        """A short human-readable location, used in error messages (``file:///x``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"
