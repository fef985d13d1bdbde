"""Integrity checks: each level finds the damage it must, at that level and not below."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def build(path: Path) -> tuple[frazil.Repository, dict[str, str]]:
    """A repository with native and inline chunks, three commits, a tag and a branch."""
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=16)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path), config)
    ids: dict[str, str] = {}
    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="a", shape=(40,), chunks=(10,), dtype="i8")
    array[:] = np.arange(40)
    small = zarr.create_array(session.store, name="small", shape=(4,), chunks=(1,), dtype="i1")
    small[:] = [1, 2, 3, 4]
    ids["first"] = session.commit("first")
    for n in ("second", "third"):
        session = repo.writable_session("main")
        zarr.open_array(session.store, path="a")[:10] = len(ids)
        ids[n] = session.commit(n)
    repo.create_tag("v1", ids["second"])
    repo.create_branch("dev", ids["first"])
    return repo, ids


def chunk_files(path: Path) -> list[Path]:
    return sorted((path / "chunks").iterdir())


def tip_chunk(repo: frazil.Repository, path: Path) -> Path:
    """The file of chunk (0,) of /a at the tip of main."""
    session = repo.readonly_session(branch="main")
    location = session.chunk_location("a", (0,)) if hasattr(session, "chunk_location") else None
    if location is not None:
        return path / location
    # the newest chunk object is the one the third commit wrote for a[:10]
    return max(chunk_files(path), key=lambda p: p.stat().st_mtime_ns)


def delete_snapshot(repo: frazil.Repository, path: Path, ids: dict[str, str]) -> str:
    key = f"snapshots/{ids['second']}"
    (path / key).unlink()
    return key


def delete_manifest(repo: frazil.Repository, path: Path, ids: dict[str, str]) -> str:
    target = max((path / "manifests").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    target.unlink()
    return f"manifests/{target.name}"


def delete_chunk(repo: frazil.Repository, path: Path, ids: dict[str, str]) -> str:
    target = tip_chunk(repo, path)
    target.unlink()
    return f"chunks/{target.name}"


def truncate_chunk(repo: frazil.Repository, path: Path, ids: dict[str, str]) -> str:
    target = tip_chunk(repo, path)
    target.write_bytes(target.read_bytes()[:-3])
    return f"chunks/{target.name}"


def flip_byte(repo: frazil.Repository, path: Path, ids: dict[str, str]) -> str:
    target = tip_chunk(repo, path)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    return f"chunks/{target.name}"


DAMAGE: list[tuple[Callable[..., str], int, str]] = [
    (delete_snapshot, 1, "missing"),
    (delete_manifest, 2, "missing"),
    (delete_chunk, 3, "missing"),
    (truncate_chunk, 3, "size-mismatch"),
    (flip_byte, 4, "checksum-mismatch"),
]


def test_whole_repository_reports_nothing_at_any_level(tmp_path: Path) -> None:
    repo, _ = build(tmp_path / "r")
    for level in (1, 2, 3, 4):
        report = repo.check_integrity(level, stop_on_error=False)
        assert report.ok, str(report)
        assert report.findings == ()
    report = repo.check_integrity(4)
    assert report.counts["snapshots"] == 4
    assert report.counts["chunks"] >= 6
    assert report.counts["bytes_read"] > 0
    assert "OK" in str(report)


@pytest.mark.parametrize(("damage", "level", "kind"), DAMAGE, ids=[d[0].__name__ for d in DAMAGE])
def test_damage_is_found_at_its_level_and_not_below(
    tmp_path: Path, damage: Callable[..., str], level: int, kind: str
) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    key = damage(repo, path, ids)
    reopened = frazil.Repository.open(frazil.local_filesystem_storage(path))
    for below in range(1, level):
        report = reopened.check_integrity(below, stop_on_error=False)
        assert report.ok, f"level {below} found {report}"
    for at in range(level, 5):
        report = reopened.check_integrity(at, stop_on_error=False)
        assert not report.ok
        keys = {(f.key, f.kind, f.level) for f in report.findings}
        assert (key, kind, level) in keys, str(report)
        assert all(f.level == level for f in report.findings), str(report)
        assert key in str(report)


def test_snapshot_findings_name_snapshots_and_chunk_findings_name_arrays(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    delete_chunk(repo, path, ids)
    report = repo.check_integrity(3)
    (finding,) = report.findings
    assert finding.arrays == ("/a",)
    assert ids["third"] in finding.snapshots


def test_stop_on_error_returns_the_first_finding_and_all_errors_finds_every_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r"
    repo, _ids = build(path)
    files = chunk_files(path)
    for f in files[:3]:
        f.unlink()
    first = repo.check_integrity(3)
    assert len(first.findings) == 1
    assert not first.complete
    every = repo.check_integrity(3, stop_on_error=False)
    assert {f.key for f in every.findings} == {f"chunks/{f.name}" for f in files[:3]}
    assert every.complete


def test_deleted_tip_snapshot_breaks_the_history_of_its_ref(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    (path / "snapshots" / ids["third"]).unlink()
    report = repo.check_integrity(1, stop_on_error=False)
    keys = {f.key for f in report.findings}
    assert f"snapshots/{ids['third']}" in keys
    assert "refs/branch.main" in " ".join(f.message for f in report.findings)


def test_corrupt_ref_and_repository_object_are_level_one(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo, _ = build(path)
    (path / "refs" / "tag.v1").write_bytes(b"garbage")
    report = repo.check_integrity(1, stop_on_error=False)
    assert [(f.key, f.kind, f.level) for f in report.findings] == [("refs/tag.v1", "corrupt", 1)]


def test_branch_limits_the_check_to_that_history(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    (path / "snapshots" / ids["third"]).unlink()
    assert repo.check_integrity(1, branch="dev").ok
    assert not repo.check_integrity(1, branch="main").ok
    with pytest.raises(frazil.RefNotFoundError, match="'nope' not found"):
        repo.check_integrity(1, branch="nope")


def test_report_json_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    key = flip_byte(repo, path, ids)
    out = tmp_path / "report.json"
    report = repo.check_integrity(4, to_file=out)
    assert report.file == str(out)
    doc = json.loads(out.read_text())
    assert doc == json.loads(report.to_json())
    assert doc["ok"] is False
    assert doc["findings"][0]["key"] == key
    monkeypatch.chdir(tmp_path)
    default = repo.check_integrity(1, to_file=True)
    assert default.file is not None
    written = json.loads((tmp_path / default.file).read_text())
    assert written["ok"] is True


def test_checking_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    flip_byte(repo, path, ids)
    before = {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}
    repo.check_integrity(4, stop_on_error=False)
    after = {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.parametrize("level", [0, 5, "2", True, 2.0])
def test_bad_level_is_refused(tmp_path: Path, level: object) -> None:
    repo, _ = build(tmp_path / "r")
    with pytest.raises(frazil.InvalidInputError, match="level must be 1, 2, 3 or 4"):
        repo.check_integrity(level)  # type: ignore[arg-type]


def test_progress_is_reported(tmp_path: Path) -> None:
    repo, _ = build(tmp_path / "r")
    seen: list[tuple[str, int, int]] = []
    repo.check_integrity(4, progress=lambda phase, done, total: seen.append((phase, done, total)))
    phases = {p for p, _, _ in seen}
    assert {"snapshots", "manifests", "chunk bytes"} <= phases
    last = [s for s in seen if s[0] == "chunk bytes"][-1]
    assert last[1] == last[2] > 0


def test_integrity_on_s3(moto_s3) -> None:  # type: ignore[no-untyped-def]
    storage = moto_s3.storage()
    repo = frazil.Repository.create(
        storage, frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    )
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(20,), chunks=(5,), dtype="i4")[:] = 7
    session.commit("a")
    assert repo.check_integrity(4).ok


def test_vectorised_id_spelling_matches_the_format() -> None:
    from frazil._ops import encode_ids
    from frazil.format import encode_id

    raw = np.frombuffer(np.random.default_rng(1).bytes(12 * 500), dtype=np.uint8).reshape(500, 12)
    raw = np.concatenate([raw, np.zeros((1, 12), np.uint8), np.full((1, 12), 255, np.uint8)])
    assert encode_ids(raw).tolist() == [encode_id(r.tobytes()) for r in raw]


def test_virtual_chunk_files_are_checked_at_level_three(tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    folder.mkdir()
    source = folder / "source.bin"
    source.write_bytes(bytes(range(64)))
    config = frazil.RepositoryConfig()
    prefix = f"file://{folder}/"
    config.set_virtual_chunk_container(
        frazil.VirtualChunkContainer(prefix, frazil.local_filesystem_store(str(folder)))
    )
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    repo = frazil.Repository.create(storage, config, {prefix: None})
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="v", shape=(4,), chunks=(1,), dtype="u1")
    for i in range(4):
        session.set_virtual_ref(f"v/c/{i}", f"file://{source}", offset=16 * i, length=16)
    session.commit("virtual")
    assert repo.check_integrity(3).ok
    stats = repo.chunk_storage_stats()
    assert (stats.virtual_chunks, stats.virtual_bytes) == (4, 64)
    source.write_bytes(bytes(40))  # shorter than the last reference
    report = repo.check_integrity(3, stop_on_error=False)
    assert [(f.key, f.kind, f.level) for f in report.findings] == [
        (f"file://{source}", "size-mismatch", 3)
    ]
    source.unlink()
    assert repo.check_integrity(2).ok
    (finding,) = repo.check_integrity(3).findings
    assert (finding.kind, finding.arrays) == ("missing", ("/v",))
    # a reader that did not authorise the container is told so; nothing is read
    source.write_bytes(bytes(range(64)))
    unauthorised = frazil.Repository.open(storage)
    (finding,) = unauthorised.check_integrity(3).findings
    assert (finding.kind, finding.key) == ("unauthorized", f"file://{source}")
    assert "authorize_virtual_chunk_access" in finding.message


def test_corrupt_metadata_document_is_a_level_1_finding(tmp_path):
    repo, _ = build(tmp_path)
    repo.set_metadata({"owner": "ocean team"})
    assert repo.check_integrity(1).ok
    info = tmp_path / "info"
    data = bytearray(info.read_bytes())
    data[len(data) // 2] ^= 0xFF
    info.write_bytes(bytes(data))
    report = repo.check_integrity(1, stop_on_error=False)
    assert not report.ok
    assert [f.key for f in report.findings] == ["info"]
    assert report.findings[0].level == 1
