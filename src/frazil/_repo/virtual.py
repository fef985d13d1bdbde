"""Reading virtual chunks: byte ranges of files that live outside the repository.

A :class:`VirtualReader` belongs to one Repository object. It knows the repository's
virtual chunk containers (from its configuration) and which of them this object was
authorised to read, with which credentials. Every read is checked first: a location that
no container holds, that escapes its container with ``..``, or whose container was not
authorised raises :class:`~frazil.VirtualChunkNotAuthorizedError` and nothing is read.

Each container gets one client (an s3fs client, an aiohttp session, an fsspec file system)
per reader and event loop, made on first use and closed when the process exits. Reads of
one file that arrive together are coalesced into one request when they are adjacent or
nearly so (:data:`COALESCE_GAP`), and the response's ETag, last-modified time and total
size are checked against the reference's pins.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime
import email.utils
import os
import posixpath
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frazil._config import (
    Credentials,
    VirtualChunkContainer,
    check_credentials,
    s3fs_credential_options,
)
from frazil._errors import (
    ErrorKind,
    InvalidInputError,
    StorageError,
    VirtualChunkNotAuthorizedError,
    VirtualSourceChangedError,
)
from frazil._sync import io_loop, io_loop_usable
from frazil.format import split_location

if TYPE_CHECKING:
    import concurrent.futures
    from collections.abc import Awaitable, Callable

    from frazil._config import AnyCredential, S3StaticCredentials

__all__ = [
    "COALESCE_GAP",
    "VirtualReader",
    "container_of",
    "normalize_location",
]

COALESCE_GAP = 256 * 1024
"""Reads of one file closer than this many bytes are merged into one request."""
_COALESCE_MAX = 16 * 1024 * 1024
"""A merged request never spans more than this many bytes."""


# ---------------------------------------------------------------------- locations
def normalize_location(location: str) -> str:
    """``location`` with ``.`` and ``..`` path segments resolved (``s3://b/a/../x`` ->
    ``s3://b/x``); segments above the root are dropped, so the result can be compared
    with a container prefix."""
    scheme, sep, rest = location.partition("://")
    if not sep:
        return location
    if "/." not in rest and "./" not in rest and rest not in (".", ".."):
        return location
    lead = "/" if rest.startswith("/") else ""
    trail = "/" if rest.endswith("/") else ""
    parts: list[str] = []
    for segment in rest.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return f"{scheme}://{lead}{posixpath.join(*parts) if parts else ''}{trail}"


def container_of(
    containers: Mapping[str, VirtualChunkContainer] | None, location: object
) -> VirtualChunkContainer:
    """The container holding ``location``.

    Raises
    ------
    InvalidInputError
        If ``location`` is not a URL string, escapes its container with ``..``, or no
        declared container holds it.
    """
    if not isinstance(location, str) or "://" not in location:
        raise InvalidInputError(
            f"a virtual chunk location must be a URL string like 's3://bucket/file.nc', "
            f"got {location!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    normalized = normalize_location(location)
    for prefix, container in (containers or {}).items():
        if normalized.startswith(prefix):
            return container
    for prefix in containers or {}:
        if location.startswith(prefix):
            raise InvalidInputError(
                f"virtual chunk location {location!r} escapes its container {prefix!r} "
                f"with '..' (it resolves to {normalized!r})",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
    declared = ", ".join(repr(p) for p in containers or {}) or "none"
    raise InvalidInputError(
        f"virtual chunk location {location!r} is in no virtual chunk container of this "
        f"repository (declared: {declared}); declare one with config."
        "set_virtual_chunk_container(VirtualChunkContainer(url_prefix, store)) and save "
        "the config, or pass validate_container(s)=False",
        kind=ErrorKind.INVALID_ARGUMENT,
    )


# ---------------------------------------------------------------------- source facts
@dataclass(frozen=True, slots=True)
class _Facts:
    """What a response said about the source object."""

    etag: str | None = None
    modified: float | None = None
    """Seconds since the epoch."""
    size: int | None = None


def _strip_etag(etag: str | None) -> str | None:
    if etag is None:
        return None
    etag = etag.strip()
    etag = etag.removeprefix("W/")
    return etag.strip('"')


def _check_pins(location: str, facts: _Facts, etag: str | None, modified: int | None) -> None:
    if etag is not None:
        found = _strip_etag(facts.etag)
        if found is None:
            raise VirtualSourceChangedError(
                f"the virtual chunk source {location!r} reports no ETag, but its reference "
                f"pins ETag {etag!r}: the source cannot be checked, so it is not read",
                location=location,
            )
        if found != _strip_etag(etag):
            raise VirtualSourceChangedError(
                f"the virtual chunk source {location!r} changed since it was referenced: "
                f"its ETag is {found!r}, the reference pins {etag!r}. Rebuild the "
                "references for this file (or restore the file).",
                location=location,
            )
    if modified is not None and facts.modified is not None and int(facts.modified) > modified:
        when = datetime.datetime.fromtimestamp(facts.modified, datetime.UTC).isoformat()
        pinned = datetime.datetime.fromtimestamp(modified, datetime.UTC).isoformat()
        raise VirtualSourceChangedError(
            f"the virtual chunk source {location!r} was modified at {when}, after "
            f"{pinned}, the last-modified time its reference allows. Rebuild the references "
            "for this file (or restore the file).",
            location=location,
        )


# ---------------------------------------------------------------------- backends
class _Backend:
    """How one container is read; one per reader, container and event loop."""

    async def read(self, url: str, start: int, stop: int, *, facts: bool) -> tuple[bytes, _Facts]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class _LocalBackend(_Backend):
    async def read(self, url: str, start: int, stop: int, *, facts: bool) -> tuple[bytes, _Facts]:
        path = url.removeprefix("file://")

        def work() -> tuple[bytes, _Facts]:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = os.pread(f.fileno(), stop - start, start)
            return data, _Facts(modified=st.st_mtime, size=st.st_size)

        return await asyncio.to_thread(work)


class _S3Backend(_Backend):
    def __init__(self, options: Mapping[str, Any], credentials: AnyCredential | None) -> None:
        self._options = dict(options)
        self._credentials = credentials
        self._fs: Any = None
        self._key: S3StaticCredentials | None = None
        self._making: asyncio.Lock | None = None

    async def _client(self) -> Any:
        if self._fs is not None and (self._key is None or not self._key.expired()):
            return self._fs
        if self._making is None:
            self._making = asyncio.Lock()
        async with self._making:  # concurrent first reads make one client, not several
            if self._fs is not None and (self._key is None or not self._key.expired()):
                return self._fs
            if self._fs is not None:
                await self.close()
            return await self._new_client()

    async def _new_client(self) -> Any:
        import s3fs

        opts = self._options
        cred_options, key = await asyncio.to_thread(s3fs_credential_options, self._credentials)
        if opts.get("anonymous") and self._credentials is None:
            cred_options = {"anon": True}
        client_kwargs: dict[str, Any] = {}
        if opts.get("endpoint_url"):
            client_kwargs["endpoint_url"] = opts["endpoint_url"]
        if opts.get("region"):
            client_kwargs["region_name"] = opts["region"]
        config_kwargs: dict[str, Any] = {}
        if opts.get("force_path_style"):
            config_kwargs["s3"] = {"addressing_style": "path"}
        if opts.get("network_stream_timeout_seconds"):
            config_kwargs["read_timeout"] = opts["network_stream_timeout_seconds"]
        fs = s3fs.S3FileSystem(
            asynchronous=True,
            loop=asyncio.get_running_loop(),
            skip_instance_cache=True,
            client_kwargs=client_kwargs,
            config_kwargs=config_kwargs,
            requester_pays=bool(opts.get("requester_pays")),
            **cred_options,
        )
        await fs.set_session()
        self._fs, self._key = fs, key
        return fs

    async def read(self, url: str, start: int, stop: int, *, facts: bool) -> tuple[bytes, _Facts]:
        fs = await self._client()
        bucket, _, key = url.removeprefix("s3://").partition("/")
        response = await fs._call_s3(
            "get_object", Bucket=bucket, Key=key, Range=f"bytes={start}-{stop - 1}"
        )
        body = response["Body"]
        try:
            data: bytes = await body.read()
        finally:
            body.close()
        modified = response.get("LastModified")
        size = None
        content_range = str(response.get("ContentRange") or "")
        if "/" in content_range and not content_range.endswith("*"):
            size = int(content_range.rsplit("/", 1)[1])
        return data, _Facts(
            etag=response.get("ETag"),
            modified=modified.timestamp() if isinstance(modified, datetime.datetime) else None,
            size=size,
        )

    async def close(self) -> None:
        fs, self._fs = self._fs, None
        if fs is not None and getattr(fs, "_s3", None) is not None:
            await fs._s3.__aexit__(None, None, None)


class _HTTPBackend(_Backend):
    def __init__(self, options: Mapping[str, Any]) -> None:
        self._headers = dict(options.get("headers") or {})
        self._session: Any = None

    async def read(self, url: str, start: int, stop: int, *, facts: bool) -> tuple[bytes, _Facts]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
        headers = {"Range": f"bytes={start}-{stop - 1}"}
        async with self._session.get(url, headers=headers) as response:
            if response.status == 404:
                raise FileNotFoundError(url)
            if response.status >= 400:
                raise OSError(f"HTTP {response.status} from {url}")
            data: bytes = await response.read()
            size = None
            if response.status == 200:  # the server ignored the range
                size = len(data)
                data = data[start:stop]
            else:
                content_range = response.headers.get("Content-Range", "")
                if "/" in content_range and not content_range.endswith("*"):
                    size = int(content_range.rsplit("/", 1)[1])
            modified = None
            if response.headers.get("Last-Modified"):
                parsed = email.utils.parsedate_to_datetime(response.headers["Last-Modified"])
                modified = parsed.timestamp()
            return data, _Facts(etag=response.headers.get("ETag"), modified=modified, size=size)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _FsspecBackend(_Backend):
    """Any fsspec protocol (gcs, azure, ...), through its synchronous API in a thread."""

    def __init__(self, protocol: str, options: Mapping[str, Any]) -> None:
        self._protocol = protocol
        self._options = dict(options)
        self._fs: Any = None
        self._lock = threading.Lock()

    def _filesystem(self) -> Any:
        with self._lock:
            if self._fs is None:
                import fsspec

                self._fs = fsspec.filesystem(self._protocol, **self._options)
            return self._fs

    async def read(self, url: str, start: int, stop: int, *, facts: bool) -> tuple[bytes, _Facts]:
        def work() -> tuple[bytes, _Facts]:
            fs = self._filesystem()
            found = _Facts()
            if facts:
                info = fs.info(url)
                modified = info.get("mtime") or info.get("last_modified") or info.get("updated")
                if isinstance(modified, str):
                    modified = datetime.datetime.fromisoformat(modified)
                if isinstance(modified, datetime.datetime):
                    modified = modified.timestamp()
                found = _Facts(
                    etag=info.get("ETag") or info.get("etag"),
                    modified=float(modified) if modified is not None else None,
                    size=info.get("size"),
                )
            data: bytes = fs.cat_file(url, start=start, end=stop)
            return data, found

        return await asyncio.to_thread(work)


_NO_AUTH_KINDS = {"LocalFileSystemAccess": ("local",), "HttpAccess": ("http",)}


def _fitting(container: VirtualChunkContainer, creds: object) -> AnyCredential | None:
    """``creds`` checked as credentials, and of a kind that fits the container's store."""
    checked = check_credentials(f"container {container.url_prefix!r}", creds)
    kinds = _NO_AUTH_KINDS.get(type(checked).__name__)
    if kinds is not None and container.store.kind not in kinds:
        raise InvalidInputError(
            f"authorize_virtual_chunk_access gives {type(checked).__name__} for "
            f"{container.url_prefix!r}, a {container.store.kind!r} container: it authorises "
            f"only {' and '.join(repr(k) for k in kinds)} containers; give that container's "
            "own credentials, or None",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    if isinstance(checked, Credentials.S3) and container.store.kind not in ("s3", "s3_compatible"):
        raise InvalidInputError(
            f"authorize_virtual_chunk_access gives S3 credentials for "
            f"{container.url_prefix!r}, a {container.store.kind!r} container, which cannot "
            "use them",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return checked


def _make_backend(container: VirtualChunkContainer, credentials: AnyCredential | None) -> _Backend:
    store = container.store
    match store.kind:
        case "local":
            return _LocalBackend()
        case "s3" | "s3_compatible":
            return _S3Backend(store.options, credentials)
        case "http":
            return _HTTPBackend(store.options)
        case "gcs":
            return _FsspecBackend("gcs", dict(store.options.get("opts") or {}))
        case "azure":
            return _FsspecBackend("az", dict(store.options.get("opts") or {}))
        case "memory":
            return _FsspecBackend("memory", {})
        case _:
            return _FsspecBackend(
                str(store.options["protocol"]), dict(store.options.get("fs_options") or {})
            )


# ---------------------------------------------------------------------- the reader
@dataclass(slots=True)
class _Pending:
    url: str
    start: int
    stop: int
    future: asyncio.Future[tuple[bytes, _Facts]]


@dataclass(slots=True, eq=False)
class _LoopState:
    backends: dict[str, _Backend] = field(default_factory=dict)
    pending: dict[tuple[str, str], list[_Pending]] = field(default_factory=dict)
    semaphore: asyncio.Semaphore | None = None
    tasks: set[asyncio.Future[None]] = field(default_factory=set)


_LIVE: weakref.WeakSet[VirtualReader] = weakref.WeakSet()


class VirtualReader:
    """Authorised reads of virtual chunks for one Repository object.

    Parameters
    ----------
    containers
        The repository's virtual chunk containers, by prefix.
    access
        ``{url_prefix: credentials or None}``: the containers this object may read.

    Raises
    ------
    InvalidInputError
        If ``access`` is not a dict, names a prefix that is no declared container, or
        holds something that is not credentials.
    """

    def __init__(
        self,
        containers: Mapping[str, VirtualChunkContainer] | None,
        access: Mapping[str, object] | None = None,
        *,
        concurrency: int = 64,
    ) -> None:
        self._containers = dict(containers or {})
        if access is not None and not isinstance(access, Mapping):
            raise InvalidInputError(
                "authorize_virtual_chunk_access must be a dict {url_prefix: credentials or "
                f"None}}, got {type(access).__name__!r}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        checked: dict[str, AnyCredential | None] = {}
        for given, creds in (access or {}).items():
            # "s3://bucket" authorises the container "s3://bucket/" (the same place)
            prefix = given
            if given not in self._containers and f"{given}".rstrip("/") + "/" in self._containers:
                prefix = f"{given}".rstrip("/") + "/"
            if prefix not in self._containers:
                declared = ", ".join(repr(p) for p in self._containers) or "none"
                raise InvalidInputError(
                    f"authorize_virtual_chunk_access names {given!r}, which is no virtual "
                    f"chunk container of this repository (declared: {declared}); declare it "
                    "with config.set_virtual_chunk_container(...) first",
                    kind=ErrorKind.INVALID_ARGUMENT,
                )
            checked[prefix] = _fitting(self._containers[prefix], creds)
        self._access = checked
        self._concurrency = concurrency
        self._loops: dict[int, tuple[asyncio.AbstractEventLoop, _LoopState]] = {}
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_loops, self._loops, self._lock)
        self._finalizer.atexit = False  # exit closes through _wait_for_closing, waiting
        _LIVE.add(self)

    @property
    def access(self) -> dict[str, AnyCredential | None]:
        """The authorised prefixes and their credentials."""
        return dict(self._access)

    @property
    def authorized_prefixes(self) -> frozenset[str]:
        """The container prefixes this reader may read."""
        return frozenset(self._access)

    def key(self) -> tuple[Any, ...]:
        """Identity of the authorisation (readers with equal keys read the same way)."""
        return tuple(sorted(self._access.items(), key=lambda kv: kv[0]))

    def authorize(self, location: str) -> VirtualChunkContainer:
        """The container of ``location``, if this reader may read it.

        Raises
        ------
        VirtualChunkNotAuthorizedError
            If no container holds it, it escapes its container, or its container was not
            authorised.
        """
        normalized = normalize_location(location)
        container = None
        for prefix, candidate in self._containers.items():
            if normalized.startswith(prefix):
                container = candidate
                break
        if container is None:
            declared = ", ".join(repr(p) for p in self._containers) or "none"
            escaped = normalized != location and any(
                location.startswith(p) for p in self._containers
            )
            why = (
                f"it escapes its container with '..' (it resolves to {normalized!r})"
                if escaped
                else f"no virtual chunk container of the repository holds it (declared: {declared})"
            )
            raise VirtualChunkNotAuthorizedError(
                f"refusing to read the virtual chunk at {location!r}: {why}. A repository's "
                "author declares containers with config.set_virtual_chunk_container(...)",
                location=location,
                kind=ErrorKind.NO_CONTAINER_FOR_VIRTUAL_CHUNK,
            )
        if container.url_prefix not in self._access:
            raise VirtualChunkNotAuthorizedError(
                f"refusing to read the virtual chunk at {location!r}: its container "
                f"{container.url_prefix!r} was not authorised for this Repository object. "
                "Open the repository with authorize_virtual_chunk_access="
                f"{{{container.url_prefix!r}: credentials or None}} if you trust it",
                location=location,
            )
        return container

    # ------------------------------------------------------------------ reads
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._loops.get(id(loop))
            if entry is None or entry[0] is not loop:
                entry = self._loops[id(loop)] = (loop, _LoopState())
        return entry[1]

    def _backend(self, state: _LoopState, container: VirtualChunkContainer) -> _Backend:
        backend = state.backends.get(container.url_prefix)
        if backend is None:
            backend = state.backends[container.url_prefix] = _make_backend(
                container, self._access.get(container.url_prefix)
            )
        return backend

    async def read(self, entry: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset`` of a location entry (a URL, possibly with
        pins; see :func:`frazil.format.pin_location`).

        Raises
        ------
        VirtualChunkNotAuthorizedError
            If the location may not be read (nothing is read).
        VirtualSourceChangedError
            If the source's ETag or modification time contradicts the pins, or it is
            shorter than the reference says.
        StorageError
            If the source cannot be read.
        """
        url, etag, modified = split_location(entry)
        if "://" not in url and url.startswith("/"):
            url = "file://" + url  # plain paths, as Session.set_virtual_ref always took
        container = self.authorize(url)
        if length == 0:
            return b""
        work = self._run_on_io_loop(
            lambda: self._read_coalesced(container, url, offset, offset + length)
        )
        try:
            data, facts = await work
        except (VirtualSourceChangedError, VirtualChunkNotAuthorizedError):
            raise
        except (OSError, ValueError) as exc:
            raise StorageError(
                f"cannot read the virtual chunk at {url!r} [{offset}, {offset + length}): {exc}",
                kind=ErrorKind.STORAGE_IO,
            ) from exc
        except Exception as exc:  # botocore / aiohttp errors
            raise StorageError(
                f"cannot read the virtual chunk at {url!r} [{offset}, {offset + length}): "
                f"{type(exc).__name__}: {exc}",
                kind=ErrorKind.STORAGE_IO,
            ) from exc
        _check_pins(url, facts, etag, modified)
        if len(data) != length or (facts.size is not None and offset + length > facts.size):
            size = f" (it holds {facts.size} bytes)" if facts.size is not None else ""
            raise VirtualSourceChangedError(
                f"the virtual chunk source {url!r} is shorter than its reference says: "
                f"[{offset}, {offset + length}) is past its end{size}; the file changed "
                "since it was referenced",
                location=url,
            )
        return data

    async def _run_on_io_loop[T](self, make: Callable[[], Awaitable[T]]) -> T:
        loop = io_loop()
        if asyncio.get_running_loop() is loop or not io_loop_usable():
            return await make()

        async def run() -> T:
            return await make()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))

    async def _read_coalesced(
        self, container: VirtualChunkContainer, url: str, start: int, stop: int
    ) -> tuple[bytes, _Facts]:
        """Queue the range; reads of the same file queued in the same loop turn go out
        together, adjacent ranges merged."""
        state = self._state()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bytes, _Facts]] = loop.create_future()
        key = (container.url_prefix, url)
        queue = state.pending.get(key)
        if queue is None:
            queue = state.pending[key] = []
            loop.call_soon(self._flush, state, container, key)
        queue.append(_Pending(url, start, stop, future))
        return await future

    def _flush(
        self, state: _LoopState, container: VirtualChunkContainer, key: tuple[str, str]
    ) -> None:
        queue = state.pending.pop(key, [])
        queue.sort(key=lambda p: p.start)
        groups: list[list[_Pending]] = []
        for item in queue:
            if groups:
                last = groups[-1]
                begin = last[0].start
                end = max(p.stop for p in last)
                if (
                    item.start <= end + COALESCE_GAP
                    and max(end, item.stop) - begin <= _COALESCE_MAX
                ):
                    last.append(item)
                    continue
            groups.append([item])
        for group in groups:
            task = asyncio.ensure_future(self._fetch_group(state, container, group))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)

    async def _fetch_group(
        self, state: _LoopState, container: VirtualChunkContainer, group: list[_Pending]
    ) -> None:
        if state.semaphore is None:
            state.semaphore = asyncio.Semaphore(self._concurrency)
        start = group[0].start
        stop = max(p.stop for p in group)
        try:
            async with state.semaphore:
                data, facts = await self._backend(state, container).read(
                    group[0].url, start, stop, facts=True
                )
        except BaseException as exc:
            for p in group:
                if not p.future.done():
                    p.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for p in group:
            if not p.future.done():
                p.future.set_result((data[p.start - start : p.stop - start], facts))

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Close every client of this reader (also done when it is garbage collected and
        at exit; safe to call twice)."""
        # called directly: at exit, weakref's own exit hook disables finalizers first
        self._finalizer.detach()
        _close_loops(self._loops, self._lock)


async def _close_state(state: _LoopState) -> None:
    backends, state.backends = list(state.backends.values()), {}
    for backend in backends:
        with contextlib.suppress(Exception):  # closing must not raise
            await backend.close()


_CLOSING: set[concurrent.futures.Future[None]] = set()
"""Closings scheduled by collected readers; exit waits for them."""


def _close_loops(
    loops: dict[int, tuple[asyncio.AbstractEventLoop, _LoopState]], lock: threading.Lock
) -> None:
    """Close the clients a reader made on each loop, on that loop (never blocking: this
    runs when the reader is collected, possibly on the loop's own thread)."""
    with lock:
        entries = list(loops.values())
        loops.clear()
    for loop, state in entries:
        if not state.backends or loop.is_closed() or not loop.is_running():
            continue
        future = asyncio.run_coroutine_threadsafe(_close_state(state), loop)
        _CLOSING.add(future)
        future.add_done_callback(_CLOSING.discard)


@atexit.register
def _wait_for_closing() -> None:
    # registered after zarr's loop (imported above), so this runs while it still turns
    for reader in list(_LIVE):
        reader.close()
    for future in list(_CLOSING):
        with contextlib.suppress(Exception):
            future.result(5)
