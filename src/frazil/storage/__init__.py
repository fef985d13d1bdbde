"""Storage backends: the object stores a repository lives in.

Use the constructors (:func:`in_memory_storage`, :func:`local_filesystem_storage`,
:func:`s3_storage`, :func:`storage_from_url`); implement :class:`Storage` for a new backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, InvalidInputError
from frazil.storage._base import (
    ByteRange,
    Bytes,
    IfMatch,
    ObjectInfo,
    OffsetRange,
    PutMode,
    Storage,
    SuffixRange,
    Versioned,
    WindowRange,
    slice_range,
    validate_key,
    validate_prefix,
)
from frazil.storage._fsspec import FsspecStorage
from frazil.storage._local import LocalStorage
from frazil.storage._memory import MemoryStorage
from frazil.storage._providers import (
    azure_storage,
    gcs_storage,
    http_storage,
    r2_storage,
    s3_object_store_storage,
    tigris_storage,
)
from frazil.storage._retry import RetryingStorage, RetrySettings, backoff_delay
from frazil.storage._s3 import S3Options, S3Storage, build_s3_storage
from frazil.storage._wrapper import WrapperStorage

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

__all__ = [
    "ByteRange",
    "Bytes",
    "FsspecStorage",
    "IfMatch",
    "LocalStorage",
    "MemoryStorage",
    "ObjectInfo",
    "OffsetRange",
    "PutMode",
    "RetrySettings",
    "RetryingStorage",
    "S3Options",
    "S3Storage",
    "Storage",
    "SuffixRange",
    "Versioned",
    "WindowRange",
    "WrapperStorage",
    "azure_storage",
    "backoff_delay",
    "gcs_storage",
    "http_storage",
    "in_memory_storage",
    "local_filesystem_storage",
    "r2_storage",
    "s3_object_store_storage",
    "s3_storage",
    "slice_range",
    "storage_from_url",
    "tigris_storage",
    "validate_key",
    "validate_prefix",
]


def in_memory_storage() -> MemoryStorage:
    """Return a new, empty storage in this process's memory.

    Returns
    -------
    MemoryStorage
        Shared by copies pickled within this process; unusable in other processes.

    Examples
    --------
    >>> import frazil
    >>> repo = frazil.Repository.create(frazil.in_memory_storage())
    """
    return MemoryStorage()


def local_filesystem_storage(
    path: str | os.PathLike[str], *, durable: bool = False
) -> LocalStorage:
    """Return a storage in a local directory, safe for concurrent processes on one machine.

    Parameters
    ----------
    path
        The repository's root directory. It is created on first write. A path with a
        ``..`` segment is refused.
    durable
        ``fsync`` every write (slower; protects against power loss, not only crashes).

    Returns
    -------
    LocalStorage

    Raises
    ------
    InvalidInputError
        If the path is empty or contains ``..``.
    """
    return LocalStorage(path, durable=durable)


def s3_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    anonymous: bool = False,
    from_env: bool = False,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int | None = None,
    requester_pays: bool = False,
    credentials: Any = None,
) -> S3Storage:
    """Return a storage in an S3 (or S3-compatible) bucket.

    Parameters
    ----------
    bucket
        The bucket name.
    prefix
        Key prefix under which the repository lives (``""`` or None for the bucket root).
    region
        AWS region.
    endpoint_url
        Endpoint of an S3-compatible server.
    allow_http
        Allow a plain-http ``endpoint_url``.
    access_key_id, secret_access_key, session_token
        Static credentials. Without them botocore's default chain is used.
    anonymous
        Unsigned requests; such a storage is read-only.
    from_env
        Take credentials from the environment explicitly.
    get_credentials
        A function returning ``frazil.credentials.S3StaticCredentials``, called for the
        first key and again whenever the last one expires (it must pickle to reach other
        processes).
    scatter_initial_credentials
        Call ``get_credentials`` now, so copies sent to other processes start with a key.
    force_path_style
        Path-style bucket addressing (``endpoint/bucket/key``).
    network_stream_timeout_seconds
        Read timeout of response streams.
    requester_pays
        Bill requests to the requester (requester-pays buckets).
    credentials
        A ``frazil.credentials`` object instead of the keyword arguments above
        (``s3_static_credentials(...)``, ``s3_anonymous_credentials()``,
        ``s3_from_env_credentials()``, ``s3_refreshable_credentials(fn)``).

    Returns
    -------
    S3Storage
        Pickles by configuration; every process makes its own client.

    Raises
    ------
    InvalidInputError
        For a bad bucket name, a ``..`` in the prefix, an http endpoint without
        ``allow_http``, credentials of the wrong type, or two kinds of credentials.
    """
    return build_s3_storage(
        "s3_storage",
        bucket=bucket,
        prefix=prefix,
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        anonymous=anonymous,
        from_env=from_env,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
        force_path_style=force_path_style,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        requester_pays=requester_pays,
        credentials=credentials,
    )


def storage_from_url(url: object, **options: Any) -> Storage:
    """Return the storage for a URL.

    ``memory://`` makes an in-memory storage, ``file:///path`` (or a plain path) a local
    one, ``s3://bucket/prefix`` an S3 one (``options`` go to :func:`s3_storage`); any other
    fsspec URL gives a read-only :class:`FsspecStorage`.

    Parameters
    ----------
    url
        Where the repository lives.
    **options
        Backend options.

    Returns
    -------
    Storage

    Raises
    ------
    InvalidInputError
        For an empty URL or options the backend does not take.
    """
    if not isinstance(url, str) or not url:
        raise InvalidInputError(f"invalid storage URL {url!r}", kind=ErrorKind.STORAGE_CONFIG)
    scheme, sep, rest = url.partition("://")
    try:
        if not sep:
            return local_filesystem_storage(url, **options)
        match scheme:
            case "memory":
                if options:
                    raise TypeError(f"memory storage takes no options, got {sorted(options)}")
                return in_memory_storage()
            case "file":
                return local_filesystem_storage(rest, **options)
            case "s3":
                bucket, _, prefix = rest.partition("/")
                return s3_storage(bucket=bucket, prefix=prefix, **options)
            case _:
                _check_fsspec_protocol(scheme, url)
                return FsspecStorage(url, **options)
    except TypeError as exc:
        raise InvalidInputError(
            f"invalid options for {url!r}: {exc}", kind=ErrorKind.STORAGE_CONFIG
        ) from None


def _check_fsspec_protocol(scheme: str, url: str) -> None:
    from fsspec.registry import known_implementations, registry

    if scheme not in registry and scheme not in known_implementations:
        raise InvalidInputError(
            f"unknown storage URL scheme {scheme!r} in {url!r}: use memory://, file://, "
            "s3:// or a protocol fsspec knows",
            kind=ErrorKind.STORAGE_CONFIG,
        )


# ------------------------------------------------------------- Storage.new_*
_CREDENTIAL_FIELDS = ("access_key_id", "secret_access_key", "session_token", "get_credentials")


def _config_error(message: str) -> InvalidInputError:
    return InvalidInputError(message, kind=ErrorKind.STORAGE_CONFIG)


def _connection(what: str, config: object, *, requester_pays: bool = True) -> dict[str, Any]:
    """The keyword arguments of the S3 constructors that an ``S3Options`` stands for."""
    if not isinstance(config, S3Options):
        raise _config_error(
            f"{what} takes config=frazil.S3Options(region=..., ...), got {config!r}"
        )
    if config.bucket is not None or config.prefix:
        raise _config_error(f"{what}: pass bucket= and prefix= to {what}, not inside its S3Options")
    if any(getattr(config, name) is not None for name in _CREDENTIAL_FIELDS) or config.from_env:
        raise _config_error(
            f"{what}: pass credentials= (a frazil.credentials object), not S3Options fields"
        )
    keywords: dict[str, Any] = {
        "region": config.region,
        "endpoint_url": config.endpoint_url,
        "allow_http": config.allow_http,
        "anonymous": config.anonymous,
        "force_path_style": config.force_path_style,
        "network_stream_timeout_seconds": config.network_stream_timeout_seconds,
    }
    if requester_pays:
        keywords["requester_pays"] = config.requester_pays
    elif config.requester_pays:
        raise _config_error(f"{what}: requester_pays is for AWS S3 buckets; this service has none")
    return keywords


def _s3_arguments(
    what: str,
    config: object,
    legacy_rooted_keys: object,
    headers: tuple[object, ...],
    *,
    requester_pays: bool = True,
) -> dict[str, Any]:
    """The S3 constructors' keywords for ``config``, refusing the extras frazil lacks."""
    _no_extras(what, legacy_rooted_keys, headers)
    return _connection(what, config, requester_pays=requester_pays)


