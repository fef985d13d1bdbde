"""shift_array and reindex_array: chunk references move, bytes do not."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import frazil
from frazil.testing import bulk_chunk_refs

FILL = -1


@pytest.fixture(params=["inline", "native"])
def repo(request, tmp_path):
    # inline: every chunk lives in the manifest; native: every chunk is its own object
    threshold = 4096 if request.param == "inline" else 0
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=threshold)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "repo"), config)
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="a", shape=(10, 4), chunks=(2, 2), dtype="i4", fill_value=FILL
    )
    array[:] = np.arange(40, dtype="i4").reshape(10, 4)
    session.commit("ten rows")
    return repo


def source() -> np.ndarray:
    return np.arange(40, dtype="i4").reshape(10, 4)


def read(session_or_repo, path="a"):
    session = (
        session_or_repo.readonly_session("main")
        if isinstance(session_or_repo, frazil.Repository)
        else session_or_repo
    )
    return zarr.open_array(session.store, path=path, mode="r")[:]


def shifted_rows(data: np.ndarray, rows: int) -> np.ndarray:
    out = np.full_like(data, FILL)
    if rows >= 0:
        out[rows:] = data[: len(data) - rows]
    else:
        out[:rows] = data[-rows:]
    return out


@pytest.mark.parametrize("chunks", [1, 2, -1, -3, 5, -5])
def test_shift_array_along_first_axis(repo, chunks):
    session = repo.writable_session("main")
    session.shift_array("/a", [chunks, 0])
    expected = shifted_rows(source(), 2 * chunks)
    np.testing.assert_array_equal(read(session), expected)
    session.commit(f"shift by {chunks}")
    np.testing.assert_array_equal(read(repo), expected)
    # the previous version is untouched
    first = list(repo.ancestry(branch="main"))[1].id
    np.testing.assert_array_equal(read(repo.readonly_session(snapshot_id=first)), source())


def test_shift_in_two_dimensions_and_status(repo):
    session = repo.writable_session("main")
    session.shift_array("a", (1, 1))
    expected = np.full((10, 4), FILL, dtype="i4")
    expected[2:, 2:] = source()[:8, :2]
    np.testing.assert_array_equal(read(session), expected)
    changed = {tuple(c) for c in session.status().updated_chunks["/a"]}
    # every one of the 10 chunks changed: 4 moved in, 6 cleared or overwritten
    assert changed == {(i, j) for i in range(5) for j in range(2)}


def test_shift_to_make_room_after_resize(repo):
    session = repo.writable_session("main")
    array = zarr.open_array(session.store, path="a", mode="r+")
    array.resize((12, 4))
    session.shift_array("/a", [1, 0])
    array = zarr.open_array(session.store, path="a", mode="r+")
    array[:2] = 100
    session.commit("prepend one chunk of rows")
    expected = np.concatenate([np.full((2, 4), 100, dtype="i4"), source()])
    np.testing.assert_array_equal(read(repo), expected)


def test_zero_shift_changes_nothing(repo):
    session = repo.writable_session("main")
    session.shift_array("/a", [0, 0])
    assert not session.has_uncommitted_changes


def test_reindex_permutation_is_applied_at_once(repo):
    session = repo.writable_session("main")
    session.reindex_array("/a", lambda idx: [4 - idx[0], idx[1]])
    expected = np.concatenate([source()[8 - 2 * i : 10 - 2 * i] for i in range(5)])
    np.testing.assert_array_equal(read(session), expected)
    session.commit("reverse")
    np.testing.assert_array_equal(read(repo), expected)


def test_reindex_forward_only_keeps_unvisited_positions(repo):
    session = repo.writable_session("main")
    session.reindex_array("/a", lambda idx: [idx[0] + 1, idx[1]] if idx[0] < 4 else None)
    expected = source().copy()
    expected[2:] = source()[:8]
    np.testing.assert_array_equal(read(session), expected)


def test_reindex_with_backward_clears_vacated_positions(repo):
    session = repo.writable_session("main")
    session.reindex_array(
        "/a",
        lambda idx: [idx[0] + 1, idx[1]] if idx[0] < 4 else None,
        lambda idx: [idx[0] - 1, idx[1]] if idx[0] > 0 else None,
    )
    np.testing.assert_array_equal(read(session), shifted_rows(source(), 2))


def test_reindex_sees_uncommitted_writes_and_forks_merge(repo):
    session = repo.writable_session("main")
    array = zarr.open_array(session.store, path="a", mode="r+")
    array[0:2] = 7
    fork = session.fork()
    fork.shift_array("/a", [1, 0])
    session.merge(fork)
    expected = shifted_rows(source(), 2)
    expected[2:4] = 7
    np.testing.assert_array_equal(read(session), expected)
    session.commit("write then shift")
    np.testing.assert_array_equal(read(repo), expected)


def test_bad_input_is_refused_and_changes_nothing(repo):
    session = repo.writable_session("main")
    with pytest.raises(frazil.InvalidInputError, match="2 dimensions"):
        session.shift_array("/a", [1])
    with pytest.raises(frazil.InvalidInputError, match="must be an integer"):
        session.shift_array("/a", ["x", 0])
    with pytest.raises(frazil.InvalidInputError, match="outside the chunk grid"):
        session.reindex_array("/a", lambda idx: [idx[0] + 5, idx[1]])
    with pytest.raises(frazil.InvalidInputError, match="several chunks onto chunk"):
        session.reindex_array("/a", lambda idx: [0, 0])
    with pytest.raises(frazil.InvalidInputError, match=r"onto chunk \(0, 0\)"):
        # chunk (0, 0) maps onto itself and (1, 0) onto it too
        session.reindex_array("/a", lambda idx: [0, 0] if idx == [1, 0] else idx)
    with pytest.raises(frazil.InvalidInputError, match="sequence of integers"):
        session.reindex_array("/a", lambda idx: "no")
    with pytest.raises(frazil.InvalidInputError, match="sequence of integers"):
        session.shift_array("/a", "10")
    with pytest.raises(frazil.InvalidInputError, match="chunk_offset"):
        session.shift_array("/a", [2**70, 0])
    with pytest.raises(frazil.InvalidInputError, match="chunk_offset"):
        session.shift_array("/a", [float("inf"), 0])
    with pytest.raises(frazil.InvalidInputError, match="chunk_coordinates"):
        session.chunk_type("/a", [0])
    with pytest.raises(frazil.InvalidInputError, match="chunk_coordinates"):
        session.chunk_type("/a", [-1, 0])
    with pytest.raises(frazil.NodeNotFoundError, match="/missing"):
        session.shift_array("/missing", [1, 0])
    zarr.create_group(session.store, path="g")
    with pytest.raises(frazil.InvalidInputError, match="group"):
        session.shift_array("/g", [1])
    assert set(session.status().updated_chunks) == set()
    np.testing.assert_array_equal(read(session), source())


def test_read_only_and_rearrange_sessions_refuse(repo):
    with pytest.raises(frazil.ReadOnlyError):
        repo.readonly_session("main").shift_array("/a", [1, 0])
    with pytest.raises(frazil.SessionStateError, match="writable_session"):
        repo.rearrange_session("main").reindex_array("/a", lambda idx: idx)


def test_concurrent_write_to_a_shifted_chunk_is_a_conflict(repo):
    shifter = repo.writable_session("main")
    shifter.shift_array("/a", [1, 0])
    writer = repo.writable_session("main")
    zarr.open_array(writer.store, path="a", mode="r+")[4:6] = 0
    writer.commit("overwrite chunk row 2")
    with pytest.raises(frazil.RebaseFailedError) as info:
        shifter.commit("shift", rebase_with=frazil.ConflictDetector())
    assert any(c.path == "/a" for c in info.value.conflicts)


def test_shift_of_a_million_chunk_array(tmp_path):
    # a Python loop per chunk would make this take minutes; vectorised it takes seconds
    repo = frazil.Repository.create(frazil.in_memory_storage())
    session = repo.writable_session("main")
    zarr.create_array(
        session.store,
        name="big",
        shape=(1000, 1000),
        chunks=(1, 1),
        dtype="u1",
        fill_value=0,
        compressors=None,
    )
    rows, cols = np.meshgrid(np.arange(1000), np.arange(1000), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    bulk_chunk_refs(session, "/big", coords, b"\x01")
    session.commit("a million chunk refs")
    session = repo.writable_session("main")
    session.shift_array("/big", [-10, 0])
    assert len(session.status().updated_chunks["/big"]) == 10 * 1000
    session.commit("drop ten rows")
    ro = repo.readonly_session("main")
    big = zarr.open_array(ro.store, path="big", mode="r")
    assert big[989, :5].tolist() == [1] * 5
    assert big[990, :5].tolist() == [0] * 5
    assert ro.chunk_type("/big", [999, 999]) == frazil.ChunkType.uninitialized
    assert ro.chunk_type("/big", [0, 999]) == frazil.ChunkType.native
