"""Fork tickets for batch systems (Slurm array jobs, Kubernetes jobs, serverless).

The coordinator creates the array, makes a ticket (a short string) and starts worker
processes with ``subprocess``, passing the ticket on the command line. Workers cannot
return Python objects: each opens the repository, makes a fork from the ticket, writes its
part and publishes the fork to storage. The coordinator fetches every published fork,
merges them and commits.

    python examples/batch_tickets.py                     # coordinator (starts the workers)
    python examples/batch_tickets.py worker REPO TICKET I   # one worker (what batch jobs run)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import zarr

import frazil

TASKS = 6
SIZE = {"small": 16, "medium": 256, "large": 1024}


def worker(repo_path: str, ticket: str, task: int) -> None:
    repo = frazil.Repository.open(frazil.local_filesystem_storage(repo_path))
    fork = repo.fork_from_ticket(ticket)
    array = zarr.open_array(fork.store, path="results")
    array[task] = np.full(array.shape[1], task + 1, dtype="i4")
    fork.publish(ticket, name=f"task-{task}")


def coordinator() -> int:
    size = SIZE[os.environ.get("FRAZIL_EXAMPLE_SIZE", "large")]
    path = os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-batch-")
    repo_path = os.path.join(path, "repo")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(repo_path))
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="results", shape=(TASKS, size), chunks=(1, size), dtype="i4"
    )
    ticket = session.ticket(job="example-job")
    print(f"ticket ({len(ticket)} characters): {ticket}")
    workers = [
        subprocess.Popen([sys.executable, __file__, "worker", repo_path, ticket, str(task)])
        for task in range(TASKS)
    ]
    failed = [w.args for w in workers if w.wait() != 0]
    if failed:
        print(f"workers failed: {failed}; nothing is committed")
        return 1
    forks = repo.fetch_forks(ticket)
    session.merge(*forks)
    snapshot = session.commit(f"batch job with {len(forks)} tasks")
    repo.delete_forks(ticket)
    values = zarr.open_array(repo.readonly_session("main").store, path="results", mode="r")[:]
    np.testing.assert_array_equal(
        values, np.repeat(np.arange(1, TASKS + 1), size).reshape(TASKS, size)
    )
    print(f"committed {snapshot}: {len(forks)} published forks merged, verified")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit(0)
    sys.exit(coordinator())
