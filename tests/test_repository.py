"""Repositories: create/open, config, branches, tags, history, ref names and races."""

from __future__ import annotations

import datetime
import itertools
import multiprocessing as mp
import pickle
import time

import numpy as np
import pytest
import zarr

import frazil


def test_create_open_exists(any_storage):
    assert not frazil.Repository.exists(any_storage)
    repo = frazil.Repository.create(any_storage)
    assert frazil.Repository.exists(any_storage)
    history = list(repo.ancestry(branch="main"))
    assert len(history) == 1
    assert history[0].message == "Repository initialized"
    assert history[0].parent_id is None
    assert repo.list_branches() == {"main"}
    again = frazil.Repository.open(any_storage)
    assert again.lookup_branch("main") == history[0].id
    with pytest.raises(frazil.AlreadyExistsError):
        frazil.Repository.create(any_storage)
    assert frazil.Repository.open_or_create(any_storage).repo_id == repo.repo_id


def test_open_missing_repository(tmp_path):
    storage = frazil.local_filesystem_storage(tmp_path / "nothing")
    with pytest.raises(frazil.RepositoryNotFoundError, match="no frazil repository") as info:
        frazil.Repository.open(storage)
    assert isinstance(info.value, frazil.NotFoundError)
    assert isinstance(info.value, KeyError)
    assert info.value.__notes__ == ["nothing is stored at this location"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "air.nc").write_text("x")
    with pytest.raises(frazil.RepositoryNotFoundError) as info:
        frazil.Repository.open(frazil.local_filesystem_storage(tmp_path / "other"))
    assert "not empty ('air.nc')" in info.value.__notes__[0]


def test_create_refuses_non_empty_location(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "something").write_text("x")
    with pytest.raises(frazil.InvalidInputError, match="not empty"):
        frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "repo"))


def test_config_roundtrip(tmp_path):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    config = frazil.RepositoryConfig(
        inline_chunk_threshold_bytes=1000,
        manifest=frazil.ManifestConfig(split_size=1234),
        caching=frazil.CachingConfig(snapshot_cache_bytes=1 << 20),
    )
    repo = frazil.Repository.create(storage, config)
    assert frazil.Repository.fetch_config(storage) == config
    assert frazil.Repository.open(storage).config == config
    other = repo.reopen(config=config.replace(inline_chunk_threshold_bytes=5))
    assert other.config.inline_chunk_threshold_bytes == 5
    other.save_config()
    assert frazil.Repository.fetch_config(storage).inline_chunk_threshold_bytes == 5
    with pytest.raises(frazil.InvalidInputError):
        frazil.RepositoryConfig(inline_chunk_threshold_bytes=-1)
    with pytest.raises(frazil.InvalidInputError):
        frazil.ManifestConfig(split_size=0)


def test_default_config_is_not_saved(tmp_path):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    frazil.Repository.create(storage)
    assert frazil.Repository.fetch_config(storage) is None


def commit_values(repo, branch, value, message):
    session = repo.writable_session(branch)
    array = zarr.open_array(session.store, path="x", mode="a", shape=(4,), chunks=(2,), dtype="i4")
    array[:] = value
    return session.commit(message)


def test_branches(any_repo):
    repo = any_repo
    first = commit_values(repo, "main", 1, "one")
    repo.create_branch("dev", first)
    assert repo.list_branches() == {"main", "dev"}
    second = commit_values(repo, "dev", 2, "two on dev")
    assert repo.lookup_branch("dev") == second
    assert repo.lookup_branch("main") == first
    with pytest.raises(frazil.AlreadyExistsError):
        repo.create_branch("dev", first)
    repo.reset_branch("dev", first)
    assert repo.lookup_branch("dev") == first
    with pytest.raises(frazil.ConflictError) as conflict:
        repo.reset_branch("dev", second, from_snapshot_id=second)
    assert conflict.value.kind == frazil.ErrorKind.BRANCH_UPDATE_CONFLICT
    repo.reset_branch("dev", second, from_snapshot_id=first)
    repo.delete_branch("dev")
    assert repo.list_branches() == {"main"}
    with pytest.raises(frazil.RefNotFoundError, match="dev"):
        repo.lookup_branch("dev")
    with pytest.raises(frazil.SessionStateError, match="main"):
        repo.delete_branch("main")
    with pytest.raises(frazil.SnapshotNotFoundError):
        repo.create_branch("ghost", "0" * 20)


