"""Coordinator jobs (frazil.Job): map over shards on real executors, commit once, records,
leases, resume, and every bad input. Crash tests with killed processes are in
test_jobs_faults.py."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import textwrap

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

import frazil
from frazil.format import layout

N = 32
SOURCE = da.arange(N * 64, chunks=64, dtype="f8").reshape(N, 64).rechunk((1, 64))


# ----------------------------------------------------------------------------- helpers
def make_dataset(n=N):
    rng = np.random.default_rng(7)
    return xr.Dataset(
        {
            "temperature": (("time", "y", "x"), rng.standard_normal((n, 4, 6)).astype("f4")),
            "precipitation": (("time", "y", "x"), rng.random((n, 4, 6))),
        },
        coords={
            "time": pd.date_range("2020-01-01", periods=n),
            "y": np.arange(4.0),
            "x": np.arange(6.0),
        },
        attrs={"title": "jobs test"},
    )


def prepare(session, n=N):
    """The coordinator's preparation: the dataset's metadata and coordinates, and an
    array for the Dask source."""
    make_dataset(n).chunk({"time": 1}).to_zarr(session.store, compute=False, consolidated=False)
    zarr.create_array(session.store, name="extras/grid", shape=(n, 64), chunks=(1, 64), dtype="f8")


def write_step(fork, i):
    """One shard: time step ``i`` of the dataset and row ``i`` of the Dask array."""
    step = make_dataset().isel(time=slice(i, i + 1)).drop_vars(["time", "y", "x"])
    step.to_zarr(fork.store, region={"time": slice(i, i + 1)}, consolidated=False)
    zarr.open_array(fork.store, path="extras/grid")[i] = SOURCE.blocks[i].compute(scheduler="sync")


def check_content(repo, *, branch="main", n=N):
    session = repo.readonly_session(branch)
    back = xr.open_zarr(session.store, consolidated=False).load()
    xr.testing.assert_identical(back, make_dataset(n))
    grid = zarr.open_array(session.store, path="extras/grid", mode="r")[:]
    np.testing.assert_array_equal(grid, SOURCE[:n].compute())


def fill_row(fork, i):
    zarr.open_array(fork.store, path="rows")[i] = np.full(8, i + 1, dtype="i4")


def prepare_rows(session, n=8):
    zarr.create_array(
        session.store, name="rows", shape=(n, 8), chunks=(1, 8), dtype="i4", fill_value=0
    )


def read_rows(repo, branch="main"):
    return zarr.open_array(repo.readonly_session(branch).store, path="rows", mode="r")[:]


def expected_rows(n=8):
    return np.repeat(np.arange(1, n + 1, dtype="i4"), 8).reshape(n, 8)


def forks_of(repo, job_id):
    async def listing():
        prefix = layout.fork_prefix(job_id)
        return sorted([i.key.removeprefix(prefix) async for i in repo.storage.list(prefix)])

    return frazil._sync.sync(listing())


def all_keys(repo):
    async def listing():
        return sorted([i.key async for i in repo.storage.list("")])

    return frazil._sync.sync(listing())


class Counter:
    """Counts shard runs across processes: one file per run."""

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def runs(self):
        return sorted(p.name.split(".")[0] for p in self.folder.iterdir())


def counted_fill(folder):
    def fn(fork, i):
        pathlib.Path(folder, f"{i}.{os.getpid()}.{os.urandom(4).hex()}").touch()
        fill_row(fork, i)

    return fn


# ----------------------------------------------------------------------------- LocalCluster
@pytest.mark.dask
@pytest.mark.slow
def test_32_shards_on_a_local_cluster_write_a_dataset_and_a_dask_array(repo, dask_client):
    with frazil.Job.create(
        repo, "era5/2026-12", params={"year": 2026, "shards": N}, executor=dask_client
    ) as job:
        prepare(job.session)
        job.map(write_step, range(N))
        assert len(job.published()) == N
        snapshot = job.commit("32 time steps", metadata={"source": "test"})
    check_content(repo)
    info = repo.lookup_snapshot(snapshot)
    assert info.metadata["source"] == "test"
    assert info.metadata["frazil_job"] == {
        "name": "era5/2026-12",
        "id": job.id,
        "params_digest": job.record.params_digest,
    }
    record = repo.job_for_snapshot(snapshot)
    assert record is not None
    assert (record.name, record.status, record.snapshot_id) == (
        "era5/2026-12",
        "committed",
        snapshot,
    )
    assert (record.shards_total, record.shards_done, record.shards_failed) == (N, N, {})
    assert record.params == {"year": 2026, "shards": N}
    assert record.ended_at is not None
    assert record.ended_at >= record.started_at
    assert forks_of(repo, job.id) == [], "the commit deletes the published forks"
    assert [i.message for i in repo.ancestry(branch="main")] == [
        "32 time steps",
        "Repository initialized",
    ]


@pytest.mark.dask
@pytest.mark.slow
def test_a_captured_writable_store_is_collected_into_the_job(repo, dask_client):
    """fn writing through the coordinator's store (not its fork): the store travels as a
    staging copy, and the job's commit collects what it wrote."""
    with frazil.Job.create(repo, "captured-store", executor=dask_client) as job:
        prepare_rows(job.session)
        zarr.create_array(job.session.store, name="side", shape=(8,), chunks=(1,), dtype="i4")
        store = job.session.store

        def fn(fork, i):
            fill_row(fork, i)
            zarr.open_array(store, path="side")[i] = 100 + i

        job.map(fn, range(8))
        job.commit("with side writes")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    side = zarr.open_array(repo.readonly_session("main").store, path="side", mode="r")[:]
    np.testing.assert_array_equal(side, np.arange(100, 108))


