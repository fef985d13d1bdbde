"""Constructors for more object stores, in Icechunk's names.

Cloudflare R2 and Tigris speak S3, including conditional ``PutObject``
(``If-None-Match: *`` and ``If-Match``), so they are :class:`S3Storage` with the provider's
endpoint. ``http_storage`` reads a repository served over HTTP(S). ``gcs_storage`` and
``azure_storage`` go through fsspec (gcsfs, adlfs, in the ``gcs`` and ``azure`` extras) and
are read-only for now: writing needs a compare-and-swap that frazil does not yet drive
through those libraries, and a write refuses with ``ReadOnlyError`` (kind
``read-only-storage``) instead of risking lost commits.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, InvalidInputError
from frazil.storage._fsspec import FsspecStorage
from frazil.storage._s3 import S3Storage, build_s3_storage

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "azure_storage",
    "gcs_storage",
    "http_storage",
    "r2_storage",
    "s3_object_store_storage",
    "tigris_storage",
]

TIGRIS_ENDPOINT = "https://t3.storage.dev"
"""Tigris's global S3 endpoint."""


def r2_storage(
    *,
    bucket: str | None = None,
    prefix: str | None = None,
    account_id: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int | None = None,
    credentials: Any = None,
) -> S3Storage:
    """Return a storage in a Cloudflare R2 bucket.

    Parameters
    ----------
    bucket
        The bucket name (required unless ``endpoint_url`` names it, which frazil does
        not support: give it here).
    prefix
        Key prefix of the repository.
    account_id
        The Cloudflare account; gives the endpoint ``https://ACCOUNT.r2.cloudflarestorage.com``.
    endpoint_url
        The endpoint, instead of ``account_id``.
    region
        Defaults to ``"auto"``, as R2 expects.
    allow_http, access_key_id, secret_access_key, session_token, anonymous, from_env
        As for :func:`frazil.s3_storage`.
    get_credentials, scatter_initial_credentials, force_path_style
        As for :func:`frazil.s3_storage`.
    network_stream_timeout_seconds, credentials
        As for :func:`frazil.s3_storage`.

    Returns
    -------
    S3Storage
        Writable: R2 honours conditional writes.

    Raises
    ------
    InvalidInputError
        Without a bucket, or without both ``account_id`` and ``endpoint_url``.
    """
    if not bucket:
        raise InvalidInputError("r2_storage needs bucket=", kind=ErrorKind.STORAGE_CONFIG)
    if endpoint_url is None:
        if not account_id:
            raise InvalidInputError(
                "r2_storage needs account_id= (or endpoint_url=) to find the bucket",
                kind=ErrorKind.STORAGE_CONFIG,
            )
        endpoint_url = f"https://{account_id}.r2.cloudflarestorage.com"
    return build_s3_storage(
        "r2_storage",
        bucket=bucket,
        prefix=prefix,
        region=region or "auto",
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
        credentials=credentials,
    )


