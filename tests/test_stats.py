"""Storage statistics and manifest rewriting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil
from frazil.testing import CountingStorage

if TYPE_CHECKING:
    from pathlib import Path

ARRAYS = 12
COMMITS = 96


@pytest.fixture(scope="module")
def appended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One-chunk commits round-robin over several arrays: each array's block lands in the
    manifest of the commit that last touched it."""
    path = tmp_path_factory.mktemp("stats") / "repo"
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path), config)
    session = repo.writable_session("main")
    for i in range(ARRAYS):
        zarr.create_array(session.store, name=f"v{i}", shape=(0,), chunks=(4,), dtype="i4")
    session.commit("arrays")
    for n in range(COMMITS):
        session = repo.writable_session("main")
        array = zarr.open_array(session.store, path=f"v{n % ARRAYS}")
        size = array.shape[0]
        array.resize((size + 4,))
        array[size:] = n
        session.commit(f"append {n}")
    return path


def expected(i: int) -> np.ndarray:
    return np.repeat(np.arange(i, COMMITS, ARRAYS, dtype="i4"), 4)


def cold_read(path: Path) -> tuple[int, list[np.ndarray]]:
    """Open a fresh repository object (empty caches), read every array of the tip; returns
    the distinct manifests it fetched and the data."""
    storage = CountingStorage(frazil.local_filesystem_storage(path))
    repo = frazil.Repository.open(storage)
    session = repo.readonly_session(branch="main")
    data = [zarr.open_array(session.store, path=f"v{i}", mode="r")[:] for i in range(ARRAYS)]
    fetched = {key for op, key in storage.keys if op == "get" and key.startswith("manifests/")}
    return len(fetched), data


def test_rewrite_manifests_packs_the_tip_like_a_fresh_write(appended: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "r"
    shutil.copytree(appended, path)
    before, data = cold_read(path)
    assert before == ARRAYS
    for i in range(ARRAYS):
        np.testing.assert_array_equal(data[i], expected(i))
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    stats_before = repo.chunk_storage_stats()
    old_tip = repo.lookup_branch("main")
    new_tip = repo.rewrite_manifests("compact manifests", branch="main")
    assert repo.lookup_branch("main") == new_tip
    assert repo.lookup_snapshot(new_tip).parent_id == old_tip
    after, data = cold_read(path)
    assert after == 1
    for i in range(ARRAYS):
        np.testing.assert_array_equal(data[i], expected(i))
    assert repo.diff(from_snapshot_id=old_tip, to_snapshot_id=new_tip).is_empty()
    assert repo.chunk_storage_stats() == stats_before
    assert repo.check_integrity(4).ok
    (entry,) = [u for u in repo.ops_log() if u.new_snap_id == new_tip]
    assert isinstance(entry.kind, frazil.UpdateType.NewCommit)
    assert entry.previous_snap_id == old_tip


def test_rewrite_follows_the_configured_split(appended: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "r"
    shutil.copytree(appended, path)
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    config.manifest = frazil.ManifestConfig(split_size=4)
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path), config)
    repo.rewrite_manifests("split small", branch="main")
    snapshot_nodes = frazil.Repository.open(frazil.local_filesystem_storage(path))
    count, data = cold_read(path)
    # 8 chunks per array in blocks of 4: two blocks each, one manifest per block
    assert count == 2 * ARRAYS
    for i in range(ARRAYS):
        np.testing.assert_array_equal(data[i], expected(i))
    assert snapshot_nodes.check_integrity(3).ok


def test_rewrite_refuses_bad_input_and_read_only(appended: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "r"
    shutil.copytree(appended, path)
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    tip = repo.lookup_branch("main")
    with pytest.raises(frazil.RefNotFoundError):
        repo.rewrite_manifests("x", branch="nope")
    with pytest.raises(frazil.ReadOnlyError):
        repo.as_read_only("archived").rewrite_manifests("x", branch="main")
    assert repo.lookup_branch("main") == tip


def test_storage_statistics_count_each_kind_once(tmp_path: Path) -> None:
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=9)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "r"), config)
    session = repo.writable_session("main")
    big = zarr.create_array(
        session.store, name="big", shape=(8, 4), chunks=(2, 4), dtype="i8", compressors=None
    )
    big[:] = np.arange(32).reshape(8, 4)
    small = zarr.create_array(
        session.store, name="small", shape=(6,), chunks=(1,), dtype="i8", compressors=None
    )
    small[:] = np.arange(1, 7)
    first = session.commit("both")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="big")[:2] = -1
    session.commit("rewrite one chunk of big")
    repo.create_tag("first", first)
    stats = repo.chunk_storage_stats()
    # 4 chunks of big at first, one rewritten later: 5 objects of 64 bytes each
    assert stats.native_chunks == 5
    assert stats.native_bytes == 5 * 64
    with pytest.warns(DeprecationWarning, match="chunk_storage_stats"):
        assert repo.total_chunks_storage() == stats.native_bytes
    assert stats.inline_chunks == 6
    assert stats.inline_bytes == 6 * 8
    assert stats.virtual_chunks == 0
    assert stats.total_bytes() == 5 * 64 + 6 * 8
    assert stats.non_virtual_bytes() == stats.total_bytes()
    assert stats.inlined_bytes == stats.inline_bytes
    assert (stats + stats).native_chunks == 10
    on_disk = sum(p.stat().st_size for p in (tmp_path / "r" / "chunks").iterdir())
    assert on_disk == stats.native_bytes
    seen: list[str] = []
    repo.chunk_storage_stats(progress=lambda phase, done, total: seen.append(phase))
    assert "manifests" in seen


def test_rewrite_can_amend_the_tip(appended: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "r"
    shutil.copytree(appended, path)
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    old_tip = repo.lookup_snapshot(repo.lookup_branch("main"))
    with pytest.raises(frazil.InvalidInputError, match="commit_method"):
        repo.rewrite_manifests("x", branch="main", commit_method="squash")
    new_tip = repo.rewrite_manifests("compacted", branch="main", commit_method="amend")
    history = list(repo.ancestry(branch="main"))
    assert history[0].id == new_tip
    assert history[0].parent_id == old_tip.parent_id
    assert old_tip.id not in {s.id for s in history}
    assert len(history) == COMMITS + 2
    assert cold_read(path)[0] == 1
    for i, values in enumerate(cold_read(path)[1]):
        np.testing.assert_array_equal(values, expected(i))
    # the amended commit's changes stay visible to diffs
    diff = repo.diff(from_snapshot_id=str(old_tip.parent_id), to_snapshot_id=new_tip)
    assert diff.updated_chunks == {f"/v{(COMMITS - 1) % ARRAYS}": [[7]]}
    (entry,) = [u for u in repo.ops_log() if u.new_snap_id == new_tip]
    assert isinstance(entry.kind, frazil.UpdateType.CommitAmended)
    assert repo.check_integrity(2).ok