@pytest.mark.dask
@pytest.mark.slow
def test_staged_writes_of_a_failed_run_reach_the_resumed_commit(repo, dask_client):
    with (
        pytest.raises(RuntimeError, match="stop here"),
        frazil.Job.create(repo, "staged-resume", executor=dask_client) as job,
    ):
        prepare_rows(job.session)
        zarr.create_array(job.session.store, name="side", shape=(8,), chunks=(1,), dtype="i4")
        store = job.session.store

        def fn(fork, i):
            fill_row(fork, i)
            zarr.open_array(store, path="side")[i] = 100 + i

        job.map(fn, range(8))
        raise RuntimeError("stop here")
    assert repo.job("staged-resume").status == "failed"
    with frazil.Job.resume(repo, "staged-resume", executor=dask_client) as job:
        job.map(fill_row, range(8))  # every shard is published: nothing runs
        job.commit("resumed")
    side = zarr.open_array(repo.readonly_session("main").store, path="side", mode="r")[:]
    np.testing.assert_array_equal(side, np.arange(100, 108))
    np.testing.assert_array_equal(read_rows(repo), expected_rows())


@pytest.mark.dask
@pytest.mark.slow
def test_a_captured_writable_session_is_refused_before_anything_runs(repo, dask_client):
    with frazil.Job.create(repo, "captured-session", executor=dask_client) as job:
        prepare_rows(job.session)
        session = job.session

        def fn(fork, i):
            zarr.open_array(session.store, path="rows")[i] = i

        with pytest.raises(frazil.SessionStateError, match="fork") as err:
            job.map(fn, range(8))
        assert err.value.kind == frazil.ErrorKind.NOT_PICKLABLE
        assert job.published() == [], "nothing ran"
        job.map(fill_row, range(8))
        job.commit("fine")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())


