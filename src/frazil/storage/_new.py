"""``Storage.new_*``: the class-method spelling of the storage constructors (Icechunk's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, InvalidInputError

if TYPE_CHECKING:
    from frazil.storage._base import Storage

__all__ = ["StorageConstructors"]

_CREDENTIAL_FIELDS = ("access_key_id", "secret_access_key", "session_token", "get_credentials")


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, kind=ErrorKind.STORAGE_CONFIG)


def _connection(what: str, config: object, *, requester_pays: bool = True) -> dict[str, Any]:
    """The keyword arguments of the S3 constructors that an ``S3Options`` stands for."""
    from frazil.storage._s3 import S3Options

    if not isinstance(config, S3Options):
        raise _bad(f"{what} takes config=frazil.S3Options(region=..., ...), got {config!r}")
    if config.bucket is not None or config.prefix:
        raise _bad(f"{what}: pass bucket= and prefix= to {what}, not inside its S3Options")
    if any(getattr(config, name) is not None for name in _CREDENTIAL_FIELDS) or config.from_env:
        raise _bad(f"{what}: pass credentials= (a frazil.credentials object), not S3Options fields")
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
        raise _bad(f"{what}: requester_pays is for AWS S3 buckets; this service has none")
    return keywords


def _no_extras(what: str, legacy_rooted_keys: object, headers: tuple[object, ...]) -> None:
    if legacy_rooted_keys:
        raise _bad(
            f"{what}: legacy_rooted_keys=True reads keys of old Icechunk repositories, which "
            "frazil does not read; leave it out"
        )
    if any(headers):
        raise _bad(f"{what}: frazil's S3 client sends no extra request headers; leave them out")


class StorageConstructors:
    """The ``Storage.new_*`` class methods; each returns what the matching function
    (:func:`frazil.s3_storage`, :func:`frazil.local_filesystem_storage`, ...) returns."""

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
        from frazil.storage import s3_storage

        _no_extras("Storage.new_s3", legacy_rooted_keys, (read_headers, write_headers, headers))
        keywords = _connection("Storage.new_s3", config)
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
        from frazil.storage import tigris_storage

        what = "Storage.new_tigris"
        _no_extras(what, legacy_rooted_keys, (read_headers, write_headers, headers))
        keywords = _connection(what, config, requester_pays=False)
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
        from frazil.storage import r2_storage

        what = "Storage.new_r2"
        _no_extras(what, legacy_rooted_keys, (read_headers, write_headers, headers))
        keywords = _connection(what, config, requester_pays=False)
        return r2_storage(
            bucket=bucket, prefix=prefix, account_id=account_id, credentials=credentials, **keywords
        )

    @classmethod
    def new_in_memory(cls) -> Storage:
        """:func:`frazil.in_memory_storage`."""
        from frazil.storage import in_memory_storage

        return in_memory_storage()

    @classmethod
    def new_local_filesystem(cls, path: str) -> Storage:
        """:func:`frazil.local_filesystem_storage`."""
        from frazil.storage import local_filesystem_storage

        return local_filesystem_storage(path)

    @classmethod
    def new_http(
        cls,
        base_url: str,
        config: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Storage:
        """:func:`frazil.http_storage` (read-only)."""
        from frazil.storage import http_storage

        return http_storage(base_url, config, headers)
