"""A coordinator script with ``concurrent.futures.ProcessPoolExecutor`` and fork/merge.

The coordinator creates an array, forks its session once per task, and each worker
process fills its own rows through its fork and sends the fork back. The coordinator merges
the returned forks and commits once: all rows land, or none do.

Size: ``FRAZIL_EXAMPLE_SIZE=small|medium|large``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import zarr

import frazil
from frazil.distributed import merge_sessions

ROWS = {"small": 8, "medium": 64, "large": 256}
COLUMNS = 4096


def fill_rows(fork: frazil.ForkSession, task: int, rows_per_task: int) -> frazil.ForkSession:
    """Runs in a worker process: write this task's rows through the fork, return it."""
    array = zarr.open_array(fork.store, path="grid")
    start = task * rows_per_task
    rows = np.arange(start, start + rows_per_task, dtype="f8")[:, None]
    array[start : start + rows_per_task] = rows * COLUMNS + np.arange(COLUMNS)
    return fork


def main() -> int:
    rows = ROWS[os.environ.get("FRAZIL_EXAMPLE_SIZE", "large")]
    tasks = 8
    path = os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-pool-")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(os.path.join(path, "repo")))
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="grid", shape=(rows, COLUMNS), chunks=(rows // tasks, 1024), dtype="f8"
    )
    forks = [session.fork() for _ in range(tasks)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        written = list(pool.map(fill_rows, forks, range(tasks), [rows // tasks] * tasks))
    session.merge(merge_sessions(*written))
    snapshot = session.commit(f"{tasks} tasks filled {rows} rows")
    values = zarr.open_array(repo.readonly_session("main").store, path="grid", mode="r")[:]
    expected = np.arange(rows * COLUMNS, dtype="f8").reshape(rows, COLUMNS)
    np.testing.assert_array_equal(values, expected)
    print(f"committed {snapshot}: {rows} x {COLUMNS} values from {tasks} worker tasks, verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