def _no_extras(what: str, legacy_rooted_keys: object, headers: tuple[object, ...]) -> None:
    if legacy_rooted_keys:
        raise _config_error(
            f"{what}: legacy_rooted_keys=True reads keys of old Icechunk repositories, which "
            "frazil does not read; leave it out"
        )
    if any(headers):
        raise _config_error(
            f"{what}: frazil's S3 client sends no extra request headers; leave them out"
        )


class _StorageConstructors:
    """The ``Storage.new_*`` class methods (Icechunk's spelling), set on :class:`Storage`
    below: each returns what the matching function (:func:`s3_storage`,
    :func:`local_filesystem_storage`, ...) returns. They live here, beside those functions,
    because the storage base class cannot import its own implementations."""

    @classmethod
    def new_s3(
        cls,
        config: Any,
        bucket: str,
        prefix: str | None,
        credentials: Any = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Storage:
        """:func:`frazil.s3_storage` with the connection in an ``S3Options``.

        Raises
        ------
        InvalidInputError
            For options that name a bucket or credentials, ``legacy_rooted_keys=True`` or
            extra headers (frazil sends none), and whatever :func:`frazil.s3_storage`
            refuses.
        """

        keywords = _s3_arguments(
            "Storage.new_s3", config, legacy_rooted_keys, (read_headers, write_headers, headers)
        )
        return s3_storage(bucket=bucket, prefix=prefix, credentials=credentials, **keywords)

    @classmethod
    def new_s3_object_store(
        cls,
        config: Any,
        bucket: str,
        prefix: str | None,
        credentials: Any = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Storage:
        """The same storage as :meth:`new_s3` (frazil has one S3 client)."""
        return cls.new_s3(
            config,
            bucket,
            prefix,
            credentials,
            read_headers=read_headers,
            write_headers=write_headers,
            headers=headers,
        )

    @classmethod
    def new_tigris(
        cls,
        config: Any,
        bucket: str,
        prefix: str | None,
        use_weak_consistency: bool,
        credentials: Any = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Storage:
        """:func:`frazil.tigris_storage` with the connection in an ``S3Options``."""
        keywords = _s3_arguments(
            "Storage.new_tigris",
            config,
            legacy_rooted_keys,
            (read_headers, write_headers, headers),
            requester_pays=False,
        )
        return tigris_storage(
            bucket=bucket,
            prefix=prefix,
            use_weak_consistency=use_weak_consistency,
            credentials=credentials,
            **keywords,
        )

    @classmethod
    def new_r2(
        cls,
        config: Any,
        bucket: str | None = None,
        prefix: str | None = None,
        account_id: str | None = None,
        credentials: Any = None,
        legacy_rooted_keys: bool | None = None,
        *,
        read_headers: dict[str, str] | None = None,
        write_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Storage:
        """:func:`frazil.r2_storage` with the connection in an ``S3Options``."""
        keywords = _s3_arguments(
            "Storage.new_r2",
            config,
            legacy_rooted_keys,
            (read_headers, write_headers, headers),
            requester_pays=False,
        )
        return r2_storage(
            bucket=bucket, prefix=prefix, account_id=account_id, credentials=credentials, **keywords
        )

    @classmethod
    def new_in_memory(cls) -> Storage:
        """:func:`frazil.in_memory_storage`."""
        return in_memory_storage()

    @classmethod
    def new_local_filesystem(cls, path: str) -> Storage:
        """:func:`frazil.local_filesystem_storage`."""
        return local_filesystem_storage(path)

    @classmethod
    def new_http(
        cls,
        base_url: str,
        config: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Storage:
        """:func:`frazil.http_storage` (read-only)."""
        return http_storage(base_url, config, headers)


for _name in (
    "new_s3",
    "new_s3_object_store",
    "new_tigris",
    "new_r2",
    "new_in_memory",
    "new_local_filesystem",
    "new_http",
):
    setattr(Storage, _name, _StorageConstructors.__dict__[_name])


for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "frazil.storage"