@pytest.mark.dask
@pytest.mark.slow
def test_failed_shards_on_the_cluster_are_retried_then_reported(repo, dask_client, tmp_path):
    counter = Counter(tmp_path / "runs")
    folder = str(counter.folder)

    def flaky(fork, i):
        pathlib.Path(folder, f"{i}.{os.urandom(4).hex()}").touch()
        if i in (2, 5):
            raise ValueError(f"bad shard {i}")
        fill_row(fork, i)

    job = frazil.Job.create(repo, "flaky", executor=dask_client)
    prepare_rows(job.session)
    with pytest.raises(frazil.ShardsFailedError) as err:
        job.map(flaky, range(8), retries=1)
    assert sorted(err.value.failed) == ["2", "5"]
    assert "ValueError: bad shard 2" in err.value.failed["2"]
    assert counter.runs().count("2") == 2
    assert counter.runs().count("0") == 1
    assert repo.job("flaky").shards_failed == err.value.failed
    assert sorted(job.published()) == ["0", "1", "3", "4", "6", "7"]
    job.map(fill_row, range(8))
    job.commit("fixed")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    assert repo.job("flaky").shards_failed == {}


# ----------------------------------------------------------------------------- other executors
def test_in_process_job_with_two_phases(repo):
    with frazil.Job.create(repo, "phases", params={"rows": 8}) as job:
        prepare_rows(job.session)
        job.map(fill_row, range(4))
        zarr.create_array(job.session.store, name="more", shape=(4,), chunks=(1,), dtype="i4")

        def fill_more(fork, i):
            fill_row(fork, i)
            zarr.open_array(fork.store, path="more")[i - 4] = i

        job.map(fill_more, range(4, 8))
        assert repo.job("phases").shards_total == 8
        job.commit("two phases")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    more = zarr.open_array(repo.readonly_session("main").store, path="more", mode="r")[:]
    np.testing.assert_array_equal(more, [4, 5, 6, 7])
    assert len(list(repo.ancestry(branch="main"))) == 2


@pytest.mark.slow
def test_process_pool_executor(repo):
    context = multiprocessing.get_context("spawn")
    with (
        concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool,
        frazil.Job.create(repo, "pool", executor=pool) as job,
    ):
        prepare_rows(job.session)
        job.map(fill_row, range(8), split_every=3)
        job.commit("pool")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    assert repo.job("pool").shards_done == 8


def test_thread_pool_executor_and_keys(repo):
    shards = [(i, "row") for i in range(8)]

    def fn(fork, shard):
        fill_row(fork, shard[0])

    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool,
        frazil.Job.create(repo, "threads", executor=pool) as job,
    ):
        prepare_rows(job.session)
        job.map(fn, shards)
        published = job.published()
        assert published == sorted(str(s) for s in shards), "keys are str(shard)"
        names = [job.fork_name(str(s)) for s in shards]
        assert forks_of(repo, job.id) == sorted([*names, "_parent"])
        for (i, _), name in zip(shards, names, strict=True):
            assert name.startswith(f"{i}-row-")
            assert len(name) == len(f"{i}-row-") + 16
        job.commit("threads")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())


def test_key_function_names_the_shards(repo):
    with frazil.Job.create(repo, "keyed") as job:
        prepare_rows(job.session)
        job.map(fill_row, range(8), key=lambda i: f"row-{i:03d}")
        assert job.published() == [f"row-{i:03d}" for i in range(8)]
        job.commit("keyed")


WORKER = textwrap.dedent(
    """
    import os, sys, tempfile, numpy as np, zarr, frazil
    kind, where, ticket, key = sys.argv[1:5]
    os.chdir(tempfile.mkdtemp(prefix="frazil-worker-"))  # nothing shared but the repository
    if kind == "s3":
        endpoint, prefix = where.split("|")
        storage = frazil.s3_storage(bucket="frazil-tests", prefix=prefix, region="us-east-1",
            endpoint_url=endpoint, allow_http=True, access_key_id="testing",
            secret_access_key="testing")
    else:
        storage = frazil.local_filesystem_storage(where)
    repo = frazil.Repository.open(storage)
    fork = repo.fork_from_ticket(ticket)
    i = int(key.split("-")[1])
    zarr.open_array(fork.store, path="rows")[i] = np.full(8, i + 1, dtype="i4")
    print(fork.publish(ticket, name=key))
    """
)


