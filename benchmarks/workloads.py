"""The workloads W1-W10 and W12. Each runs inside a fresh process (see ``_runner.py``), sets up
its data untimed, times only the operation it is about, and validates the result by
reading the data back. A workload returns ``{metric: value}``; a failed validation raises.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from benchmarks.adapters import Adapter, adapter_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["WORKLOADS", "Variant", "Workload"]


@dataclass(frozen=True)
class Variant:
    """One configuration of a workload."""

    label: str
    params: dict[str, Any]
    systems: tuple[str, ...]


@dataclass(frozen=True)
class Workload:
    """A named benchmark with its variants and the metrics it reports."""

    key: str
    title: str
    run: Callable[[Adapter, dict[str, Any], bool], dict[str, float]]
    variants: Callable[[bool], list[Variant]]
    metrics: dict[str, str] = field(default_factory=dict)
    """metric name -> "higher" or "lower" (which is better)."""


ALL = ("frazil", "icechunk", "zarr")
TRANSACTIONAL = ("frazil", "icechunk")


class Invalid(Exception):
    """The data read back is not what was written."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Invalid(message)


@contextlib.contextmanager
def scheduler(kind: str) -> Iterator[None]:
    import dask

    if kind == "distributed":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster),
        ):
            yield
    else:
        with dask.config.set(scheduler="threads"):
            yield


def bulk_shape(quick: bool) -> tuple[tuple[int, int], tuple[int, int]]:
    # 512 MiB of float32 in 2 MiB chunks; quick: 1 MiB in 16 KiB chunks
    return ((256, 1024), (64, 64)) if quick else ((16384, 8192), (512, 1024))


def compressors(codec: str) -> Any:
    return None if codec == "none" else zarr.codecs.ZstdCodec(level=1)


def quiesce() -> None:
    """Flush dirty pages so that no run pays for an earlier run's write-back."""
    os.sync()


def persisted(array: Any) -> Any:
    """``array.persist()``, waited for: on a distributed cluster persist returns at once
    and computes in the background, which would then run inside the timed write."""
    array = array.persist()
    try:
        from distributed import default_client, wait
    except ImportError:  # pragma: no cover - distributed is a dependency
        return array
    try:
        default_client()
    except ValueError:  # no client: the threaded scheduler persisted it already
        return array
    wait(array)
    return array


def float_array(
    adapter: Adapter, session: Any, name: str, shape: Any, chunks: Any, codec: str
) -> None:
    """Create the float32 array (fill 0) the bulk workloads write into."""
    zarr.create_array(
        adapter.store(session),
        name=name,
        shape=shape,
        chunks=chunks,
        dtype="f4",
        compressors=compressors(codec),
        fill_value=0,
    )


def warm_up(adapter: Adapter, codec: str) -> None:
    """One small uncommitted write through the same path, so that every system's workers
    have imported their modules before anything is timed."""
    import dask.array as da

    session = adapter.writable()
    float_array(adapter, session, "warmup", (128, 128), (64, 64), codec)
    adapter.store_dask(session, da.ones((128, 128), chunks=(64, 64), dtype="f4"), "warmup")


