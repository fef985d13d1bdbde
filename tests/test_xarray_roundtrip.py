"""xarray round trips through sessions (threaded scheduler)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import frazil


def dataset(times=6, start="2024-01-01", seed=0):
    rng = np.random.default_rng(seed)
    time = pd.date_range(start, periods=times, freq="D")
    return xr.Dataset(
        {
            "temperature": (
                ("time", "lat", "lon"),
                rng.standard_normal((times, 4, 5)).astype("f4"),
            ),
            "precip": (("time", "lat", "lon"), rng.random((times, 4, 5))),
            "station": (("lat",), np.array(["a", "b", "c", "d"])),
        },
        coords={"time": time, "lat": np.arange(4.0), "lon": np.arange(5.0)},
        attrs={"title": "test"},
    )


def open_main(repo):
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False).load()


def test_to_zarr_and_back(repo):
    ds = dataset().chunk({"time": 2})
    session = repo.writable_session("main")
    ds.to_zarr(session.store, consolidated=False)
    session.commit("write")
    xr.testing.assert_identical(open_main(repo), ds.compute())


def test_append_region_and_r_plus(repo):
    ds = dataset(times=4)
    session = repo.writable_session("main")
    ds.chunk({"time": 2}).to_zarr(session.store, consolidated=False)
    first = session.commit("first")

    more = dataset(times=3, start="2024-01-05", seed=1)
    session = repo.writable_session("main")
    more.chunk({"time": 2}).to_zarr(session.store, append_dim="time", mode="a", consolidated=False)
    second = session.commit("append")
    expected = xr.concat(
        [ds, more],
        dim="time",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="outer",
    )
    expected["station"] = ds["station"]
    xr.testing.assert_identical(open_main(repo), expected)

    update = expected.isel(time=slice(2, 4)).drop_vars(["station", "lat", "lon"])
    update = update.assign(temperature=update.temperature * 0 + 42)
    session = repo.writable_session("main")
    update[["temperature"]].to_zarr(session.store, region="auto", mode="r+", consolidated=False)
    third = session.commit("region")
    result = open_main(repo)
    assert (result.temperature.isel(time=slice(2, 4)) == 42).all()
    np.testing.assert_array_equal(
        result.temperature.isel(time=0), expected.temperature.isel(time=0)
    )

    old = xr.open_zarr(repo.readonly_session(snapshot_id=first).store, consolidated=False).load()
    xr.testing.assert_identical(old, ds)
    assert old.sizes["time"] == 4
    assert (
        xr.open_zarr(repo.readonly_session(snapshot_id=second).store, consolidated=False).sizes[
            "time"
        ]
        == 7
    )
    assert [h.id for h in repo.ancestry(branch="main")][:3] == [third, second, first]


def test_mode_w_minus_refuses_existing(repo):
    session = repo.writable_session("main")
    dataset().to_zarr(session.store, consolidated=False)
    session.commit("one")
    session = repo.writable_session("main")
    with pytest.raises((FileExistsError, frazil.FrazilError, ValueError)):
        dataset().to_zarr(session.store, mode="w-", consolidated=False)


def test_mode_w_overwrites(repo):
    session = repo.writable_session("main")
    dataset(seed=1).to_zarr(session.store, consolidated=False)
    session.commit("one")
    session = repo.writable_session("main")
    replacement = dataset(times=2, seed=2)
    replacement.to_zarr(session.store, mode="w", consolidated=False)
    session.commit("two")
    xr.testing.assert_identical(open_main(repo), replacement)
