"""The main job: write a climate-like dataset through fork/merge on a local Dask cluster.

1. Start a ``distributed.LocalCluster`` with worker processes.
2. Build an xarray Dataset (three variables, time x lat x lon, about 200 MB at the
   default size), generated inside the Dask graph.
3. Write it with ``frazil.xarray.to_frazil`` into a new local repository and commit.
4. Append more time steps in a second commit.
5. Read both versions back, verify every value, and print the history.

Size: ``FRAZIL_EXAMPLE_SIZE=small|medium|large`` (default large). Repository location:
``FRAZIL_EXAMPLE_REPO`` (default: a new temporary directory).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from distributed import Client, LocalCluster, progress

import frazil
from frazil.xarray import to_frazil

SIZES = {
    # (days, lat, lon, days appended, time chunk)
    "small": (24, 18, 32, 8, 8),
    "medium": (120, 90, 128, 30, 30),
    "large": (365, 180, 256, 73, 73),
}
VARIABLES = ("temperature", "precipitation", "wind_speed")


def build_dataset(start_day: int, days: int, lat: int, lon: int, time_chunk: int) -> xr.Dataset:
    """A deterministic dataset generated lazily in the graph (same inputs, same values)."""
    chunks = (time_chunk, max(1, lat // 2), max(1, lon // 2))
    t = da.arange(start_day, start_day + days, chunks=time_chunk, dtype="f4")
    y = np.linspace(-89.5, 89.5, lat, dtype="f4")
    x = np.linspace(0, 359, lon, dtype="f4")
    seasonal = da.sin(2 * np.pi * t / 365.25)[:, None, None]
    latitude = da.from_array(np.cos(np.deg2rad(y))[None, :, None], chunks=(1, chunks[1], 1))
    noise = da.random.default_rng(start_day).standard_normal(
        (days, lat, lon), chunks=chunks, dtype="f4"
    )
    temperature = (30 * latitude - 10 + 8 * seasonal + noise).astype("f4")
    precipitation = da.maximum(noise * 2 + 1, 0).astype("f4")
    wind = da.hypot(noise, seasonal + latitude).astype("f4")
    data = {"temperature": temperature, "precipitation": precipitation, "wind_speed": wind}
    time_index = pd.date_range("2020-01-01", periods=start_day + days, freq="D")[start_day:]
    ds = xr.Dataset(
        {name: (("time", "lat", "lon"), array.rechunk(chunks)) for name, array in data.items()},
        coords={"time": time_index, "lat": y, "lon": x},
        attrs={"title": "frazil example", "generator": "examples/write_dataset.py"},
    )
    ds.temperature.attrs["units"] = "degC"
    ds.precipitation.attrs["units"] = "mm/day"
    ds.wind_speed.attrs["units"] = "m/s"
    return ds


def write(client: Client, ds: xr.Dataset, session: frazil.Session, **kwargs: object) -> float:
    """Write lazily through forks, showing progress; returns seconds taken."""
    start = time.perf_counter()
    pending = to_frazil(ds, session, compute=False, **kwargs)
    future = client.compute(pending)
    progress(future)
    print()
    session.merge(future.result())
    return time.perf_counter() - start


def verify(repo: frazil.Repository, snapshot_id: str, expected: xr.Dataset) -> None:
    stored = xr.open_zarr(repo.readonly_session(snapshot_id=snapshot_id).store, consolidated=False)
    assert stored.sizes == expected.sizes, (stored.sizes, expected.sizes)
    for name in VARIABLES:
        same = (stored[name].data == expected[name].data).all().compute()
        if not bool(same):
            raise SystemExit(f"verification failed: {name} differs in snapshot {snapshot_id}")
    np.testing.assert_array_equal(stored.time.values, expected.time.values)
    print(f"  verified snapshot {snapshot_id}: {dict(stored.sizes)} equal to the source")


def main() -> int:
    size = os.environ.get("FRAZIL_EXAMPLE_SIZE", "large")
    days, lat, lon, extra, time_chunk = SIZES[size]
    path = os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-example-")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(os.path.join(path, "repo")))
    print(f"repository: {path}/repo   size: {size}")

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        first = build_dataset(0, days, lat, lon, time_chunk)
        megabytes = first.nbytes / 1e6
        session = repo.writable_session("main")
        print(f"writing {megabytes:.1f} MB ({len(VARIABLES)} variables, {days} days) ...")
        seconds = write(client, first, session, mode="w")
        first_id = session.commit("initial dataset", metadata={"days": days})
        print(f"  committed {first_id} in {seconds:.1f}s ({megabytes / seconds:.1f} MB/s)")

        more = build_dataset(days, extra, lat, lon, time_chunk)
        session = repo.writable_session("main")
        print(f"appending {extra} days ({more.nbytes / 1e6:.1f} MB) ...")
        seconds = write(client, more, session, append_dim="time")
        second_id = session.commit("append", metadata={"days": days + extra})
        print(f"  committed {second_id} in {seconds:.1f}s ({more.nbytes / 1e6 / seconds:.1f} MB/s)")

        print("verifying both versions ...")
        verify(repo, first_id, first)
        verify(repo, second_id, xr.concat([first, more], dim="time"))

    print("history of main:")
    for info in repo.ancestry(branch="main"):
        print(f"  {info.id}  {info.written_at:%Y-%m-%d %H:%M:%S}  {info.message}  {info.metadata}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
