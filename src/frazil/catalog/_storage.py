"""From a bucket config to a storage: URLs, options, credentials, and the catalog's wrappers.

A bucket config names a storage URL (``file:///dir``, ``s3://bucket/prefix``,
``memory://name``), options by the keyword names of the storage constructor, and *how*
credentials are found (``auth_config``), never a credential. Secrets stay in the
environment or in a credential provider registered in code
(:func:`register_credential_provider`), so a catalog file can be shared, backed up or
mailed without leaking anything.
"""

from __future__ import annotations

import inspect
import pathlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, InvalidInputError, RepositoryNotFoundError
from frazil.storage import (
    MemoryStorage,
    Storage,
    WrapperStorage,
    in_memory_storage,
    local_filesystem_storage,
    s3_storage,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping

    from frazil.catalog._models import BucketConfig
    from frazil.storage import ByteRange, Bytes, ObjectInfo, PutMode, Versioned

__all__ = [
    "CredentialProvider",
    "Location",
    "PrefixedStorage",
    "Tombstone",
    "TombstoneStorage",
    "check_auth_config",
    "check_extra_config",
    "credential_provider",
    "local_root",
    "location_for",
    "memory_store",
    "parse_uri",
    "register_credential_provider",
    "storage_for",
]

SCHEMES = ("file", "s3", "memory")

type CredentialProvider = Callable[[BucketConfig], Mapping[str, str | None]]
"""Returns S3 credentials for a bucket config: ``access_key_id``, ``secret_access_key`` and
optionally ``session_token``."""

_PROVIDERS: dict[str, CredentialProvider] = {}
_PROVIDERS_LOCK = threading.Lock()
_CREDENTIAL_KEYS = frozenset({"access_key_id", "secret_access_key", "session_token"})
_SECRET_WORDS = (
    "secret",
    "password",
    "passwd",
    "token",
    "credential",
    "key_id",
    "apikey",
    "api_key",
    "access_key",
    "account_key",
    "private_key",
)
_SECRETS_GO = (
    "secrets never go into the catalog: use {'method': 'from_env'} (credentials from the "
    "environment, e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or register a provider with "
    "frazil.catalog.register_credential_provider(name, fn) and use "
    "{'method': 'provider', 'name': name}"
)

# One in-memory store per memory:// name in the process: every client and repository on
# memory://NAME sees the same objects.
_MEMORY: dict[str, MemoryStorage] = {}
_MEMORY_LOCK = threading.Lock()


def register_credential_provider(name: str, fn: CredentialProvider) -> None:
    """Register a function that supplies credentials for bucket configs that name it.

    A bucket config with ``auth_config={"method": "provider", "name": name}`` gets its
    credentials by calling ``fn(bucket_config)`` each time a repository in it is opened.
    Registration is per process; registering a name again replaces the function.

    Parameters
    ----------
    name
        The provider's name, as written in ``auth_config``.
    fn
        Called with the :class:`~frazil.catalog.BucketConfig`; returns a mapping with
        ``access_key_id`` and ``secret_access_key`` (and optionally ``session_token``).

    Raises
    ------
    InvalidInputError
        For an empty name or a ``fn`` that is not callable.
    """
    given: object = name  # checked at run time too: callers need not be typed
    if not isinstance(given, str) or not given:
        raise InvalidInputError(
            f"invalid credential provider name {name!r}: expected a non-empty str",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    if not callable(fn):
        raise InvalidInputError(
            f"credential provider {name!r} must be callable, got {type(fn).__name__!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    with _PROVIDERS_LOCK:
        _PROVIDERS[name] = fn


def credential_provider(name: str) -> CredentialProvider:
    """The provider registered under ``name``."""
    with _PROVIDERS_LOCK:
        fn = _PROVIDERS.get(name)
    if fn is None:
        raise InvalidInputError(
            f"no credential provider named {name!r} is registered in this process: call "
            f"frazil.catalog.register_credential_provider({name!r}, fn) before opening the "
            "repository",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    return fn


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed bucket config URL."""

    scheme: str
    """``file``, ``s3`` or ``memory``."""
    bucket: str
    """The directory (file), bucket (s3) or store name (memory)."""
    prefix: str
    """Key prefix inside the bucket (no leading or trailing ``/``; may be empty)."""


def parse_uri(uri: object) -> Location:
    """Parse and check a bucket config URL.

    Raises
    ------
    InvalidInputError
        For a URL of an unknown scheme, a relative ``file://`` path, a ``..`` segment, or a
        missing bucket.
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidInputError(
            f"invalid bucket config uri {uri!r}: expected one of file:///absolute/dir, "
            "s3://bucket[/prefix] or memory://name",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    scheme, _, rest = uri.partition("://")
    match scheme:
        case "file":
            if not rest.startswith("/"):
                raise InvalidInputError(
                    f"invalid bucket config uri {uri!r}: a file:// URL needs an absolute path "
                    "(file:///dir, three slashes)",
                    kind=ErrorKind.STORAGE_CONFIG,
                )
            path = rest.rstrip("/") or "/"
            if ".." in pathlib.PurePosixPath(path).parts or "\x00" in path:
                raise InvalidInputError(
                    f"invalid bucket config uri {uri!r}: '..' segments are not allowed",
                    kind=ErrorKind.STORAGE_CONFIG,
                )
            return Location("file", path, "")
        case "s3" | "memory":
            bucket, _, prefix = rest.partition("/")
            prefix = prefix.strip("/")
            if not bucket:
                raise InvalidInputError(
                    f"invalid bucket config uri {uri!r}: the {scheme}:// URL has no "
                    f"{'bucket' if scheme == 's3' else 'store name'}",
                    kind=ErrorKind.STORAGE_CONFIG,
                )
            if prefix:
                try:
                    validate_key(prefix)
                except InvalidInputError as exc:
                    raise InvalidInputError(
                        f"invalid bucket config uri {uri!r}: {exc}",
                        kind=ErrorKind.STORAGE_CONFIG,
                    ) from None
            return Location(scheme, bucket, prefix)
    raise InvalidInputError(
        f"unknown storage URL scheme {scheme!r} in bucket config uri {uri!r}: the catalog "
        f"supports {', '.join(f'{s}://' for s in SCHEMES)}",
        kind=ErrorKind.STORAGE_CONFIG,
    )


def _looks_secret(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return lowered in _CREDENTIAL_KEYS or any(word in lowered for word in _SECRET_WORDS)


def _option_names(scheme: str) -> frozenset[str]:
    """The storage options a bucket config may carry: the constructor's keywords, less
    where the repository goes and anything about credentials."""
    match scheme:
        case "s3":
            names = set(inspect.signature(s3_storage).parameters)
            names -= {"bucket", "prefix", "anonymous", "from_env"}
        case "file":
            names = set(inspect.signature(local_filesystem_storage).parameters) - {"path"}
        case _:
            names = set()
    return frozenset(n for n in names if not _looks_secret(n))


def check_extra_config(scheme: str, extra: object) -> dict[str, Any]:
    """Check a bucket config's storage options and return a copy.

    Raises
    ------
    InvalidInputError
        For a non-dict, a secret, an option the storage constructor does not take, or a
        value that is not a JSON scalar.
    """
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise InvalidInputError(
            f"extra_config must be a dict of storage options, got {type(extra).__name__!r}",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    allowed = _option_names(scheme)
    for key, value in extra.items():
        if not isinstance(key, str):
            raise InvalidInputError(
                f"extra_config keys must be str, got {key!r}", kind=ErrorKind.STORAGE_CONFIG
            )
        if _looks_secret(key):
            raise InvalidInputError(
                f"extra_config holds {key!r}, which looks like a secret: {_SECRETS_GO}",
                kind=ErrorKind.SECRET_IN_CONFIG,
            )
        if key not in allowed:
            raise InvalidInputError(
                f"extra_config option {key!r} is not an option of {scheme}:// storages; "
                f"the options are {sorted(allowed)}",
                kind=ErrorKind.STORAGE_CONFIG,
            )
        if value is not None and not isinstance(value, str | bool | int | float):
            raise InvalidInputError(
                f"extra_config option {key!r} must be a str, bool or number, got "
                f"{type(value).__name__!r}",
                kind=ErrorKind.STORAGE_CONFIG,
            )
    return dict(extra)


def check_auth_config(scheme: str, auth: object) -> dict[str, Any]:
    """Check a bucket config's ``auth_config`` and return a copy.

    Raises
    ------
    InvalidInputError
        For a secret (kind ``secret-in-config``, saying where secrets go), an unknown
        method, or keys the method does not take.
    """
    if auth is None:
        return {"method": "anonymous"}
    if not isinstance(auth, dict):
        raise InvalidInputError(
            f"auth_config must be a dict with a 'method' key, got {type(auth).__name__!r}",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    secrets = sorted(str(k) for k in auth if _looks_secret(str(k)))
    if secrets:
        raise InvalidInputError(
            f"auth_config holds {secrets}: {_SECRETS_GO}", kind=ErrorKind.SECRET_IN_CONFIG
        )
    method = auth.get("method")
    allowed: set[str]
    match method:
        case "anonymous" | "from_env":
            allowed = {"method"}
        case "provider":
            allowed = {"method", "name"}
            name = auth.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidInputError(
                    "auth_config {'method': 'provider'} needs a 'name': the name a credential "
                    "provider is registered under (frazil.catalog.register_credential_provider)",
                    kind=ErrorKind.STORAGE_CONFIG,
                )
        case _:
            raise InvalidInputError(
                f"auth_config method {method!r} is unknown: use 'anonymous', 'from_env' or "
                "'provider'",
                kind=ErrorKind.STORAGE_CONFIG,
            )
    extra = sorted(str(k) for k in auth if k not in allowed)
    if extra:
        raise InvalidInputError(
            f"auth_config method {method!r} takes no {extra}; it takes {sorted(allowed)}",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    if scheme != "s3" and method != "anonymous":
        raise InvalidInputError(
            f"{scheme}:// storages need no credentials: leave auth_config out",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    return dict(auth)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def location_for(loc: Location, prefix: str) -> str:
    """The storage URL of a repository at ``prefix`` inside a bucket config's location."""
    match loc.scheme:
        case "file":
            return f"file://{pathlib.PurePosixPath(loc.bucket, prefix).as_posix()}"
        case _:
            return f"{loc.scheme}://{_join(loc.bucket, loc.prefix, prefix)}"


def memory_store(name: str) -> MemoryStorage:
    """The process's in-memory store for ``memory://name``."""
    with _MEMORY_LOCK:
        store = _MEMORY.get(name)
        if store is None:
            store = _MEMORY[name] = in_memory_storage()
        return store


def storage_for(loc: Location, prefix: str, config: BucketConfig | None) -> Storage:
    """A storage for the repository at ``prefix`` inside ``loc``.

    ``config`` (the bucket config, ``None`` for the catalog's default root) supplies the
    storage options and how credentials are found.
    """
    extra = dict(config.extra_config) if config is not None else {}
    match loc.scheme:
        case "file":
            return local_filesystem_storage(pathlib.Path(loc.bucket, prefix), **extra)
        case "memory":
            return PrefixedStorage(memory_store(loc.bucket), _join(loc.prefix, prefix))
        case "s3":
            auth = dict(config.auth_config) if config is not None else {"method": "anonymous"}
            method = auth.get("method", "anonymous")
            creds: dict[str, Any] = {}
            if method == "anonymous":
                creds["anonymous"] = True
            elif method == "from_env":
                creds["from_env"] = True
            else:
                assert config is not None
                supplied = dict(credential_provider(str(auth.get("name")))(config))
                unknown = sorted(set(supplied) - _CREDENTIAL_KEYS)
                if unknown:
                    raise InvalidInputError(
                        f"credential provider {auth.get('name')!r} returned {unknown}; it may "
                        f"return only {sorted(_CREDENTIAL_KEYS)}",
                        kind=ErrorKind.STORAGE_CONFIG,
                    )
                creds.update(supplied)
            return s3_storage(bucket=loc.bucket, prefix=_join(loc.prefix, prefix), **extra, **creds)
    raise InvalidInputError(  # pragma: no cover - parse_uri refuses other schemes
        f"unknown storage scheme {loc.scheme!r}", kind=ErrorKind.STORAGE_CONFIG
    )


class PrefixedStorage(WrapperStorage):
    """The objects of ``inner`` under ``prefix/``, seen as a storage of their own.

    Used for ``memory://`` bucket configs, where many repositories share one store.
    """

    def __init__(self, inner: Storage, prefix: str) -> None:
        super().__init__(inner)
        self._prefix = prefix.strip("/")
        if self._prefix:
            validate_key(self._prefix)

    def __reduce__(self) -> tuple[Any, ...]:
        return (PrefixedStorage, (self._inner, self._prefix))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PrefixedStorage)
            and other._prefix == self._prefix
            and other._inner == self._inner
        )

    def __hash__(self) -> int:
        return hash(("prefixed", self._inner, self._prefix))

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def describe(self) -> str:
        # docstring inherited
        return f"{self._inner.describe()}/{self._prefix}"

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        return await self._inner.get(self._key(key), byte_range)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        return await self._inner.get_versioned(self._key(key))

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await self._inner.exists(self._key(key))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        from dataclasses import replace

        validate_prefix(prefix)
        base = f"{self._prefix}/" if self._prefix else ""
        async for info in self._inner.list(base + prefix):
            yield replace(info, key=info.key.removeprefix(base))

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        return await self._inner.put(self._key(key), data, mode=mode)

    async def delete(self, key: str) -> None:
        # docstring inherited
        await self._inner.delete(self._key(key))

    async def delete_many(self, keys: Iterable[str]) -> None:
        # docstring inherited
        await self._inner.delete_many([self._key(k) for k in keys])


class Tombstone:
    """Set when the catalog deletes a repository, so objects opened before refuse."""

    __slots__ = ("__weakref__", "name", "reason")

    def __init__(self, name: str) -> None:
        self.name = name
        self.reason: str | None = None

    def check(self) -> None:
        """Raise if the repository was deleted through the client."""
        if self.reason is not None:
            raise RepositoryNotFoundError(
                f"repository {self.name!r} was deleted from the catalog ({self.reason}); this "
                "Repository object can no longer be used",
                kind=ErrorKind.REPOSITORY_DELETED,
            )


class TombstoneStorage(WrapperStorage):
    """A repository's storage as handed out by the client: refuses every call once the
    client deleted the repository (before any object is removed)."""

    def __init__(self, inner: Storage, tombstone: Tombstone) -> None:
        super().__init__(inner)
        self._tombstone = tombstone

    def __reduce__(self) -> tuple[Any, ...]:
        # travels by configuration; a copy in another process keeps the state it had
        return (_restore_tombstoned, (self._inner, self._tombstone.name, self._tombstone.reason))

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        self._tombstone.check()
        return await self._inner.get(key, byte_range)

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        self._tombstone.check()
        return await self._inner.get_versioned(key)

    async def exists(self, key: str) -> bool:
        # docstring inherited
        self._tombstone.check()
        return await self._inner.exists(key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        self._tombstone.check()
        async for info in self._inner.list(prefix):
            yield info

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        self._tombstone.check()
        return await self._inner.put(key, data, mode=mode)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._tombstone.check()
        await self._inner.delete(key)

    async def delete_many(self, keys: Iterable[str]) -> None:
        # docstring inherited
        self._tombstone.check()
        await self._inner.delete_many(keys)


def _restore_tombstoned(inner: Storage, name: str, reason: str | None) -> TombstoneStorage:
    tombstone = Tombstone(name)
    tombstone.reason = reason
    return TombstoneStorage(inner, tombstone)


def local_root(storage: Storage) -> pathlib.Path | None:
    """The directory of a local storage (through the catalog's wrappers), else None."""
    from frazil.storage import LocalStorage

    while isinstance(storage, WrapperStorage):
        storage = storage.inner
    return storage.root if isinstance(storage, LocalStorage) else None
