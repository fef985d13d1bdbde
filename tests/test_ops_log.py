"""The operations log: one entry per ref change, none lost under concurrent writers."""

from __future__ import annotations

import datetime
import multiprocessing
import pickle
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

import frazil
from frazil.storage import WrapperStorage

if TYPE_CHECKING:
    from pathlib import Path

U = frazil.UpdateType


def commit_one(repo: frazil.Repository, value: int, branch: str = "main") -> str:
    session = repo.writable_session(branch)
    zarr.open_array(session.store, path="x")[:] = value
    return session.commit(f"value {value}")


def test_every_kind_of_ref_change_is_recorded_newest_first(repo: frazil.Repository) -> None:
    initial = repo.lookup_branch("main")
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(4,), chunks=(2,), dtype="i4")
    first = session.commit("create x")
    second = commit_one(repo, 2)
    repo.create_branch("dev", first)
    repo.create_tag("v1", second)
    repo.reset_branch("dev", second)
    repo.delete_branch("dev")
    repo.delete_tag("v1")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x")[:] = 3
    amended = session.amend("value 3 instead")
    repo.save_config()
    gc = repo.garbage_collect(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1))

    log = list(repo.ops_log())
    got = [(type(u.kind), u.name, u.previous_snap_id, u.new_snap_id) for u in log]
    assert got == [
        (U.GCRan, None, None, None),
        (U.ConfigChanged, None, None, None),
        (U.CommitAmended, "main", second, amended),
        (U.TagDeleted, "v1", second, None),
        (U.BranchDeleted, "dev", second, None),
        (U.BranchReset, "dev", first, second),
        (U.TagCreated, "v1", None, second),
        (U.BranchCreated, "dev", None, first),
        (U.NewCommit, "main", first, second),
        (U.NewCommit, "main", initial, first),
        (U.RepoInitialized, "main", None, initial),
    ]
    times = [u.updated_at for u in log]
    assert times == sorted(times, reverse=True)
    assert log[0].details["bytes_deleted"] == gc.bytes_deleted
    assert log[2].branch == "main"
    assert log[3].branch is None
    assert all(u.job is None for u in log)
    assert log[-1].to_dict()["kind"] == "repo_initialized"
    # Icechunk's shape: the kind is a variant carrying the ref and snapshots
    assert isinstance(log[2].kind, U.CommitAmended)
    assert log[2].kind.branch == "main"
    assert (log[2].kind.previous_snap_id, log[2].kind.new_snap_id) == (second, amended)
    assert log[3].kind.name == "v1"
    assert log[0].backup_path is None
    assert pickle.loads(pickle.dumps(log[2].kind)) == log[2].kind
    assert repr(log[8].kind).startswith("UpdateType.NewCommit(name='main'")


def test_dry_run_gc_and_refused_changes_leave_no_entry(repo: frazil.Repository) -> None:
    before = list(repo.ops_log())
    repo.garbage_collect(datetime.datetime.now(datetime.UTC), dry_run=True)
    with pytest.raises(frazil.AlreadyExistsError):
        repo.create_branch("main", repo.lookup_branch("main"))
    assert list(repo.ops_log()) == before


def test_a_job_commit_names_the_job(tmp_path: Path) -> None:
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "r"))
    with frazil.Job.create(repo, "nightly", params={"n": 1}) as job:
        zarr.create_array(job.session.store, name="y", shape=(2,), dtype="i4")[:] = 5
        snapshot = job.commit("nightly run")
    (entry,) = [u for u in repo.ops_log() if isinstance(u.kind, U.NewCommit)]
    assert entry.job == "nightly"
    assert entry.new_snap_id == snapshot


class NoOpsLog(WrapperStorage):
    """Refuses every write of an operations-log entry."""

    def describe(self) -> str:
        return f"NoOpsLog({self.inner.describe()})"

    async def put(self, key: str, data: Any, *, mode: Any = "overwrite") -> str | None:
        if key.startswith("ops/"):
            raise frazil.StorageError("injected: the log cannot be written")
        return await self.inner.put(key, data, mode=mode)


def test_a_failing_log_never_fails_the_ref_change(tmp_path: Path) -> None:
    storage = NoOpsLog(frazil.local_filesystem_storage(tmp_path / "r"))
    repo = frazil.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(2,), dtype="i4")[:] = 1
    sid = session.commit("works")
    repo.create_tag("t", sid)
    assert repo.lookup_branch("main") == sid
    assert list(repo.ops_log()) == []


