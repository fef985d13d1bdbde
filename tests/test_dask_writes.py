"""Distributed writes on real schedulers: store_dask and to_frazil (fork/merge), and plain
to_zarr / dask.array.to_zarr / dask.array.store on a writable session's store (staging)."""

from __future__ import annotations

import os
import pathlib
import time

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

import frazil
from frazil.dask import store_dask
from frazil.xarray import to_frazil

pytestmark = [pytest.mark.dask, pytest.mark.slow]


def source_array(shape=(60, 40), chunks=(10, 10), seed=0):
    return da.random.default_rng(seed).random(shape, chunks=chunks)


def make_dataset(times=12, start="2020-01-01", seed=0, chunks=3):
    rng = da.random.default_rng(seed)
    time = pd.date_range(start, periods=times, freq="D")
    return xr.Dataset(
        {
            "temperature": (
                ("time", "lat", "lon"),
                rng.standard_normal((times, 8, 10), chunks=(chunks, 8, 10)).astype("f4"),
            ),
            "humidity": (
                ("time", "lat", "lon"),
                rng.random((times, 8, 10), chunks=(chunks, 8, 10)),
            ),
            "elevation": (("lat", "lon"), np.arange(80.0).reshape(8, 10)),
        },
        coords={"time": time, "lat": np.linspace(-40, 40, 8), "lon": np.linspace(0, 90, 10)},
        attrs={"source": "test"},
    )


def read_main(repo):
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False).load()


def committed_chunks(repo):
    history = list(repo.ancestry(branch="main"))
    return repo.diff(
        from_snapshot_id=history[1].id, to_snapshot_id=history[0].id
    ).updated_chunk_coords


@pytest.fixture(params=["distributed", "processes", "threads"])
def scheduler(request):
    if request.param == "distributed":
        client = request.getfixturevalue("dask_client")
        yield client
        return
    with dask.config.set(scheduler=request.param):
        yield None


# ----------------------------------------------------------------------------- fork/merge
def test_store_dask(repo, scheduler):
    source = source_array()
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=source.shape, chunks=(10, 10), dtype="f8")
    fork = session.fork()
    target = zarr.open_array(fork.store, path="x")
    merged = store_dask(sources=[source], targets=[target], split_every=3)
    session.merge(merged)
    session.commit("store_dask")
    got = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")[:]
    np.testing.assert_array_equal(got, source.compute())
    assert committed_chunks(repo)["/x"].shape == (24, 2), "every chunk is in the commit"


@pytest.mark.parametrize("split_every", [2, 5, None, 1000])
def test_store_dask_many_sources_one_fan_in_tree(repo, scheduler, split_every):
    # two sources of different block counts share one merge tree, at any fan-in
    sources = [source_array(seed=1), source_array((25, 7), (4, 3), seed=2)]
    session = repo.writable_session("main")
    for name, source in zip(("a", "b"), sources, strict=True):
        zarr.create_array(
            session.store, name=name, shape=source.shape, chunks=source.chunksize, dtype="f8"
        )
    fork = session.fork()
    targets = [zarr.open_array(fork.store, path=name) for name in ("a", "b")]
    session.merge(store_dask(sources=sources, targets=targets, split_every=split_every))
    session.commit("two sources")
    store = repo.readonly_session("main").store
    for name, source in zip(("a", "b"), sources, strict=True):
        np.testing.assert_array_equal(zarr.open_array(store, path=name, mode="r")[:], source)
    assert committed_chunks(repo)["/a"].shape == (24, 2)
    assert committed_chunks(repo)["/b"].shape == (7 * 3, 2)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True, "4"])
def test_store_dask_refuses_a_fan_in_below_two(repo, bad):
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(4,), chunks=(2,), dtype="f8")
    target = zarr.open_array(session.fork().store, path="x")
    with pytest.raises(frazil.InvalidInputError, match="split_every must be an integer >= 2"):
        store_dask(sources=[da.ones(4, chunks=2)], targets=[target], split_every=bad)


