"""Housekeeping and inspection under Icechunk's names: gc keywords and summary,
inspect_snapshot, inspect_manifest, inspect_transaction_log, inspect_repo_info,
list_manifest_files, ancestry_graph, logs, debug info, LatencyStorage."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import os
import subprocess
import sys
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


def test_inspect_manifest_counts_refs_by_kind(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(64))
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=8)
    config.set_virtual_chunk_container(
        frazil.VirtualChunkContainer(
            f"file://{tmp_path}/", frazil.local_filesystem_store(str(tmp_path))
        )
    )
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    repo = frazil.Repository.create(storage, config)
    session = repo.writable_session("main")
    small = zarr.create_array(
        session.store, name="small", shape=(4,), chunks=(1,), dtype="u1", compressors=None
    )
    small[:] = 1  # four chunks of one byte: inline
    big = zarr.create_array(
        session.store, name="big", shape=(64,), chunks=(16,), dtype="u1", compressors=None
    )
    big[:32] = 2  # two chunks of 16 bytes: native
    for i in (2, 3):  # two virtual chunks into one file
        session.store.set_virtual_ref(f"big/c/{i}", f"file://{src}", offset=16 * i, length=16)
    snap = session.commit("mixed")
    ids = {node["path"]: node["id"] for node in repo.inspect_snapshot(snap)["nodes"]}
    for info in repo.list_manifest_files(snap):
        report = repo.inspect_manifest(info.id)
        json.dumps(report)
        assert report == asyncio.run(repo.inspect_manifest_async(info.id))
        assert report["id"] == info.id
        assert report["size_bytes"] == info.size_bytes
        assert report["header"] == {
            "spec_version": "1",
            "file_type": "manifest",
            "compression": "zstd",
        }
        assert (
            report["total_chunk_refs"]
            == info.num_chunk_refs
            == sum(report[f"total_{k}"] for k in ("inline", "native", "virtual"))
        )
        assert len(report["arrays"]) == report["num_arrays"]
        for array in report["arrays"]:
            counts = (array["num_inline"], array["num_native"], array["num_virtual"])
            assert array["num_chunk_refs"] == sum(counts)
            expected = {ids["/small"]: (4, 0, 0), ids["/big"]: (0, 2, 2)}[array["node_id"]]
            assert counts == expected
    reports = [repo.inspect_manifest(i.id) for i in repo.list_manifest_files(snap)]
    assert sum(r["compression"]["num_locations"] for r in reports) == 1
    with pytest.raises(frazil.NotFoundError) as missing:
        repo.inspect_manifest("0" * 20)
    assert missing.value.kind == "object-not-found"
    assert "list_manifest_files" in str(missing.value)
    with pytest.raises(frazil.InvalidInputError):
        repo.inspect_manifest("../refs/branch.main")


def test_inspect_transaction_log(repo: frazil.Repository) -> None:
    first, _dev, main = _history(repo)
    log = repo.inspect_transaction_log(first)
    json.dumps(log)
    assert log == asyncio.run(repo.inspect_transaction_log_async(first))
    assert log["header"]["file_type"] == "transaction-log"
    assert (log["snapshot_id"], log["parent_id"]) == (
        first,
        list(repo.ancestry(snapshot_id=first))[1].id,
    )
    (x_id,) = log["new_arrays"]
    assert log["node_paths"][x_id] == "/x"
    assert len(log["new_groups"]) == 1  # the root
    assert log["updated_chunks"] == [{"node_id": x_id, "chunks": [[0], [1], [2], [3]]}]
    assert log["moved_nodes"] == [] == log["deleted_arrays"]
    later = repo.inspect_transaction_log(main)
    assert later["new_arrays"] == []
    assert later["updated_chunks"] == [{"node_id": x_id, "chunks": [[3]]}]
    session = repo.rearrange_session("main")
    session.move("/x", "/y")
    moved = repo.inspect_transaction_log(session.commit("rename"))
    assert moved["moved_nodes"] == [{"from": "/x", "to": "/y"}]
    with pytest.raises(frazil.SnapshotNotFoundError):
        repo.inspect_transaction_log("0" * 20)


def test_inspect_repo_info(repo: frazil.Repository) -> None:
    first, dev, main = _history(repo)
    repo.create_tag("v1", first)
    repo.create_tag("gone", first)
    repo.delete_tag("gone")
    repo.set_metadata({"team": "ice"})
    repo.set_feature_flag("delete_tag", False)
    info = repo.inspect_repo_info()
    json.dumps(info)
    assert info == asyncio.run(repo.inspect_repo_info_async())
    assert info["header"]["file_type"] == "repo"
    assert info["spec_version"] == "1"
    assert info["branches"] == {"main": main, "dev": dev}
    assert info["tags"] == {"v1": first}
    assert info["deleted_tags"] == ["gone"]
    assert info["metadata"] == {"team": "ice"}
    snapshots = info["snapshots"]
    assert [s["id"] for s in snapshots][:2] == [main, dev]  # newest first
    assert len(snapshots) == 4  # three commits and the first snapshot
    assert "parent_id" not in snapshots[-1]
    assert snapshots[-1]["message"] == "Repository initialized"
    newest = info["latest_updates"][0]["update_type"]
    assert newest == {"type": "FeatureFlagChanged", "id": 5, "new_value": False}
    types = [u["update_type"]["type"] for u in info["latest_updates"]]
    assert types[-1] == "RepoInitializedUpdate"
    assert "TagDeletedUpdate" in types
    assert "NewCommitUpdate" in types
    assert info["status"]["availability"] == "online"
    assert {f["name"]: f["enabled"] for f in info["feature_flags"]} == {
        "create_tag": True,
        "delete_tag": False,
        "move_node": True,
    }


def test_repository_repr_html(repo: frazil.Repository) -> None:
    html = repo._repr_html_()
    assert '<div class="frazil-repr">' in html
    assert "frazil.Repository" in html
    assert "storage" in html
    assert '<td style="text-align:left">online</td>' in html
    repo.set_feature_flag("move_node", False)
    repo.set_status(
        frazil.RepoStatus(frazil.RepoAvailability.read_only, limited_availability_reason="<x>")
    )
    html = repo._repr_html_()
    assert "move_node" in html
    assert "&lt;x&gt;" in html  # escaped


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


def test_log_directives_start_afresh_and_take_icechunks_spellings(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FRAZIL_LOG", raising=False)
    monkeypatch.delenv("ICECHUNK_LOG", raising=False)
    try:
        frazil.set_logs_filter("debug")
        frazil.Repository.create(frazil.in_memory_storage())
        assert "Creating Repository in memory://" in capfd.readouterr().err
        frazil.set_logs_filter("")  # back to the default: nothing below warnings
        frazil.Repository.create(frazil.in_memory_storage())
        assert capfd.readouterr().err == ""
        frazil.set_logs_filter("icechunk:debug")  # Rust's target:level spelling
        assert logging.getLogger("frazil").level == logging.DEBUG
        frazil.set_logs_filter("false")
        frazil.Repository.create(frazil.in_memory_storage())
        assert capfd.readouterr().err == ""
        monkeypatch.setenv("ICECHUNK_LOG", "frazil.repository=debug")
        frazil.set_logs_filter(None)
        assert logging.getLogger("frazil.repository").level == logging.DEBUG
        assert logging.getLogger("frazil").level == logging.NOTSET  # the last call's is gone
        frazil.set_logs_filter("icehunk=trace")
        err = capfd.readouterr().err
        assert "WARNING" in err
        assert "'icehunk'" in err
    finally:
        frazil.set_logs_filter("")


def test_log_records_follow_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook or test runner replaces sys.stderr; records go to the current one, and a
    replaced stream closed since breaks nothing."""
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        frazil.set_logs_filter("debug")
        frazil.Repository.create(frazil.in_memory_storage())
        assert "Creating Repository" in first.getvalue()
        first.close()
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        frazil.set_logs_filter("debug")
        frazil.Repository.create(frazil.in_memory_storage())
        assert "Creating Repository" in second.getvalue()
    finally:
        frazil.set_logs_filter("")


@pytest.mark.parametrize("variable", ["FRAZIL_LOG", "ICECHUNK_LOG"])
@pytest.mark.parametrize("to_stdout", [False, True])
def test_logs_directive_in_the_environment_applies_at_import(
    variable: str, to_stdout: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_LOG", "_LOG_TO_STDOUT"))}
    env[variable] = "debug"
    if to_stdout:
        env["FRAZIL_LOG_TO_STDOUT"] = "1"
    script = "import frazil\nfrazil.Repository.create(frazil.in_memory_storage())\n"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    shown, quiet = (done.stdout, done.stderr) if to_stdout else (done.stderr, done.stdout)
    assert "Creating Repository in memory://" in shown
    assert "Creating Repository" not in quiet


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