# ----------------------------------------------------------------------------- W1 / W2
def w1_bulk_write(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    import dask.array as da

    shape, chunks = bulk_shape(quick)
    with scheduler(params["scheduler"]):
        source = persisted(da.random.default_rng(1).random(shape, chunks=chunks, dtype="f4"))
        adapter.create()
        warm_up(adapter, params["codec"])
        session = adapter.writable()
        float_array(adapter, session, "data", shape, chunks, params["codec"])
        quiesce()
        start = time.perf_counter()
        adapter.store_dask(session, source, "data")
        written = time.perf_counter()
        adapter.commit(session, "bulk write")
        done = time.perf_counter()
        stored = da.from_zarr(zarr.open_array(adapter.readonly_store(), path="data", mode="r"))
        check(bool((stored == source).all().compute()), "W1 read-back differs")
    megabytes = source.nbytes / 1e6
    return {
        "MB/s": megabytes / (done - start),
        "write s": written - start,
        "commit s": done - written,
        "peak RSS MB": peak_rss_mb(),
    }


def w2_bulk_read(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    import dask.array as da

    shape, chunks = bulk_shape(quick)
    with scheduler(params["scheduler"]):
        source = persisted(da.random.default_rng(2).random(shape, chunks=chunks, dtype="f4"))
        expected = float(source.sum(dtype="f8").compute())
        adapter.create()
        warm_up(adapter, "none")
        session = adapter.writable()
        float_array(adapter, session, "data", shape, chunks, "none")
        adapter.store_dask(session, source, "data")
        adapter.commit(session, "data")
        adapter.reopen_cold()
        quiesce()
        start = time.perf_counter()
        array = da.from_zarr(zarr.open_array(adapter.readonly_store(), path="data", mode="r"))
        total = float(array.sum(dtype="f8").compute())
        seconds = time.perf_counter() - start
    check(abs(total - expected) <= 1e-6 * abs(expected), "W2 sum differs")
    return {"MB/s": source.nbytes / 1e6 / seconds, "read s": seconds}


# ----------------------------------------------------------------------------- W3
def w3_tiny_chunks(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    count = 2_000 if quick else 80_000
    data = np.arange(count * 8, dtype="f4")
    adapter.create()
    session = adapter.writable()
    array = zarr.create_array(
        adapter.store(session),
        name="tiny",
        shape=data.shape,
        chunks=(8,),
        dtype="f4",
        compressors=None,
        fill_value=-1,
    )
    quiesce()
    start = time.perf_counter()
    array[:] = data
    written = time.perf_counter()
    adapter.commit(session, "tiny chunks")
    committed = time.perf_counter()
    adapter.reopen_cold()
    opened = time.perf_counter()
    one = zarr.open_array(adapter.readonly_store(), path="tiny", mode="r")[800:808]
    read = time.perf_counter()
    check(np.array_equal(one, data[800:808]), "W3 chunk differs")
    everything = zarr.open_array(adapter.readonly_store(), path="tiny", mode="r")[:]
    check(np.array_equal(everything, data), "W3 read-back differs")
    return {
        "chunks/s": count / (committed - start),
        "commit s": committed - written,
        "cold open+read s": read - opened,
    }


# ----------------------------------------------------------------------------- W4
def w4_commit_latency(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    commits = 10 if quick else 200
    adapter.create()
    session = adapter.writable()
    zarr.create_array(
        adapter.store(session),
        name="log",
        shape=(commits * 4,),
        chunks=(4,),
        dtype="i4",
        fill_value=0,
    )
    adapter.commit(session, "setup")
    latencies = []
    for i in range(commits):
        session = adapter.writable()
        zarr.open_array(adapter.store(session), path="log")[i * 4 : (i + 1) * 4] = i + 1
        start = time.perf_counter()
        adapter.commit(session, f"commit {i}")
        latencies.append(time.perf_counter() - start)
    adapter.reopen_cold()
    start = time.perf_counter()
    history = adapter.ancestry()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    adapter.ancestry()
    warm = time.perf_counter() - start
    check(len(history) == commits + 2, f"W4 history has {len(history)} entries")
    values = zarr.open_array(adapter.readonly_store(), path="log", mode="r")[:]
    check(np.array_equal(values, np.repeat(np.arange(1, commits + 1), 4)), "W4 data differs")
    ordered = sorted(latencies)
    return {
        "commit median ms": 1000 * statistics.median(latencies),
        "commit p90 ms": 1000 * ordered[int(0.9 * (len(ordered) - 1))],
        "ancestry cold ms": 1000 * cold,
        "ancestry warm ms": 1000 * warm,
    }


# ----------------------------------------------------------------------------- W5
def w5_fork_merge(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    forks_n, per_fork, bulk = params["forks"], params["chunks"], params.get("bulk", False)
    total = forks_n * per_fork
    adapter.create()
    session = adapter.writable()
    zarr.create_array(
        adapter.store(session),
        name="m",
        shape=(total,),
        chunks=(1,),
        dtype="u1",
        compressors=None,
        fill_value=0,
    )
    adapter.commit(session, "setup")
    session = adapter.writable()
    clean = adapter.pickled_size(adapter.fork(session))
    forks = []
    for f in range(forks_n):
        fork = adapter.fork(session)
        if bulk:
            coords = np.arange(f * per_fork, (f + 1) * per_fork, dtype=np.int64).reshape(-1, 1)
            adapter.bulk_refs(fork, "m", coords, b"\x07")
        else:
            zarr.open_array(adapter.store(fork), path="m")[f * per_fork : (f + 1) * per_fork] = (
                f % 250
            ) + 1
        forks.append(fork)
    forks = [pickle.loads(pickle.dumps(fork)) for fork in forks]
    start = time.perf_counter()
    adapter.merge(session, forks)
    merged = time.perf_counter()
    adapter.commit(session, "merged")
    committed = time.perf_counter()
    if bulk:
        history = adapter.ancestry()
        check(len(history) == 3, "W5 commit missing")
    else:
        values = zarr.open_array(adapter.readonly_store(), path="m", mode="r")[:]
        expected = np.repeat((np.arange(forks_n) % 250) + 1, per_fork)
        check(np.array_equal(values, expected), "W5 data differs")
    return {
        "merge ms": 1000 * (merged - start),
        "commit ms": 1000 * (committed - merged),
        "clean fork bytes": float(clean),
        "peak RSS MB": peak_rss_mb(),
    }


# ----------------------------------------------------------------------------- W6
def _committer(
    system: str,
    root: str,
    options: dict[str, Any],
    worker: int,
    commits: int,
    barrier: Any,
    out: Any,
) -> None:
    adapter = adapter_for(system, root, options)
    adapter.reopen_cold()
    attempts = []
    barrier.wait()
    for i in range(commits):
        session = adapter.writable()
        zarr.open_array(adapter.store(session), path="c")[worker, i] = worker * 1000 + i + 1
        try:
            attempts.append(adapter.commit_with_rebase(session, f"w{worker}-{i}"))
        except Exception as exc:  # noqa: BLE001 -- reported as a lost write, not a crash
            out.put(("error", worker, f"{type(exc).__name__}: {exc}"))
            return
    out.put(("ok", worker, attempts))


def w6_concurrent(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    processes, commits = params["processes"], 3 if quick else 10
    adapter.create()
    session = adapter.writable()
    zarr.create_array(
        adapter.store(session),
        name="c",
        shape=(processes, commits),
        chunks=(1, 1),
        dtype="i8",
        fill_value=0,
    )
    adapter.commit(session, "setup")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes + 1, timeout=300)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=_committer,
            args=(adapter.name, adapter.root, adapter.options, w, commits, barrier, out),
        )
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get(timeout=900) for _ in procs]
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join(timeout=60)
    adapter.reopen_cold()
    values = zarr.open_array(adapter.readonly_store(), path="c", mode="r")[:]
    expected = np.array([[w * 1000 + i + 1 for i in range(commits)] for w in range(processes)])
    messages = {h.message for h in adapter.ancestry()}
    lost_commits = sum(
        f"w{w}-{i}" not in messages for w in range(processes) for i in range(commits)
    )
    lost_values = int((values != expected).sum())
    known = [a for r in results if r[0] == "ok" for a in r[2] if a >= 0]
    failed = sum(r[0] == "error" for r in results)
    return {
        "commits/s": processes * commits / elapsed,
        "retries": float(sum(a - 1 for a in known)) if known else float("nan"),
        "lost writes": float(max(lost_commits, lost_values)),
        "failed workers": float(failed),
    }


# ----------------------------------------------------------------------------- W7
def w7_scale(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    side = 100 if quick else 1000
    adapter.options["count_ops"] = True
    adapter.create()
    session = adapter.writable()
    zarr.create_array(
        adapter.store(session),
        name="big",
        shape=(2 * side, 2 * side),
        chunks=(2, 2),
        dtype="u1",
        compressors=None,
        fill_value=0,
    )
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    adapter.bulk_refs(session, "big", np.stack([ii.ravel(), jj.ravel()], axis=1), b"\x03" * 4)
    adapter.commit(session, f"{side * side} chunk refs")
    adapter.reset_ops()
    start = time.perf_counter()
    session = adapter.writable()
    zarr.open_array(adapter.store(session), path="big")[10:12, 20:22] = 9
    adapter.commit(session, "one chunk")
    committed = time.perf_counter()
    commit_ops = adapter.storage_ops()
    adapter.reopen_cold()
    adapter.reset_ops()
    start_read = time.perf_counter()
    value = zarr.open_array(adapter.readonly_store(), path="big", mode="r")[10:12, 20:22]
    read = time.perf_counter()
    read_ops = adapter.storage_ops()
    check(bool((value == 9).all()), "W7 chunk differs")
    metrics = {
        "commit 1 chunk ms": 1000 * (committed - start),
        "open+read ms": 1000 * (read - start_read),
    }
    if commit_ops is not None and read_ops is not None:
        metrics["commit ops"] = float(commit_ops)
        metrics["open+read ops"] = float(read_ops)
    return metrics


# ----------------------------------------------------------------------------- RSS
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: the high-water mark of this
    process's own memory map. ``getrusage``'s ``ru_maxrss`` would carry the peak of the
    parent a process was forked from across ``exec``, so every spawned process would
    report at least the harness's own peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_fresh_process(target: Callable[..., None], *args: Any) -> dict[str, float]:
    """Run ``target(*args, out)`` in a spawned process; return what it put on ``out``."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get(timeout=900)
    proc.join(timeout=60)
    if isinstance(result, str):
        raise Invalid(result)
    return dict(result)


# ----------------------------------------------------------------------------- W9
def loaded_before_timing(adapter: Adapter) -> None:
    """Load the system's Repository class (frazil loads its public names lazily)."""
    module = getattr(adapter, "_module", None)
    if module is not None:
        _ = module().Repository


def _w9_commit_one(system: str, root: str, options: dict[str, Any], out: Any) -> None:
    try:
        adapter = adapter_for(system, root, options)
        adapter.reopen_cold()
        start = time.perf_counter()
        session = adapter.writable()
        zarr.open_array(adapter.store(session), path="big")[10:12, 20:22] = 9
        adapter.commit(session, "one chunk")
        out.put({"commit 1 chunk ms": 1000 * (time.perf_counter() - start), "rss": peak_rss_mb()})
    except Exception as exc:  # noqa: BLE001 -- reported as a failed validation
        out.put(f"{type(exc).__name__}: {exc}")


def _w9_open_read(system: str, root: str, options: dict[str, Any], out: Any) -> None:
    try:
        adapter = adapter_for(system, root, options)
        loaded_before_timing(adapter)
        start = time.perf_counter()
        adapter.reopen_cold()
        value = zarr.open_array(adapter.readonly_store(), path="big", mode="r")[10:12, 20:22]
        elapsed = time.perf_counter() - start
        if not bool((value == 9).all()):
            out.put("W9 chunk differs")
            return
        out.put({"open+read ms": 1000 * elapsed, "rss": peak_rss_mb()})
    except Exception as exc:  # noqa: BLE001 -- reported as a failed validation
        out.put(f"{type(exc).__name__}: {exc}")


def w9_ten_million(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    """Commit one chunk into, and cold-read one chunk of, an array with 10,000,000 chunk
    refs; each in a fresh process whose peak RSS is reported."""
    side = 100 if quick else int(params.get("side", 3163))  # 3163**2 = 10,004,569 refs
    adapter.create()
    session = adapter.writable()
    zarr.create_array(
        adapter.store(session),
        name="big",
        shape=(2 * side, 2 * side),
        chunks=(2, 2),
        dtype="u1",
        compressors=None,
        fill_value=0,
    )
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    adapter.bulk_refs(session, "big", np.stack([ii.ravel(), jj.ravel()], axis=1), b"\x03" * 4)
    del ii, jj
    adapter.commit(session, f"{side * side} chunk refs")
    commit = _in_fresh_process(_w9_commit_one, adapter.name, adapter.root, adapter.options)
    read = _in_fresh_process(_w9_open_read, adapter.name, adapter.root, adapter.options)
    return {
        "commit 1 chunk ms": commit["commit 1 chunk ms"],
        "commit peak RSS MB": commit["rss"],
        "open+read ms": read["open+read ms"],
        "open+read peak RSS MB": read["rss"],
    }


# ----------------------------------------------------------------------------- W12
def _w12_files(root: str, count: int) -> str:
    """``count`` small source files under ``root/src``; returns the container prefix."""
    folder = os.path.join(root + "-src")
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        with open(os.path.join(folder, f"f{i:05d}.bin"), "wb") as f:
            f.write(np.arange(100 * 8, dtype="<i8").tobytes())  # 100 chunks of 8 bytes
    return f"file://{folder}/"


def w12_virtual_refs(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    """Commit 1,000,000 virtual refs into 10,000 files with ``set_virtual_refs_arr``
    (flat NumPy arrays, locations repeated per chunk); report the time, the manifest
    bytes per ref, and a cold read of the refs through the container."""
    files, per_file = (100, 100) if quick else (10_000, 100)
    n = files * per_file
    prefix = _w12_files(adapter.root, files)
    module = adapter._module()  # type: ignore[attr-defined]
    config = module.RepositoryConfig.default()
    folder = prefix.removeprefix("file://")
    config.set_virtual_chunk_container(
        module.VirtualChunkContainer(prefix, module.local_filesystem_store(folder))
    )
    access = {prefix: None}
    storage = adapter._storage()  # type: ignore[attr-defined]
    repo = module.Repository.create(storage, config, authorize_virtual_chunk_access=access)
    session = repo.writable_session("main")
    side = round(n**0.5)
    zarr.create_array(
        session.store,
        name="v",
        shape=(side, side),
        chunks=(1, 1),
        dtype="<i8",
        compressors=None,
        fill_value=-1,
    )
    names = np.array([f"{prefix}f{i:05d}.bin" for i in range(files)])
    locations = np.repeat(names, per_file).tolist()  # what VirtualiZarr-style code holds
    offsets = np.tile(np.arange(per_file, dtype=np.uint64) * 8, files)
    lengths = np.full(n, 8, dtype=np.uint64)
    quiesce()
    start = time.perf_counter()
    failed = session.store.set_virtual_refs_arr(
        "/v", (side, side), locations, offsets, lengths, validate_containers=True
    )
    set_s = time.perf_counter() - start
    session.commit(f"{n} virtual refs")
    total_s = time.perf_counter() - start
    check(not failed, f"W12 refused {len(failed or [])} refs")
    manifest_bytes = 0
    for dirpath, _, filenames in os.walk(adapter.root):
        if "manifest" in dirpath:
            manifest_bytes += sum(os.path.getsize(os.path.join(dirpath, f)) for f in filenames)
    repo = module.Repository.open(storage, authorize_virtual_chunk_access=access)
    start = time.perf_counter()
    values = zarr.open_array(repo.readonly_session("main").store, path="v", mode="r")[:2, :]
    read_s = time.perf_counter() - start
    expected = np.tile(np.arange(per_file), (2 * side) // per_file + 1)[: 2 * side]
    check(np.array_equal(values.reshape(-1), expected), "W12 virtual data differs")
    return {
        "set refs s": set_s,
        "set+commit s": total_s,
        "manifest bytes/ref": manifest_bytes / n,
        "read 2 rows s": read_s,
    }


# ----------------------------------------------------------------------------- W10
def w10_many_forks(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    """Merge 10,000 pickled one-chunk forks, all at once or tree-reduced 8 at a time."""
    count = 200 if quick else int(params.get("forks", 10_000))
    adapter.create()
    session = adapter.writable()
    zarr.create_array(
        adapter.store(session),
        name="f",
        shape=(count,),
        chunks=(1,),
        dtype="u1",
        compressors=None,
        fill_value=0,
    )
    adapter.commit(session, "setup")
    session = adapter.writable()
    forks = []
    for i in range(count):
        fork = adapter.fork(session)
        zarr.open_array(adapter.store(fork), path="f")[i] = i % 250 + 1
        forks.append(pickle.dumps(fork))
    forks = [pickle.loads(blob) for blob in forks]
    start = time.perf_counter()
    if params["tree"]:
        adapter.merge_tree(session, forks, 8)
    else:
        adapter.merge(session, forks)
    merged = time.perf_counter()
    adapter.commit(session, "merged")
    values = zarr.open_array(adapter.readonly_store(), path="f", mode="r")[:]
    check(np.array_equal(values, np.arange(count) % 250 + 1), "W10 data differs")
    return {"merge ms": 1000 * (merged - start), "peak RSS MB": peak_rss_mb()}


def w10_job(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    """1,000 shards written through store_dask on a LocalCluster; the client's peak RSS."""
    import dask.array as da

    shards = 20 if quick else 1000
    with scheduler("distributed"):
        source = da.random.default_rng(3).random((shards, 128, 128), chunks=(1, 128, 128))
        adapter.create()
        warm_up(adapter, "none")
        session = adapter.writable()
        float_array(adapter, session, "job", source.shape, (1, 128, 128), "none")
        source = source.astype("f4")
        start = time.perf_counter()
        adapter.store_dask(session, source, "job")
        adapter.commit(session, "job")
        elapsed = time.perf_counter() - start
        stored = da.from_zarr(zarr.open_array(adapter.readonly_store(), path="job", mode="r"))
        check(bool((stored == source).all().compute()), "W10 job read-back differs")
    return {"job s": elapsed, "client peak RSS MB": peak_rss_mb()}


# ----------------------------------------------------------------------------- W8
def w8_import(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    module, first_use = {
        "frazil": ("frazil", "frazil.Repository"),
        "icechunk": ("icechunk", "icechunk.Repository"),
        "zarr": ("zarr", "zarr.open_array"),
    }[adapter.name]
    code = (
        "import time; t = time.perf_counter(); "
        f"import {module}; a = time.perf_counter(); {first_use}; b = time.perf_counter(); "
        "print(a - t, b - t)"
    )
    # Measure imports as installed packages behave: with bytecode. An editable install
    # under PYTHONDONTWRITEBYTECODE would otherwise recompile frazil on every import.
    compile_code = (
        f"import compileall, os, {module} as m; "
        "compileall.compile_dir(os.path.dirname(m.__file__), quiet=1)"
    )
    subprocess.run([sys.executable, "-c", compile_code], check=True, capture_output=True)
    bare, used = [], []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        first, second = out.stdout.strip().splitlines()[-1].split()
        bare.append(float(first))
        used.append(float(second))
    return {"import ms": 1000 * min(bare), "import+first use ms": 1000 * min(used)}


# ----------------------------------------------------------------------------- W11
def _w11_cold_read(adapter: Adapter, arrays: int) -> tuple[float, int, int, list[Any]]:
    """Time, storage requests and distinct manifests of a cold read of every array."""
    adapter.reopen_cold()
    adapter.reset_ops()
    start = time.perf_counter()
    store = adapter.readonly_store()
    data = [zarr.open_array(store, path=f"v{i}", mode="r")[:] for i in range(arrays)]
    elapsed = time.perf_counter() - start
    keys = getattr(getattr(adapter, "counting", None), "keys", [])
    manifests = len({key for op, key in keys if op == "get" and key.startswith("manifests/")})
    return elapsed, int(adapter.storage_ops() or 0), manifests, data


def w11_compaction(adapter: Adapter, params: dict[str, Any], quick: bool) -> dict[str, float]:
    commits, arrays = (100, 10) if quick else (10_000, 100)
    adapter.options["count_ops"] = True
    adapter.create()
    session = adapter.writable()
    for i in range(arrays):
        zarr.create_array(adapter.store(session), name=f"v{i}", shape=(0,), chunks=(4,), dtype="i4")
    adapter.commit(session, "setup")
    for n in range(commits):
        session = adapter.writable()
        array = zarr.open_array(adapter.store(session), path=f"v{n % arrays}")
        size = array.shape[0]
        array.resize((size + 4,))
        array[size:] = n + 1
        adapter.commit(session, f"append {n}")
    before_s, before_ops, before_manifests, before = _w11_cold_read(adapter, arrays)
    start = time.perf_counter()
    adapter.repo.rewrite_manifests("rewrite manifests", branch="main")  # type: ignore[attr-defined]
    rewrite_s = time.perf_counter() - start
    after_s, after_ops, after_manifests, after = _w11_cold_read(adapter, arrays)
    for i in range(arrays):
        want = np.repeat(np.arange(i, commits, arrays) + 1, 4)
        check(np.array_equal(before[i], want), f"W11 v{i} differs before the rewrite")
        check(np.array_equal(after[i], want), f"W11 v{i} differs after the rewrite")
    return {
        "cold read ops before": float(before_ops),
        "cold read ops after": float(after_ops),
        "manifests read before": float(before_manifests),
        "manifests read after": float(after_manifests),
        "cold read ms before": 1000 * before_s,
        "cold read ms after": 1000 * after_s,
        "rewrite ms": 1000 * rewrite_s,
    }


WORKLOADS: dict[str, Workload] = {
    "W1": Workload(
        "W1",
        "bulk write + commit, 512 MiB float32 in 2 MiB chunks",
        w1_bulk_write,
        lambda quick: [
            Variant(
                f"{s}/{c}",
                {"scheduler": s, "codec": c},
                ALL + (("frazil-s3", "icechunk-s3") if (s, c) == ("threads", "none") else ()),
            )
            for s in ("threads", "distributed")
            for c in ("none", "zstd")
        ],
        {"MB/s": "higher", "write s": "lower", "commit s": "lower", "peak RSS MB": "lower"},
    ),
    "W2": Workload(
        "W2",
        "bulk read (full reduction) of the W1 array",
        w2_bulk_read,
        lambda quick: [Variant(s, {"scheduler": s}, ALL) for s in ("threads", "distributed")],
        {"MB/s": "higher", "read s": "lower"},
    ),
    "W3": Workload(
        "W3",
        "80,000 tiny chunks written and committed; cold open + read one chunk",
        w3_tiny_chunks,
        lambda quick: [Variant("80k", {}, ALL)],
        {"chunks/s": "higher", "commit s": "lower", "cold open+read s": "lower"},
    ),
    "W4": Workload(
        "W4",
        "200 sequential one-chunk commits; ancestry of 200 commits",
        w4_commit_latency,
        lambda quick: [Variant("200", {}, (*TRANSACTIONAL, "frazil-s3", "icechunk-s3"))],
        {
            "commit median ms": "lower",
            "commit p90 ms": "lower",
            "ancestry cold ms": "lower",
            "ancestry warm ms": "lower",
        },
    ),
    "W5": Workload(
        "W5",
        "fork/merge scaling: N forks x K chunks, pickled, merged, committed",
        w5_fork_merge,
        lambda quick: (
            [Variant(f"N={n} K=4", {"forks": n, "chunks": 4}, TRANSACTIONAL) for n in (1, 8)]
            + [Variant("2 x 5k refs", {"forks": 2, "chunks": 5_000, "bulk": True}, TRANSACTIONAL)]
            if quick
            else [
                Variant(f"N={n} K=16", {"forks": n, "chunks": 16}, TRANSACTIONAL)
                for n in (1, 8, 64, 256, 1000)
            ]
            + [
                Variant(
                    "2 x 500k refs", {"forks": 2, "chunks": 500_000, "bulk": True}, TRANSACTIONAL
                )
            ]
        ),
        {
            "merge ms": "lower",
            "commit ms": "lower",
            "clean fork bytes": "lower",
            "peak RSS MB": "lower",
        },
    ),
    "W6": Workload(
        "W6",
        "concurrent committers x 10 commits to disjoint chunks, with rebase",
        w6_concurrent,
        lambda quick: [
            Variant(f"{p} procs", {"processes": p}, TRANSACTIONAL)
            for p in ((2,) if quick else (4, 8))
        ],
        {
            "commits/s": "higher",
            "retries": "lower",
            "lost writes": "lower",
            "failed workers": "lower",
        },
    ),
    "W7": Workload(
        "W7",
        "1,000,000 chunk refs: commit one chunk; cold open + read one chunk",
        w7_scale,
        lambda quick: [Variant("1M refs", {}, TRANSACTIONAL)],
        {
            "commit 1 chunk ms": "lower",
            "open+read ms": "lower",
            "commit ops": "lower",
            "open+read ops": "lower",
        },
    ),
    "W9": Workload(
        "W9",
        "100,000 / 1,000,000 / 10,000,000 chunk refs: commit one chunk; cold open + read "
        "(fresh processes)",
        w9_ten_million,
        lambda quick: [
            Variant(label, {"side": side}, TRANSACTIONAL)
            for label, side in (("100k refs", 317), ("1M refs", 1000), ("10M refs", 3163))
            if not quick or side == 3163
        ],
        {
            "commit 1 chunk ms": "lower",
            "commit peak RSS MB": "lower",
            "open+read ms": "lower",
            "open+read peak RSS MB": "lower",
        },
    ),
    "W10": Workload(
        "W10",
        "1,000 and 10,000 one-chunk forks merged (flat / tree of 8)",
        w10_many_forks,
        lambda quick: [
            Variant(label, {"tree": tree, "forks": forks}, TRANSACTIONAL)
            for label, tree, forks in (
                ("1k flat", False, 1_000),
                ("flat", False, 10_000),
                ("tree", True, 10_000),
            )
            if not quick or forks == 10_000
        ],
        {"merge ms": "lower", "peak RSS MB": "lower"},
    ),
    "W10j": Workload(
        "W10j",
        "a job of 1,000 shards through store_dask on a LocalCluster",
        w10_job,
        lambda quick: [Variant("1000 shards", {}, ALL)],
        {"job s": "lower", "client peak RSS MB": "lower"},
    ),
    "W11": Workload(
        "W11",
        "10,000 one-chunk appends over 100 arrays; cold read of the tip before/after "
        "rewrite_manifests",
        w11_compaction,
        lambda quick: [Variant("10k appends", {}, ("frazil",))],
        {
            "cold read ops before": "lower",
            "cold read ops after": "lower",
            "manifests read before": "lower",
            "manifests read after": "lower",
            "cold read ms before": "lower",
            "cold read ms after": "lower",
            "rewrite ms": "lower",
        },
    ),
    "W12": Workload(
        "W12",
        "1,000,000 virtual refs into 10,000 files via set_virtual_refs_arr",
        w12_virtual_refs,
        lambda quick: [Variant("1M refs", {}, TRANSACTIONAL)],
        {
            "set refs s": "lower",
            "set+commit s": "lower",
            "manifest bytes/ref": "lower",
            "read 2 rows s": "lower",
        },
    ),
    "W8": Workload(
        "W8",
        "import time",
        w8_import,
        lambda quick: [Variant("import", {}, ALL)],
        {"import ms": "lower", "import+first use ms": "lower"},
    ),
}