def _writer(path: str, index: int, commits: int) -> None:
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    for n in range(commits):
        session = repo.writable_session("main")
        zarr.open_array(session.store, path=f"w{index}")[n] = index * 100 + n + 1
        session.commit(f"w{index} #{n}", rebase_with=frazil.BasicConflictSolver(), rebase_tries=200)


def test_eight_processes_committing_at_once_lose_no_entry(tmp_path: Path) -> None:
    path = str(tmp_path / "r")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path))
    session = repo.writable_session("main")
    for i in range(8):
        zarr.create_array(session.store, name=f"w{i}", shape=(4,), chunks=(1,), dtype="i4")
    session.commit("arrays")
    commits = 4
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, i, commits)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    history = list(repo.ancestry(branch="main"))
    assert len(history) == 2 + 8 * commits
    new_commits = [u for u in repo.ops_log() if isinstance(u.kind, U.NewCommit)]
    assert len(new_commits) == 1 + 8 * commits
    parent_of = {s.id: s.parent_id for s in history}
    assert {u.new_snap_id for u in new_commits} == set(parent_of) - {history[-1].id}
    for u in new_commits:
        assert u.previous_snap_id == parent_of[u.new_snap_id]
    values = zarr.open_array(repo.readonly_session(branch="main").store, path="w3", mode="r")
    np.testing.assert_array_equal(values[:], [301, 302, 303, 304])


class SlowOpsLog(WrapperStorage):
    """Takes a second to store each operations-log entry."""

    def describe(self) -> str:
        return f"SlowOpsLog({self.inner.describe()})"

    async def put(self, key: str, data: Any, *, mode: Any = "overwrite") -> str | None:
        if key.startswith("ops/"):
            import asyncio

            await asyncio.sleep(1.0)
        return await self.inner.put(key, data, mode=mode)


def _commit_and_leave(path: str, value: int) -> None:
    repo = frazil.Repository.open(SlowOpsLog(frazil.local_filesystem_storage(path)))
    commit_one(repo, value)  # the process exits right after: its entry must still land


@pytest.mark.parametrize("how", ["fork", "spawn", "interpreter"])
def test_a_process_that_exits_right_after_committing_leaves_its_entry(
    tmp_path: Path, how: str
) -> None:
    """A commit returns once its log entry is stored, so even a slow entry write is not
    lost when the process leaves right after the commit."""
    import subprocess
    import sys

    path = str(tmp_path / "r")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(4,), chunks=(2,), dtype="i4")
    session.commit("create x")
    if how == "interpreter":
        code = (
            "import sys, asyncio, zarr, frazil\n"
            "from frazil.storage import WrapperStorage\n"
            "class Slow(WrapperStorage):\n"
            "    def describe(self): return 'slow'\n"
            "    async def put(self, key, data, *, mode='overwrite'):\n"
            "        if key.startswith('ops/'): await asyncio.sleep(1.0)\n"
            "        return await self.inner.put(key, data, mode=mode)\n"
            "repo = frazil.Repository.open(Slow(frazil.local_filesystem_storage(sys.argv[1])))\n"
            "s = repo.writable_session('main')\n"
            "zarr.open_array(s.store, path='x')[:] = 7\n"
            "print(s.commit('value 7'))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, path], capture_output=True, text=True, check=True
        )
        assert out.stderr == ""
    else:
        proc = multiprocessing.get_context(how).Process(target=_commit_and_leave, args=(path, 7))
        proc.start()
        proc.join(120)
        assert proc.exitcode == 0
    tip = frazil.Repository.open(frazil.local_filesystem_storage(path)).lookup_branch("main")
    newest = next(iter(repo.ops_log()))
    assert isinstance(newest.kind, U.NewCommit)
    assert newest.new_snap_id == tip
    assert repo.lookup_snapshot(tip).message == "value 7"


def test_a_commit_awaited_on_the_callers_own_loop_has_its_entry_when_it_returns(
    tmp_path: Path,
) -> None:
    import asyncio

    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "r"))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(2,), dtype="i4")[:] = 1
    before = set((tmp_path / "r" / "ops").iterdir())
    sid = asyncio.run(session.commit_async("on my loop"))  # that loop is closed afterwards
    written = set((tmp_path / "r" / "ops").iterdir()) - before  # looked at before any read
    assert len(written) == 1
    newest = next(iter(repo.ops_log()))
    assert newest.new_snap_id == sid
    assert newest.entry_id in written.pop().name
