"""``FrazilStore``: a zarr ``Store`` over a session.

Keys map onto the session's workspace:

* ``<path>/zarr.json`` of a Zarr v3 group or array is the node's metadata, kept verbatim
  in the snapshot's node table;
* ``<array>/c/<i>/<j>`` (per the array's chunk key encoding) is a chunk: its bytes are
  written to a ``chunks/<id>`` object (or inline, below the threshold) when ``set`` is
  called, and only the reference is recorded in the session;
* any other key is stored as an opaque "blob", so the store is a faithful key/value store
  for tools that write keys zarr does not define.

zarr's conventions are translated here and nowhere else: missing keys return ``None``,
zarr's ``ByteRequest`` becomes a frazil byte range, and writes to a read-only store raise
:class:`~frazil.ReadOnlyError` (a ``ValueError``, as zarr expects).
"""

from __future__ import annotations

import hashlib
import math
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer

from frazil._changes import (
    METADATA_KEY,
    BlobKey,
    ChunkKey,
    ChunkRef,
    MetadataKey,
    child_path,
    chunk_keys,
    node_key_prefix,
    parse_node_metadata,
    resolve_key,
)
from frazil._check import require_int
from frazil._checksum import crc32c
from frazil._errors import ErrorKind, InvalidInputError, ReadOnlyError, SessionStateError
from frazil._repo import container_of
from frazil._session.virtual import VirtualChunkSpec, checksum_pins, write_virtual_table
from frazil._sync import sync
from frazil.format import ChunkRefs, RefKind, encode_id, new_id_bytes, split_location
from frazil.storage import OffsetRange, SuffixRange, WindowRange, slice_range, validate_key

if TYPE_CHECKING:
    import datetime
    from collections.abc import AsyncIterator, Iterable, Sequence

    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import BufferPrototype

    from frazil._changes import NodeView, Workspace
    from frazil._session.state import SessionState, StateOwner
    from frazil.storage import ByteRange

__all__ = ["ChunkBatch", "FrazilStore"]

type _Failed = list[tuple[int, ...]] | None
"""Chunk indices of references skipped by container validation (None: none skipped)."""

_READ_ONLY_MESSAGE = "store was opened in read-only mode and does not support writing"


type ChunkBatch = tuple[
    np.ndarray[Any, np.dtype[np.uint32]],
    np.ndarray[Any, np.dtype[np.uint8]],
    list[str],
    np.ndarray[Any, np.dtype[np.uint64]],
    np.ndarray[Any, np.dtype[np.uint64]],
    dict[int, bytes],
]
"""One batch of :meth:`FrazilStore.array_chunk_iterator`."""

_CHUNK_TYPE_CODES = np.zeros(256, dtype=np.uint8)
_CHUNK_TYPE_CODES[[RefKind.NATIVE, RefKind.VIRTUAL, RefKind.INLINE]] = [1, 2, 3]
"""RefKind -> the ChunkType value reported for it (native 1, virtual 2, inline 3)."""


def _chunk_batch(
    table: ChunkRefs, kinds: np.ndarray[Any, Any], start: int, stop: int
) -> ChunkBatch:
    """Rows ``start:stop`` of an array's references as an :meth:`array_chunk_iterator` batch."""
    kind = table.kind[start:stop]
    offsets = table.offset[start:stop].astype(np.uint64)
    lengths = table.length[start:stop].astype(np.uint64)
    paths = [""] * len(kind)
    inlined: dict[int, bytes] = {}
    for row in np.flatnonzero(kind == RefKind.NATIVE).tolist():
        paths[row] = encode_id(table.chunk_id[start + row].tobytes())
    for row in np.flatnonzero(kind == RefKind.VIRTUAL).tolist():
        paths[row] = split_location(table.locations[int(table.location[start + row])])[0]
    for row in np.flatnonzero(kind == RefKind.INLINE).tolist():
        at = int(offsets[row])
        inlined[row] = table.inline[at : at + int(lengths[row])]
    offsets[kind == RefKind.INLINE] = 0
    return (
        table.coords[start:stop].astype(np.uint32),
        kinds[start:stop],
        paths,
        offsets,
        lengths,
        inlined,
    )


