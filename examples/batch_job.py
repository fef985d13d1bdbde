"""A batch job through ``frazil.Job``, with workers that are separate ``python`` processes.

This is how a job runs on Slurm array jobs, Kubernetes jobs or serverless functions: no
executor is shared with the coordinator, and workers cannot return Python objects.

1. The coordinator creates the job, prepares the array in the job's session and starts one
   worker process per task with ``subprocess``, passing the repository and the job name.
2. Each worker opens the repository, reads the job's ticket from its record
   (``repo.job(name).ticket``; passing ``job.ticket`` on the command line works too), makes
   a fork from it, writes its rows and publishes the fork under its task key.
3. The coordinator's ``job.wait(keys)`` merges what was published until every task is in,
   and the job commits once. Its record tells who ran it, with which parameters.

    python examples/batch_job.py                          # coordinator (starts the workers)
    python examples/batch_job.py worker REPO JOB TASK-KEY  # one worker (what a batch job runs)
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
COLUMNS = {"small": 16, "medium": 256, "large": 1024}
JOB = "nightly-batch"


def worker(repo_path: str, job_name: str, key: str) -> None:
    repo = frazil.Repository.open(frazil.local_filesystem_storage(repo_path))
    ticket = repo.job(job_name).ticket
    assert ticket is not None, "the coordinator makes the ticket before starting workers"
    fork = repo.fork_from_ticket(ticket)
    task = int(key.removeprefix("task-"))
    results = zarr.open_array(fork.store, path="results")
    results[task] = np.full(results.shape[1], task + 1, dtype="i4")
    fork.publish(ticket, name=key)


def coordinator() -> int:
    columns = COLUMNS[os.environ.get("FRAZIL_EXAMPLE_SIZE", "large")]
    path = os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-batch-job-")
    repo_path = os.path.join(path, "repo")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(repo_path))
    keys = [f"task-{i}" for i in range(TASKS)]
    with frazil.Job.create(repo, JOB, params={"tasks": TASKS, "columns": columns}) as job:
        zarr.create_array(
            job.session.store,
            name="results",
            shape=(TASKS, columns),
            chunks=(1, columns),
            dtype="i4",
            fill_value=0,
        )
        print(f"job {job.name!r}: ticket of {len(job.ticket)} characters; starting {TASKS} workers")
        workers = [
            subprocess.Popen([sys.executable, __file__, "worker", repo_path, JOB, key])
            for key in keys
        ]
        missing = job.wait(keys, timeout=300, poll=0.2)
        failed = [w.args[-1] for w in workers if w.wait() != 0]
        if missing or failed:
            print(f"tasks missing: {missing}, workers failed: {failed}; nothing is committed")
            return 1
        print(f"  published: {job.published()}")
        snapshot = job.commit(f"batch job with {TASKS} tasks")
    values = zarr.open_array(repo.readonly_session("main").store, path="results", mode="r")[:]
    np.testing.assert_array_equal(
        values, np.repeat(np.arange(1, TASKS + 1), columns).reshape(TASKS, columns)
    )
    record = repo.job_for_snapshot(snapshot)
    assert record is not None
    assert record.name == JOB
    print(f"committed {snapshot}, verified; written by job {record.name!r}:")
    print(
        f"  status {record.status}, {record.shards_done}/{record.shards_total} shards, params {record.params}"
    )
    print(f"  started by {record.user} on {record.host} at {record.started_at:%H:%M:%S}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(*sys.argv[2:5])
        sys.exit(0)
    sys.exit(coordinator())
