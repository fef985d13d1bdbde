"""Fork and merge: pickling, visibility, associativity, conflicts, executor helpers."""

from __future__ import annotations

import functools
import multiprocessing as mp
import pickle
from concurrent.futures import ProcessPoolExecutor

import cloudpickle
import numpy as np
import pytest
import zarr
from hypothesis import given, settings, strategies as st

import frazil
from frazil.distributed import merge_sessions
from frazil.testing import CountingStorage


@pytest.fixture
def prepared(repo):
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(16,), chunks=(2,), dtype="i4", fill_value=0)
    session.commit("setup")
    return repo


def write(session, index, value, path="a"):
    zarr.open_array(session.store, path=path)[index] = value
    return session


def test_clean_fork_pickles_small_and_forking_writes_nothing(tmp_path):
    storage = CountingStorage(frazil.local_filesystem_storage(tmp_path / "repo"))
    repo = frazil.Repository.create(storage)
    session = repo.writable_session("main")
    storage.reset()
    fork = session.fork()
    assert storage.counts["put"] == 0
    assert len(pickle.dumps(fork)) < 1024
    assert len(cloudpickle.dumps(fork)) < 1024
    assert isinstance(pickle.loads(pickle.dumps(fork)), frazil.ForkSession)
    assert storage.counts["put"] == 0


def test_fork_carries_references_not_bytes(prepared):
    session = prepared.writable_session("main")
    fork = session.fork()
    big = zarr.create_array(
        fork.store, name="big", shape=(4096,), chunks=(1024,), dtype="f8", compressors=None
    )
    big[:] = np.random.default_rng(0).random(4096)
    assert len(pickle.dumps(fork)) < 8 * 1024, "4 chunks of 8 KiB travel as references"


def test_fork_sees_uncommitted_parent_changes(prepared):
    session = prepared.writable_session("main")
    write(session, slice(0, 2), 7)
    fork = pickle.loads(pickle.dumps(session.fork()))
    np.testing.assert_array_equal(zarr.open_array(fork.store, path="a", mode="r")[0:2], 7)
    write(fork, slice(4, 6), 9)
    session.merge(fork)
    session.commit("merged")
    values = zarr.open_array(prepared.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values[:6], [7, 7, 0, 0, 9, 9])


def test_fork_cannot_commit(prepared):
    fork = prepared.writable_session("main").fork()
    for call in (lambda: fork.commit("x"), lambda: fork.amend("x"), lambda: fork.flush("x")):
        with pytest.raises(frazil.SessionStateError, match="merge it into the session"):
            call()


def test_read_only_session_cannot_fork(prepared):
    with pytest.raises(frazil.SessionStateError):
        prepared.readonly_session("main").fork()


def test_merge_rejects_foreign_forks(prepared, tmp_path):
    session = prepared.writable_session("main")
    other_repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "other"))
    with pytest.raises(frazil.InvalidInputError, match="another repository"):
        session.merge(other_repo.writable_session("main").fork())
    stale = prepared.writable_session("main").fork()
    write(prepared.writable_session("main"), 0, 1)
    mover = prepared.writable_session("main")
    write(mover, 0, 1)
    mover.commit("move main")
    fresh = prepared.writable_session("main")
    with pytest.raises(frazil.InvalidInputError, match="based on snapshot"):
        fresh.merge(stale)
    prepared.create_branch("dev", prepared.lookup_branch("main"))
    with pytest.raises(frazil.InvalidInputError, match="branch"):
        fresh.merge(prepared.writable_session("dev").fork())
    with pytest.raises(TypeError, match="ForkSession"):
        fresh.merge(prepared.writable_session("main"))