def _convert_range(byte_range: ByteRequest | None) -> ByteRange | None:
    match byte_range:
        case None:
            return None
        case RangeByteRequest(start=start, end=end):
            return WindowRange(_offset(start), _offset(end))
        case OffsetByteRequest(offset=offset):
            return OffsetRange(_offset(offset))
        case SuffixByteRequest(suffix=suffix):
            return SuffixRange(_offset(suffix))
    raise TypeError(f"Unexpected byte_range, got {byte_range!r}.")


def _offset(value: int) -> int:
    # beyond any object's size; clamping keeps huge requests from overflowing int64 maths
    return min(value, 2**62)


class FrazilStore(Store):
    """A zarr store reading and writing through a frazil session.

    Obtain it from :attr:`Session.store`; pass it wherever zarr, xarray or dask take a
    store.

    Parameters
    ----------
    session
        The session to read from and write to.
    read_only
        Force a read-only view of a writable session; defaults to the session's mode.
    """

    _owner: StateOwner
    _state: SessionState

    def __init__(self, session: StateOwner, *, read_only: bool | None = None) -> None:
        state = session._state
        super().__init__(read_only=bool(state.read_only if read_only is None else read_only))
        if not read_only and read_only is not None and state.read_only:
            raise ReadOnlyError(
                "cannot open a writable store on a read-only session; use "
                "repo.writable_session(branch).store",
                kind=ErrorKind.READ_ONLY_STORE,
            )
        self._owner = session
        self._state = state

    # ------------------------------------------------------------------ identity
    @property
    def session(self) -> Any:
        """The session this store reads from and writes to."""
        return self._owner

    @property
    def read_only(self) -> bool:
        # docstring inherited
        return self._read_only or self._state.read_only

    def __eq__(self, value: object) -> bool:
        return (
            isinstance(value, FrazilStore)
            and value._state.token == self._state.token
            and value._read_only == self._read_only
        )

    def __hash__(self) -> int:
        return hash(self._state.token)

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"<FrazilStore {mode} {self._owner!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return self._owner._reduce_store(self._read_only)

    def with_read_only(self, read_only: bool = False) -> FrazilStore:
        # docstring inherited
        return FrazilStore(self._owner, read_only=read_only)

    # ------------------------------------------------------------------ capabilities
    @property
    def supports_writes(self) -> bool:
        # docstring inherited
        return True

    @property
    def supports_deletes(self) -> bool:
        # docstring inherited
        return True

    @property
    def supports_listing(self) -> bool:
        # docstring inherited
        return True

    @property
    def supports_consolidated_metadata(self) -> bool:
        # docstring inherited
        # Every node's metadata already sits in one snapshot object, so zarr's
        # consolidated metadata would only be a second copy that can go stale.
        return False

    def _check_writable(self) -> None:
        state = self._state
        if self._read_only or state.read_only:
            raise ReadOnlyError(
                f"{_READ_ONLY_MESSAGE}: "
                + (
                    "its session is read-only (committed, or opened with "
                    "readonly_session); open repo.writable_session(branch) to write"
                    if state.read_only
                    else "this store was opened with read_only=True"
                ),
                kind=ErrorKind.READ_ONLY_STORE,
            )
        state.check_writable()

    # ------------------------------------------------------------------ reads
    async def _lookup(self, key: str) -> bytes | ChunkRef | None:
        """The metadata bytes or chunk/blob reference stored at ``key`` (None: absent)."""
        state = self._state
        await state.refresh_staged()
        ws = await state.workspace()
        match resolve_key(ws, key):
            case MetadataKey(path=path):
                view = ws.node(path)
                if view is not None:
                    return view.metadata.encode()
                return ws.blob_ref(key)
            case ChunkKey(view=view, coords=coords):
                return await ws.chunk_ref(view, coords)
            case BlobKey():
                return ws.blob_ref(key)

    async def get(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        frazil_range = _convert_range(byte_range)
        found = await self._lookup(key)
        if found is None:
            return None
        if isinstance(found, bytes):
            data = slice_range(found, frazil_range)
        else:
            data = await self._state.read_ref(found, frazil_range)
        return prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        pairs = list(key_ranges)
        return await self._state.io.read_many(
            [partial(self.get, k, prototype, r) for k, r in pairs]
        )

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await self._lookup(key) is not None

    async def getsize(self, key: str) -> int:
        # docstring inherited
        found = await self._lookup(key)
        if found is None:
            raise FileNotFoundError(key)
        return len(found) if isinstance(found, bytes) else int(found.length)

    # ------------------------------------------------------------------ writes
    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        # A zero-copy view: the bytes are written to storage (or copied inline) before
        # this call returns, so zarr may reuse the buffer afterwards.
        if not isinstance(value, Buffer):
            raise TypeError(
                f"FrazilStore.set takes a zarr Buffer, got {type(value).__name__}; wrap bytes "
                "with zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(...)"
            )
        data = memoryview(value.as_numpy_array()).cast("B")
        state = self._state
        ws = await state.workspace()
        resolved = resolve_key(ws, key, writing=True)
        if isinstance(resolved, MetadataKey):
            text = bytes(data)
            parsed = parse_node_metadata(text, path=resolved.path)
            if parsed is not None:
                self._refuse_remote("metadata", key)
                ws.set_node(resolved.path, parsed.kind, text.decode(), parsed.array)
                return
        elif isinstance(resolved, ChunkKey):
            view, coords = resolved.view, resolved.coords
            if not view.layout.in_grid(coords):
                raise InvalidInputError(
                    f"invalid chunk key {key!r}: chunk index {list(coords)} is outside the "
                    f"chunk grid {list(view.layout.grid or ())} of array {view.path!r}",
                    kind=ErrorKind.INVALID_CHUNK_INDEX,
                )
            staging = state.staging_writer
            ref = await self._store_bytes(data, inline_ok=staging is None)
            ws.put_chunk(
                view,
                coords,
                kind=ref.kind,
                chunk_id=ref.chunk_id,
                length=ref.length,
                checksum=ref.checksum,
                data=ref.data,
            )
            if staging is not None:
                await staging.record(view, coords, ref, _digest(data))
            return
        self._refuse_remote("key", key)
        ws.set_blob(key, await self._store_bytes(data, inline_ok=True))

    def _refuse_remote(self, what: str, key: str) -> None:
        if self._state.staging_writer is not None:
            raise SessionStateError(
                f"cannot write {what} {key!r} from a copy of a writable store sent to another "
                "process: only chunk writes can be collected from remote copies. Write "
                "metadata in the coordinating process before computing (xarray and "
                "dask.array.to_zarr already do), or use session.fork() with "
                "frazil.dask.store_dask / frazil.xarray.to_frazil.",
                kind=ErrorKind.UNSAFE_REMOTE_WRITE,
            )

    async def _store_bytes(self, data: memoryview, *, inline_ok: bool) -> ChunkRef:
        checksum = crc32c(data)
        io = self._state.io
        if inline_ok and len(data) <= io.config.inline_chunk_threshold_bytes:
            return ChunkRef(
                kind=RefKind.INLINE,
                chunk_id=b"",
                offset=0,
                length=len(data),
                checksum=checksum,
                data=bytes(data),
            )
        chunk_id = new_id_bytes()
        await io.write_chunk(encode_id(chunk_id), data)
        return ChunkRef(
            kind=RefKind.NATIVE, chunk_id=chunk_id, offset=0, length=len(data), checksum=checksum
        )

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        if not await self.exists(key):
            await self.set(key, value)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        state = self._state
        ws = await state.workspace()
        resolved = resolve_key(ws, key)
        if isinstance(resolved, MetadataKey) and ws.node(resolved.path) is not None:
            self._refuse_remote("metadata", key)
            ws.delete_subtree(resolved.path)
            return
        if isinstance(resolved, ChunkKey):
            view, coords = resolved.view, resolved.coords
            staging = state.staging_writer
            if await ws.chunk_ref(view, coords) is None and staging is None:
                return
            ws.put_chunk(view, coords, kind=RefKind.TOMBSTONE)
            if staging is not None:
                await staging.record(view, coords, None, "deleted")
            return
        if ws.blob_ref(key) is not None:
            self._refuse_remote("key", key)
            ws.delete_blob(key)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        stripped = prefix.removesuffix("/")
        if stripped or prefix:
            validate_key(stripped)  # "/" and "a//" are refused, not read as "" or "a"
        ws = await self._state.workspace()
        path = "/" + stripped
        if self._state.staging_writer is not None and (
            ws.subtree(path) or any(k.startswith(stripped) for k in ws.blob_keys())
        ):
            self._refuse_remote("directory", prefix)
        ws.delete_subtree(path if stripped else "/")
        # chunks addressed below an array's own directory (e.g. "array/c/1")
        for view in list(ws.nodes.values()):
            if view.kind != "array" or child_path(view.path, path):
                continue
            array_prefix = node_key_prefix(view.path)
            if not (stripped + "/").startswith(array_prefix):
                continue
            table = await ws.chunk_table(view)
            if not len(table):
                continue
            keys = chunk_keys(view, table)
            doomed = np.flatnonzero(np.char.startswith(keys, stripped + "/"))
            if len(doomed):
                self._tombstone(ws, view, table.coords[doomed])

    def _tombstone(self, ws: Workspace, view: NodeView, coords: np.ndarray[Any, Any]) -> None:
        tombstones = ChunkRefs.tombstones(coords)
        changes = ws.changes
        assert changes is not None
        with ws.lock:
            changes.writes_for(view.node_id, view.layout.ndim).add_table(tombstones)

    async def clear(self) -> None:
        # docstring inherited
        await self.delete_dir("")

    # ------------------------------------------------------------------ listing
    async def _keys_with_prefix(self, prefix: str) -> list[str]:
        await self._state.refresh_staged()
        ws = await self._state.workspace()
        keys: list[str] = []
        for view in list(ws.nodes.values()):
            node_prefix = node_key_prefix(view.path)
            meta_key = node_prefix + METADATA_KEY
            if meta_key.startswith(prefix):
                keys.append(meta_key)
            if view.kind == "array" and (
                node_prefix.startswith(prefix) or prefix.startswith(node_prefix)
            ):
                table = await ws.chunk_table(view)
                if len(table):
                    found = chunk_keys(view, table)
                    if prefix and not node_prefix.startswith(prefix):
                        found = found[np.char.startswith(found, prefix)]
                    keys.extend(found.tolist())
        keys.extend(k for k in ws.blob_keys() if k.startswith(prefix))
        return keys

    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        for key in await self._keys_with_prefix(""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Every key that starts with ``prefix`` (a string prefix, as zarr's stores read it).

        Store keys never begin with ``/``, so leading slashes are dropped: ``"/"`` lists the
        whole store, as ``""`` does, and ``"/a/b"`` lists what ``"a/b"`` lists.
        """
        for key in await self._keys_with_prefix(prefix.lstrip("/")):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        stripped = prefix.rstrip("/")
        base = stripped + "/" if stripped else ""
        seen: set[str] = set()
        for key in await self._keys_with_prefix(base):
            rest = key[len(base) :]
            if rest:
                seen.add(rest.split("/", 1)[0])
        for name in sorted(seen):
            yield name

    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        stripped = prefix.rstrip("/")
        base = stripped + "/" if stripped else ""
        keys = await self._keys_with_prefix(base)
        sizes = await self._state.io.read_many([partial(self.getsize, k) for k in keys])
        return int(sum(sizes))

    # ------------------------------------------------------------------ virtual references
    async def set_virtual_ref_async(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | datetime.datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        """Async version of :meth:`set_virtual_ref`."""
        self._check_writable()
        ws = await self._state.workspace()
        resolved = resolve_key(ws, key)
        if not isinstance(resolved, ChunkKey):
            raise InvalidInputError(
                f"{key!r} is not a chunk key of an existing array", kind=ErrorKind.INVALID_KEY
            )
        where: object = location
        if not isinstance(where, str) or not where:
            raise InvalidInputError(
                f"a virtual chunk location must be a non-empty URL string, got {where!r}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        failed = write_virtual_table(
            self._state,
            ws,
            resolved.view,
            np.asarray([resolved.coords], dtype=np.int64).reshape(1, -1),
            np.asarray([location]),
            np.asarray([require_int("virtual reference offset", offset)]),
            np.asarray([require_int("virtual reference length", length)]),
            pins=checksum_pins(checksum, 1),
            validate_containers=validate_container,
        )
        if failed:
            container_of(self._state.config.virtual_chunk_containers, location)  # raises

    def set_virtual_ref(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | datetime.datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        """Point the chunk ``key`` at ``length`` bytes at ``offset`` of ``location``.

        Parameters
        ----------
        key
            A chunk key, like ``"temperature/c/0/1"``.
        location
            The file's URL (``s3://bucket/file.nc``, ``file:///data/file.nc``, ...).
        offset, length
            The byte range of the chunk in the file.
        checksum
            Pins the file: an ETag (str), or a time after which it must not have been
            modified (datetime). Reading fails if the file changed.
        validate_container
            Refuse a location that no virtual chunk container of the configuration holds.

        Raises
        ------
        InvalidInputError
            If the key is no chunk of an existing array, the location is not a URL or is
            in no container (with validation), or the offset or length is negative.
        """
        sync(
            self.set_virtual_ref_async(
                key,
                location,
                offset=offset,
                length=length,
                checksum=checksum,
                validate_container=validate_container,
            )
        )

    def array_chunk_iterator(
        self, array_path: str, batch_size: int = 100_000
    ) -> AsyncIterator[ChunkBatch]:
        """Iterate over an array's chunk references in columnar batches (asynchronously).

        Each batch is ``(coords, kinds, paths, offsets, lengths, inlined)``, one row per
        stored chunk as this session sees it (uncommitted writes included, missing chunks
        left out), in chunk-index order:

        - ``coords``: ``uint32`` array of shape ``(n, ndim)``, the chunk grid indices;
        - ``kinds``: ``uint8``, the :class:`~frazil.ChunkType` values (native 1,
          virtual 2, inline 3);
        - ``paths``: the file's URL (virtual), the chunk object's id (native) or ``""``
          (inline);
        - ``offsets``, ``lengths``: ``uint64`` byte ranges (``0`` and the size for
          inline chunks);
        - ``inlined``: the bytes of the inline rows, keyed by row index in the batch.

        Parameters
        ----------
        array_path
            The array, like ``"a"`` or ``"/group/var"``.
        batch_size
            The most rows in one batch.

        Returns
        -------
        AsyncIterator
            Use it with ``async for``; ``aclose()`` stops it early.

        Raises
        ------
        NodeNotFoundError
            If there is no array at the path (raised by the first step).
        InvalidInputError
            If ``batch_size`` is not a positive integer.
        """
        require_int("batch_size", batch_size, low=1)
        return self._chunk_batches(array_path, batch_size)

    async def _chunk_batches(self, array_path: str, batch_size: int) -> AsyncIterator[ChunkBatch]:
        ws = await self._state.workspace()
        table = await ws.chunk_table(ws.require_array(array_path))
        kinds = _CHUNK_TYPE_CODES[table.kind]
        for start in range(0, len(table.kind), batch_size):
            stop = start + batch_size
            yield _chunk_batch(table, kinds, start, stop)

    async def set_virtual_refs_async(
        self,
        array_path: str,
        chunks: Sequence[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> _Failed:
        """Async version of :meth:`set_virtual_refs`."""
        self._check_writable()
        ws = await self._state.workspace()
        view = ws.require_array(array_path)
        specs: Sequence[object] = [*chunks]
        for spec in specs:
            if not isinstance(spec, VirtualChunkSpec):
                raise InvalidInputError(
                    f"set_virtual_refs takes a list of frazil.VirtualChunkSpec, got "
                    f"{type(spec).__name__!r}",
                    kind=ErrorKind.INVALID_ARGUMENT,
                )
        ndim = view.layout.ndim
        try:
            coords = np.asarray([[*c.index] for c in chunks], dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"VirtualChunkSpec indices must be integer sequences: {exc}",
                kind=ErrorKind.INVALID_CHUNK_INDEX,
            ) from exc
        if len(chunks) and tuple(coords.shape) != (len(chunks), ndim):
            raise InvalidInputError(
                f"every VirtualChunkSpec index of {array_path!r} needs {ndim} coordinates",
                kind=ErrorKind.INVALID_CHUNK_INDEX,
            )
        checksums = [c.etag_checksum or c.last_updated_at_checksum for c in chunks]
        return write_virtual_table(
            self._state,
            ws,
            view,
            coords.reshape(len(chunks), ndim),
            np.asarray([c.location for c in chunks], dtype=object),
            np.asarray([c.offset for c in chunks], dtype=None if chunks else np.int64),
            np.asarray([c.length for c in chunks], dtype=None if chunks else np.int64),
            pins=checksum_pins(checksums, len(chunks))
            if any(x is not None for x in checksums)
            else None,
            validate_containers=validate_containers,
        )

    def set_virtual_refs(
        self,
        array_path: str,
        chunks: Sequence[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> _Failed:
        """Record many virtual references of one array.

        Parameters
        ----------
        array_path
            The array, like ``"/group/temperature"``.
        chunks
            One :class:`VirtualChunkSpec` per chunk.
        validate_containers
            Skip (and report) references whose location no container holds.

        Returns
        -------
        list of tuple of int or None
            The indices of the references skipped by validation, or None if every one
            was recorded.

        Raises
        ------
        InvalidInputError
            On a bad index, location, offset or length (nothing is recorded).
        """
        return sync(
            self.set_virtual_refs_async(array_path, chunks, validate_containers=validate_containers)
        )

    async def set_virtual_refs_arr_async(
        self,
        array_path: str,
        chunk_grid_shape: tuple[int, ...],
        locations: Any,
        offsets: Any,
        lengths: Any,
        *,
        arr_offset: tuple[int, ...] | None = None,
        checksum: Any = None,
        validate_containers: bool = True,
    ) -> _Failed:
        """Async version of :meth:`set_virtual_refs_arr`."""
        self._check_writable()
        ws = await self._state.workspace()
        view = ws.require_array(array_path)
        try:
            grid = tuple(int(g) for g in chunk_grid_shape)
        except (TypeError, ValueError):
            grid = ()
        if len(grid) != view.layout.ndim or any(g < 0 for g in grid):
            raise InvalidInputError(
                f"chunk_grid_shape {chunk_grid_shape!r} must be {view.layout.ndim} "
                f"non-negative integers for {array_path!r}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        n = math.prod(grid)
        if isinstance(locations, np.ndarray):
            where = locations
        else:  # np.asarray would quietly turn 3 into "3": check the types first
            items = list(locations)
            strings = set(map(type, items)) <= {str}
            where = np.asarray(items) if strings and items else np.asarray(items, dtype=object)
        if where.size != n:
            raise InvalidInputError(
                f"locations has {where.size} entries for a chunk grid of {grid} ({n} chunks)",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        start = np.zeros(len(grid), dtype=np.int64)
        if arr_offset is not None:
            try:
                start = np.asarray([int(a) for a in arr_offset], dtype=np.int64)
            except (TypeError, ValueError):
                start = np.zeros(0, dtype=np.int64)
            if start.shape != (len(grid),) or bool((start < 0).any()):
                raise InvalidInputError(
                    f"arr_offset {arr_offset!r} must be {len(grid)} non-negative integers",
                    kind=ErrorKind.INVALID_CHUNK_INDEX,
                )
        coords = np.stack(np.unravel_index(np.arange(n), grid), axis=1) if n else None
        coords = (
            coords.astype(np.int64) + start
            if coords is not None
            else np.zeros((0, len(grid)), dtype=np.int64)
        )
        return write_virtual_table(
            self._state,
            ws,
            view,
            coords,
            where.reshape(-1),
            offsets,
            lengths,
            pins=checksum_pins(checksum, n),
            validate_containers=validate_containers,
            unique=True,
        )

    def set_virtual_refs_arr(
        self,
        array_path: str,
        chunk_grid_shape: tuple[int, ...],
        locations: Any,
        offsets: Any,
        lengths: Any,
        *,
        arr_offset: tuple[int, ...] | None = None,
        checksum: Any = None,
        validate_containers: bool = True,
    ) -> _Failed:
        """Record the virtual references of a block of chunks from NumPy arrays.

        Vectorised: no Python work per chunk, so millions of references take seconds.

        Parameters
        ----------
        array_path
            The array, like ``"/temperature"``.
        chunk_grid_shape
            The shape of the block of chunks the arrays describe.
        locations
            File URLs, shaped like the block or flat in C order; ``""`` skips a chunk.
        offsets, lengths
            Byte ranges, shaped like ``locations`` (integers, not negative).
        arr_offset
            Chunk index of the block's first chunk in the array (for appends).
        checksum
            One ETag or last-modified time for every reference, or an array of them.
        validate_containers
            Skip (and report) references whose location no container holds.

        Returns
        -------
        list of tuple of int or None
            The indices of the references skipped by validation, or None.

        Raises
        ------
        InvalidInputError
            If shapes disagree, an offset or length is negative, a location is not a
            string, or a chunk falls outside the array's grid (nothing is recorded).
        """
        return sync(
            self.set_virtual_refs_arr_async(
                array_path,
                chunk_grid_shape,
                locations,
                offsets,
                lengths,
                arr_offset=arr_offset,
                checksum=checksum,
                validate_containers=validate_containers,
            )
        )


def _digest(data: memoryview) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


FrazilStore.__module__ = "frazil"