def run_workers(kind, where, ticket, keys):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, kind, where, ticket, key],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in keys
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    return procs


@pytest.mark.slow
def test_external_subprocess_workers_through_the_ticket(repo, tmp_path):
    keys = [f"task-{i}" for i in range(8)]
    with frazil.Job.create(repo, "batch") as job:
        prepare_rows(job.session)
        ticket = job.ticket
        assert ticket == job.ticket, "the same preparation gives the same ticket"
        assert job.wait(keys[:1], timeout=0) == ["task-0"], "nothing published yet"
        assert repo.job("batch").ticket == job.ticket, "workers can read it from the record"
        run_workers("local", str(tmp_path / "repo"), job.ticket, keys[:5])
        assert job.published() == keys[:5]
        assert job.wait(keys, timeout=0.2, poll=0.05) == keys[5:]
        assert repo.job("batch").shards_done == 5
        run_workers("local", str(tmp_path / "repo"), job.ticket, keys[3:])  # 3, 4 again
        assert job.wait(keys, timeout=30, poll=0.1) == []
        job.commit("batch")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    assert repo.job("batch").shards_done == 8


def _chdir_to_own_temp():
    os.chdir(tempfile.mkdtemp(prefix="frazil-pool-worker-"))


def fill_row_elsewhere(fork, i):
    assert fork.store.session is fork
    assert isinstance(frazil._session.state_of(fork).ctx.io.raw_storage, frazil.storage.S3Storage)
    fill_row(fork, i)


@pytest.mark.s3
@pytest.mark.slow
def test_repository_on_s3_with_workers_in_their_own_temp_dirs(moto_s3):
    prefix = "jobs-" + frazil.format.new_id().lower()
    repo = frazil.Repository.create(moto_s3.storage(prefix))
    context = multiprocessing.get_context("spawn")
    with (
        concurrent.futures.ProcessPoolExecutor(
            max_workers=2, mp_context=context, initializer=_chdir_to_own_temp
        ) as pool,
        frazil.Job.create(repo, "s3-pool", params={"where": "s3"}, executor=pool) as job,
    ):
        prepare_rows(job.session)
        job.map(fill_row_elsewhere, range(8))
        snapshot = job.commit("on s3")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    other = frazil.Repository.open(moto_s3.storage(prefix))
    assert other.job_for_snapshot(snapshot).name == "s3-pool", "visible on every storage"

    keys = [f"task-{i}" for i in range(8)]
    with frazil.Job.create(repo, "s3-batch", branch="main") as job:
        run_workers("s3", f"{moto_s3.endpoint}|{prefix}", job.ticket, keys)
        assert job.wait(keys, timeout=60) == []
        job.commit("on s3 again")
    assert [r.name for r in other.list_jobs(status="committed")] == ["s3-pool", "s3-batch"]


# ----------------------------------------------------------------------------- lifecycle
def test_a_job_commits_once(repo):
    job = frazil.Job.create(repo, "once")
    prepare_rows(job.session)
    job.map(fill_row, range(8))
    job.commit("once")
    with pytest.raises(frazil.SessionStateError, match="runs once") as err:
        job.commit("twice")
    assert err.value.kind == frazil.ErrorKind.JOB_FINISHED
    with pytest.raises(frazil.SessionStateError, match="runs once"):
        job.map(fill_row, range(8))
    with pytest.raises(frazil.SessionStateError, match="runs once"):
        frazil.Job.resume(repo, "once")
    with pytest.raises(frazil.AlreadyExistsError, match="another name") as err:
        frazil.Job.create(repo, "once")
    assert err.value.kind == frazil.ErrorKind.JOB_ALREADY_EXISTS