def test_tags(any_repo):
    repo = any_repo
    first = commit_values(repo, "main", 1, "one")
    repo.create_tag("v1", first)
    assert repo.list_tags() == {"v1"}
    assert repo.lookup_tag("v1") == first
    with pytest.raises(frazil.AlreadyExistsError):
        repo.create_tag("v1", first)
    repo.delete_tag("v1")
    assert repo.list_tags() == set()
    with pytest.raises(frazil.RefNotFoundError):
        repo.lookup_tag("v1")
    with pytest.raises(frazil.AlreadyExistsError, match="cannot be reused") as info:
        repo.create_tag("v1", first)
    assert info.value.kind == frazil.ErrorKind.TAG_PREVIOUSLY_DELETED
    with pytest.raises(frazil.RefNotFoundError):
        repo.delete_tag("nope")


BAD_NAMES = [
    "../x",
    "a\nb",
    "main\n",
    "",
    "/abs",
    "a//b",
    ".hidden",
    "x/",
    "a b",
    "x.lock",
    "a/../b",
    "é",
    "a%b",
    "a\x00",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_ref_names_are_refused(tmp_path, name):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    repo = frazil.Repository.create(storage)
    tip = repo.lookup_branch("main")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for call in (
        lambda: repo.create_branch(name, tip),
        lambda: repo.create_tag(name, tip),
        lambda: repo.lookup_branch(name),
        lambda: repo.writable_session(name),
    ):
        with pytest.raises(frazil.InvalidInputError, match="names are 1-200 characters"):
            call()
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert before == after


def test_nested_ref_names_follow_git_and_survive_gc(any_repo):
    repo = any_repo
    first = commit_values(repo, "main", 1, "one")
    second = commit_values(repo, "main", 2, "two")
    repo.reset_branch("main", first)
    repo.create_branch("feature/next", second)  # only this branch reaches "two"
    repo.create_branch("feature/a/b", first)
    repo.create_tag("release/1", second)
    assert repo.list_branches() == {"main", "feature/next", "feature/a/b"}
    assert repo.list_tags() == {"release/1"}
    for name in ("main/x", "feature", "feature/a"):  # a ref and a folder of refs at once
        with pytest.raises(frazil.AlreadyExistsError, match="folder of refs"):
            repo.create_branch(name, first)
    with pytest.raises(frazil.AlreadyExistsError, match="folder of refs"):
        repo.create_tag("release", first)
    repo.delete_branch("feature/a/b")
    repo.create_branch("feature/a", first)  # the deleted branch left nothing behind
    assert repo.list_branches() == {"main", "feature/next", "feature/a"}
    summary = repo.garbage_collect(datetime.datetime.now(datetime.UTC))
    assert summary.snapshots_deleted == 0
    assert repo.lookup_snapshot(second).message == "two"
    values = repo.readonly_session("feature/next")
    assert zarr.open_array(values.store, path="x", mode="r")[0] == 2


def test_good_ref_names(repo):
    tip = repo.lookup_branch("main")
    for name in ("feature/x-1", "v1.0.0", "UPPER_case", "a" * 200):
        repo.create_branch(name, tip)
    assert {"feature/x-1", "v1.0.0"} <= repo.list_branches()


def test_ancestry_of_a_missing_branch_raises_at_the_call(repo):
    with pytest.raises(frazil.RefNotFoundError, match="nope"):
        repo.ancestry(branch="nope")  # no next() needed
    history = repo.ancestry(branch="main")
    assert [info.message for info in history][-1] == "Repository initialized"


@pytest.mark.parametrize("take", ["all", "first"])
def test_walking_the_history_leaves_nothing_pending_at_exit(tmp_path, take):
    import subprocess
    import sys

    script = f"""
import itertools, zarr, frazil
repo = frazil.Repository.create(frazil.local_filesystem_storage({str(tmp_path)!r}))
session = repo.writable_session("main")
zarr.create_array(session.store, name="log", shape=(240,), chunks=(4,), dtype="i4")
session.commit("setup")
for i in range(59):  # more than one window of ancestors
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="log")[i * 4 : (i + 1) * 4] = i + 1
    session.commit(f"commit {{i}}")
history = repo.ancestry(branch="main")
got = list(history) if {take!r} == "all" else list(itertools.islice(history, 1))
print(len(got))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == (["61"] if take == "all" else ["1"])
    assert "never awaited" not in done.stderr, done.stderr
    assert "Task was destroyed" not in done.stderr, done.stderr


def test_ancestry_and_lookup(repo):
    ids = [commit_values(repo, "main", i, f"commit {i}") for i in range(60)]
    history = list(repo.ancestry(branch="main"))
    assert [h.message for h in history] == [f"commit {i}" for i in reversed(range(60))] + [
        "Repository initialized"
    ]
    assert [h.id for h in history[:-1]] == list(reversed(ids))
    for child, parent in itertools.pairwise(history):
        assert child.parent_id == parent.id
        assert child.written_at > parent.written_at
    info = repo.lookup_snapshot(ids[10])
    assert info.message == "commit 10"
    assert [h.id for h in repo.ancestry(snapshot_id=ids[10])][:2] == [ids[10], ids[9]]
    repo.create_tag("t", ids[3])
    assert len(list(repo.ancestry(tag="t"))) == 5
    with pytest.raises(frazil.InvalidInputError):
        list(repo.ancestry(branch="main", tag="t"))
    with pytest.raises(frazil.InvalidInputError):
        repo.lookup_snapshot("not-an-id")


@pytest.mark.parametrize("unknown", ["00000000000000000000", "1ZZZZZZZZZZZZZZZZZZZ", "A" * 20])
def test_well_formed_unknown_snapshot_ids_are_not_found(repo, unknown):
    calls = [
        lambda: repo.lookup_snapshot(unknown),
        lambda: repo.readonly_session(snapshot_id=unknown),
        lambda: repo.create_branch("b", unknown),
        lambda: repo.create_tag("t", unknown),
        lambda: repo.reset_branch("main", unknown),
        lambda: list(repo.ancestry(snapshot_id=unknown)),
    ]
    for call in calls:
        with pytest.raises(frazil.SnapshotNotFoundError, match=unknown):
            call()
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == set()


def test_commit_metadata_and_defaults(repo):
    repo.set_default_commit_metadata({"author": "ci", "run": 1})
    assert repo.default_commit_metadata() == {"author": "ci", "run": 1}
    sid = commit_values(repo, "main", 1, "m")
    assert repo.lookup_snapshot(sid).metadata == {"author": "ci", "run": 1}
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x", mode="a")[:] = 3
    sid = session.commit("n", metadata={"run": 2, "extra": [1, 2]})
    assert repo.lookup_snapshot(sid).metadata == {"author": "ci", "run": 2, "extra": [1, 2]}


def _create_branch(path: str, name: str, snapshot: str, barrier, out) -> None:
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    barrier.wait()
    try:
        repo.create_branch(name, snapshot)
        out.put("won")
    except frazil.AlreadyExistsError:
        out.put("lost")


@pytest.mark.slow
def test_racing_branch_creation_has_one_winner(tmp_path):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    repo = frazil.Repository.create(storage)
    tip = repo.lookup_branch("main")
    ctx = mp.get_context("spawn")
    for round_ in range(3):
        barrier = ctx.Barrier(4, timeout=60)
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=_create_branch,
                args=(str(tmp_path / "repo"), f"b{round_}", tip, barrier, out),
            )
            for _ in range(4)
        ]
        for p in procs:
            p.start()
        results = sorted(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join()
        assert results == ["lost", "lost", "lost", "won"]


def test_as_of_time_travel(repo):
    stamps = []
    for i in range(3):
        commit_values(repo, "main", i + 10, f"c{i}")
        stamps.append(datetime.datetime.now(datetime.UTC))
        time.sleep(0.01)
    for i, when in enumerate(stamps):
        session = repo.readonly_session("main", as_of=when)
        np.testing.assert_array_equal(zarr.open_array(session.store, path="x", mode="r")[:], i + 10)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(frazil.SnapshotNotFoundError):
        repo.readonly_session("main", as_of=long_ago)
    with pytest.raises(frazil.InvalidInputError):
        repo.readonly_session("main", as_of=datetime.datetime.now())


def test_repository_pickles(repo):
    import pickle

    copy = pickle.loads(pickle.dumps(repo))
    assert copy.lookup_branch("main") == repo.lookup_branch("main")


def test_bad_configs_are_refused(tmp_path):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    for bad in ["x", {"inline_chunk_threshold_bytes": 0}, 5]:
        with pytest.raises(frazil.InvalidInputError, match="RepositoryConfig"):
            frazil.Repository.create(storage, config=bad)
    assert not (tmp_path / "repo").exists()
    repo = frazil.Repository.create(storage)
    with pytest.raises(frazil.InvalidInputError):
        frazil.Repository.open(storage, config="x")
    with pytest.raises(frazil.InvalidInputError):
        repo.reopen(config={})
    with pytest.raises(frazil.InvalidInputError, match="manifest"):
        frazil.RepositoryConfig(manifest=5)
    with pytest.raises(frazil.InvalidInputError, match="from_dict"):
        frazil.RepositoryConfig.from_dict([1])
    with pytest.raises(frazil.InvalidInputError, match="dict"):
        repo.set_default_commit_metadata("abc")


def test_a_read_only_view_refuses_every_write_and_reads_as_usual(tmp_path):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    repo = frazil.Repository.create(storage)
    snapshot = commit_values(repo, "main", 1, "one")
    view = repo.as_read_only("archived")
    assert view.read_only
    assert not repo.read_only
    assert view.lookup_branch("main") == snapshot
    assert view.readonly_session("main").snapshot_id == snapshot
    writes = [
        lambda: view.writable_session("main"),
        lambda: view.rearrange_session("main"),
        lambda: view.create_branch("b", snapshot),
        lambda: view.create_tag("t", snapshot),
        lambda: view.reset_branch("main", snapshot),
        view.save_config,
        lambda: view.garbage_collect(datetime.datetime.now(datetime.UTC)),
        lambda: view.reopen().writable_session("main"),
        lambda: pickle.loads(pickle.dumps(view)).writable_session("main"),
    ]
    for write in writes:
        with pytest.raises(frazil.ReadOnlyError, match="archived") as info:
            write()
        assert info.value.kind == "read-only-repository"
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == set()
    repo.create_branch("still-writable", snapshot)  # the repository itself is unchanged


def test_history_records_are_immutable_and_hand_out_copies_of_metadata(tmp_path):
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "repo"))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(2,), dtype="i4")
    snapshot = session.commit("one", metadata={"run": {"n": 1}})
    first = next(iter(repo.ancestry(branch="main")))
    first.metadata["run"]["n"] = 99  # a copy: nothing stored or cached changes
    with pytest.raises(AttributeError, match="immutable"):
        first.message = "other"
    again = next(iter(repo.ancestry(branch="main")))
    assert again.metadata == {"run": {"n": 1}}
    assert repo.lookup_snapshot(snapshot).metadata == {"run": {"n": 1}}
    assert pickle.loads(pickle.dumps(again)) == again
    assert [i.message for i in repo.ancestry(snapshot_id=snapshot)] == [
        "one",
        "Repository initialized",
    ]


def test_warm_history_and_lookups_follow_other_writers(any_storage, monkeypatch):
    # walks and lookups made from the cache still read the ref each time, so another
    # writer's commit, reset or tag deletion shows at once
    import frazil._repository.history as history_module

    monkeypatch.setattr(history_module, "_PAGE", 5)  # pages end inside cached walks too
    mine = frazil.Repository.create(any_storage)
    theirs = frazil.Repository.open(any_storage)
    ids = [commit_values(mine, "main", i, f"commit {i}") for i in range(23)]
    expected = [f"commit {i}" for i in reversed(range(23))] + ["Repository initialized"]
    for _ in range(2):  # cold, then from the cache
        assert [h.message for h in mine.ancestry(branch="main")] == expected
        assert mine.lookup_branch("main") == ids[-1]

    later = commit_values(theirs, "main", 99, "their commit")
    assert mine.lookup_branch("main") == later
    assert [h.message for h in mine.ancestry(branch="main")] == ["their commit", *expected]

    theirs.reset_branch("main", ids[5])
    assert mine.lookup_branch("main") == ids[5]
    assert [h.id for h in mine.ancestry(branch="main")][:2] == [ids[5], ids[4]]

    theirs.create_tag("t", ids[3])
    assert mine.lookup_tag("t") == ids[3]
    assert len(list(mine.ancestry(tag="t"))) == 5
    theirs.delete_tag("t")
    with pytest.raises(frazil.RefNotFoundError, match="'t'"):
        mine.lookup_tag("t")
    with pytest.raises(frazil.RefNotFoundError, match="'t'"):
        mine.ancestry(tag="t")
    with pytest.raises(frazil.RefNotFoundError, match="nope"):
        mine.lookup_branch("nope")
    with pytest.raises(frazil.InvalidInputError, match="invalid branch name"):
        mine.lookup_branch("../escape")
    history = list(mine.ancestry(snapshot_id=ids[2]))
    assert [h.id for h in history[:3]] == [ids[2], ids[1], ids[0]]
    assert [h.message for h in history[3:]] == ["Repository initialized"]


def test_sessions_opened_from_the_cache_see_other_writers(any_storage):
    # a session opened without a trip through the IO loop (local ref, cached snapshot)
    # still starts from the current tip, status and feature flags
    mine = frazil.Repository.create(any_storage)
    theirs = frazil.Repository.open(any_storage)
    first = commit_values(mine, "main", 1, "one")
    assert mine.writable_session("main").snapshot_id == first
    assert mine.readonly_session("main").snapshot_id == first

    second = commit_values(theirs, "main", 2, "two")
    session = mine.writable_session("main")
    assert session.snapshot_id == second
    zarr.open_array(session.store, path="x")[:] = 3
    third = session.commit("three")  # its ref state is the current one: no conflict
    assert mine.readonly_session("main").snapshot_id == third
    assert theirs.readonly_session(branch="main").snapshot_id == third
    assert zarr.open_array(theirs.readonly_session("main").store, path="x")[0] == 3

    theirs.set_feature_flag("move_node", False)
    with pytest.raises(frazil.SessionStateError, match="move_node"):
        mine.rearrange_session("main")
    theirs.set_status(frazil.RepoStatus(frazil.RepoAvailability.read_only))
    with pytest.raises(frazil.ReadOnlyError, match="read-only"):
        mine.writable_session("main")
    assert mine.readonly_session("main").snapshot_id == third
    theirs.set_status(frazil.RepoStatus(frazil.RepoAvailability.online))
    assert mine.writable_session("main").snapshot_id == third
    with pytest.raises(frazil.RefNotFoundError, match="nope"):
        mine.writable_session("nope")
    with pytest.raises(frazil.ReadOnlyError):
        mine.as_read_only().writable_session("main")


def test_drop_caches_makes_the_next_repository_read_from_storage(tmp_path):
    from frazil.testing import drop_caches

    path = tmp_path / "repo"
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path))
    tip = commit_values(repo, "main", 1, "one")
    (path / "snapshots" / tip).unlink()  # only a cache can still answer for it now
    reopened = frazil.Repository.open(frazil.local_filesystem_storage(path))
    assert next(iter(reopened.ancestry(branch="main"))).message == "one"  # shared, warm
    drop_caches()
    cold = frazil.Repository.open(frazil.local_filesystem_storage(path))
    with pytest.raises(frazil.SnapshotNotFoundError, match=tip):
        cold.ancestry(branch="main")
    assert repo.lookup_snapshot(tip).message == "one"  # open objects keep their caches


def test_a_cold_local_walk_matches_the_loop_and_reports_damage(tmp_path):
    # on local storage a cold walk reads the snapshots in the calling thread; it must give
    # what the async walk gives, and leave damage to the async path to report
    import asyncio

    from frazil.testing import drop_caches

    path = tmp_path / "repo"
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path))
    ids = [commit_values(repo, "main", i, f"commit {i}") for i in range(120)]  # 3 windows

    async def walk_async(r):
        return [info async for info in r.async_ancestry(branch="main")]

    drop_caches()
    cold = frazil.Repository.open(frazil.local_filesystem_storage(path))
    walked = list(cold.ancestry(branch="main"))
    drop_caches()
    expected = asyncio.run(
        walk_async(frazil.Repository.open(frazil.local_filesystem_storage(path)))
    )
    assert walked == expected
    assert [h.id for h in walked[:-1]] == list(reversed(ids))
    assert [h.written_at for h in walked] == [h.written_at for h in expected]

    middle = path / "snapshots" / ids[68]  # the second one the walk reads
    middle.write_bytes(middle.read_bytes()[:-7] + b"garbage")
    drop_caches()
    damaged = frazil.Repository.open(frazil.local_filesystem_storage(path))
    with pytest.raises(frazil.FormatError, match=ids[68]):
        list(damaged.ancestry(branch="main"))
