"""Writing Dask arrays through forks, with the forks tree-reduced inside the graph."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

import dask.array as da  # importing frazil.dask makes dask.array available, as Icechunk's does
import numpy as np

from frazil._distributed import merge_sessions
from frazil._errors import ErrorKind, InvalidInputError, SessionStateError
from frazil._session import ForkSession, FrazilStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import dask.array
    import zarr

__all__ = ["as_list", "merged_fork_graph", "session_merge_reduction", "store_dask"]

_META = np.array([object()], dtype=object)


def _meta_aware[**P](func: Callable[P, Any]) -> Callable[P, Any]:
    """Dask calls reduction functions once with ``computing_meta=True`` to learn the
    output type; answer with an object placeholder instead of touching any store."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        if kwargs.pop("computing_meta", False):
            return _META
        return func(*args, **kwargs)

    return wrapper


@_meta_aware
def _fork_of(target: Any, axis: Any = None, keepdims: Any = None) -> Any:
    """Per block: the fork that the store task wrote through (0-d object array)."""
    store = getattr(target, "store", None)
    session = store.session if isinstance(store, FrazilStore) else None
    if not isinstance(session, ForkSession):
        raise SessionStateError(
            "store_dask targets must be zarr arrays opened on a ForkSession's store "
            "(zarr.open_array(session.fork().store, path=...))",
            kind=ErrorKind.COMMIT_NOT_ALLOWED,
        )
    out = np.empty((), dtype=object)
    out[()] = session
    return out


@_meta_aware
def _merge_blocks(blocks: Any, axis: Any = None, keepdims: Any = None) -> Any:
    out = np.empty((), dtype=object)
    out[()] = merge_sessions(blocks)
    return out


def merged_fork_graph(stored: Sequence[dask.array.Array], *, split_every: int | None) -> Any:
    """A Delayed that computes to one ForkSession merging every block's fork.

    The forks are merged by a tree reduction inside the graph (``split_every`` at a time),
    so the scheduler and the client only ever hold the final fork.
    """
    from dask.delayed import delayed

    reduced = [
        da.reduction(  # type: ignore[no-untyped-call]
            array,
            chunk=_fork_of,
            aggregate=_merge_blocks,
            combine=_merge_blocks,
            split_every=split_every,
            concatenate=False,
            keepdims=False,
            dtype=object,
            meta=_META,
            name="frazil-merge-forks",
        )
        for array in stored
    ]
    return delayed(_merge_results)(*reduced)


def as_list(stored: Any) -> list[Any]:
    """``dask.array.store`` returns a bare Array for one source, a tuple for several."""
    return [stored] if isinstance(stored, da.Array) else list(stored)


def _merge_results(*results: Any) -> ForkSession:
    return merge_sessions(*[r.item() if isinstance(r, np.ndarray) else r for r in results])


def store_dask(
    *,
    sources: list[dask.array.Array],
    targets: list[zarr.Array[Any]],
    regions: list[tuple[slice, ...]] | None = None,
    split_every: int | None = None,
    **store_kwargs: Any,
) -> ForkSession:
    """Write Dask arrays into zarr arrays of a fork, like ``dask.array.store``.

    Each write task writes its chunks through (its copy of) the fork and returns it; the
    forks are tree-reduced inside the graph and one merged fork comes back.

    Parameters
    ----------
    sources
        Dask arrays to write.
    targets
        zarr arrays opened on a :class:`ForkSession`'s store, one per source.
    regions
        Optional region of each target to write.
    split_every
        Fan-in of the merge tree.
    **store_kwargs
        Passed to ``dask.array.store`` (``compute``, ``lock``, ``return_stored`` and
        ``load_stored`` are set by this function).

    Returns
    -------
    ForkSession
        Merge it into the coordinating session (``session.merge(fork)``), then commit.

    Raises
    ------
    InvalidInputError
        If sources and targets do not pair up, or a reserved keyword is passed.
    SessionStateError
        If a target is not opened on a ForkSession's store.
    """
    if len(sources) != len(targets):
        raise InvalidInputError(
            f"store_dask needs one target per source, got {len(sources)} sources and "
            f"{len(targets)} targets"
        )
    reserved = {"compute", "return_stored", "load_stored", "lock"} & set(store_kwargs)
    if reserved:
        raise InvalidInputError(f"store_dask sets {sorted(reserved)} itself; do not pass them")
    for target in targets:
        store = getattr(target, "store", None)
        if not isinstance(store, FrazilStore) or not isinstance(store.session, ForkSession):
            raise SessionStateError(
                "store_dask targets must be zarr arrays opened on a ForkSession's store: "
                "fork = session.fork(); zarr.open_array(fork.store, path=...)",
                kind=ErrorKind.COMMIT_NOT_ALLOWED,
            )
    stored = da.store(
        sources,
        cast("Any", targets),
        regions=regions,
        compute=False,
        return_stored=True,
        load_stored=False,
        lock=False,
        **store_kwargs,
    )
    result: ForkSession = merged_fork_graph(as_list(stored), split_every=split_every).compute()
    return result


def session_merge_reduction(
    arrays: dask.array.Array | Sequence[dask.array.Array],
    *,
    split_every: int | None,
    **compute_kwargs: Any,
) -> ForkSession:
    """Compute stored Dask arrays and tree-merge the forks their blocks wrote into one.

    The second half of :func:`store_dask`, for graphs built by hand: ``arrays`` are the
    results of ``dask.array.store(..., compute=False, return_stored=True,
    load_stored=False)`` over zarr arrays opened on a :class:`ForkSession`'s store.

    Parameters
    ----------
    arrays
        One stored Dask array or several.
    split_every
        Fan-in of the merge tree (``None``: Dask's default).
    **compute_kwargs
        Passed to ``compute`` (``scheduler=...`` and the like).

    Returns
    -------
    ForkSession
        Merge it into the coordinating session (``session.merge(fork)``), then commit.

    Raises
    ------
    TypeError
        If an argument is not a Dask array.
    SessionStateError
        If a block was not written through a ForkSession's store.
    """
    stored = as_list(arrays)
    for array in stored:
        if not isinstance(array, da.Array):
            raise TypeError(
                f"Expected a dask array (from dask.array.store(..., return_stored=True)), "
                f"got {type(array).__name__!r}"
            )
    result: ForkSession = merged_fork_graph(stored, split_every=split_every).compute(
        **compute_kwargs
    )
    return result