def test_leaving_by_an_exception_marks_the_job_failed_and_discards(repo):
    tip = repo.lookup_branch("main")
    with pytest.raises(KeyError, match="boom"), frazil.Job.create(repo, "boom") as job:
        prepare_rows(job.session)
        job.map(fill_row, range(4))
        raise KeyError("boom")
    assert not job.session.has_uncommitted_changes
    assert repo.lookup_branch("main") == tip, "nothing committed"
    record = repo.job("boom")
    assert (record.status, record.shards_done) == ("failed", 4)
    assert record.error == "KeyError: 'boom'"
    assert "failed: KeyError" in record.events[-1]
    assert record.ended_at is not None
    with pytest.raises(frazil.SessionStateError, match="resume"):
        job.map(fill_row, range(4))
    with pytest.raises(frazil.AlreadyExistsError, match="resume"):
        frazil.Job.create(repo, "boom")


def test_resume_after_a_failure_runs_only_the_missing_shards(repo, tmp_path):
    counter = Counter(tmp_path / "runs")
    fn = counted_fill(counter.folder)
    with pytest.raises(RuntimeError), frazil.Job.create(repo, "again", params={"n": 8}) as job:
        prepare_rows(job.session)
        job.map(fn, range(5))
        raise RuntimeError("coordinator gave up")
    assert counter.runs() == [str(i) for i in range(5)]
    with frazil.Job.resume(repo, "again") as job:
        assert job.session.has_uncommitted_changes, "the preparation is restored"
        job.map(fn, range(8))
        job.commit("resumed")
    assert sorted(counter.runs()) == sorted([str(i) for i in range(5)] + ["5", "6", "7"])
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    record = repo.job("again")
    assert record.status == "committed"
    assert record.params == {"n": 8}
    assert any("resumed by" in e and "status failed" in e for e in record.events)
    assert len(list(repo.ancestry(branch="main"))) == 2


def abandon(repo, name, shards=(), *, cleanup=None):
    """Run a job that ends without a commit (inside pytest.warns)."""
    with frazil.Job.create(repo, name) as job:
        prepare_rows(job.session)
        job.map(fill_row, shards)
        if cleanup is not None:
            cleanup.append(job.cleanup())
            cleanup.append(job.published())
    return job


def test_leaving_without_a_commit_abandons_with_a_warning(repo):
    with pytest.warns(RuntimeWarning, match="abandoned"):
        job = abandon(repo, "idle", range(3))
    record = repo.job("idle")
    assert record.status == "abandoned"
    assert record.lease_holder is None
    assert job.published() == ["0", "1", "2"], "published shards stay"
    with frazil.Job.resume(repo, "idle") as job:  # no lease: no force needed
        job.map(fill_row, range(8))
        job.commit("picked up")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())


def test_cleanup_deletes_the_published_forks(repo):
    seen = []
    with pytest.warns(RuntimeWarning):
        abandon(repo, "tidy", range(3), cleanup=seen)
    assert seen == [4, []], "three forks and the preparation"


def test_one_coordinator_at_a_time(repo):
    first = frazil.Job.create(repo, "single")
    prepare_rows(first.session)
    first.map(fill_row, range(4))
    with pytest.raises(frazil.AlreadyExistsError, match="running") as err:
        frazil.Job.create(repo, "single")
    assert err.value.kind == frazil.ErrorKind.JOB_ALREADY_EXISTS
    with pytest.raises(frazil.ConflictError, match="force=True") as err:
        frazil.Job.resume(repo, "single")
    assert err.value.kind == frazil.ErrorKind.JOB_RUNNING
    second = frazil.Job.resume(repo, "single", force=True)
    assert "with force=True" in repo.job("single").events[-1]
    with pytest.raises(frazil.ConflictError) as err:
        first.commit("the old coordinator")
    assert err.value.kind == frazil.ErrorKind.JOB_LEASE_LOST
    with pytest.raises(frazil.ConflictError):
        first.map(fill_row, range(4))
    second.map(fill_row, range(8))
    second.commit("the new coordinator")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    first.__exit__(None, None, None)  # the old one ends quietly, changing no record
    assert repo.job("single").status == "committed"


