"""Garbage collection: what no branch or tag reaches goes; everything reachable stays."""

from __future__ import annotations

import datetime
import time

import numpy as np
import pytest
import zarr

import frazil


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def write(repo, values, message, branch="main"):
    session = repo.writable_session(branch)
    zarr.open_array(session.store, path="a", mode="r+")[:] = values
    return session.commit(message)


@pytest.fixture
def history(tmp_path):
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "repo"), config)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(8,), chunks=(4,), dtype="f8")
    first = session.commit("create")
    second = write(repo, np.arange(8.0), "second")
    tagged = write(repo, np.ones(8), "tagged")
    repo.create_tag("keep", tagged)
    dropped = write(repo, np.full(8, 7.0), "dropped")
    repo.reset_branch("main", second)
    return repo, {"first": first, "second": second, "tagged": tagged, "dropped": dropped}


def read(session):
    return zarr.open_array(session.store, path="a", mode="r")[:]


def test_unreachable_snapshots_and_chunks_are_deleted(history):
    repo, ids = history
    before = repo.garbage_collect(now(), dry_run=True)
    assert before.snapshots_deleted == 1
    assert before.chunks_deleted == 2
    assert repo.lookup_snapshot(ids["dropped"]).message == "dropped", "a dry run deletes nothing"
    summary = repo.garbage_collect(now())
    assert summary == before
    with pytest.raises(frazil.SnapshotNotFoundError):
        repo.lookup_snapshot(ids["dropped"])
    fresh = frazil.Repository.open(repo.storage)
    np.testing.assert_array_equal(read(fresh.readonly_session("main")), np.arange(8.0))
    np.testing.assert_array_equal(read(fresh.readonly_session(tag="keep")), np.ones(8))
    assert [i.message for i in fresh.ancestry(tag="keep")] == [
        "tagged",
        "second",
        "create",
        "Repository initialized",
    ]
    assert repo.garbage_collect(now()).snapshots_deleted == 0, "a second pass finds nothing"


def test_objects_newer_than_the_cutoff_are_kept(history):
    repo, _ = history
    cutoff = now()
    time.sleep(0.05)
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a", mode="r+")[:] = 3.0  # chunks written, not committed
    summary = repo.garbage_collect(cutoff)
    assert summary.snapshots_deleted == 1
    session.commit("after gc")
    np.testing.assert_array_equal(read(repo.readonly_session("main")), 3.0)


@pytest.mark.parametrize(
    "cutoff",
    [
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1),
        datetime.datetime(2020, 1, 1),  # naive
        "2020-01-01",
        None,
        datetime.date(2020, 1, 1),
    ],
)
def test_bad_cutoffs_are_refused_and_delete_nothing(history, cutoff):
    repo, ids = history
    with pytest.raises(frazil.InvalidInputError, match="delete_object_older_than"):
        repo.garbage_collect(cutoff)
    assert repo.lookup_snapshot(ids["dropped"]).message == "dropped"


def test_dry_run_must_be_a_bool(history):
    repo, _ = history
    with pytest.raises(frazil.InvalidInputError, match="dry_run"):
        repo.garbage_collect(now(), dry_run="no")