def test_to_frazil_write_append_region(repo, dask_client):
    ds = make_dataset()
    session = repo.writable_session("main")
    to_frazil(ds, session, mode="w", split_every=2)
    session.commit("write")
    xr.testing.assert_identical(read_main(repo), ds.compute())

    more = make_dataset(times=6, start="2020-01-13", seed=1).drop_vars("elevation")
    session = repo.writable_session("main")
    to_frazil(more, session, append_dim="time")
    session.commit("append")
    result = read_main(repo)
    assert result.sizes["time"] == 18
    np.testing.assert_array_equal(result.temperature.values[12:], more.temperature.values)
    np.testing.assert_array_equal(result.temperature.values[:12], ds.temperature.values)

    patch = result.isel(time=slice(3, 9))[["humidity"]].drop_vars(["lat", "lon"]).chunk({"time": 3})
    patch = patch * 0 + 5.0
    session = repo.writable_session("main")
    to_frazil(patch, session, region="auto")
    session.commit("region")
    final = read_main(repo)
    assert (final.humidity.isel(time=slice(3, 9)) == 5.0).all()
    np.testing.assert_array_equal(final.humidity.values[:3], ds.humidity.values[:3])


def test_to_frazil_twice_in_one_session_later_write_wins(repo, scheduler):
    ds = make_dataset()
    session = repo.writable_session("main")
    to_frazil(ds, session, mode="w")
    patch = ds.isel(time=slice(3, 9))[["humidity"]].drop_vars(["lat", "lon"]) * 0 + 5.0
    to_frazil(patch, session, region="auto")  # rewrites chunks the first write made
    session.commit("write, then patch")
    result = read_main(repo)
    np.testing.assert_array_equal(result.humidity.values[3:9], 5.0)
    np.testing.assert_array_equal(result.humidity.values[:3], ds.humidity.values[:3])
    np.testing.assert_array_equal(result.temperature.values, ds.temperature.values)


def test_datasets_with_scalar_variables(repo, scheduler):
    ds = make_dataset().assign(offset=((), 1.5))
    session = repo.writable_session("main")
    to_frazil(ds, session, mode="w")
    session.commit("to_frazil")
    xr.testing.assert_identical(read_main(repo), ds.compute())
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", consolidated=False)
    session.commit("plain to_zarr")
    xr.testing.assert_identical(read_main(repo), ds.compute())


def test_to_frazil_compute_false(repo, dask_client):
    ds = make_dataset()
    session = repo.writable_session("main")
    delayed = to_frazil(ds, session, mode="w", compute=False)
    assert "temperature" in zarr.open_group(session.store), "metadata written now"
    session.merge(delayed.compute())
    session.commit("later")
    xr.testing.assert_identical(read_main(repo), ds.compute())


def test_to_frazil_dataarray_and_eager(repo, dask_client):
    array = make_dataset().temperature.rename("t2m")
    session = repo.writable_session("main")
    to_frazil(array, session, mode="w")
    eager = xr.Dataset({"flag": ("x", np.arange(5))})
    to_frazil(eager, session, group="eager", mode="w")
    session.commit("both")
    back = xr.open_zarr(repo.readonly_session("main").store, consolidated=False)
    xr.testing.assert_identical(back.t2m.load(), array.compute())
    flag = xr.open_zarr(repo.readonly_session("main").store, group="eager", consolidated=False)
    np.testing.assert_array_equal(flag.flag.values, np.arange(5))


def _explode(block):
    raise RuntimeError("task failed on purpose")


def test_failed_task_commits_nothing(repo, dask_client):
    ds = make_dataset()
    ds["bad"] = ds.temperature.copy(
        data=ds.temperature.data.map_blocks(_explode, meta=np.array((), dtype="f4"))
    )
    session = repo.writable_session("main")
    tip = repo.lookup_branch("main")
    with pytest.raises(RuntimeError, match="on purpose"):
        to_frazil(ds, session, mode="w")
    assert not session.has_uncommitted_changes, "the session is rolled back"
    with pytest.raises(frazil.NoChangesToCommitError):
        session.commit("nothing")
    assert repo.lookup_branch("main") == tip


def _die_once(block, marker):
    path = pathlib.Path(marker)
    if block.size and not path.exists():
        path.write_text("died")
        os._exit(1)
    return block


