"""Writing Dask arrays through forks, with the forks tree-reduced inside the graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import dask
import dask.array as da  # importing frazil.dask makes dask.array available, as Icechunk's does

from frazil._distributed import merge_sessions
from frazil._errors import ErrorKind, InvalidInputError, SessionStateError
from frazil._session import ForkSession, FrazilStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    import zarr

__all__ = ["as_list", "merged_fork_graph", "session_merge_reduction", "store_dask"]

_DEFAULT_FAN_IN = 16


def _fork_in(block: Any) -> ForkSession:
    """The fork a store task wrote through: its block result is the zarr target itself
    (``return_stored=True, load_stored=False``), or a fork an earlier merge returned."""
    if isinstance(block, ForkSession):
        return block
    store = getattr(block, "store", None)
    session = store.session if isinstance(store, FrazilStore) else None
    if not isinstance(session, ForkSession):
        raise SessionStateError(
            "store_dask targets must be zarr arrays opened on a ForkSession's store "
            "(zarr.open_array(session.fork().store, path=...))",
            kind=ErrorKind.COMMIT_NOT_ALLOWED,
        )
    return session


def _merge_blocks(*blocks: Any) -> ForkSession:
    return merge_sessions(*[_fork_in(block) for block in blocks])


def _fan_in(split_every: int | None) -> int:
    if split_every is None:
        configured = dask.config.get("split_every", None)
        return configured if isinstance(configured, int) and configured >= 2 else _DEFAULT_FAN_IN
    value: object = split_every  # checked at run time: callers are not always typed
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise InvalidInputError(
            f"split_every must be an integer >= 2 (the fan-in of the merge tree), "
            f"got {split_every!r}"
        )
    return split_every


def _flat_keys(keys: Any) -> list[Any]:
    """An array's block keys (nested lists, one level per dimension) in order."""
    if isinstance(keys, list):
        return [key for part in keys for key in _flat_keys(part)]
    return [keys]


def merged_fork_graph(stored: Sequence[dask.array.Array], *, split_every: int | None) -> Any:
    """A Delayed that computes to one ForkSession merging every block's fork.

    The forks are merged by a tree of merge tasks inside the graph (``split_every`` at a
    time), so the scheduler and the client only ever hold the final fork. The tree is a
    plain task graph over the store tasks' keys: no array reduction, so nothing is fused or
    re-planned per block (that planning had cost more than the merges themselves).
    """
    from dask.base import tokenize
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    fan_in = _fan_in(split_every)
    level: list[Any] = [key for array in stored for key in _flat_keys(array.__dask_keys__())]
    name = "frazil-merge-forks-" + tokenize(*level, fan_in)
    layer: dict[Any, Any] = {}
    depth = 0
    while depth == 0 or len(level) > 1:
        merged = []
        for start in range(0, len(level), fan_in):
            key = (name, depth, start // fan_in)
            layer[key] = (_merge_blocks, *level[start : start + fan_in])
            merged.append(key)
        level, depth = merged, depth + 1
    graph = HighLevelGraph.from_collections(name, layer, dependencies=cast("Any", list(stored)))
    return Delayed(level[0], graph, layer=name)  # type: ignore[no-untyped-call]


def as_list(stored: Any) -> list[Any]:
    """``dask.array.store`` returns a bare Array for one source, a tuple for several."""
    return [stored] if isinstance(stored, da.Array) else list(stored)


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