def test_the_heartbeat_keeps_the_record_fresh(repo, monkeypatch):
    monkeypatch.setattr(frazil.Job, "heartbeat_seconds", 0.05)
    job = frazil.Job.create(repo, "beating")
    first = repo.job("beating").heartbeat_at
    import time

    deadline = time.monotonic() + 10
    while repo.job("beating").heartbeat_at == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert repo.job("beating").heartbeat_at > first
    with pytest.warns(RuntimeWarning):
        job.__exit__(None, None, None)
    ended = repo.job("beating").heartbeat_at
    time.sleep(0.2)
    assert repo.job("beating").heartbeat_at == ended, "the heartbeat stops with the job"


def test_a_moved_branch_needs_a_solver_and_the_job_stays_resumable(repo):
    setup = repo.writable_session("main")
    zarr.open_group(setup.store, mode="w")
    setup.commit("root group")
    with pytest.raises(frazil.ConflictError), frazil.Job.create(repo, "moved") as job:
        prepare_rows(job.session)
        job.map(fill_row, range(8))
        other = repo.writable_session("main")
        zarr.create_array(other.store, name="other", shape=(2,), dtype="i4", fill_value=7)
        other.commit("someone else")
        job.commit("needs a rebase")
    record = repo.job("moved")
    assert record.status == "failed"
    assert "ConflictError" in record.error
    with frazil.Job.resume(repo, "moved") as job:
        job.map(fill_row, range(8))  # all published: merged, not run
        snapshot = job.commit("rebased", rebase_with=frazil.BasicConflictSolver())
    np.testing.assert_array_equal(read_rows(repo), expected_rows())
    other = zarr.open_array(repo.readonly_session("main").store, path="other", mode="r")[:]
    np.testing.assert_array_equal(other, [7, 7])
    assert repo.job_for_snapshot(snapshot).name == "moved"
    assert [i.message for i in repo.ancestry(branch="main")][:3] == [
        "rebased",
        "someone else",
        "root group",
    ]


def test_records_list_and_answer_which_job_wrote_a_snapshot(repo):
    for name in ("a", "b"):
        with frazil.Job.create(repo, name, params={"name": name}) as job:
            zarr.create_array(job.session.store, name=name, shape=(1,), dtype="i4")
            job.commit(f"job {name}")
    with pytest.warns(RuntimeWarning), frazil.Job.create(repo, "c"):
        pass
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="manual", shape=(1,), dtype="i4")
    manual = session.commit("by hand")
    assert [r.name for r in repo.list_jobs()] == ["a", "b", "c"]
    assert [r.name for r in repo.list_jobs(status="committed")] == ["a", "b"]
    assert [r.name for r in repo.list_jobs(status="abandoned")] == ["c"]
    assert repo.list_jobs(status="running") == []
    assert repo.job_for_snapshot(manual) is None
    by_b = repo.job_for_snapshot(repo.job("b").snapshot_id)
    assert by_b.params == {"name": "b"}
    assert by_b.to_dict()["status"] == "committed"
    assert by_b.frazil_version == frazil.__version__
    assert by_b.user
    assert by_b.host
    assert by_b.pid == os.getpid()
    with pytest.raises(frazil.NotFoundError, match="'a', 'b', 'c'") as err:
        repo.job("zzz")
    assert err.value.kind == frazil.ErrorKind.JOB_NOT_FOUND
    with pytest.raises(frazil.InvalidInputError, match="status"):
        repo.list_jobs(status="done")
    reopened = frazil.Repository.open(repo.storage)
    assert reopened.job("a") == repo.job("a")


def test_git_commit_of_the_working_directory(repo, tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    tree.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True, env=env)
    subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=tree, check=True, env=env
    )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(tree)
    with pytest.warns(RuntimeWarning), frazil.Job.create(repo, "in-git") as job:
        assert job.record.git_commit == head
    monkeypatch.chdir(tmp_path)
    with pytest.warns(RuntimeWarning), frazil.Job.create(repo, "no-git") as job:
        assert job.record.git_commit is None


