"""S3 (and S3-compatible) storage through s3fs/aiobotocore, with real conditional writes.

``put(mode="create")`` sends ``If-None-Match: *`` and ``put(mode=IfMatch(etag))`` sends
``If-Match: <etag>``; both are atomic on AWS S3 and on compatible servers that implement
the preconditions. s3fs is imported only when an S3 storage is first used.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime
import os
import time
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
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
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from frazil.storage._base import ByteRange, Bytes, PutMode

__all__ = ["S3Options", "S3Storage", "fetch_static_key"]

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "ConditionalRequestConflict",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)


@dataclass(frozen=True, slots=True)
class S3Options:
    """How to reach S3 or an S3-compatible service, and (with ``bucket``) where a storage
    lives in it; pickled instead of clients.

    The positional parameters are those of Icechunk's ``S3Options`` (``region``,
    ``endpoint_url``, ``allow_http``, ``anonymous``, ``force_path_style``,
    ``network_stream_timeout_seconds``, ``requester_pays``); the rest are keyword-only.
    Options without a ``bucket`` describe only a connection, as
    ``ObjectStoreConfig.S3(S3Options(region="us-east-1"))`` does for a virtual chunk
    container; a storage needs a bucket.
    """

    region: str | None = None
    """AWS region; ``None`` lets botocore decide."""
    endpoint_url: str | None = None
    """Custom endpoint for S3-compatible servers (MinIO, moto, R2...)."""
    allow_http: bool = False
    """Allow a plain ``http://`` endpoint."""
    anonymous: bool = False
    """Send unsigned requests (public buckets)."""
    force_path_style: bool = False
    """Address buckets as ``endpoint/bucket/key`` (MinIO and most S3-compatible servers)."""
    network_stream_timeout_seconds: int | None = None
    """Read timeout of a response stream."""
    requester_pays: bool = False
    """Send ``x-amz-request-payer: requester``."""
    _: KW_ONLY
    bucket: str | None = None
    """Bucket name (required for a storage)."""
    prefix: str = ""
    """Key prefix inside the bucket under which the repository lives."""
    access_key_id: str | None = None
    """Static credentials; ``None`` uses botocore's default chain."""
    secret_access_key: str | None = field(default=None, repr=False)
    """Static credentials."""
    session_token: str | None = field(default=None, repr=False)
    """Static credentials."""
    from_env: bool = False
    """Take credentials from the environment (botocore's default chain) explicitly."""
    get_credentials: Callable[[], Any] | None = None
    """Returns ``frazil.credentials.S3StaticCredentials``; asked again when they expire."""
    initial_key: tuple[str, str, str | None, float | None] | None = field(default=None, repr=False)
    """A key fetched when the storage was built (``scatter_initial_credentials``):
    access key, secret, token, expiry (seconds since the epoch)."""

    def __post_init__(self) -> None:
        for name in ("allow_http", "anonymous", "force_path_style", "requester_pays"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(
                    f"S3Options {name} must be True or False, got {getattr(self, name)!r}",
                    kind=ErrorKind.STORAGE_CONFIG,
                )
        for name in ("region", "endpoint_url"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(
                    f"S3Options {name} must be a string or None, got {value!r}",
                    kind=ErrorKind.STORAGE_CONFIG,
                )
        timeout: object = self.network_stream_timeout_seconds
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0
        ):
            raise InvalidInputError(
                "S3Options network_stream_timeout_seconds must be a whole number of seconds "
                f">= 0 or None, got {timeout!r}",
                kind=ErrorKind.STORAGE_CONFIG,
            )
        if self.endpoint_url and self.endpoint_url.startswith("http://") and not self.allow_http:
            raise InvalidInputError(
                f"endpoint {self.endpoint_url!r} is plain http: pass allow_http=True to "
                "use it (credentials and data travel unencrypted)",
                kind=ErrorKind.STORAGE_CONFIG,
            )

    @property
    def has_credentials(self) -> bool:
        """Whether these options carry credentials or a way to fetch them."""
        return bool(
            self.access_key_id
            or self.secret_access_key
            or self.session_token
            or self.get_credentials is not None
            or self.initial_key is not None
        )


def _check_options(options: S3Options) -> None:
    if options.bucket is None:
        raise InvalidInputError(
            "these S3Options name no bucket: a storage needs one (pass bucket=..., or use "
            "frazil.s3_storage(bucket=..., prefix=...))",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    if not options.bucket or "/" in options.bucket:
        raise InvalidInputError(
            f"invalid S3 bucket {options.bucket!r}: expected a bucket name without '/'",
            kind=ErrorKind.STORAGE_CONFIG,
        )
    prefix = options.prefix.strip("/")
    if prefix:
        validate_key(prefix)
    if options.anonymous and (
        options.access_key_id or options.from_env or options.get_credentials is not None
    ):
        raise InvalidInputError(
            "anonymous=True cannot be combined with credentials or from_env=True",
            kind=ErrorKind.STORAGE_CONFIG,
        )


# One client per (options, process, loop), shared by every S3Storage with those options:
# they pool connections and live as long as the process.
_CLIENTS: dict[tuple[S3Options, int, int], Any] = {}
_CLIENT_LOOPS: dict[tuple[S3Options, int, int], asyncio.AbstractEventLoop] = {}
_AT_EXIT: list[bool] = []


def _close_clients_at_exit() -> None:
    """Once per process: at exit, close every client on its own loop while the loop still
    runs (else aiohttp reports each open session as "Unclosed client session")."""
    if not _AT_EXIT:
        _AT_EXIT.append(True)
        atexit.register(_close_clients)


def _close_clients() -> None:
    pid = os.getpid()
    for ident in [k for k in _CLIENTS if k[1] == pid]:
        fs = _CLIENTS.pop(ident)
        loop = _CLIENT_LOOPS.pop(ident, None)
        client = getattr(fs, "_s3", None)
        if client is None or loop is None or loop.is_closed() or not loop.is_running():
            continue
        future = asyncio.run_coroutine_threadsafe(client.__aexit__(None, None, None), loop)
        with contextlib.suppress(Exception):  # exiting: nothing to report to
            future.result(5)


class S3Storage(Storage):
    """Storage in an S3 bucket under a prefix.

    One s3fs client is made per event loop and process, so the storage works from zarr's
    IO loop, from helper loops, in Dask workers and after ``os.fork``.
    """

    def __init__(self, options: S3Options) -> None:
        _check_options(options)
        self._options = options
        self._prefix = options.prefix.strip("/")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_s3, (asdict(self._options),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Storage) and other._options == self._options

    def __hash__(self) -> int:
        return hash(("s3", self._options.bucket, self._prefix, self._options.endpoint_url))

    @property
    def options(self) -> S3Options:
        """The configuration this storage was built from."""
        return self._options

    @property
    def supports_writes(self) -> bool:
        # docstring inherited
        return not self._options.anonymous

    @property
    def supports_conditional_writes(self) -> bool:
        # docstring inherited
        return not self._options.anonymous

    def describe(self) -> str:
        # docstring inherited
        where = f"s3://{self._options.bucket}/{self._prefix}".rstrip("/")
        if self._options.endpoint_url:
            where += f" at {self._options.endpoint_url}"
        return where

    def _full_key(self, key: str) -> str:
        validate_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    async def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        ident = (self._options, os.getpid(), id(loop))
        fs = _CLIENTS.get(ident)
        if fs is not None and _expired(getattr(fs, "frazil_expires", None)):
            _CLIENTS.pop(ident, None)  # refreshable credentials expired: a new client
            with contextlib.suppress(Exception):
                await fs._s3.__aexit__(None, None, None)
            fs = None
        if fs is None:
            import s3fs

            opts = self._options
            client_kwargs: dict[str, Any] = {}
            if opts.endpoint_url:
                client_kwargs["endpoint_url"] = opts.endpoint_url
            if opts.region:
                client_kwargs["region_name"] = opts.region
            # one attempt per call: frazil's RetryingStorage owns retries and their backoff
            # (botocore's own five attempts under it made an unreachable endpoint take
            # some 30 connection attempts and most of a minute per call)
            config_kwargs: dict[str, Any] = {
                "retries": {"total_max_attempts": 1, "mode": "standard"}
            }
            if opts.force_path_style:
                config_kwargs["s3"] = {"addressing_style": "path"}
            if opts.network_stream_timeout_seconds is not None:
                config_kwargs["read_timeout"] = opts.network_stream_timeout_seconds
            key, secret, token = opts.access_key_id, opts.secret_access_key, opts.session_token
            expires: float | None = None
            if opts.get_credentials is not None:
                if opts.initial_key is not None and not _expired(opts.initial_key[3]):
                    key, secret, token, expires = opts.initial_key
                else:
                    key, secret, token, expires = await asyncio.to_thread(
                        fetch_static_key, opts.get_credentials
                    )
            fs = s3fs.S3FileSystem(
                asynchronous=True,
                loop=loop,
                skip_instance_cache=True,
                anon=opts.anonymous,
                key=key,
                secret=secret,
                token=token,
                client_kwargs=client_kwargs,
                config_kwargs=config_kwargs,
                requester_pays=opts.requester_pays,
            )
            fs.frazil_expires = expires
            fs.retries = 1  # and s3fs's own retry loop is off too
            await fs.set_session()
            # forget clients inherited from a parent process across fork
            for stale in [k for k in _CLIENTS if k[1] != ident[1]]:
                del _CLIENTS[stale]
                _CLIENT_LOOPS.pop(stale, None)
            _CLIENTS[ident] = fs
            _CLIENT_LOOPS[ident] = loop
            _close_clients_at_exit()
        return fs

    async def _on_io_loop[T](self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work(client)`` on zarr's IO loop, where the one S3 client of this process
        lives; short-lived loops (``asyncio.run``, test loops) never own connections."""
        from frazil._sync import io_loop, io_loop_usable

        loop = io_loop()
        if asyncio.get_running_loop() is loop or not io_loop_usable():
            return await work(await self._client())

        async def run() -> T:
            return await work(await self._client())

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))

    async def _call(self, method: str, key: str | None, **kwargs: Any) -> Any:
        async def work(fs: Any) -> Any:
            try:
                return await fs._call_s3(method, Bucket=self._options.bucket, **kwargs)
            except Exception as exc:
                raise _translate(exc, key, self.describe()) from exc

        return await self._on_io_loop(work)

    async def _call_and_read(self, key: str, **kwargs: Any) -> tuple[bytes, str]:
        async def work(fs: Any) -> tuple[bytes, str]:
            try:
                response = await fs._call_s3(
                    "get_object", Bucket=self._options.bucket, Key=self._full_key(key), **kwargs
                )
                body = response["Body"]
                try:
                    data: bytes = await body.read()
                finally:
                    body.close()
            except Exception as exc:
                raise _translate(exc, key, self.describe()) from exc
            return data, str(response.get("ETag"))

        return await self._on_io_loop(work)

    async def get(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        # docstring inherited
        self._full_key(key)
        check_range(byte_range)
        header: str | None
        match byte_range:
            case None:
                header = None
            case WindowRange(start=start, end=end):
                if end == start:
                    if not await self.exists(key):
                        raise ObjectNotFoundError(f"object {key!r} not found", key=key)
                    return b""
                header = f"bytes={start}-{end - 1}"
            case OffsetRange(offset=offset):
                header = f"bytes={offset}-"
            case SuffixRange(length=length):
                if length == 0:
                    if not await self.exists(key):
                        raise ObjectNotFoundError(f"object {key!r} not found", key=key)
                    return b""
                header = f"bytes=-{length}"
        extra = {"Range": header} if header else {}
        try:
            data, _ = await self._call_and_read(key, **extra)
        except _RangeNotSatisfiable:
            return b""
        return data

    async def get_versioned(self, key: str) -> Versioned:
        # docstring inherited
        data, etag = await self._call_and_read(key)
        return Versioned(data=data, version=etag)

    async def exists(self, key: str) -> bool:
        # docstring inherited
        try:
            await self._call("head_object", key, Key=self._full_key(key))
        except ObjectNotFoundError:
            return False
        return True

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        # docstring inherited
        validate_prefix(prefix)
        full_prefix = f"{self._prefix}/{prefix}" if self._prefix else prefix
        strip = f"{self._prefix}/" if self._prefix else ""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": full_prefix, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call("list_objects_v2", None, **kwargs)
            for item in page.get("Contents", []):
                modified = item["LastModified"]
                if isinstance(modified, datetime.datetime):
                    modified = modified.astimezone(datetime.UTC)
                yield ObjectInfo(
                    key=str(item["Key"]).removeprefix(strip),
                    size=int(item["Size"]),
                    last_modified=modified,
                )
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    async def put(self, key: str, data: Bytes, *, mode: PutMode = "overwrite") -> str | None:
        # docstring inherited
        full = self._full_key(key)
        conditions: dict[str, str]
        match mode:
            case "overwrite":
                conditions = {}
            case "create":
                conditions = {"IfNoneMatch": "*"}
            case IfMatch(version=version):
                conditions = {"IfMatch": version}
            case _:
                raise InvalidInputError(
                    f"invalid put mode {mode!r}: expected 'create', 'overwrite' or IfMatch(version)"
                )
        try:
            response = await self._call("put_object", key, Key=full, Body=bytes(data), **conditions)
        except PreconditionFailedError:
            if mode == "create":
                raise AlreadyExistsError(
                    f"object {key!r} already exists in {self.describe()}"
                ) from None
            raise
        except ObjectNotFoundError:
            # If-Match on a missing key
            raise PreconditionFailedError(
                f"object {key!r} does not exist, so it is not at the expected version", key=key
            ) from None
        return str(response.get("ETag")) if response.get("ETag") else None

    async def delete(self, key: str) -> None:
        # docstring inherited
        try:
            await self._call("delete_object", key, Key=self._full_key(key))
        except ObjectNotFoundError:
            return

    async def delete_many(self, keys: Iterable[str]) -> None:
        # docstring inherited
        full = [self._full_key(k) for k in keys]
        for start in range(0, len(full), 1000):
            batch = full[start : start + 1000]
            await self._call(
                "delete_objects",
                None,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )


class _RangeNotSatisfiable(StorageError):
    """A range starting past the end of the object (S3 answers 416)."""


def _client_error_code(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            code = error.get("Code")
            if code:
                return str(code)
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status:
                return str(status)
        current = current.__cause__ or current.__context__
    return None


def _translate(exc: Exception, key: str | None, where: str) -> Exception:
    code = _client_error_code(exc)
    label = repr(key) if key is not None else "listing"
    if code in ("PreconditionFailed", "412"):
        return PreconditionFailedError(
            f"conditional write to {label} in {where} failed its precondition", key=key
        )
    if code in ("InvalidRange", "416"):
        return _RangeNotSatisfiable(f"range not satisfiable for {label}", key=key)
    if code in ("NoSuchKey", "404", "NotFound") or (
        isinstance(exc, FileNotFoundError) and code != "NoSuchBucket"
    ):
        return ObjectNotFoundError(f"object {label} not found in {where}", key=key)
    transient = code in _TRANSIENT_CODES or isinstance(
        exc, TimeoutError | ConnectionError | asyncio.TimeoutError
    )
    if not transient and code is None:
        # connection-level failures from aiohttp/botocore arrive without a ClientError
        name = type(exc).__name__
        transient = any(
            word in name for word in ("Timeout", "Connection", "Endpoint", "ServerDisconnected")
        )
    return StorageError(
        f"S3 request for {label} in {where} failed ({code or type(exc).__name__}): {exc}",
        kind=ErrorKind.STORAGE_TRANSIENT if transient else ErrorKind.STORAGE_IO,
        transient=transient,
        key=key,
    )


def _expired(expires: float | None) -> bool:
    return expires is not None and time.time() >= expires - 60  # a minute early


def fetch_static_key(
    get_credentials: Callable[[], Any],
) -> tuple[str, str, str | None, float | None]:
    """Call a ``get_credentials`` function and check what it returned."""
    from frazil._config import S3StaticCredentials

    key = get_credentials()
    if not isinstance(key, S3StaticCredentials):
        raise InvalidInputError(
            "get_credentials must return frazil.credentials.S3StaticCredentials, it "
            f"returned {type(key).__name__!r}",
            kind=ErrorKind.INVALID_CREDENTIALS,
        )
    expires = key.expires_after.timestamp() if key.expires_after is not None else None
    return key.access_key_id, key.secret_access_key, key.session_token, expires


def _restore_s3(options: dict[str, Any]) -> S3Storage:
    return S3Storage(S3Options(**options))


def build_s3_storage(
    caller: str,
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    anonymous: bool | None = False,
    from_env: bool | None = False,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int | None = None,
    requester_pays: bool = False,
    credentials: Any = None,
) -> S3Storage:
    """Build an :class:`S3Storage` from the keywords of ``s3_storage`` and its relatives.

    ``caller`` names the public function in error messages. ``credentials`` (a
    ``frazil.credentials`` object) replaces the credential keywords; giving both is refused.
    """
    from frazil._config import Credentials, S3Credentials, check_credentials

    if credentials is not None:
        if access_key_id or anonymous or from_env or get_credentials is not None:
            raise InvalidInputError(
                f"{caller} takes credentials= or the credential keywords "
                "(access_key_id=, anonymous=, from_env=, get_credentials=), not both",
                kind=ErrorKind.INVALID_CREDENTIALS,
            )
        creds = check_credentials(caller, credentials)
        if creds is not None and not isinstance(creds, Credentials.S3):
            raise InvalidInputError(
                f"{caller} takes S3 credentials; {type(creds).__name__} authorises a "
                "virtual chunk container that needs none",
                kind=ErrorKind.INVALID_CREDENTIALS,
            )
        inner = creds.credentials if creds is not None else None
        match inner:
            case S3Credentials.Static(credentials=key):
                access_key_id, secret_access_key = key.access_key_id, key.secret_access_key
                session_token = key.session_token
            case S3Credentials.Anonymous():
                anonymous = True
            case S3Credentials.FromEnv():
                from_env = True
            case S3Credentials.Refreshable(pickled_function=fn, current=current):
                get_credentials = fn
                if current is not None:
                    scatter_initial_credentials = True
    initial_key = None
    if get_credentials is not None:
        if not callable(get_credentials):
            raise InvalidInputError(
                f"get_credentials must be a function, got {get_credentials!r}",
                kind=ErrorKind.INVALID_CREDENTIALS,
            )
        if scatter_initial_credentials:
            initial_key = fetch_static_key(get_credentials)
    return S3Storage(
        S3Options(
            bucket=bucket,
            prefix="" if prefix is None else prefix,
            region=region,
            endpoint_url=endpoint_url,
            allow_http=allow_http,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            anonymous=bool(anonymous),
            from_env=bool(from_env),
            get_credentials=get_credentials,
            initial_key=initial_key,
            force_path_style=force_path_style,
            network_stream_timeout_seconds=network_stream_timeout_seconds,
            requester_pays=requester_pays,
        )
    )
