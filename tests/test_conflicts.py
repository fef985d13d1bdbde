"""Conflict detection and solvers, one test per ConflictType, through the public API."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import frazil
from frazil import BasicConflictSolver, ConflictDetector, ConflictType, VersionSelection


@pytest.fixture
def base(repo):
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_array("a", shape=(8,), chunks=(2,), dtype="i4", fill_value=0)
    group = root.create_group("g")
    group.create_array("b", shape=(4,), chunks=(2,), dtype="i4", fill_value=0)
    session.commit("base")
    return repo


def two_sessions(repo):
    return repo.writable_session("main"), repo.writable_session("main")


def array(session, path="a"):
    return zarr.open_array(session.store, path=path)


def expect_conflict(session, conflict_type, path, solver=None):
    with pytest.raises(frazil.RebaseFailedError) as info:
        session.rebase(solver or ConflictDetector())
    types = {(c.conflict_type, c.path) for c in info.value.conflicts}
    assert (conflict_type, path) in types, info.value.conflicts
    assert path in str(info.value)
    return info.value


def delete(session, path):
    parent, _, name = path.rpartition("/")
    del zarr.open_group(session.store, path=parent or "/")[name]


def test_new_node_conflicts_with_existing_node(base):
    ours, theirs = two_sessions(base)
    zarr.create_array(theirs.store, name="new", shape=(1,), dtype="i4")
    theirs.commit("theirs")
    zarr.create_array(ours.store, name="new", shape=(2,), dtype="i4")
    expect_conflict(ours, ConflictType.NewNodeConflictsWithExistingNode, "/new")


def test_new_node_in_invalid_group(base):
    ours, theirs = two_sessions(base)
    delete(theirs, "g")
    theirs.commit("delete g")
    zarr.create_array(ours.store, name="g/c", shape=(1,), dtype="i4")
    expect_conflict(ours, ConflictType.NewNodeInInvalidGroup, "/g")


def test_new_node_inside_an_array(base):
    ours, theirs = two_sessions(base)
    zarr.create_array(theirs.store, name="x", shape=(1,), dtype="i4")
    theirs.commit("array x")
    zarr.create_group(ours.store, path="x/inner")
    error = expect_conflict(ours, ConflictType.NewNodeInInvalidGroup, "/x")
    assert error.snapshot_id == base.lookup_branch("main")


def test_metadata_double_update(base):
    ours, theirs = two_sessions(base)
    array(theirs).attrs["units"] = "K"
    theirs.commit("theirs")
    array(ours).attrs["units"] = "C"
    expect_conflict(ours, ConflictType.ZarrMetadataDoubleUpdate, "/a")


def test_metadata_update_of_deleted_array(base):
    ours, theirs = two_sessions(base)
    delete(theirs, "a")
    theirs.commit("delete a")
    array(ours).attrs["units"] = "C"
    expect_conflict(ours, ConflictType.ZarrMetadataUpdateOfDeletedArray, "/a")


def test_metadata_update_of_deleted_group(base):
    ours, theirs = two_sessions(base)
    delete(theirs, "g")
    theirs.commit("delete g")
    zarr.open_group(ours.store, path="g").attrs["k"] = 1
    expect_conflict(ours, ConflictType.ZarrMetadataUpdateOfDeletedGroup, "/g")


def test_chunk_double_update(base):
    ours, theirs = two_sessions(base)
    array(theirs)[0:4] = 1
    theirs.commit("theirs")
    array(ours)[2:6] = 2
    error = expect_conflict(ours, ConflictType.ChunkDoubleUpdate, "/a")
    conflict = next(c for c in error.conflicts if c.conflict_type == ConflictType.ChunkDoubleUpdate)
    assert conflict.conflicted_chunks == [[1]]
    assert "[1]" in str(error)


def test_chunks_updated_in_deleted_array(base):
    ours, theirs = two_sessions(base)
    delete(theirs, "a")
    theirs.commit("delete a")
    array(ours)[0] = 1
    expect_conflict(ours, ConflictType.ChunksUpdatedInDeletedArray, "/a")


def test_chunks_updated_in_updated_array(base):
    ours, theirs = two_sessions(base)
    array(theirs).attrs["units"] = "K"
    theirs.commit("attrs")
    array(ours)[0] = 1
    expect_conflict(ours, ConflictType.ChunksUpdatedInUpdatedArray, "/a")


def test_delete_of_updated_array(base):
    ours, theirs = two_sessions(base)
    array(theirs)[0] = 5
    theirs.commit("write a")
    delete(ours, "a")
    expect_conflict(ours, ConflictType.DeleteOfUpdatedArray, "/a")
    expect_conflict(
        ours,
        ConflictType.DeleteOfUpdatedArray,
        "/a",
        BasicConflictSolver(fail_on_delete_of_updated_array=True),
    )
    ours.rebase(BasicConflictSolver())  # our delete wins
    ours.commit("delete a")
    assert "a" not in zarr.open_group(base.readonly_session("main").store, mode="r")


def test_delete_of_updated_group(base):
    ours, theirs = two_sessions(base)
    zarr.open_group(theirs.store, path="g").attrs["k"] = 1
    theirs.commit("attrs g")
    delete(ours, "g")
    expect_conflict(ours, ConflictType.DeleteOfUpdatedGroup, "/g")
    expect_conflict(
        ours,
        ConflictType.DeleteOfUpdatedGroup,
        "/g",
        BasicConflictSolver(fail_on_delete_of_updated_group=True),
    )
    ours.rebase(BasicConflictSolver())
    ours.commit("delete g")


def test_move_cannot_be_rebased(base):
    ours = base.writable_session("main")
    mover = base.rearrange_session("main")
    mover.move("/g", "/h")
    mover.commit("move")
    array(ours)[0] = 1
    expect_conflict(ours, ConflictType.MoveOperationCannotBeRebased, "/")


def test_disjoint_chunk_writes_are_not_a_conflict(base):
    ours, theirs = two_sessions(base)
    array(theirs)[0:2] = 1
    theirs.commit("theirs")
    array(ours)[4:6] = 2
    ours.rebase(ConflictDetector())
    ours.commit("ours")
    values = zarr.open_array(base.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, [1, 1, 0, 0, 2, 2, 0, 0])


@pytest.mark.parametrize(
    ("selection", "expected"),
    [(VersionSelection.UseOurs, 2), (VersionSelection.UseTheirs, 1)],
)
def test_basic_solver_chunk_choice(base, selection, expected):
    ours, theirs = two_sessions(base)
    array(theirs)[0:2] = 1
    theirs.commit("theirs")
    array(ours)[0:2] = 2
    array(ours)[6:8] = 3
    ours.commit("ours", rebase_with=BasicConflictSolver(on_chunk_conflict=selection))
    values = zarr.open_array(base.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(values, [expected, expected, 0, 0, 0, 0, 3, 3])
    assert ours.commit_attempts == 2


def test_basic_solver_fail(base):
    ours, theirs = two_sessions(base)
    array(theirs)[0:2] = 1
    theirs.commit("theirs")
    array(ours)[0:2] = 2
    with pytest.raises(frazil.RebaseFailedError, match=r"ChunkDoubleUpdate at /a.*\[0\]"):
        ours.commit(
            "ours", rebase_with=BasicConflictSolver(on_chunk_conflict=VersionSelection.Fail)
        )
    assert ours.has_uncommitted_changes


def test_commit_without_solver_reports_parents(base):
    ours, theirs = two_sessions(base)
    expected_parent = ours.snapshot_id
    array(theirs)[0] = 1
    actual = theirs.commit("theirs")
    array(ours)[4] = 1
    with pytest.raises(frazil.ConflictError) as info:
        ours.commit("ours")
    assert info.value.expected_parent == expected_parent
    assert info.value.actual_parent == actual
    ours.commit("ours", rebase_with=ConflictDetector())
    assert [h.message for h in base.ancestry(branch="main")][:3] == ["ours", "theirs", "base"]


def test_rebase_over_many_commits(base):
    ours = base.writable_session("main")
    for i in range(5):
        other = base.writable_session("main")
        array(other, "g/b")[i % 4] = i + 1
        other.commit(f"other {i}")
    array(ours)[0:2] = 9
    ours.commit("ours", rebase_with=ConflictDetector())
    history = [h.message for h in base.ancestry(branch="main")]
    assert history[:7] == ["ours", "other 4", "other 3", "other 2", "other 1", "other 0", "base"]


def test_solvers_pickle():
    import pickle

    solver = BasicConflictSolver(
        on_chunk_conflict=VersionSelection.UseTheirs, fail_on_delete_of_updated_group=True
    )
    copy = pickle.loads(pickle.dumps(solver))
    assert copy.on_chunk_conflict == VersionSelection.UseTheirs
    assert copy.fail_on_delete_of_updated_group
    assert isinstance(pickle.loads(pickle.dumps(ConflictDetector())), ConflictDetector)


def test_large_overlap_is_vectorised(repo):
    """Two commits of 1,000,000 chunks each: overlap found on NumPy columns."""
    from frazil.testing import bulk_chunk_refs

    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="big", shape=(2000, 1000), chunks=(2, 1), dtype="u1", compressors=None
    )
    session.commit("create")
    ours, theirs = two_sessions(repo)
    ii, jj = np.meshgrid(np.arange(1000), np.arange(1000), indexing="ij")
    coords = np.stack([ii.ravel(), jj.ravel()], axis=1)
    bulk_chunk_refs(theirs, "/big", coords, b"\x01\x01")
    theirs.commit("theirs")
    bulk_chunk_refs(ours, "/big", coords[::2], b"\x02\x02")
    with pytest.raises(frazil.RebaseFailedError) as info:
        ours.rebase(ConflictDetector())
    conflict = info.value.conflicts[0]
    assert conflict.conflicted_chunk_coords.shape == (500_000, 2)


def test_commit_after_a_rebase_that_kept_only_their_versions(base):
    ours, theirs = two_sessions(base)
    array(theirs)[0:2] = 1
    theirs.commit("theirs")
    array(ours)[0:2] = 2
    ours.rebase(BasicConflictSolver(on_chunk_conflict=VersionSelection.UseTheirs))
    assert not ours.status().updated_chunks
    sid = ours.commit("ours, resolved to theirs")
    assert base.lookup_branch("main") == sid
    np.testing.assert_array_equal(array(base.readonly_session("main"))[0:2], 1)
    idle = base.writable_session("main")
    idle.rebase(ConflictDetector())  # nothing to rebase and nothing changed
    with pytest.raises(frazil.NoChangesToCommitError):
        idle.commit("still nothing")