def s3_object_store_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    force_path_style: bool = False,
    read_headers: dict[str, str] | None = None,
    write_headers: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> S3Storage:
    """Return a storage in an S3 bucket, under the name of Icechunk's second S3 client.

    Icechunk offers two S3 clients; frazil has one, so this is :func:`frazil.s3_storage`
    with the same bucket, endpoint and credentials.

    Parameters
    ----------
    bucket, prefix, region, endpoint_url, allow_http
        As for :func:`frazil.s3_storage`.
    access_key_id, secret_access_key, session_token, anonymous, from_env, force_path_style
        As for :func:`frazil.s3_storage`.
    expires_after
        When the static credentials expire; accepted for Icechunk's signature (requests
        made with expired credentials fail as the service says).
    read_headers, write_headers, headers
        Extra request headers, which frazil's S3 client does not send: giving any raises.

    Returns
    -------
    S3Storage

    Raises
    ------
    InvalidInputError
        If headers are given (kind ``storage-config``).
    """
    if read_headers or write_headers or headers:
        raise InvalidInputError(
            "s3_object_store_storage: frazil's S3 client sends no extra request headers; "
            "leave read_headers, write_headers and headers unset",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    if expires_after is not None and not isinstance(expires_after, datetime.datetime):
        raise InvalidInputError(
            f"expires_after must be a datetime, got {expires_after!r}",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    return build_s3_storage(
        "s3_object_store_storage",
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
        force_path_style=force_path_style,
    )


def tigris_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    use_weak_consistency: bool = False,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int | None = None,
    credentials: Any = None,
) -> S3Storage:
    """Return a storage in a Tigris bucket.

    Parameters
    ----------
    bucket, prefix
        Where the repository lives.
    region
        Defaults to ``"auto"``.
    endpoint_url
        Defaults to Tigris's global endpoint.
    use_weak_consistency
        Must stay False: branches are compare-and-swapped, which needs Tigris's strong
        consistency.
    allow_http, access_key_id, secret_access_key, session_token, anonymous, from_env
        As for :func:`frazil.s3_storage`.
    get_credentials, scatter_initial_credentials, force_path_style
        As for :func:`frazil.s3_storage`.
    network_stream_timeout_seconds, credentials
        As for :func:`frazil.s3_storage`.

    Returns
    -------
    S3Storage

    Raises
    ------
    InvalidInputError
        If ``use_weak_consistency`` is True.
    """
    if use_weak_consistency is not False:
        raise InvalidInputError(
            "tigris_storage(use_weak_consistency=True) is refused: commits move branches by "
            "compare-and-swap, and a weakly consistent read could lose a commit",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    return build_s3_storage(
        "tigris_storage",
        bucket=bucket,
        prefix=prefix,
        region=region or "auto",
        endpoint_url=endpoint_url or TIGRIS_ENDPOINT,
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
        credentials=credentials,
    )


def http_storage(
    base_url: str, opts: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> FsspecStorage:
    """Return a read-only storage for a repository served over HTTP(S).

    Any static file server works (the repository's files under ``base_url``). Reading by
    branch or tag name needs only plain GETs; listing branches and tags needs the server
    to list directories (as ``python -m http.server`` does).

    Parameters
    ----------
    base_url
        The URL of the repository's root.
    opts
        Options for fsspec's HTTP filesystem (``client_kwargs`` and the like).
    headers
        Headers sent with every request.

    Returns
    -------
    FsspecStorage
        Read-only: writes raise ``ReadOnlyError``.

    Raises
    ------
    InvalidInputError
        If ``base_url`` is not an http(s) URL.
    """
    url: object = base_url
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"http_storage needs an http:// or https:// URL, got {base_url!r}",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    options: dict[str, Any] = dict(opts or {})
    if headers:
        client = dict(options.get("client_kwargs") or {})
        client["headers"] = {**dict(client.get("headers") or {}), **headers}
        options["client_kwargs"] = client
    return FsspecStorage(base_url, **options)


def gcs_storage(
    *,
    bucket: str,
    prefix: str | None,
    service_account_file: str | None = None,
    service_account_key: str | None = None,
    application_credentials: str | None = None,
    bearer_token: str | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    config: dict[str, str] | None = None,
) -> FsspecStorage:
    """Return a read-only storage in a Google Cloud Storage bucket, through gcsfs.

    Parameters
    ----------
    bucket, prefix
        Where the repository lives.
    service_account_file, application_credentials
        A service-account JSON file.
    service_account_key
        A service-account key (the JSON text).
    bearer_token
        An OAuth2 token.
    anonymous
        Unauthenticated access (public buckets).
    from_env
        Google's default credentials (the default when nothing else is given).
    config
        More options for ``gcsfs.GCSFileSystem`` (``project``, ``endpoint_url``, ...).

    Returns
    -------
    FsspecStorage
        Read-only for now; writes raise ``ReadOnlyError`` (kind ``read-only-storage``).
    """
    token: Any = None
    if anonymous:
        token = "anon"
    elif bearer_token is not None:
        token = bearer_token
    elif service_account_key is not None:
        import json

        token = json.loads(service_account_key)
    elif service_account_file or application_credentials:
        token = service_account_file or application_credentials
    elif from_env:
        token = "google_default"
    options: dict[str, Any] = dict(config or {})
    if token is not None:
        options["token"] = token
    return FsspecStorage(_url("gs", bucket, prefix), **options)


def azure_storage(
    *,
    account: str,
    container: str,
    prefix: str,
    access_key: str | None = None,
    sas_token: str | None = None,
    bearer_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    config: dict[str, str] | None = None,
) -> FsspecStorage:
    """Return a read-only storage in an Azure Blob Storage container, through adlfs.

    Parameters
    ----------
    account, container, prefix
        Where the repository lives.
    access_key, sas_token
        Account key or SAS token.
    bearer_token
        An OAuth2 token.
    from_env
        Azure's default credential chain.
    anonymous
        Unauthenticated access (public containers).
    config
        More options for ``adlfs.AzureBlobFileSystem``.

    Returns
    -------
    FsspecStorage
        Read-only for now; writes raise ``ReadOnlyError`` (kind ``read-only-storage``).
    """
    options: dict[str, Any] = {"account_name": account, **dict(config or {})}
    if access_key is not None:
        options["account_key"] = access_key
    if sas_token is not None:
        options["sas_token"] = sas_token
    if bearer_token is not None:
        options["credential"] = _StaticToken(bearer_token)
    if from_env:
        options["anon"] = False
    if anonymous:
        options["anon"] = True
    return FsspecStorage(_url("az", container, prefix), **options)


def _url(scheme: str, bucket: object, prefix: str | None) -> str:
    if not isinstance(bucket, str) or not bucket or "/" in bucket:
        raise InvalidInputError(
            f"invalid bucket or container name {bucket!r}", kind=ErrorKind.STORAGE_CONFIG
        )
    tail = (prefix or "").strip("/")
    if ".." in tail.split("/"):
        raise InvalidInputError(
            f"a prefix with '..' is refused, got {prefix!r}", kind=ErrorKind.STORAGE_CONFIG
        )
    return f"{scheme}://{bucket}/{tail}" if tail else f"{scheme}://{bucket}"


class _StaticToken:
    """An Azure credential that always answers the same bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import time

        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _StaticToken) and other.token == self.token

    def __hash__(self) -> int:
        return hash(("azure-token", self.token))
