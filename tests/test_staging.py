"""Copies of a writable store (what Dask ships to workers) and the session that owns them."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
import zarr

import frazil


@pytest.fixture
def session(repo):
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(8,), chunks=(2,), dtype="i4", fill_value=0)
    session.commit("array")
    return repo.writable_session("main")


def copy_of(store):
    return pickle.loads(pickle.dumps(store))


def test_writes_of_a_copy_reach_the_commit(repo, session):
    worker = copy_of(session.store)
    zarr.open_array(worker, path="a")[0:4] = 7
    session.commit("from a worker")
    values = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, [7, 7, 7, 7, 0, 0, 0, 0])


def test_a_write_that_lands_after_the_commit_fails_loudly(repo, session):
    worker = copy_of(session.store)
    zarr.open_array(worker, path="a")[0:2] = 1
    session.commit("first part")
    with pytest.raises(frazil.SessionStateError, match="came too late"):
        zarr.open_array(worker, path="a")[2:4] = 2
    values = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values[:4], [1, 1, 0, 0])


def test_a_write_that_lands_after_discard_fails_loudly(repo, session):
    worker = copy_of(session.store)
    session.discard_changes()
    with pytest.raises(frazil.SessionStateError, match="came too late"):
        zarr.open_array(worker, path="a")[0:2] = 1
    zarr.open_array(session.store, path="a")[4:6] = 3
    session.commit("after discard")
    values = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, [0, 0, 0, 0, 3, 3, 0, 0])


def test_a_failed_commit_leaves_the_copies_usable(repo, session):
    worker = copy_of(session.store)
    zarr.open_array(worker, path="a")[0:2] = 1
    other = repo.writable_session("main")
    zarr.open_array(other.store, path="a")[0:2] = 9
    other.commit("a concurrent writer")
    with pytest.raises(frazil.ConflictError):
        session.commit("conflicts")
    zarr.open_array(worker, path="a")[2:4] = 2  # the session is still open: allowed
    session.rebase(frazil.BasicConflictSolver())
    session.commit("after rebase")
    values = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values[:4], [1, 1, 2, 2])


def test_a_store_of_a_committed_session_unpickles_and_refuses_writes(repo, session):
    store = session.store
    session.commit("nothing staged", allow_empty=True)
    copy = copy_of(store)  # a scheduler must be able to load a graph holding it
    with pytest.raises(frazil.ReadOnlyError, match="committed"):
        zarr.open_array(copy, path="a")[0:2] = 1


def test_the_session_reads_what_its_copies_wrote(repo, session):
    worker = copy_of(session.store)
    zarr.open_array(worker, path="a")[0:4] = 5
    # no status() or commit() first: the next read takes the copies' writes in
    seen = zarr.open_array(session.store, path="a", mode="r")[:]
    np.testing.assert_array_equal(seen, [5, 5, 5, 5, 0, 0, 0, 0])
    derived = zarr.create_array(session.store, name="b", shape=(8,), chunks=(2,), dtype="i4")
    derived[:] = seen * 2
    session.commit("derived from data written by a copy")
    ro = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="b", mode="r")[:4], 10)
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="a", mode="r")[:4], 5)


def read_a(session_or_store):
    store = getattr(session_or_store, "store", session_or_store)
    return zarr.open_array(store, path="a", mode="r")[:]


def test_a_copy_that_saw_an_earlier_write_replaces_it(repo, session):
    first = copy_of(session.store)
    zarr.open_array(first, path="a")[0:2] = 1
    np.testing.assert_array_equal(read_a(session)[:2], 1)  # the session reads in between
    second = copy_of(session.store)
    zarr.open_array(second, path="a")[0:2] = 2
    zarr.open_array(second, path="a")[3] = 3  # a chunk nobody wrote before
    session.commit("two computations, one session")
    np.testing.assert_array_equal(read_a(repo.readonly_session("main")), [2, 2, 0, 3, 0, 0, 0, 0])


def test_partial_chunks_accumulate_across_computations(repo, session):
    first = copy_of(session.store)
    zarr.open_array(first, path="a")[0] = 1  # half of chunk 0
    read_a(session)
    second = copy_of(session.store)
    zarr.open_array(second, path="a")[1] = 2  # the other half: read-modify-write
    session.commit("appended in two steps")
    np.testing.assert_array_equal(read_a(repo.readonly_session("main"))[:2], [1, 2])


def test_copies_that_did_not_see_each_other_conflict(repo, session):
    first, second = copy_of(session.store), copy_of(session.store)
    zarr.open_array(first, path="a")[0:2] = 1
    zarr.open_array(second, path="a")[0:2] = 2
    with pytest.raises(frazil.MergeConflictError, match=r"/a.*\[0\]"):
        session.commit("a race")
    np.testing.assert_array_equal(read_a(repo.readonly_session("main")), 0)


def test_writes_into_an_array_the_session_replaced_are_dropped(repo, session):
    failed = copy_of(session.store)
    zarr.open_array(failed, path="a")[0:2] = 1  # a computation that later failed
    zarr.create_array(
        session.store, name="a", shape=(8,), chunks=(2,), dtype="i4", fill_value=0, overwrite=True
    )
    retry = copy_of(session.store)
    zarr.open_array(retry, path="a")[:] = 4
    session.commit("retried with overwrite")
    np.testing.assert_array_equal(read_a(repo.readonly_session("main")), 4)


def test_the_session_may_change_a_chunk_after_reading_a_copys_write(repo, session):
    worker = copy_of(session.store)
    zarr.open_array(worker, path="a")[0:2] = 1
    read_a(session)
    zarr.open_array(session.store, path="a")[0:2] = 9  # a local patch of that chunk
    session.commit("patched")
    np.testing.assert_array_equal(read_a(repo.readonly_session("main"))[:2], 9)


def test_a_later_computation_replaces_every_write_of_the_one_it_saw(repo, session):
    first = copy_of(session.store)
    zarr.open_array(first, path="a")[0] = 1  # two partial writes of chunk 0 by one copy
    zarr.open_array(first, path="a")[1] = 1
    retried = copy_of(session.store)  # a retried task repeats the same writes
    zarr.open_array(retried, path="a")[0] = 1
    zarr.open_array(retried, path="a")[1] = 1
    read_a(session)
    second = copy_of(session.store)
    zarr.open_array(second, path="a")[0:2] = 2
    session.commit("second computation wins")
    np.testing.assert_array_equal(read_a(repo.readonly_session("main"))[:2], 2)


def test_reads_catch_up_with_copies_that_write_later(repo, session):
    worker = copy_of(session.store)
    np.testing.assert_array_equal(read_a(session), 0)  # nothing written yet
    zarr.open_array(worker, path="a")[6:8] = 4  # the computation finishes afterwards
    time.sleep(0.3)
    np.testing.assert_array_equal(read_a(session)[6:], 4)
