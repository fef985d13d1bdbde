"""Coordinator jobs under faults, with real processes: a coordinator killed with SIGKILL
and resumed in a new process, a worker process killed mid-shard, two processes resuming at
once, a live coordinator taken over, a coordinator that died right after its commit, and
lost storage responses."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import zarr

import frazil
from frazil.testing import FaultSettings, FaultyStorage

pytestmark = pytest.mark.slow

ROWS = 12

SCRIPT = textwrap.dedent(
    """
    import json, os, pathlib, signal, sys, time
    import numpy as np, zarr, frazil

    mode, repo_path, name, count_dir = sys.argv[1:5]
    slow_from = int(sys.argv[5]) if len(sys.argv) > 5 else 10**9
    ROWS = 12

    class DieAfterCommit(frazil.storage.WrapperStorage):
        # the process dies at the first record write after the branch moved: the commit
        # landed, the record does not say so
        moved = False

        async def put(self, key, data, *, mode="overwrite"):
            if self.moved and key.startswith("jobs/"):
                os.kill(os.getpid(), signal.SIGKILL)
            version = await super().put(key, data, mode=mode)
            if key == "refs/branch.main" and mode != "create":
                DieAfterCommit.moved = True
            return version

        def describe(self):
            return "die-after-commit"

    storage = frazil.local_filesystem_storage(repo_path)
    if mode == "die-after-commit":
        storage = DieAfterCommit(storage)
    repo = frazil.Repository.open(storage)

    def fill(fork, i):
        pathlib.Path(count_dir, f"{i}.{os.getpid()}.{os.urandom(4).hex()}").touch()
        if i >= slow_from:
            time.sleep(float(os.environ.get("SHARD_SLEEP", "60")))
        rows = zarr.open_array(fork.store, path="rows")
        rows[i] = np.arange(8, dtype="f8") + 10 * i

    def prepare(session):
        zarr.create_array(session.store, name="rows", shape=(ROWS, 8), chunks=(1, 8),
                          dtype="f8", fill_value=-1.0)

    out = {"pid": os.getpid()}
    try:
        if mode == "resume":
            go = pathlib.Path(count_dir).parent / "go"
            while len(sys.argv) > 6 and not go.exists():
                time.sleep(0.005)
            job = frazil.Job.resume(repo, name)
            out["won"] = True
            print(json.dumps(out), flush=True)
        else:
            job = frazil.Job.create(repo, name, params={"rows": ROWS})
            prepare(job.session)
        with job:
            job.map(fill, range(ROWS))
            out["snapshot"] = job.commit(f"{ROWS} rows")
    except frazil.FrazilError as exc:
        out.update(error=type(exc).__name__, kind=str(exc.kind), message=exc.message)
    print(json.dumps(out), flush=True)
    """
)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "coordinator.py"
    path.write_text(SCRIPT)
    return path


def start(script, mode, repo_path, name, count_dir, *extra, env=None):
    count_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(repo_path), name, str(count_dir), *map(str, extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(proc, timeout=180):
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return proc.returncode, lines, err


def runs(count_dir, pid=None):
    found = [p.name.split(".") for p in pathlib.Path(count_dir).iterdir()]
    return sorted(int(i) for i, who, _ in found if pid is None or int(who) == pid)


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def uninterrupted(tmp_path, script):
    """The same job run start to end in a fresh repository: what a resumed job must equal."""
    path = tmp_path / "reference"
    frazil.Repository.create(frazil.local_filesystem_storage(path))
    code, lines, err = finish(start(script, "run", path, "reference", tmp_path / "ref-runs"))
    assert code == 0, err
    assert "snapshot" in lines[-1], lines
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    return read(repo)


def read(repo):
    return zarr.open_array(repo.readonly_session("main").store, path="rows", mode="r")[:]


def new_repo(tmp_path):
    path = tmp_path / "repo"
    return path, frazil.Repository.create(frazil.local_filesystem_storage(path))


def test_sigkilled_coordinator_is_resumed_in_a_new_process(tmp_path, script):
    path, repo = new_repo(tmp_path)
    first = start(script, "run", path, "killed", tmp_path / "runs", 4)
    wait_for(lambda: repo.list_jobs() and repo.job("killed").shards_done >= 4)
    running = repo.job("killed")
    assert running.status == "running", "a running job's progress is visible elsewhere"
    assert running.pid == first.pid
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)  # reaps it and closes its pipes
    killed = repo.job("killed")
    assert (killed.status, killed.shards_done, killed.pid) == ("running", 4, first.pid)
    assert killed.shards_total == ROWS
    assert runs(tmp_path / "runs", first.pid) == [0, 1, 2, 3, 4], "shard 4 was running"

    # a new process resumes at once: the dead coordinator (same host) holds no lease
    code, lines, err = finish(start(script, "resume", path, "killed", tmp_path / "runs"))
    assert code == 0, err
    result = lines[-1]
    assert "snapshot" in result, result
    assert runs(tmp_path / "runs", result["pid"]) == list(range(4, ROWS)), "only the missing"

    np.testing.assert_array_equal(read(repo), uninterrupted(tmp_path, script))
    history = list(repo.ancestry(branch="main"))
    assert [i.message for i in history] == [f"{ROWS} rows", "Repository initialized"]
    record = repo.job("killed")
    assert (record.status, record.snapshot_id, record.pid) == (
        "committed",
        result["snapshot"],
        result["pid"],
    )
    resumed = [e for e in record.events if "resumed by" in e]
    assert len(resumed) == 1
    assert f"previous coordinator (pid {first.pid}" in resumed[0]
    assert "status running, 4 of 12 shards published" in resumed[0]


def test_two_processes_resuming_at_once_one_proceeds(tmp_path, script):
    path, repo = new_repo(tmp_path)
    first = start(script, "run", path, "contested", tmp_path / "runs", 3)
    wait_for(lambda: repo.list_jobs() and repo.job("contested").shards_done >= 3)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)  # reaps it and closes its pipes
    env = {"SHARD_SLEEP": "0.2"}
    racers = [
        start(script, "resume", path, "contested", tmp_path / "runs", 3, "race", env=env)
        for _ in range(2)
    ]
    time.sleep(1.0)  # both are up and polling for the start signal
    (tmp_path / "go").touch()
    results = [finish(p) for p in racers]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    winners = [lines for _, lines, _ in results if lines[0].get("won")]
    losers = [lines for _, lines, _ in results if not lines[0].get("won")]
    assert len(winners) == 1, results
    assert len(losers) == 1, results
    loser = losers[0][-1]
    assert (loser["error"], loser["kind"]) == ("ConflictError", "job-running"), loser
    assert runs(tmp_path / "runs", loser["pid"]) == [], "the loser ran nothing"
    assert runs(tmp_path / "runs", winners[0][-1]["pid"]) == list(range(3, ROWS))
    assert len(list(repo.ancestry(branch="main"))) == 2, "one commit"
    np.testing.assert_array_equal(read(repo), uninterrupted(tmp_path, script))


def test_a_live_coordinator_keeps_its_job_until_forced(tmp_path, script):
    path, repo = new_repo(tmp_path)
    live = start(script, "run", path, "live", tmp_path / "runs", 2, env={"SHARD_SLEEP": "4"})
    wait_for(lambda: repo.list_jobs() and repo.job("live").shards_done >= 2)
    with pytest.raises(frazil.ConflictError, match="force=True") as err:
        frazil.Job.resume(repo, "live")
    assert err.value.kind == frazil.ErrorKind.JOB_RUNNING
    job = frazil.Job.resume(repo, "live", force=True)
    with job:
        zarr.open_array(job.session.store, path="rows")  # the preparation came back
        job.map(_fill, range(ROWS))
        job.commit("taken over")
    code, lines, err = finish(live)
    assert code == 0, err
    old = lines[-1]
    assert (old["error"], old["kind"]) == ("ConflictError", "job-lease-lost"), old
    history = [i.message for i in repo.ancestry(branch="main")]
    assert history == ["taken over", "Repository initialized"], "the old one never committed"
    expected = np.arange(8, dtype="f8") + 10 * np.arange(ROWS)[:, None]
    np.testing.assert_array_equal(read(repo), expected)


def _fill(fork, i):
    zarr.open_array(fork.store, path="rows")[i] = np.arange(8, dtype="f8") + 10 * i


def test_a_coordinator_dead_after_its_commit_is_not_committed_twice(tmp_path, script):
    path, repo = new_repo(tmp_path)
    proc = start(script, "die-after-commit", path, "late", tmp_path / "runs")
    proc.communicate(timeout=180)
    assert proc.returncode == -signal.SIGKILL
    snapshot = repo.lookup_branch("main")
    assert repo.job("late").status == "running", "the record never heard of the commit"
    assert repo.job_for_snapshot(snapshot).name == "late", "the commit names the job"
    with pytest.raises(frazil.SessionStateError, match="already committed") as err:
        frazil.Job.resume(repo, "late")
    assert err.value.kind == frazil.ErrorKind.JOB_FINISHED
    record = repo.job("late")
    assert (record.status, record.snapshot_id) == ("committed", snapshot)
    assert len(list(repo.ancestry(branch="main"))) == 2, "committed once"


# ----------------------------------------------------------------------------- workers
def _die_once(fork, i, marker):
    zarr.open_array(fork.store, path="rows")[i] = np.arange(8, dtype="f8") + 10 * i
    if i == 5 and not os.path.exists(marker):
        pathlib.Path(marker).write_text("died")
        os._exit(1)  # the worker process dies mid-shard, after writing its chunk


@pytest.mark.dask
def test_a_worker_killed_mid_shard_is_retried_without_duplicates(tmp_path, dask_client):
    _, repo = new_repo(tmp_path)
    marker = str(tmp_path / "died")
    with frazil.Job.create(repo, "worker-dies", executor=dask_client) as job:
        zarr.create_array(
            job.session.store, name="rows", shape=(ROWS, 8), chunks=(1, 8), dtype="f8"
        )
        job.map(lambda fork, i: _die_once(fork, i, marker), range(ROWS))
        snapshot = job.commit("survived")
    assert pathlib.Path(marker).exists(), "a worker really died"
    expected = np.arange(8, dtype="f8") + 10 * np.arange(ROWS)[:, None]
    np.testing.assert_array_equal(read(repo), expected)
    session = repo.readonly_session(snapshot_id=snapshot)

    async def coordinates():
        return [c async for c in session.chunk_coordinates("/rows")]

    found = frazil._sync.sync(coordinates())
    assert sorted(found) == [(i, 0) for i in range(ROWS)], "each chunk once"
    record = repo.job("worker-dies")
    assert (record.shards_done, record.shards_failed) == (ROWS, {})


def test_lost_responses_of_record_writes_are_no_takeover(tmp_path):
    storage = FaultyStorage(
        frazil.local_filesystem_storage(tmp_path / "repo"),
        FaultSettings(lost_response_rate=0.3, seed=5),
    )
    repo = frazil.Repository.create(storage)
    with frazil.Job.create(repo, "flaky-storage") as job:
        zarr.create_array(
            job.session.store, name="rows", shape=(ROWS, 8), chunks=(1, 8), dtype="f8"
        )
        job.map(_fill, range(ROWS))
        job.commit("despite lost responses")
    assert storage.injected["lost"] > 0
    record = repo.job("flaky-storage")
    assert (record.status, record.shards_done) == ("committed", ROWS)
    expected = np.arange(8, dtype="f8") + 10 * np.arange(ROWS)[:, None]
    np.testing.assert_array_equal(read(repo), expected)
