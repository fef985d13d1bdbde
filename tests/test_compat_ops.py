"""Housekeeping and inspection under Icechunk's names: gc keywords and summary,
inspect_snapshot, list_manifest_files, ancestry_graph, logs, debug info, LatencyStorage."""

from __future__ import annotations

import datetime
import json
import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil
from frazil.testing import LatencyStorage

if TYPE_CHECKING:
    from pathlib import Path


def _history(repo: frazil.Repository) -> tuple[str, str, str]:
    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="x", shape=(8,), chunks=(2,), dtype="i4")
    array[:] = np.arange(8)
    first = session.commit("one", {"k": 1})
    repo.create_branch("dev", first)
    session = repo.writable_session("dev")
    zarr.open_array(session.store, path="x")[:2] = 50
    dev = session.commit("two")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x")[6:] = 90
    main = session.commit("three")
    return first, dev, main


def test_gc_accepts_icechunks_keywords_and_reports_its_fields(repo: frazil.Repository) -> None:
    _first, _dev, _main = _history(repo)
    repo.delete_branch("dev")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=0)
    summary = repo.garbage_collect(
        later - datetime.timedelta(microseconds=1),
        dry_run=False,
        max_snapshots_in_memory=10,
        max_compressed_manifest_mem_bytes=1 << 20,
        max_decoded_manifest_mem_bytes=1 << 24,
        max_concurrent_manifest_fetches=4,
        max_concurrent_deletes=2,
        max_consecutive_delete_failures=3,
        max_concurrent_listings=2,
    )
    assert summary.snapshots_deleted == 1
    assert summary.transaction_logs_deleted == 1
    assert summary.manifests_deleted == 1
    assert summary.chunks_deleted == 0  # its chunk was small enough to live inline
    assert summary.bytes_deleted > 0
    assert summary.attributes_deleted == 0
    assert summary.objects_failed_to_delete == 0
    assert summary.throttled_batches == 0
    assert list(summary.delete_errors) == []
    assert list(summary.skipped_phases) == []
    read = repo.readonly_session("main")
    expected = np.arange(8)
    expected[6:] = 90
    np.testing.assert_array_equal(zarr.open_array(read.store, path="x")[:], expected)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_concurrent_deletes": 0},
        {"max_snapshots_in_memory": -1},
        {"max_concurrent_listings": "many"},
        {"max_consecutive_delete_failures": True},
    ],
)
def test_gc_refuses_bad_tuning_and_deletes_nothing(repo: frazil.Repository, bad: dict) -> None:  # type: ignore[type-arg]
    _history(repo)
    repo.delete_branch("dev")
    with pytest.raises(frazil.InvalidInputError):
        repo.garbage_collect(datetime.datetime.now(datetime.UTC), **bad)
    assert (
        repo.garbage_collect(datetime.datetime.now(datetime.UTC), dry_run=True).snapshots_deleted
        == 1
    )


def test_inspect_snapshot_and_manifest_files(tmp_path: Path) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    repo = frazil.Repository.create(storage)
    first, _dev, main = _history(repo)
    report = repo.inspect_snapshot(first)
    json.dumps(report)  # JSON-serialisable
    assert report["id"] == first
    assert report["commit_message"] == "one"
    assert report["metadata"] == {"k": 1}
    paths = {n["path"]: n for n in report["nodes"]}
    assert set(paths) == {"/", "/x"}
    assert paths["/x"]["node_type"] == "array"
    files = repo.list_manifest_files(first)
    assert sum(f.num_chunk_refs for f in files) == 4  # four chunks of x
    for f in files:
        path = tmp_path / "r" / "manifests" / f.id
        assert f.size_bytes == path.stat().st_size
    assert [m["id"] for m in report["manifests"]] == [f.id for f in files]
    assert repo.list_manifest_files(main)
    with pytest.raises(frazil.SnapshotNotFoundError):
        repo.inspect_snapshot("0" * 20)


def test_ancestry_graph(repo: frazil.Repository) -> None:
    first, dev, main = _history(repo)
    repo.create_tag("v1", first)
    text = str(repo.ancestry_graph(plain=True))
    lines = [line for line in text.splitlines() if "●" in line]
    assert len(lines) == 4  # three commits and the initial snapshot, each once
    assert main[:8] in lines[0]
    assert "(main)" in lines[0]
    assert any(dev[:8] in line and "(dev)" in line for line in lines)
    one = next(line for line in lines if first[:8] in line)
    assert "tag: v1" in one
    assert "╯" in one  # dev's lane joins main's at the commit it branched from
    assert lines[-1].endswith("Repository initialized")
    assert "\x1b[" not in text
    only_dev = str(repo.ancestry_graph(branch="dev", plain=True))
    assert main[:8] not in only_dev
    assert dev[:8] in only_dev
    assert "\x1b[" in str(repo.ancestry_graph())
    with pytest.raises(frazil.InvalidInputError):
        repo.ancestry_graph(branch="main", tag="v1")


def test_set_logs_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    storage_logger = logging.getLogger("frazil.storage")
    before = (logging.getLogger("frazil").level, storage_logger.level)
    try:
        frazil.set_logs_filter("icechunk.storage=debug,error")
        assert storage_logger.level == logging.DEBUG
        assert logging.getLogger("frazil").level == logging.ERROR
        monkeypatch.setenv("FRAZIL_LOG", "warn")
        frazil.set_logs_filter(None)
        assert logging.getLogger("frazil").level == logging.WARNING
        with pytest.raises(frazil.InvalidInputError, match="loud"):
            frazil.set_logs_filter("frazil=loud")
        assert logging.getLogger("frazil").level == logging.WARNING
    finally:
        logging.getLogger("frazil").setLevel(before[0])
        storage_logger.setLevel(before[1])


def test_print_debug_info(capsys: pytest.CaptureFixture[str]) -> None:
    frazil.print_debug_info()
    out = capsys.readouterr().out
    assert f"frazil: {frazil.__version__}" in out or "frazil: " in out
    assert f"zarr: {zarr.__version__}" in out
    assert "python: " in out


def test_latency_storage_in_icechunks_spelling() -> None:
    storage = LatencyStorage(frazil.in_memory_storage(), write_latency_ms=0, read_latency_ms=0)
    repo = frazil.Repository.create(storage)
    storage.read_latency_ms = 30
    start = time.perf_counter()
    repo.lookup_branch("main")
    assert time.perf_counter() - start >= 0.03
    storage.read_latency_ms = 0
    session = repo.writable_session("main")
    zarr.create_group(session.store)
    session.commit("with latency")
    assert len(list(repo.ancestry(branch="main"))) == 2
