"""Executors behind ``job.map``: a Dask client, any ``concurrent.futures`` executor, or
none (the coordinator's own process), behind one small interface.

A runner submits tasks and hands back *handles*; the map loop waits for any handle to
finish, asks for its error, and passes finished handles on as arguments of later tasks
(the merge tree). With Dask the handles are futures whose data stays on the workers, and
merge tasks take them as dependencies, so the client never holds the forks; with other
executors results come back to the coordinator's process anyway.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from frazil._check import short
from frazil._errors import ErrorKind, InternalError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

__all__ = ["DaskRunner", "FuturesRunner", "InlineRunner", "Runner", "RunnerKind", "runner_for"]

type RunnerKind = Literal["inline", "futures", "dask"]


class Runner:
    """What the map loop needs from an executor."""

    kind: RunnerKind
    """Which family the executor belongs to."""
    pickles: bool
    """Whether tasks and their arguments are pickled (sent to other processes)."""
    native_retries: bool
    """Whether the executor retries a failed task itself (Dask's ``retries=``)."""

    def submit(self, fn: Callable[..., Any], *args: Any, retries: int, label: str) -> Any:
        """Start ``fn(*args)``; returns a handle."""
        raise NotImplementedError

    def wait_any(self, handles: Collection[Any]) -> set[Any]:
        """Block until at least one of ``handles`` finished; return the finished ones."""
        raise NotImplementedError

    def error(self, handle: Any) -> BaseException | None:
        """The exception a finished task raised, or None if it succeeded."""
        raise NotImplementedError

    def result(self, handle: Any) -> Any:
        """A finished task's result, in the coordinator's process."""
        raise NotImplementedError

    def argument(self, handle: Any) -> Any:
        """How a finished task's result is passed to a later task."""
        return self.result(handle)

    def share(self, data: bytes) -> Any:
        """How an argument common to many tasks is passed to them (as it is: Dask keeps
        it in each task, so a task that must run again after its worker died still has it,
        which scattered data lost with the worker would not)."""
        return data

    def cancel(self, handles: Iterable[Any]) -> None:
        """Give up on unfinished tasks (best effort)."""


class InlineRunner(Runner):
    """No executor: tasks run one at a time in the coordinator's thread, each when the map
    loop waits for it (so the job's record and progress advance shard by shard)."""

    kind: RunnerKind = "inline"
    pickles = False
    native_retries = False

    def __init__(self) -> None:
        self._queue: deque[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any, retries: int, label: str) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.append((future, lambda: fn(*args)))
        return future

    def wait_any(self, handles: Collection[Any]) -> set[Any]:
        done = {h for h in handles if h.done()}
        if done:
            return done
        while self._queue:
            future, call = self._queue.popleft()
            if future.cancelled():
                continue
            try:
                future.set_result(call())
            except Exception as exc:  # noqa: BLE001 -- the task's error is its result
                future.set_exception(exc)
            if future in handles:
                return {future}
        raise InternalError("waiting for shard tasks that were never submitted")

    def error(self, handle: Any) -> BaseException | None:
        error: BaseException | None = handle.exception()
        return error

    def result(self, handle: Any) -> Any:
        return handle.result()

    def cancel(self, handles: Iterable[Any]) -> None:
        for handle in handles:
            handle.cancel()


class FuturesRunner(InlineRunner):
    """A ``concurrent.futures.Executor`` (thread or process pool, or any other)."""

    kind: RunnerKind = "futures"

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        super().__init__()
        self._executor = executor
        self.pickles = not isinstance(executor, concurrent.futures.ThreadPoolExecutor)

    def submit(self, fn: Callable[..., Any], *args: Any, retries: int, label: str) -> Any:
        return self._executor.submit(fn, *args)

    def wait_any(self, handles: Collection[Any]) -> set[Any]:
        done, _ = concurrent.futures.wait(handles, return_when=concurrent.futures.FIRST_COMPLETED)
        return set(done)


class DaskRunner(Runner):
    """A ``distributed.Client``: tasks are futures, retried by the scheduler, and merge
    tasks depend on them on the cluster."""

    kind: RunnerKind = "dask"
    pickles = True
    native_retries = True

    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(self, fn: Callable[..., Any], *args: Any, retries: int, label: str) -> Any:
        key = f"frazil-{label}-{uuid.uuid4().hex[:12]}"
        return self.client.submit(fn, *args, key=key, pure=False, retries=retries or None)

    def wait_any(self, handles: Collection[Any]) -> set[Any]:
        from distributed import wait

        done, _ = wait(list(handles), return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
        return set(done)

    def error(self, handle: Any) -> BaseException | None:
        if handle.status == "finished":
            return None
        if handle.status == "cancelled":
            return concurrent.futures.CancelledError(f"task {handle.key!r} was cancelled")
        error: BaseException = handle.exception()
        return error

    def result(self, handle: Any) -> Any:
        return handle.result()

    def argument(self, handle: Any) -> Any:
        return handle  # a dependency: the data moves worker to worker

    def cancel(self, handles: Iterable[Any]) -> None:
        handles = list(handles)
        if handles:
            self.client.cancel(handles)


def runner_for(executor: object) -> Runner:
    """The runner of an executor given to :meth:`frazil.Job.create`.

    Raises
    ------
    InvalidInputError
        If it is not None, a ``concurrent.futures.Executor`` or a ``distributed.Client``.
    """
    if executor is None:
        return InlineRunner()
    if isinstance(executor, concurrent.futures.Executor):
        return FuturesRunner(executor)
    if type(executor).__module__.split(".")[0] == "distributed":
        from distributed import Client

        if isinstance(executor, Client):
            return DaskRunner(executor)
    raise InvalidInputError(
        f"executor must be a distributed.Client, a concurrent.futures.Executor (e.g. "
        f"ProcessPoolExecutor) or None (run shards in this process), got {short(executor)}",
        kind=ErrorKind.INVALID_ARGUMENT,
    )
