"""Resume a job whose coordinator died: the work of finished shards is not lost.

1. Start a coordinator process that runs a job of slow shards (each shard's fork is
   published under the job as soon as the shard finishes).
2. Watch the job's record from this process until half of the shards are published, then
   kill the coordinator with SIGKILL.
3. ``frazil.Job.resume`` here: the coordinator session comes back from the job's base and
   its recorded preparation, ``map`` runs only the missing shards (on a process pool this
   time), and the job commits once. The data equals what an uninterrupted run writes.
4. Print the record: it says what happened to the first coordinator.

    python examples/resume_job.py                       # the whole story
    python examples/resume_job.py coordinator REPO RUNS  # the coordinator that gets killed
"""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import zarr

import frazil

SHARDS = {"small": 8, "medium": 16, "large": 32}
COLUMNS = 4096
JOB = "reprocess-2026"


def fill(fork: frazil.ForkSession, shard: int) -> None:
    """One shard: row ``shard``. Each run leaves a file, so the runs can be counted."""
    runs = os.environ["RESUME_EXAMPLE_RUNS"]
    pathlib.Path(runs, f"{shard}.{os.getpid()}").touch()
    time.sleep(float(os.environ.get("RESUME_EXAMPLE_DELAY", "0")))
    rows = zarr.open_array(fork.store, path="rows")
    rows[shard] = np.arange(COLUMNS, dtype="f8") + shard * COLUMNS


def coordinator(repo_path: str, shards: int) -> None:
    """The first coordinator: slow shards, killed before it can commit."""
    repo = frazil.Repository.open(frazil.local_filesystem_storage(repo_path))
    with frazil.Job.create(repo, JOB, params={"shards": shards}) as job:
        zarr.create_array(
            job.session.store,
            name="rows",
            shape=(shards, COLUMNS),
            chunks=(1, COLUMNS),
            dtype="f8",
            fill_value=np.nan,
        )
        job.map(fill, range(shards), progress=False)
        job.commit("never reached")


def main() -> int:
    shards = SHARDS[os.environ.get("FRAZIL_EXAMPLE_SIZE", "large")]
    path = os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-resume-")
    repo_path = os.path.join(path, "repo")
    runs = os.path.join(path, "runs")
    os.makedirs(runs, exist_ok=True)
    os.environ["RESUME_EXAMPLE_RUNS"] = runs
    repo = frazil.Repository.create(frazil.local_filesystem_storage(repo_path))

    first = subprocess.Popen(
        [sys.executable, __file__, "coordinator", repo_path, str(shards)],
        env={**os.environ, "RESUME_EXAMPLE_DELAY": "0.3"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if repo.list_jobs() and repo.job(JOB).shards_done >= shards // 2:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = repo.job(JOB)
    print(
        f"killed the coordinator (pid {first.pid}) with {killed.shards_done}/{shards} shards published"
    )
    print(f"  its record: status {killed.status!r}, last heartbeat {killed.heartbeat_at:%H:%M:%S}")

    done_before = len(os.listdir(runs))
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(max_workers=2, mp_context=context) as pool,
        frazil.Job.resume(repo, JOB, executor=pool) as job,
    ):
        published = len(job.published())  # the record may lag the last publication
        job.map(fill, range(shards), progress=False)
        snapshot = job.commit(f"{shards} rows, resumed")
    resumed_runs = len(os.listdir(runs)) - done_before
    print(f"resumed: ran {resumed_runs} missing shards, merged {published} published ones")

    values = zarr.open_array(repo.readonly_session("main").store, path="rows", mode="r")[:]
    expected = np.arange(shards * COLUMNS, dtype="f8").reshape(shards, COLUMNS)
    np.testing.assert_array_equal(values, expected)
    assert resumed_runs == shards - published, "only the missing shards ran"
    assert len(list(repo.ancestry(branch="main"))) == 2, "one commit"
    record = repo.job(JOB)
    print(f"committed {snapshot}, verified; the job's record ({record.status}):")
    for event in record.events:
        print(f"  {event}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "coordinator":
        coordinator(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
