"""The main job: write a climate-like dataset through ``frazil.Job`` on a local Dask cluster.

1. Start a ``distributed.LocalCluster`` with worker processes.
2. Build an xarray Dataset (three variables, time x lat x lon, about 200 MB at the
   default size), generated lazily in a Dask graph.
3. Job one: the coordinator writes the dataset's metadata and coordinates into the job's
   session; ``job.map`` writes one block of days per shard on the workers (each shard
   through its own fork, published as it finishes, merged in a tree on the cluster); the
   job commits once.
4. Job two appends more days the same way.
5. Read both versions back, verify every value, and print both job records and the
   history (each commit names the job that wrote it).

Size: ``FRAZIL_EXAMPLE_SIZE=small|medium|large`` (default large). Repository location:
``FRAZIL_EXAMPLE_REPO`` (default: a new temporary directory).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from distributed import Client, LocalCluster

import frazil

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


def write_block(
    ds: xr.Dataset, offset: int, fork: frazil.ForkSession, block: tuple[int, int]
) -> None:
    """One shard, on a worker: compute days ``block`` of ``ds`` and write them through the
    shard's fork into the region they take in the stored dataset (``offset`` days in)."""
    start, stop = block
    days = ds.isel(time=slice(start, stop)).compute(scheduler="synchronous")
    days = days.drop_vars(["time", "lat", "lon"])  # the coordinator wrote the coordinates
    days.to_zarr(
        fork.store, region={"time": slice(offset + start, offset + stop)}, consolidated=False
    )


def blocks(days: int, size: int) -> list[tuple[int, int]]:
    """The shards: blocks of ``size`` days (one time chunk each)."""
    return [(start, min(start + size, days)) for start in range(0, days, size)]


def run_job(
    repo: frazil.Repository,
    client: Client,
    name: str,
    ds: xr.Dataset,
    *,
    offset: int,
    time_chunk: int,
    message: str,
) -> tuple[str, float]:
    """One job: metadata in the coordinator, a shard per block of days on the cluster, one
    commit. Returns the snapshot id and the seconds taken."""
    start = time.perf_counter()
    params = {"first_day": offset, "days": ds.sizes["time"], "shape": list(ds.temperature.shape)}
    with frazil.Job.create(repo, name, params=params, executor=client) as job:
        if offset == 0:
            ds.to_zarr(job.session.store, mode="w", compute=False, consolidated=False)
        else:
            ds.to_zarr(job.session.store, append_dim="time", compute=False, consolidated=False)
        job.map(
            functools.partial(write_block, ds, offset),
            blocks(ds.sizes["time"], time_chunk),
            key=lambda block: f"days-{offset + block[0]:04d}-{offset + block[1]:04d}",
        )
        snapshot = job.commit(message, metadata={"days": offset + ds.sizes["time"]})
    return snapshot, time.perf_counter() - start


def show(record: frazil.JobRecord) -> None:
    print(f"  job {record.name!r} ({record.status}), id {record.id}")
    print(f"    params {record.params}  digest {record.params_digest[:16]}...")
    print(
        f"    by {record.user} on {record.host} (pid {record.pid}), frazil {record.frazil_version}"
    )
    seconds = (record.ended_at - record.started_at).total_seconds() if record.ended_at else 0
    print(
        f"    {record.shards_done}/{record.shards_total} shards in {seconds:.1f}s, failed: {record.shards_failed or 'none'}"
    )
    print(f"    committed {record.snapshot_id} on {record.branch!r} from {record.base_snapshot}")


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
        print(f"job 1: writing {megabytes:.1f} MB ({len(VARIABLES)} variables, {days} days) ...")
        first_id, seconds = run_job(
            repo,
            client,
            "initial-dataset",
            first,
            offset=0,
            time_chunk=time_chunk,
            message="initial dataset",
        )
        print(f"  committed {first_id} in {seconds:.1f}s ({megabytes / seconds:.1f} MB/s)")

        more = build_dataset(days, extra, lat, lon, time_chunk)
        print(f"job 2: appending {extra} days ({more.nbytes / 1e6:.1f} MB) ...")
        second_id, seconds = run_job(
            repo,
            client,
            "append-days",
            more,
            offset=days,
            time_chunk=time_chunk,
            message="append",
        )
        print(f"  committed {second_id} in {seconds:.1f}s ({more.nbytes / 1e6 / seconds:.1f} MB/s)")

        print("verifying both versions ...")
        verify(repo, first_id, first)
        verify(repo, second_id, xr.concat([first, more], dim="time"))

    print("job records:")
    for record in repo.list_jobs():
        show(record)
    print("history of main:")
    for info in repo.ancestry(branch="main"):
        job = info.metadata.get("frazil_job", {}).get("name", "-")
        days_meta = info.metadata.get("days", "-")
        print(
            f"  {info.id}  {info.written_at:%Y-%m-%d %H:%M:%S}  {info.message:<16} job={job} days={days_meta}"
        )
    assert repo.job_for_snapshot(second_id).name == "append-days"
    return 0


if __name__ == "__main__":
    sys.exit(main())
