"""Executor-agnostic merging of forks: works with Dask, Ray, multiprocessing, futures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil._session import ForkSession, copy_fork, state_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["merge_sessions"]


def _flatten(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, list | tuple):
            yield from _flatten(item)
        elif type(item).__name__ == "ndarray" and getattr(item, "dtype", None) == object:
            yield from _flatten(item.ravel().tolist())
        else:
            yield item


def merge_sessions(
    *sessions: ForkSession | Iterable[Any], on_conflict: str = "fail"
) -> ForkSession:
    """Merge forks into one new fork; usable as a reducer (``merge_sessions(a, b)``).

    The inputs are not modified. Nested lists and tuples are flattened, so the function
    can be handed to any framework's reduce or gather. Merging is associative: any tree of
    merges gives the same result.

    Parameters
    ----------
    *sessions
        ForkSession objects (from ``Session.fork()``), or lists of them.
    on_conflict
        ``"fail"`` (default), ``"ours"`` or ``"theirs"``; see :meth:`Session.merge`.

    Returns
    -------
    ForkSession
        A new fork holding every input's changes (the input itself when only one distinct
        fork is given); merge it into the coordinating session with
        ``session.merge(result)`` and commit there.

    Raises
    ------
    TypeError
        If an argument is not a ForkSession (naming what was given instead), or if none
        is given.
    MergeConflictError
        If two forks wrote different data to the same chunk.

    Examples
    --------
    >>> from functools import reduce
    >>> merged = reduce(merge_sessions, forks)  # doctest: +SKIP
    """
    forks = list(_flatten(sessions))
    if not forks:
        raise TypeError("merge_sessions needs at least one ForkSession (from Session.fork())")
    for fork in forks:
        if not isinstance(fork, ForkSession):
            kind = (
                "a writable Session"
                if type(fork).__name__ == "Session"
                else repr(type(fork).__name__)
            )
            raise TypeError(
                f"merge_sessions takes ForkSession objects (from Session.fork()), got {kind}. "
                "To merge forks into the session they came from, call "
                "session.merge(*forks) instead."
            )
    unique: list[ForkSession] = []
    seen: set[int] = set()
    for fork in forks:
        if id(fork) not in seen:
            seen.add(id(fork))
            unique.append(fork)
    if len(unique) == 1:
        # one fork (the threaded scheduler hands every task the same object): nothing to
        # merge, and returning it unchanged modifies no input
        return unique[0]
    result = ForkSession(copy_fork(state_of(unique[0])))
    result.merge(*unique[1:], on_conflict=on_conflict)
    return result
