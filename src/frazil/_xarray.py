"""``to_frazil``: ``Dataset.to_zarr`` for sessions, with lazy variables written by forks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import zarr

from frazil._dask import as_list, merged_fork_graph
from frazil._errors import ErrorKind, SessionStateError
from frazil._session import ForkSession, Session, state_of

if TYPE_CHECKING:
    from collections.abc import Hashable, Mapping, MutableMapping

    import xarray as xr

__all__ = ["to_frazil"]

type Region = Mapping[str, slice | Literal["auto"]] | Literal["auto"] | None
type WriteMode = Literal["w", "w-", "a", "a-", "r+"]

_DATAARRAY_VARIABLE = "__xarray_dataarray_variable__"


def _writer_class() -> type[Any]:
    from dask.base import is_dask_collection
    from xarray.backends.common import ArrayWriter

    class SplitWriter(ArrayWriter):
        """Collects lazy (dask) writes for the forks; performs eager ones immediately."""

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.eager: list[tuple[Any, Any, Any]] = []

        def add(self, source: Any, target: Any, region: Any = None) -> None:
            if is_dask_collection(source):
                self.sources.append(source)
                self.targets.append(target)
                self.regions.append(region)
            else:
                self.eager.append((source, target, region))

        def write_eager(self) -> None:
            for source, target, region in self.eager:
                target[region or ...] = source
            self.eager = []

    return SplitWriter


def _as_dataset(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    import xarray as xr

    if isinstance(obj, xr.Dataset):
        return obj
    if isinstance(obj, xr.DataArray):
        if obj.name is None:
            return obj.to_dataset(name=_DATAARRAY_VARIABLE)
        return obj.to_dataset()
    raise TypeError(f"to_frazil writes an xarray Dataset or DataArray, got {type(obj).__name__!r}")


def to_frazil(
    obj: xr.Dataset | xr.DataArray,
    session: Session,
    *,
    group: str | None = None,
    mode: WriteMode | None = None,
    safe_chunks: bool = True,
    align_chunks: bool = False,
    append_dim: Hashable | None = None,
    region: Region = None,
    encoding: Mapping[Any, Any] | None = None,
    compute: bool = True,
    chunkmanager_store_kwargs: MutableMapping[Any, Any] | None = None,
    split_every: int | None = None,
) -> Any:
    """Write an xarray object into a session, with ``Dataset.to_zarr`` semantics.

    Metadata and in-memory variables are written by the calling process; Dask-backed
    variables are written by the Dask workers through forks of ``session``, which are
    tree-reduced in the graph and merged back into ``session`` before this returns. If any
    part fails, the session is rolled back to its state before the call: nothing of a
    failed write is left to be committed.

    Parameters
    ----------
    obj
        The Dataset or DataArray to write.
    session
        A writable session; commit it afterwards.
    group
        Group path inside the repository.
    mode
        ``"w"`` (overwrite), ``"w-"`` (create; fail if it exists), ``"a"`` (create or
        update variables, or append with ``append_dim``), ``"a-"`` (append only variables
        that have ``append_dim``), ``"r+"`` (change values of existing arrays only).
        Defaults as in ``to_zarr``: ``"a"`` with ``append_dim``, ``"r+"`` with ``region``,
        else ``"w-"``.
    safe_chunks
        Refuse Dask chunks that would make two tasks write one zarr chunk.
    align_chunks
        Rechunk Dask arrays to line up with the zarr chunks first.
    append_dim
        Dimension to append along.
    region
        Region to write into: a mapping of dimension to slice or ``"auto"``, or ``"auto"``.
    encoding
        Per-variable encodings, as for ``to_zarr``.
    compute
        If False, write metadata and in-memory variables now and return a
        ``dask.delayed.Delayed`` that writes the Dask variables when computed and returns
        the merged fork; pass that to ``session.merge`` before committing.
    chunkmanager_store_kwargs
        Extra keyword arguments for ``dask.array.store``.
    split_every
        Fan-in of the tree reduction of forks.

    Returns
    -------
    None or dask.delayed.Delayed
        ``None`` when ``compute=True``.

    Raises
    ------
    SessionStateError
        If ``session`` is read-only or a fork.
    ValueError
        For invalid mode/region/append combinations, as ``to_zarr`` does.
    """
    if isinstance(session, ForkSession) or not isinstance(session, Session):
        raise SessionStateError(
            "to_frazil writes through a writable Session (repo.writable_session(branch)); "
            f"got {type(session).__name__}",
            kind=ErrorKind.COMMIT_NOT_ALLOWED,
        )
    state = state_of(session)
    state.check_writable()
    from xarray.backends.writers import _validate_dataset_names, dump_to_store
    from xarray.backends.zarr import ZarrStore, _choose_default_mode

    dataset = _as_dataset(obj)
    concrete_mode = _choose_default_mode(mode=mode, append_dim=append_dim, region=region)
    checkpoint = state.checkpoint()
    try:
        for variable in dataset.variables.values():
            if variable.size == 0:
                variable.load()
        store = ZarrStore.open_group(
            store=session.store,
            group=group,
            mode=concrete_mode,
            zarr_format=3,
            append_dim=append_dim,
            write_region=region,
            safe_chunks=safe_chunks,
            align_chunks=align_chunks,
            consolidated=False,
            consolidate_on_close=False,
        )
        dataset = store._validate_and_autodetect_region(dataset)
        _validate_dataset_names(dataset)
        store._validate_encoding(encoding or {})
        writer = _writer_class()()
        dump_to_store(dataset, store, writer, encoding=encoding or {})  # type: ignore[no-untyped-call]
        writer.write_eager()
        if not writer.sources:
            if not compute:
                from dask.delayed import delayed

                return delayed(session.fork())  # nothing left to write
            return None
        fork = session.fork()
        targets = [zarr.open_array(fork.store, path=t.path, mode="a") for t in writer.targets]
        writer.targets = targets
        store_kwargs = dict(chunkmanager_store_kwargs or {})
        store_kwargs.update(return_stored=True, load_stored=False)
        stored = writer.sync(compute=False, chunkmanager_store_kwargs=store_kwargs)
        graph = merged_fork_graph(as_list(stored), split_every=split_every)
        if not compute:
            return graph
        session.merge(graph.compute())
    except BaseException:
        state.rollback(checkpoint)
        raise
    return None