def test_worker_killed_mid_write_is_retried(repo, dask_client, tmp_path):
    ds = make_dataset()
    marker = str(tmp_path / "died")
    ds["temperature"] = ds.temperature.copy(
        data=ds.temperature.data.map_blocks(_die_once, marker, meta=np.array((), dtype="f4"))
    )
    session = repo.writable_session("main")
    to_frazil(ds, session, mode="w")
    session.commit("survived")
    assert pathlib.Path(marker).exists(), "a worker really died"
    expected = make_dataset().compute()
    xr.testing.assert_identical(read_main(repo), expected)


# ----------------------------------------------------------------------------- plain writes
def test_plain_to_zarr_on_the_cluster(repo, scheduler):
    ds = make_dataset()
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", consolidated=False)
    session.commit("plain")
    xr.testing.assert_identical(read_main(repo), ds.compute())
    assert committed_chunks(repo)["/temperature"].shape == (4, 3)

    more = make_dataset(times=6, start="2020-01-13", seed=2).drop_vars("elevation")
    session = repo.writable_session("main")
    more.to_zarr(session.store, append_dim="time", consolidated=False)
    session.commit("append")
    result = read_main(repo)
    assert result.sizes["time"] == 18
    np.testing.assert_array_equal(result.humidity.values[12:], more.humidity.values)

    patch = (
        result.isel(time=slice(6, 12))[["temperature"]].drop_vars(["lat", "lon"]) * 0 - 1
    ).chunk({"time": 3})
    session = repo.writable_session("main")
    patch.to_zarr(session.store, region="auto", mode="r+", consolidated=False)
    session.commit("region")
    final = read_main(repo)
    assert (final.temperature.isel(time=slice(6, 12)) == -1).all()
    np.testing.assert_array_equal(final.temperature.values[:6], ds.temperature.values[:6])


def test_plain_to_zarr_twice_in_one_session(repo, scheduler):
    ds = make_dataset()
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", consolidated=False)
    patch = ds.isel(time=slice(3, 9))[["humidity"]].drop_vars(["lat", "lon"]) * 0 + 5.0
    patch.to_zarr(session.store, region="auto", consolidated=False)
    more = make_dataset(times=4, start="2020-01-13", seed=1, chunks=2).drop_vars("elevation")
    more.isel(time=slice(0, 1)).to_zarr(session.store, append_dim="time", consolidated=False)
    rest = more.isel(time=slice(1, 4)).chunk({"time": -1})  # fills the partial zarr chunk
    rest.to_zarr(session.store, append_dim="time", consolidated=False)
    session.commit("write, patch and append twice, one commit")
    result = read_main(repo)
    expected = xr.concat([ds.drop_vars("elevation"), more], dim="time")
    expected["humidity"][3:9] = 5.0
    np.testing.assert_array_equal(result.humidity.values, expected.humidity.values)
    np.testing.assert_array_equal(result.temperature.values, expected.temperature.values)
    assert result.sizes["time"] == 16


def test_plain_dask_array_to_zarr_and_store(repo, scheduler):
    source = source_array()
    session = repo.writable_session("main")
    source.to_zarr(session.store, component="x")
    target = zarr.create_array(
        session.store, name="y", shape=source.shape, chunks=(10, 10), dtype="f8"
    )
    da.store(source * 2, target, lock=False)
    session.commit("to_zarr and store")
    ro = repo.readonly_session("main").store
    np.testing.assert_array_equal(zarr.open_array(ro, path="x", mode="r")[:], source.compute())
    np.testing.assert_array_equal(zarr.open_array(ro, path="y", mode="r")[:], 2 * source.compute())
    chunks = committed_chunks(repo)
    assert chunks["/x"].shape == (24, 2)
    assert chunks["/y"].shape == (24, 2)


def test_two_tasks_writing_one_chunk_is_a_reported_conflict(repo, dask_client):
    session = repo.writable_session("main")
    target = zarr.create_array(
        session.store, name="z", shape=(6,), chunks=(2,), dtype="i4", fill_value=0
    )
    first = da.from_array(np.array([1, 1, 1, 1]), chunks=2)
    second = da.from_array(np.array([2, 2, 2]), chunks=3)
    da.store(
        [first, second], [target, target], regions=[(slice(0, 4),), (slice(3, 6),)], lock=False
    )
    tip = repo.lookup_branch("main")
    with pytest.raises(frazil.MergeConflictError, match=r"/z.*\[1\]"):
        session.commit("conflicting")
    assert repo.lookup_branch("main") == tip, "nothing was committed"


