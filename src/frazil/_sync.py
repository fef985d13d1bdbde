"""The one bridge from the synchronous API to frazil's async core.

Every synchronous public method is one line: ``return sync(self.name_async(...))``. The
coroutine runs on zarr's single IO event loop (a daemon thread), so frazil and zarr share
one loop, one connection pool and one set of loop-bound clients.

Three situations need care:

* called from a plain thread (the usual case, and Dask worker threads): submit to the IO
  loop and wait;
* called from *inside* a running event loop on another thread (Jupyter, an async web
  handler): the same, since the IO loop is a different loop;
* called from the IO loop's own thread (for example a synchronous zarr call made inside a
  callback running on that loop): waiting there would deadlock, so the coroutine runs to
  completion on a fresh loop in a helper thread instead;

and after ``os.fork`` zarr resets its loop in the child, so the first call there starts a
new one.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from zarr.core import sync as _zarr_sync

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

__all__ = ["io_loop", "io_loop_usable", "sync"]

_helper = threading.local()


def io_loop() -> asyncio.AbstractEventLoop:
    """Return zarr's IO event loop, starting it if needed."""
    return _zarr_sync._get_loop()


def io_loop_usable() -> bool:
    """False in a helper thread that runs while the IO loop's own thread is blocked."""
    return not getattr(_helper, "active", False)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def sync[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result, from any synchronous context.

    Parameters
    ----------
    coro
        The coroutine to run.

    Returns
    -------
    T
        What the coroutine returned; its exception is re-raised unchanged.
    """
    loop = io_loop()
    if _running_loop() is loop:
        return _run_in_helper_thread(coro)
    return _zarr_sync.sync(coro, loop=loop)


def _run_in_helper_thread[T](coro: Coroutine[Any, Any, T]) -> T:
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        _helper.active = True
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="frazil-sync-helper", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
