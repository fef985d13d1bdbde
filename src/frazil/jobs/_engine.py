"""The loop behind ``job.map``: run shards with retries, merge their forks in a tree.

Shard tasks are submitted all at once; as each finishes, its handle joins the bottom level
of the merge tree, and whenever a level holds ``split_every`` handles a merge task of them
is submitted, whose handle joins the next level when it finishes. At the end the levels
are merged down to one fork, the only one that comes back to the coordinator. Shards that
fail are retried (by Dask itself, or here by resubmitting with a fresh fork) up to
``retries`` times; a shard that fails for good is recorded and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frazil._distributed import merge_sessions
from frazil.jobs._shards import ShardTask, fork_nbytes, load_published, run_shard

if TYPE_CHECKING:
    from collections.abc import Callable

    from frazil._session import ForkSession
    from frazil.jobs._progress import MapProgress
    from frazil.jobs._runners import Runner

__all__ = ["MapOutcome", "describe", "run_map"]


@dataclass(slots=True)
class MapOutcome:
    """What one ``map`` produced."""

    fork: ForkSession | None
    """Every successful shard's (and loaded publication's) fork, merged; None if none."""
    finished: list[str] = field(default_factory=list)
    """Fork names of the shards that ran and were published."""
    failed: dict[str, str] = field(default_factory=dict)
    """Shard key -> error of the last attempt, for shards that failed for good."""
    nbytes: int = 0
    """Chunk bytes written by the shards that ran."""


def describe(error: BaseException) -> str:
    """An error as one line of a job record: its type and message."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    more = " ..." if len(text) > 1 else ""
    return f"{type(error).__name__}: {first}{more}"[:2000]


def _groups[T](items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_map(
    runner: Runner,
    *,
    fn: Callable[[ForkSession, Any], object],
    seed: bytes,
    ticket: str,
    tasks: list[ShardTask],
    load: list[str],
    retries: int,
    split_every: int,
    progress: MapProgress,
    on_finished: Callable[[str], None],
) -> MapOutcome:
    """Run ``tasks``, load the publications ``load``, and merge everything to one fork.

    Raises
    ------
    MergeConflictError
        If two shards wrote different data to one chunk (nothing is merged then).
    """
    outcome = MapOutcome(fork=None)
    shared = runner.share(seed)
    pending: dict[Any, tuple[str, Any]] = {}
    levels: list[list[Any]] = []

    def submit_shard(task: ShardTask) -> Any:
        handle = runner.submit(
            run_shard,
            fn,
            shared,
            task.shard,
            ticket,
            task.name,
            retries=retries if runner.native_retries else 0,
            label=f"shard-{task.name}",
        )
        pending[handle] = ("shard", task)
        return handle

    def submit_merge(handles: list[Any], level: int) -> Any:
        handle = runner.submit(
            merge_sessions,
            *[runner.argument(h) for h in handles],
            retries=retries,
            label="merge-forks",
        )
        pending[handle] = ("merge", level)
        return handle

    def add(handle: Any, level: int) -> None:
        while len(levels) <= level:
            levels.append([])
        levels[level].append(handle)
        if len(levels[level]) >= split_every:
            group, levels[level] = levels[level], []
            submit_merge(group, level + 1)

    try:
        progress.watch([submit_shard(task) for task in tasks])
        for group in _groups(load, split_every):
            handle = runner.submit(
                load_published, shared, ticket, group, retries=retries, label="load-forks"
            )
            pending[handle] = ("load", 0)
        while pending:
            for handle in runner.wait_any(list(pending)):
                what, info = pending.pop(handle)
                error = runner.error(handle)
                if what != "shard":
                    if error is not None:
                        raise error
                    add(handle, int(info))
                    continue
                task: ShardTask = info
                task.attempts += 1
                if error is None:
                    nbytes = 0 if runner.kind == "dask" else fork_nbytes(runner.result(handle))
                    outcome.nbytes += nbytes
                    outcome.finished.append(task.name)
                    on_finished(task.name)
                    progress.advance(nbytes)
                    add(handle, 0)
                elif not runner.native_retries and task.attempts <= retries:
                    submit_shard(task)
                else:
                    outcome.failed[task.key] = describe(error)
                    progress.advance(0, failed=True)
        remaining = [h for level in levels for h in level]
        while len(remaining) > 1:
            merging = [submit_merge(g, 0) for g in _groups(remaining, split_every) if len(g) > 1]
            kept = [g[0] for g in _groups(remaining, split_every) if len(g) == 1]
            for handle in merging:
                while handle in pending:
                    for done in runner.wait_any([handle]):
                        pending.pop(done)
                        error = runner.error(done)
                        if error is not None:
                            raise error
            remaining = merging + kept
        if remaining:
            outcome.fork = runner.result(remaining[0])
    except BaseException:
        runner.cancel(list(pending))
        raise
    return outcome