def test_same_chunk_from_two_forks_is_a_conflict(prepared):
    session = prepared.writable_session("main")
    a, b = session.fork(), session.fork()
    write(a, slice(0, 2), 1)
    write(b, slice(0, 2), 2)
    with pytest.raises(frazil.MergeConflictError, match=r"ChunkDoubleUpdate at /a.*\[0\]") as info:
        session.merge(a, b)
    assert info.value.conflicts[0].conflicted_chunks == [[0]]
    assert not session.has_uncommitted_changes, "a failed merge changes nothing"
    session.merge(a, b, on_conflict="theirs")
    np.testing.assert_array_equal(zarr.open_array(session.store, path="a")[0:2], 2)
    other = prepared.writable_session("main")
    other.merge(a, b, on_conflict=frazil.VersionSelection.UseOurs)
    np.testing.assert_array_equal(zarr.open_array(other.store, path="a")[0:2], 1)


def test_fork_overwriting_what_it_inherited_is_not_a_conflict(prepared):
    session = prepared.writable_session("main")
    write(session, slice(0, 4), 1)
    fork = pickle.loads(pickle.dumps(session.fork()))
    write(fork, slice(0, 2), 2)  # the fork saw the parent's 1s and replaced them
    session.merge(fork)
    session.commit("parent, then fork")
    values = zarr.open_array(prepared.readonly_session("main").store, path="a", mode="r")[:6]
    np.testing.assert_array_equal(values, [2, 2, 1, 1, 0, 0])


def test_parent_writing_after_the_fork_still_conflicts(prepared):
    session = prepared.writable_session("main")
    write(session, slice(0, 2), 1)
    fork = session.fork()
    write(fork, slice(0, 2), 2)
    write(session, slice(0, 2), 3)  # concurrent with the fork's write
    with pytest.raises(frazil.MergeConflictError, match="ChunkDoubleUpdate"):
        session.merge(fork)
    np.testing.assert_array_equal(zarr.open_array(session.store, path="a")[0:2], 3)


def test_identical_writes_are_not_conflicts(prepared):
    session = prepared.writable_session("main")
    fork = session.fork()
    write(fork, slice(0, 2), 3)
    copy = pickle.loads(pickle.dumps(fork))
    session.merge(fork, copy)
    assert session.status().updated_chunks == {"/a": [[0]]}


def test_merge_sessions_helper(prepared):
    session = prepared.writable_session("main")
    forks = [write(session.fork(), slice(2 * i, 2 * i + 2), i + 1) for i in range(8)]
    merged = functools.reduce(merge_sessions, forks)
    assert isinstance(merged, frazil.ForkSession)
    assert (
        merge_sessions([forks[:4], [forks[4:]]]).status().updated_chunks
        == merged.status().updated_chunks
    )
    for fork in forks:
        assert len(fork.status().updated_chunks["/a"]) == 1, "inputs are not modified"
    session.merge(merged)
    session.commit("eight forks")
    values = zarr.open_array(prepared.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, np.repeat(np.arange(1, 9), 2))
    with pytest.raises(TypeError, match="ForkSession objects"):
        merge_sessions(forks[0], 42)
    with pytest.raises(TypeError, match="writable Session"):
        merge_sessions(prepared.writable_session("main"))
    with pytest.raises(TypeError):
        merge_sessions()


def _worker(fork, index):
    zarr.open_array(fork.store, path="a")[2 * index : 2 * index + 2] = index + 10
    return fork


def test_process_pool_pattern(prepared):
    session = prepared.writable_session("main")
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        forks = list(pool.map(_worker, [session.fork() for _ in range(8)], range(8)))
    session.merge(*forks)
    session.commit("pool")
    values = zarr.open_array(prepared.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, np.repeat(np.arange(10, 18), 2))


writes_strategy = st.lists(
    st.tuples(st.integers(0, 15), st.integers(1, 1000)), min_size=1, max_size=30
)