def test_killed_worker_retry_does_not_duplicate(repo, dask_client, tmp_path):
    source = source_array()
    marker = str(tmp_path / "died")
    dying = source.map_blocks(_die_once, marker, meta=np.array((), dtype=source.dtype))
    session = repo.writable_session("main")
    dying.to_zarr(session.store, component="x")
    session.commit("after a retry")
    assert pathlib.Path(marker).exists()
    got = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")[:]
    np.testing.assert_array_equal(got, source.compute())


def _slow_after_50(block):
    import time

    if block.flat[0] >= 50:
        time.sleep(3)
    return block


def test_commit_while_workers_still_write_fails_the_late_writes(repo, dask_client):
    source = da.arange(100, chunks=10, dtype="i8").map_blocks(_slow_after_50)
    session = repo.writable_session("main")
    target = zarr.create_array(
        session.store, name="z", shape=(100,), chunks=(10,), dtype="i8", fill_value=-1
    )
    future = dask_client.compute(da.store(source, target, lock=False, compute=False))
    deadline = time.monotonic() + 60
    while not _objects(repo, "staging/") and time.monotonic() < deadline:
        time.sleep(0.1)
    session.commit("too early")
    with pytest.raises(Exception, match="came too late"):
        future.result()
    committed = zarr.open_array(repo.readonly_session("main").store, path="z", mode="r")[:]
    # whatever made it into the commit is right; what did not, failed its task loudly
    # (which tasks run first is up to the scheduler, so which chunks are late varies)
    written = committed != -1
    np.testing.assert_array_equal(committed[written], np.arange(100)[written])


def test_metadata_from_a_remote_copy_is_refused_clearly(repo):
    import pickle

    session = repo.writable_session("main")
    copy = pickle.loads(pickle.dumps(session.store))
    with pytest.raises(frazil.SessionStateError, match="coordinating process"):
        zarr.create_array(copy, name="m", shape=(2,), dtype="i4")


def test_staging_debris_is_garbage_collected(repo, dask_client):
    import datetime

    source = source_array()
    session = repo.writable_session("main")
    source.to_zarr(session.store, component="x")
    staged = [k for k, _ in _objects(repo, "staging/")]
    assert staged, "remote copies left markers"
    session.discard_changes()
    tip = repo.lookup_branch("main")
    now = datetime.datetime.now(datetime.UTC)  # after the debris was written
    summary = repo.garbage_collect(now)
    assert summary.staging_deleted == len(staged) + 1, "the markers and the discard's seal"
    assert summary.chunks_deleted >= 24
    assert not list(_objects(repo, "staging/"))
    assert repo.lookup_branch("main") == tip
    list(repo.ancestry(branch="main"))


def _objects(repo, prefix):
    async def collect():
        return [(i.key, i.size) async for i in repo.storage.list(prefix)]

    return frazil._sync.sync(collect())


class DieAfterWrite:
    """A dask.array.store target that writes the block, then kills its worker once."""

    def __init__(self, array, marker):
        self.array = array
        self.marker = marker
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __setitem__(self, key, value):
        self.array[key] = value
        path = pathlib.Path(self.marker)
        if not path.exists():
            path.write_text("died after writing")
            os._exit(1)


def test_task_retried_after_writing_does_not_duplicate(repo, dask_client, tmp_path):
    source = source_array()
    session = repo.writable_session("main")
    target = zarr.create_array(
        session.store, name="x", shape=source.shape, chunks=(10, 10), dtype="f8"
    )
    marker = str(tmp_path / "died")
    da.store(source, DieAfterWrite(target, marker), lock=False)
    assert pathlib.Path(marker).exists(), "a worker died after writing its chunk"
    markers = [k for k, _ in _objects(repo, "staging/")]
    # the retried task wrote its chunk twice; tasks whose results lived on the dead
    # worker may be recomputed and write theirs twice too (identical bytes either way)
    assert len(markers) >= 25, "the retried task wrote its chunk twice"
    written = {m.split("/")[3] for m in markers}
    assert len(written) == 24
    session.commit("retried")
    got = zarr.open_array(repo.readonly_session("main").store, path="x", mode="r")[:]
    np.testing.assert_array_equal(got, source.compute())
    assert committed_chunks(repo)["/x"].shape == (24, 2)
