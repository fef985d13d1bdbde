"""Snapshot expiry and garbage collection over a long history."""

from __future__ import annotations

import datetime
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil
from frazil._repository import context_of
from frazil._sync import sync
from frazil.format import RefKind, encode_id

if TYPE_CHECKING:
    from pathlib import Path

N = 200
KEEP_FROM = 150


def objects_of(repo: frazil.Repository, snapshot_ids: set[str]) -> set[str]:
    """Every key the given snapshots need: themselves, their logs, manifests and chunks."""
    io = context_of(repo).io
    keys: set[str] = set()
    for sid in snapshot_ids:
        keys.update({f"snapshots/{sid}", f"transactions/{sid}"})
        snapshot = sync(io.read_snapshot(sid))
        for node in snapshot.nodes.values():
            for ref in node.manifests:
                keys.add(f"manifests/{ref.manifest_id}")
                manifest = sync(io.read_manifest(ref.manifest_id))
                for seg in manifest.segments:
                    native = seg.refs.chunk_id[seg.refs.kind == RefKind.NATIVE]
                    keys.update(f"chunks/{encode_id(r.tobytes())}" for r in native)
    return keys


def sizes(path: Path) -> dict[str, int]:
    return {
        str(p.relative_to(path)): p.stat().st_size
        for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def reachable(repo: frazil.Repository) -> set[str]:
    out: set[str] = set()
    for branch in repo.list_branches():
        out.update(s.id for s in repo.ancestry(branch=branch))
    for tag in repo.list_tags():
        out.update(s.id for s in repo.ancestry(tag=tag))
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("expiry") / "repo"
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path), config)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(20,), chunks=(1,), dtype="i8", fill_value=-1)
    ids = [session.commit("create a")]
    for i in range(1, N):
        session = repo.writable_session("main")
        zarr.open_array(session.store, path="a")[i % 20] = i
        ids.append(session.commit(f"write {i}"))
    repo.create_tag("v60", ids[60])
    repo.create_branch("old", ids[30])
    return path, ids


def copy_repo(source: Path, target: Path) -> frazil.Repository:
    import shutil

    shutil.copytree(source, target)
    return frazil.Repository.open(frazil.local_filesystem_storage(target))


def expected_array(upto: int) -> np.ndarray:
    values = np.full(20, -1, dtype="i8")
    for i in range(1, upto + 1):
        values[i % 20] = i
    return values


def read(repo: frazil.Repository, **ref: str) -> np.ndarray:
    session = repo.readonly_session(**ref)
    return zarr.open_array(session.store, path="a", mode="r")[:]