@settings(max_examples=30, deadline=None)
@given(writes=writes_strategy, forks=st.integers(1, 5), data=st.data())
def test_serial_and_forked_writes_give_the_same_repository(writes, forks, data):
    """Any writes done serially equal the same writes sharded over forks and merged (each
    chunk owned by one fork), whatever the shape of the merge tree."""

    def fresh():
        repo = frazil.Repository.create(frazil.in_memory_storage())
        s = repo.writable_session("main")
        zarr.create_array(s.store, name="a", shape=(16,), chunks=(2,), dtype="i4", fill_value=0)
        s.commit("setup")
        return repo

    serial_repo = fresh()
    serial = serial_repo.writable_session("main")
    for index, value in writes:
        write(serial, index, value)
    serial.commit("serial")

    forked_repo = fresh()
    session = forked_repo.writable_session("main")
    owner = {
        chunk: data.draw(st.integers(0, forks - 1), label=f"owner of chunk {chunk}")
        for chunk in range(8)
    }
    parts = [session.fork() for _ in range(forks)]
    for index, value in writes:
        write(parts[owner[index // 2]], index, value)
    parts = [pickle.loads(pickle.dumps(p)) for p in parts]
    order = data.draw(st.permutations(range(forks)), label="merge order")
    shuffled = [parts[i] for i in order]
    if data.draw(st.booleans(), label="tree"):
        merged = merge_sessions(*[merge_sessions(*shuffled[i : i + 2]) for i in range(0, forks, 2)])
    else:
        merged = functools.reduce(merge_sessions, shuffled)
    session.merge(merged)
    session.commit("forked")

    read = lambda repo: zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(read(serial_repo), read(forked_repo))
    chunks = lambda repo: (
        repo.diff(
            from_snapshot_id=list(repo.ancestry(branch="main"))[1].id, to_branch="main"
        ).updated_chunks
    )
    assert chunks(serial_repo) == chunks(forked_repo)


def test_merge_is_vectorised_for_many_forks(prepared):
    """1,000 forks of 100 refs merge as columns (timing lives in the benchmarks)."""
    from frazil.testing import bulk_chunk_refs

    session = prepared.writable_session("main")
    zarr.create_array(
        session.store, name="big", shape=(100_000,), chunks=(1,), dtype="u1", compressors=None
    )
    forks = []
    for i in range(1000):
        fork = session.fork()
        bulk_chunk_refs(fork, "/big", np.arange(i * 100, (i + 1) * 100).reshape(-1, 1), b"\x05")
        forks.append(fork)
    merged = merge_sessions(*forks)
    session.merge(merged)
    assert session.status().updated_chunk_coords["/big"].shape == (100_000, 1)


def test_scalar_arrays_travel_in_forks_stores_and_tickets(prepared):
    session = prepared.writable_session("main")
    scalar = zarr.create_array(session.store, name="scalar", shape=(), dtype="f8")
    scalar[...] = 3.5
    fork = pickle.loads(pickle.dumps(session.fork()))
    assert zarr.open_array(fork.store, path="scalar", mode="r")[...] == 3.5
    zarr.open_array(fork.store, path="scalar")[...] = 4.5
    store_copy = pickle.loads(pickle.dumps(session.store))
    assert zarr.open_array(store_copy, path="scalar", mode="r")[...] == 3.5
    session.ticket()
    session.merge(fork)
    session.commit("scalar")
    ro = prepared.readonly_session("main")
    assert zarr.open_array(ro.store, path="scalar", mode="r")[...] == 4.5


def test_a_fork_carrying_an_older_forks_write_cannot_replace_the_parents(prepared):
    session = prepared.writable_session("main")
    old = session.fork()  # forked before the parent wrote chunk 0
    write(session, slice(0, 2), 7)
    new = session.fork()  # saw the parent's 7s, does not touch chunk 0
    write(old, slice(0, 2), 8)  # never saw the 7s: a race with the parent
    write(new, slice(6, 8), 1)
    new.merge(old)
    with pytest.raises(frazil.MergeConflictError, match="ChunkDoubleUpdate"):
        session.merge(new)
    np.testing.assert_array_equal(zarr.open_array(session.store, path="a")[0:2], 7)
    same = session.fork()
    sibling = session.fork()  # same parent state: one lineage
    write(same, slice(0, 2), 9)
    write(sibling, slice(2, 4), 9)
    sibling.merge(same)
    session.merge(sibling)  # the overwrite of an inherited chunk still merges
    np.testing.assert_array_equal(zarr.open_array(session.store, path="a")[0:4], 9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True), min_size=2, max_size=24
    ),
    st.booleans(),
    st.booleans(),
)
def test_merging_disjoint_tables_equals_the_general_merge(rows_per_table, shift, backwards):
    """The stacking fast paths for forks that wrote disjoint ranges (few tables: spans
    checked first; many tables: stacked, then checked) give the same table as the sorting
    merge, in or out of order, and overlapping tables still go through the comparison."""
    import dataclasses

    from frazil._changes import merge_tables
    from frazil.format import ChunkRefs, RefKind

    tables = []
    for i, rows in enumerate(rows_per_table):
        place = len(rows_per_table) - i if backwards else i
        coords = np.asarray(sorted(r + (100 * place if shift else 0) for r in rows), dtype=np.int64)
        n = len(coords)
        tables.append(
            dataclasses.replace(
                ChunkRefs.empty(1),
                coords=coords.reshape(-1, 1),
                kind=np.full(n, RefKind.INLINE, dtype=np.uint8),
                chunk_id=np.zeros((n, 12), dtype=np.uint8),
                offset=np.arange(n, dtype=np.uint64),
                length=np.ones(n, dtype=np.uint64),
                checksum=np.full(n, i, dtype=np.uint32),
                location=np.zeros(n, dtype=np.uint32),
                inline=bytes([i]) * n,
            )
        )
    merged, conflicted = merge_tables(tables, 1, on_conflict="ours")
    # the reference: every (coordinate -> first table's row), in coordinate order
    expected: dict[int, int] = {}
    for i, rows in enumerate(tables):
        for c in rows.coords[:, 0].tolist():
            expected.setdefault(c, i)
    assert merged.coords[:, 0].tolist() == sorted(expected)
    assert merged.checksum.tolist() == [expected[c] for c in sorted(expected)]
    inline = [merged.inline[int(o)] for o in merged.offset.tolist()]
    assert inline == [expected[c] for c in sorted(expected)]
    counts: dict[int, set[int]] = {}
    for i, rows in enumerate(tables):
        for c in rows.coords[:, 0].tolist():
            counts.setdefault(c, set()).add(i)
    assert sorted(conflicted[:, 0].tolist()) == sorted(c for c, t in counts.items() if len(t) > 1)


def _inline_threshold_of_copy(fork):
    """In another process: write through the restored fork and report the inline
    threshold its repository runs with."""
    write(fork, 0, 7)
    state = fork._state
    return state.ctx.config.inline_chunk_threshold_bytes, fork


def test_forks_restored_elsewhere_keep_their_repositorys_configuration(tmp_path):
    config = frazil.RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 0  # every chunk becomes an object
    storage = frazil.local_filesystem_storage(str(tmp_path / "repo"))
    repo = frazil.Repository.create(storage, config)
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(16,), chunks=(2,), dtype="i4", fill_value=0)
    session.commit("setup")
    session = repo.writable_session("main")
    plain = frazil.Repository.create(frazil.local_filesystem_storage(str(tmp_path / "plain")))
    plain_session = plain.writable_session("main")
    zarr.create_array(plain_session.store, name="a", shape=(16,), chunks=(2,), dtype="i4")
    plain_session.commit("setup")
    plain_session = plain.writable_session("main")
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        (threshold, fork), (plain_threshold, plain_fork) = pool.map(
            _inline_threshold_of_copy, [session.fork(), plain_session.fork()]
        )
    assert threshold == 0
    assert plain_threshold == frazil.RepositoryConfig().inline_chunk_threshold_bytes
    session.merge(fork)
    session.commit("from a worker")
    plain_session.merge(plain_fork)
    plain_session.commit("from a worker")
    chunks = [p for p in (tmp_path / "repo" / "chunks").iterdir() if not p.name.startswith(".")]
    assert len(chunks) == 1  # the worker's 8-byte chunk was stored as an object
    assert not (tmp_path / "plain" / "chunks").exists() or not any(
        (tmp_path / "plain" / "chunks").iterdir()
    )  # and inline where the default holds
    read = repo.readonly_session("main").store
    assert zarr.open_array(read, path="a", mode="r")[0] == 7
