"""Cost grows with the change, not with the repository: counted storage operations."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import frazil
from frazil.testing import CountingStorage, bulk_chunk_refs

GRID = 1000  # 1000 x 1000 = 1,000,000 chunk references


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "repo"
    storage = CountingStorage(frazil.local_filesystem_storage(path))
    repo = frazil.Repository.create(storage)
    session = repo.writable_session("main")
    zarr.create_array(
        session.store,
        name="big",
        shape=(GRID * 2, GRID * 2),
        chunks=(2, 2),
        dtype="u1",
        compressors=None,
        fill_value=0,
    )
    ii, jj = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    coords = np.stack([ii.ravel(), jj.ravel()], axis=1)
    bulk_chunk_refs(session, "/big", coords, bytes([7, 7, 7, 7]))
    session.commit("a million chunks")
    return repo, storage, path


@pytest.mark.slow
def test_commit_of_one_chunk_rewrites_one_manifest(big_repo):
    repo, storage, _ = big_repo
    session = repo.writable_session("main")
    array = zarr.open_array(session.store, path="big")
    storage.reset()
    array[10:12, 20:22] = 1
    session.commit("one chunk")
    counts = storage.counts
    assert counts["put:manifests"] == 1, counts
    assert counts["get:manifests"] <= 1, counts  # 0 when the block is still cached
    assert counts["put:snapshots"] == 1
    assert counts["put:transactions"] == 1
    assert counts["put:chunks"] <= 1
    assert storage.total() <= 10, counts
    manifest_key = next(k for op, k in storage.keys if op == "put" and k.startswith("manifests/"))
    manifest_size = (big_repo[2] / manifest_key).stat().st_size
    assert manifest_size < 2_000_000, "one block, not the whole array"


@pytest.mark.slow
def test_open_tip_and_read_one_chunk_is_constant(big_repo):
    repo, storage, _ = big_repo
    nocache = frazil.RepositoryConfig(
        caching=frazil.CachingConfig(
            snapshot_cache_bytes=1, manifest_cache_bytes=1, transaction_cache_bytes=1
        )
    )
    fresh = repo.reopen(config=nocache)
    storage.reset()
    session = fresh.readonly_session("main")
    array = zarr.open_array(session.store, path="big", mode="r")
    value = array[1000:1002, 1500:1502]
    np.testing.assert_array_equal(value, 7)
    # ref, snapshot, array metadata is in the snapshot, one manifest block, one chunk
    assert storage.counts["get:manifests"] == 1, storage.counts
    assert storage.counts["get:chunks"] == 1, storage.counts
    assert storage.total() <= 6, storage.counts


@pytest.mark.slow
def test_status_and_diff_stay_columnar(big_repo):
    repo, _, _ = big_repo
    history = list(repo.ancestry(branch="main"))
    diff = repo.diff(from_snapshot_id=history[2].id, to_snapshot_id=history[1].id)
    coords = diff.updated_chunk_coords["/big"]
    assert coords.shape == (GRID * GRID, 2)
    assert coords.dtype == np.int64