def test_expiry_then_gc_reclaims_exactly_the_expired_snapshots_exclusive_objects(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo = copy_repo(history[0], tmp_path / "r")
    ids = history[1]
    cutoff = repo.lookup_snapshot(ids[KEEP_FROM]).written_at
    before = reachable(repo)
    expired = repo.expire_snapshots(cutoff)
    after = reachable(repo)
    assert expired == before - after
    # main keeps 150..199, then the first snapshot; the tag and the old branch keep their
    # targets (their older history expires too)
    main = [s.id for s in repo.ancestry(branch="main")]
    initial = main[-1]
    assert main == [*reversed(ids[KEEP_FROM:]), initial]
    assert [s.id for s in repo.ancestry(tag="v60")] == [ids[60], initial]
    assert [s.id for s in repo.ancestry(branch="old")] == [ids[30], initial]
    assert len(expired) == N - 50 - 2
    assert ids[10] in expired
    assert ids[60] not in expired

    exclusive = objects_of(repo, before) - objects_of(repo, after)
    listed = sizes(tmp_path / "r")
    expected_bytes = sum(listed[k] for k in exclusive)
    summary = repo.garbage_collect(datetime.datetime.now(datetime.UTC))
    assert summary.bytes_deleted == expected_bytes
    assert summary.snapshots_deleted == len(expired)
    remaining = sizes(tmp_path / "r")
    assert not exclusive & set(remaining)

    np.testing.assert_array_equal(read(repo, branch="main"), expected_array(N - 1))
    np.testing.assert_array_equal(read(repo, tag="v60"), expected_array(60))
    np.testing.assert_array_equal(read(repo, branch="old"), expected_array(30))
    for sid in ids[KEEP_FROM:]:
        repo.readonly_session(snapshot_id=sid)
    reopened = frazil.Repository.open(frazil.local_filesystem_storage(tmp_path / "r"))
    assert reopened.check_integrity(3, stop_on_error=False).ok
    kinds = [type(u.kind) for u in reopened.ops_log()][:2]
    assert kinds == [frazil.UpdateType.GCRan, frazil.UpdateType.ExpirationRan]


def test_expired_refs_are_deleted_when_asked(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo = copy_repo(history[0], tmp_path / "r")
    ids = history[1]
    cutoff = repo.lookup_snapshot(ids[KEEP_FROM]).written_at
    expired = repo.expire_snapshots(cutoff, delete_expired_branches=True, delete_expired_tags=True)
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == set()
    assert ids[30] in expired
    assert ids[60] in expired
    np.testing.assert_array_equal(read(repo, branch="main"), expected_array(N - 1))


def test_a_commit_racing_the_expiry_is_never_lost(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path = tmp_path / "r"
    repo = copy_repo(history[0], path)
    ids = history[1]
    cutoff = repo.lookup_snapshot(ids[KEEP_FROM]).written_at
    racing: list[str] = []
    started = threading.Event()

    def commit_meanwhile() -> None:
        other = frazil.Repository.open(frazil.local_filesystem_storage(path))
        for n in range(10):
            session = other.writable_session("main")
            zarr.open_array(session.store, path="a")[n] = 1000 + n
            started.set()
            racing.append(session.commit(f"racing {n}", rebase_with=frazil.BasicConflictSolver()))

    thread = threading.Thread(target=commit_meanwhile)
    thread.start()
    started.wait(30)
    repo.expire_snapshots(cutoff)
    thread.join(120)
    assert len(racing) == 10
    repo.garbage_collect(datetime.datetime.now(datetime.UTC))
    fresh = frazil.Repository.open(frazil.local_filesystem_storage(path))
    history_ids = [s.id for s in fresh.ancestry(branch="main")]
    assert set(racing) <= set(history_ids)
    assert set(ids[KEEP_FROM:]) <= set(history_ids)
    values = read(fresh, branch="main")
    np.testing.assert_array_equal(values[:10], 1000 + np.arange(10))
    np.testing.assert_array_equal(values[10:], expected_array(N - 1)[10:])
    assert fresh.check_integrity(3, stop_on_error=False).ok
    # a second expiry releases whatever the racing commits kept alive
    fresh.expire_snapshots(cutoff)
    again = [s.id for s in fresh.ancestry(branch="main")]
    assert again[-2] == ids[KEEP_FROM]
    assert len(again) == 10 + (N - KEEP_FROM) + 1


@pytest.mark.parametrize(
    ("older_than", "match"),
    [
        (datetime.datetime(2020, 1, 1), "timezone-aware"),
        (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1), "in the future"),
        ("30d", "timezone-aware"),
    ],
)
def test_bad_cutoffs_change_nothing(
    repo: frazil.Repository, older_than: object, match: str
) -> None:
    path = repo.storage.root  # type: ignore[attr-defined]
    before = sizes(path)
    with pytest.raises(frazil.InvalidInputError, match=match):
        repo.expire_snapshots(older_than)  # type: ignore[arg-type]
    assert sizes(path) == before


def test_read_only_repository_refuses_expiry(repo: frazil.Repository) -> None:
    view = repo.as_read_only("archived")
    with pytest.raises(frazil.ReadOnlyError, match="archived"):
        view.expire_snapshots(datetime.datetime.now(datetime.UTC))


def test_statistics_walk_many_manifests_vectorised(history: tuple[Path, list[str]]) -> None:
    repo = frazil.Repository.open(frazil.local_filesystem_storage(history[0]))
    stats = repo.chunk_storage_stats()
    # one chunk object per commit after the first
    assert stats.native_chunks == N - 1
    on_disk = sum(p.stat().st_size for p in (history[0] / "chunks").iterdir())
    assert stats.native_bytes == on_disk
    assert stats.inline_chunks == 0


def test_a_process_that_cached_the_old_history_walks_on_after_expiry_and_gc(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path = tmp_path / "r"
    repo = copy_repo(history[0], path)
    ids = history[1]
    # another process: caches of its own (a different configuration, so nothing is shared)
    reader = frazil.Repository.open(
        frazil.local_filesystem_storage(path), frazil.RepositoryConfig(max_concurrent_requests=7)
    )
    reader.readonly_session(branch="main")  # its cache now holds the tip as it was
    repo.expire_snapshots(repo.lookup_snapshot(ids[KEEP_FROM]).written_at)
    repo.garbage_collect(datetime.datetime.now(datetime.UTC))
    walked = [s.id for s in reader.ancestry(branch="main")]
    assert walked[: N - KEEP_FROM] == list(reversed(ids[KEEP_FROM:]))
    assert walked[-1] == [s.id for s in repo.ancestry(branch="main")][-1]
    assert len(walked) <= N - KEEP_FROM + 2  # at most one stale entry of its old window


def test_gc_keeps_what_a_running_job_still_needs(tmp_path: Path) -> None:
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "r"), config)
    with frazil.Job.create(repo, "long", params={}) as job:
        zarr.create_array(
            job.session.store, name="r", shape=(4, 4), chunks=(1, 4), dtype="i4", fill_value=0
        )
        ticket = job.ticket
        fork = repo.fork_from_ticket(ticket)
        zarr.open_array(fork.store, path="r")[0] = 5
        fork.publish(ticket, name="task-0")
        summary = repo.garbage_collect(datetime.datetime.now(datetime.UTC))
        assert summary.chunks_deleted == 0
        assert summary.forks_deleted == 0
        assert job.wait(["task-0"], timeout=60, poll=0.1) == []
        job.commit("done")
    values = zarr.open_array(repo.readonly_session(branch="main").store, path="r", mode="r")
    np.testing.assert_array_equal(values[:], [[5] * 4, [0] * 4, [0] * 4, [0] * 4])
    repo.garbage_collect(datetime.datetime.now(datetime.UTC))  # the job ended: nothing kept
    np.testing.assert_array_equal(values[:1], [[5] * 4])
    assert repo.check_integrity(3).ok


def test_nothing_older_than_the_cutoff_changes_nothing(
    history: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path = tmp_path / "r"
    repo = copy_repo(history[0], path)
    first_commit = repo.lookup_snapshot(history[1][0]).written_at
    snapshots = sizes(path / "snapshots")
    assert repo.expire_snapshots(first_commit) == set()
    assert sizes(path / "snapshots") == snapshots
    assert len(list(repo.ancestry(branch="main"))) == N + 1


def test_expiry_and_gc_on_s3(moto_s3) -> None:  # type: ignore[no-untyped-def]
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    prefix = f"expiry-{time.time_ns()}"
    repo = frazil.Repository.create(moto_s3.storage(prefix), config)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(20,), chunks=(1,), dtype="i8", fill_value=-1)
    ids = [session.commit("create a")]
    for i in range(1, 12):
        session = repo.writable_session("main")
        zarr.open_array(session.store, path="a")[i % 20] = i
        ids.append(session.commit(f"write {i}"))
    expired = repo.expire_snapshots(repo.lookup_snapshot(ids[6]).written_at)
    assert expired == set(ids[:6])
    summary = repo.garbage_collect(datetime.datetime.now(datetime.UTC))
    assert summary.snapshots_deleted == 6
    fresh = frazil.Repository.open(moto_s3.storage(prefix))
    assert [s.id for s in fresh.ancestry(branch="main")][:-1] == list(reversed(ids[6:]))
    np.testing.assert_array_equal(read(fresh, branch="main"), expected_array(11))
    assert fresh.check_integrity(3).ok