# ----------------------------------------------------------------------------- progress
def test_progress_is_silent_when_piped_and_shown_on_request(repo, capfd):
    with frazil.Job.create(repo, "quiet") as job:
        prepare_rows(job.session)
        job.map(fill_row, range(4))
        assert capfd.readouterr().err == ""
        job.map(fill_row, range(4, 8), progress=True)
        shown = capfd.readouterr().err
        assert "job quiet" in shown
        assert "4/4" in shown, "the shards of this map"
        assert "MB" in shown
        job.map(fill_row, range(8), progress=False)
        assert capfd.readouterr().err == ""
        job.commit("rows")


PTY_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, zarr, frazil
    repo = frazil.Repository.create(frazil.local_filesystem_storage(sys.argv[1]))
    def fill(fork, i):
        zarr.open_array(fork.store, path="rows")[i] = np.full(8, i, dtype="i4")
    with frazil.Job.create(repo, "tty") as job:
        zarr.create_array(job.session.store, name="rows", shape=(6, 8), chunks=(1, 8), dtype="i4")
        job.map(fill, range(6))
        job.commit("rows")
    """
)


@pytest.mark.slow
def test_progress_is_shown_on_a_terminal(tmp_path):
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", PTY_SCRIPT, str(tmp_path / "repo")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120"},
    )
    os.close(follower)
    output = b""
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        output += data
    assert proc.wait(timeout=120) == 0, output
    text = output.decode(errors="replace")
    assert "job tty" in text
    assert "6/6" in text
    assert "shards" in text


# ----------------------------------------------------------------------------- bad input
def test_bad_names_params_and_executors_write_nothing(repo):
    before = all_keys(repo)
    with pytest.raises(frazil.InvalidInputError, match="names are 1-200 characters") as err:
        frazil.Job.create(repo, "bad name!")
    assert err.value.kind == frazil.ErrorKind.INVALID_REF_NAME
    for name in ("", "/x", "x/", "a//b", ".x", "x.lock", "a b", 7):
        with pytest.raises(frazil.InvalidInputError):
            frazil.Job.create(repo, name)
    with pytest.raises(frazil.InvalidInputError, match="JSON"):
        frazil.Job.create(repo, "p", params={"when": object()})
    with pytest.raises(frazil.InvalidInputError, match="JSON"):
        frazil.Job.create(repo, "p", params={"x": float("nan")})
    with pytest.raises(frazil.InvalidInputError, match="dict"):
        frazil.Job.create(repo, "p", params=[1, 2])
    with pytest.raises(frazil.InvalidInputError, match="executor"):
        frazil.Job.create(repo, "p", executor="dask")
    with pytest.raises(frazil.InvalidInputError, match="Repository"):
        frazil.Job.create("not a repo", "p")
    with pytest.raises(frazil.RefNotFoundError):
        frazil.Job.create(repo, "p", branch="nope")
    with pytest.raises(frazil.ReadOnlyError):
        frazil.Job.create(repo.as_read_only("archived"), "p")
    with pytest.raises(frazil.NotFoundError, match="no job named"):
        frazil.Job.resume(repo, "p")
    with pytest.raises(frazil.InvalidInputError, match="force"):
        frazil.Job.resume(repo, "p", force="yes")
    assert repo.list_jobs() == []
    assert all_keys(repo) == before


def test_bad_map_arguments_run_nothing(repo):
    with frazil.Job.create(repo, "args") as job:
        prepare_rows(job.session)
        with pytest.raises(frazil.InvalidInputError, match="same key"):
            job.map(fill_row, [1, 2, 1])
        with pytest.raises(frazil.InvalidInputError, match="non-empty strings"):
            job.map(fill_row, range(3), key=lambda i: i)
        with pytest.raises(frazil.InvalidInputError, match="iterable"):
            job.map(fill_row, 5)
        with pytest.raises(frazil.InvalidInputError, match="retries"):
            job.map(fill_row, range(3), retries=-1)
        with pytest.raises(frazil.InvalidInputError, match="split_every"):
            job.map(fill_row, range(3), split_every=1)
        with pytest.raises(frazil.InvalidInputError, match="progress"):
            job.map(fill_row, range(3), progress="yes")
        with pytest.raises(frazil.InvalidInputError, match="fn"):
            job.map("fill_row", range(3))
        with pytest.raises(frazil.InvalidInputError, match="frazil_job"):
            job.commit("x", metadata={"frazil_job": 1})
        with pytest.raises(frazil.InvalidInputError, match="timeout"):
            job.wait(["a"], timeout=-1)
        assert job.published() == []
        job.map(fill_row, range(8))
        job.commit("ok")


def test_unpicklable_shards_and_functions_fail_before_anything_runs(repo):
    context = multiprocessing.get_context("spawn")
    with (
        concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
        frazil.Job.create(repo, "pickles", executor=pool) as job,
    ):
        prepare_rows(job.session)
        with pytest.raises(frazil.InvalidInputError, match="shard '2' cannot be pickled") as err:
            job.map(fill_row, [0, 1, (lambda: 2)], key=lambda s: "2" if callable(s) else str(s))
        assert err.value.kind == frazil.ErrorKind.NOT_PICKLABLE
        with pytest.raises(frazil.InvalidInputError, match="module level"):
            job.map(lambda fork, i: fill_row(fork, i), range(3))
        assert job.published() == [], "nothing ran"
        with pytest.raises(frazil.SessionStateError, match="cannot be pickled"):
            pickle.dumps(job)
        job.map(fill_row, range(8))
        job.commit("picklable after all")


def test_writes_through_the_coordinator_session_in_process_are_an_error(repo):
    with (
        pytest.raises(frazil.SessionStateError, match="instead of the fork") as err,
        frazil.Job.create(repo, "outside") as job,
    ):
        prepare_rows(job.session)
        store = job.session.store

        def fn(fork, i):
            zarr.open_array(store, path="rows")[i] = 1  # the coordinator's store, not fork's

        job.map(fn, range(2))
    assert err.value.kind == frazil.ErrorKind.UNSAFE_REMOTE_WRITE
    assert repo.job("outside").status == "failed"
    assert len(list(repo.ancestry(branch="main"))) == 1


def test_a_failing_shard_in_process_is_retried_and_the_others_finish(repo, tmp_path):
    counter = Counter(tmp_path / "runs")
    folder = str(counter.folder)

    def fn(fork, i):
        pathlib.Path(folder, f"{i}.{os.urandom(4).hex()}").touch()
        if i == 3:
            raise OSError("disk on fire")
        fill_row(fork, i)

    with frazil.Job.create(repo, "retry") as job:
        prepare_rows(job.session)
        with pytest.raises(frazil.ShardsFailedError, match="3 attempts") as err:
            job.map(fn, range(8))
        assert err.value.failed == {"3": "OSError: disk on fire"}
        assert err.value.job == "retry"
        assert counter.runs().count("3") == 3, "retries=2: three attempts"
        assert counter.runs().count("7") == 1, "the others finished"
        with pytest.raises(frazil.SessionStateError, match="failed"):
            job.commit("not yet")
        copy = pickle.loads(pickle.dumps(err.value))
        assert (copy.failed, copy.job, copy.kind) == (err.value.failed, "retry", err.value.kind)
        job.map(fill_row, range(8), retries=0)
        assert counter.runs().count("7") == 1, "only the failed shard ran again"
        job.commit("all")
    np.testing.assert_array_equal(read_rows(repo), expected_rows())


def test_conflicting_shards_are_a_merge_conflict(repo):
    def same_chunk(fork, i):
        zarr.open_array(fork.store, path="rows")[0] = i

    with pytest.raises(frazil.MergeConflictError), frazil.Job.create(repo, "clash") as job:
        prepare_rows(job.session)
        job.map(same_chunk, range(3))
    assert repo.job("clash").status == "failed"
