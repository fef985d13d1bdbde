"""Spec versions, repository metadata and availability status (Icechunk's names)."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil
from frazil import RepoAvailability, RepoStatus, SpecVersion
from frazil._repo import RepoInfo
from frazil.config import RepoUpdateRetryConfig
from frazil.format import layout

if TYPE_CHECKING:
    from pathlib import Path


def _write(session: frazil.Session, name: str = "x") -> None:
    zarr.create_array(session.store, name=name, shape=(4,), chunks=(2,), dtype="i4")[:] = 7


# ---------------------------------------------------------------------- spec versions
def test_spec_version_functions() -> None:
    assert frazil.spec_version() is SpecVersion.v1
    assert SpecVersion.current() is SpecVersion.v1
    assert frazil.supported_spec_versions() == [SpecVersion.v1]
    assert int(frazil.spec_version()) == frazil.format.FORMAT_VERSION
    # Icechunk's numbers map to frazil's format
    assert SpecVersion(2) is SpecVersion.v1
    assert SpecVersion.v2 is SpecVersion.v1


@pytest.mark.parametrize("version", [None, 1, 2, SpecVersion.v1, SpecVersion.v2])
def test_create_with_spec_version(tmp_path: Path, version: object) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    repo = frazil.Repository.create(storage, spec_version=version)  # type: ignore[arg-type]
    assert repo.spec_version is SpecVersion.v1
    assert frazil.Repository.fetch_spec_version(storage) is SpecVersion.v1
    assert frazil.Repository.open(storage).spec_version is SpecVersion.v1


@pytest.mark.parametrize("version", [0, 3, 99, "2", 1.0, True])
def test_unsupported_spec_version_writes_nothing(tmp_path: Path, version: object) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    with pytest.raises(frazil.InvalidInputError) as info:
        frazil.Repository.create(storage, spec_version=version)  # type: ignore[arg-type]
    assert info.value.kind == "unsupported-spec-version"
    assert not frazil.Repository.exists(storage)
    with pytest.raises(frazil.InvalidInputError):
        frazil.Repository.open_or_create(storage, create_version=version)  # type: ignore[arg-type]
    assert not frazil.Repository.exists(storage)


def test_open_or_create_with_create_version(tmp_path: Path) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    assert frazil.Repository.fetch_spec_version(storage) is None
    repo = frazil.Repository.open_or_create(storage, create_version=2)
    again = frazil.Repository.open_or_create(storage, create_version=1)
    assert repo.repo_id == again.repo_id
    assert again.spec_version is SpecVersion.v1


def test_check_clean_root(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "README").write_text("not a repository")
    storage = frazil.local_filesystem_storage(root)
    with pytest.raises(frazil.InvalidInputError):
        frazil.Repository.create(storage)
    repo = frazil.Repository.create(storage, check_clean_root=False)
    session = repo.writable_session("main")
    _write(session)
    session.commit("next to other files")
    assert (root / "README").read_text() == "not a repository"


# ---------------------------------------------------------------------- metadata
def test_metadata_set_update_and_read_back(any_repo: frazil.Repository) -> None:
    repo = any_repo
    assert repo.metadata == {}
    assert repo.get_metadata() == {}
    repo.set_metadata({"team": "ocean", "tags": ["sst", 1]})
    assert repo.metadata == {"team": "ocean", "tags": ["sst", 1]}
    merged = repo.update_metadata({"owner": "ana"})
    assert merged == {"team": "ocean", "tags": ["sst", 1], "owner": "ana"}
    repo.set_metadata({"only": True})
    reopened = frazil.Repository.open(repo.storage)
    assert reopened.get_metadata() == {"only": True}


def test_bad_metadata_writes_nothing(repo: frazil.Repository) -> None:
    repo.set_metadata({"keep": 1})
    for bad in ([1, 2], "text", {"x": object()}, {"x": float("nan") * 0 + 1j}):
        with pytest.raises(frazil.InvalidInputError) as info:
            repo.set_metadata(bad)  # type: ignore[arg-type]
        assert "repository metadata" in str(info.value)
        with pytest.raises(frazil.InvalidInputError):
            repo.update_metadata(bad)  # type: ignore[arg-type]
    assert repo.metadata == {"keep": 1}


def test_concurrent_updates_of_different_keys_all_land(tmp_path: Path) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    frazil.Repository.create(storage)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        repo = frazil.Repository.open(storage)
        barrier.wait()
        try:
            for j in range(3):
                repo.update_metadata({f"w{i}.{j}": i * 10 + j})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert frazil.Repository.open(storage).metadata == {
        f"w{i}.{j}": i * 10 + j for i in range(8) for j in range(3)
    }


class Interloper(frazil.storage.WrapperStorage):
    """Another writer replaces the info document just before each compare-and-swap."""

    def __init__(self, inner: frazil.Storage) -> None:
        super().__init__(inner)
        self.interruptions = 0

    async def put(self, key: str, data: bytes, *, mode: frazil.storage.PutMode = "overwrite"):  # type: ignore[no-untyped-def,override]
        if key == layout.REPO_INFO_KEY and isinstance(mode, frazil.storage.IfMatch):
            self.interruptions += 1
            other = RepoInfo(metadata={"other": self.interruptions}, token=f"t{self.interruptions}")
            await self._inner.put(key, other.encode(), mode="overwrite")
        return await super().put(key, data, mode=mode)


def test_update_retries_are_bounded_by_the_config(tmp_path: Path) -> None:
    inner = frazil.local_filesystem_storage(tmp_path / "r")
    frazil.Repository.create(inner).set_metadata({"a": 0})
    config = frazil.RepositoryConfig.default()
    config.repo_update_retries = RepoUpdateRetryConfig(
        frazil.StorageRetriesSettings(max_tries=3, initial_backoff_ms=0, max_backoff_ms=0)
    )
    assert config.repo_update_retries.default.max_tries == 3
    meddled = Interloper(inner)
    repo = frazil.Repository.open(meddled, config)
    with pytest.raises(frazil.ConflictError) as info:
        repo.update_metadata({"mine": 1})
    assert info.value.kind == "update-attempts-exhausted"
    assert meddled.interruptions == 3
    assert frazil.Repository.open(inner).metadata == {"other": 3}


# ---------------------------------------------------------------------- status
def test_status_defaults_to_online(repo: frazil.Repository) -> None:
    status = repo.status
    assert status.availability is RepoAvailability.online
    assert status.limited_availability_reason is None
    assert repo.get_status() == status


def test_read_only_status_refuses_writes_and_allows_reads(any_repo: frazil.Repository) -> None:
    repo = any_repo
    session = repo.writable_session("main")
    _write(session)
    snapshot_id = session.commit("data")
    repo.create_branch("old", snapshot_id)
    before = repo.writable_session("main")  # opened while online
    _write(before, "y")
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    repo.set_status(RepoStatus(RepoAvailability.read_only, at, "migrating to new bucket"))
    status = repo.status
    assert status.availability is RepoAvailability.read_only
    assert status.set_at == at
    assert status.limited_availability_reason == "migrating to new bucket"
    refused = [
        lambda: repo.writable_session("main"),
        lambda: repo.rearrange_session("main"),
        lambda: repo.create_branch("dev", snapshot_id),
        lambda: repo.create_tag("v1", snapshot_id),
        lambda: repo.delete_branch("old"),
        lambda: repo.reset_branch("main", snapshot_id),
        lambda: repo.save_config(),
        lambda: repo.set_metadata({"a": 1}),
        lambda: repo.update_metadata({"a": 1}),
        lambda: before.commit("opened before the status changed"),
        lambda: repo.garbage_collect(datetime.datetime.now(datetime.UTC)),
    ]
    for call in refused:
        with pytest.raises(frazil.ReadOnlyError) as info:
            call()
        assert info.value.kind == "read-only-repository"
        assert "migrating to new bucket" in str(info.value)
    # nothing was written: history and refs as committed
    assert repo.lookup_branch("main") == snapshot_id
    assert repo.list_branches() == {"main", "old"}
    assert repo.list_tags() == set()
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="x")[:], [7, 7, 7, 7])
    assert repo.metadata == {}
    # back online: writes work again, also the session opened before
    repo.set_status(RepoStatus(RepoAvailability.online))
    assert repo.status.availability is RepoAvailability.online
    before.commit("after the status came back")
    repo.create_branch("dev", snapshot_id)
    assert repo.list_branches() == {"main", "old", "dev"}


def test_read_only_status_holds_for_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path))
    repo.set_status(RepoStatus(RepoAvailability.read_only, limited_availability_reason="frozen"))
    script = textwrap.dedent(
        f"""
        import frazil
        repo = frazil.Repository.open(frazil.local_filesystem_storage({str(path)!r}))
        print(repo.status.availability.name, repo.status.limited_availability_reason)
        repo.readonly_session("main")
        try:
            repo.writable_session("main")
        except frazil.ReadOnlyError as exc:
            print("refused", exc.kind)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split("\n")[:2] == ["read_only frozen", "refused read-only-repository"]


def test_set_status_checks_its_argument_and_the_object(repo: frazil.Repository) -> None:
    with pytest.raises(frazil.InvalidInputError):
        repo.set_status("read_only")  # type: ignore[arg-type]
    with pytest.raises(frazil.InvalidInputError):
        RepoStatus("read_only")  # type: ignore[arg-type]
    with pytest.raises(frazil.InvalidInputError):
        RepoStatus(RepoAvailability.online, datetime.datetime(2026, 1, 1))  # naive
    with pytest.raises(frazil.ReadOnlyError):
        repo.as_read_only("archived").set_status(RepoStatus(RepoAvailability.read_only))
    assert repo.status.availability is RepoAvailability.online
    assert not asyncio.run(repo.storage.exists(layout.REPO_INFO_KEY))  # nothing written


def test_info_document_survives_a_lost_response(tmp_path: Path) -> None:
    from frazil.testing import FaultSettings, FaultyStorage

    inner = frazil.local_filesystem_storage(tmp_path / "r")
    frazil.Repository.create(inner)
    flaky = FaultyStorage(inner, FaultSettings(lost_response_rate=0.5, seed=7))
    repo = frazil.Repository.open(flaky)
    for i in range(10):
        repo.update_metadata({f"k{i}": i})
    assert frazil.Repository.open(inner).metadata == {f"k{i}": i for i in range(10)}
    assert flaky.injected["lost"] > 0


# ---------------------------------------------------------------------- storage retries
def test_storage_retries_setting_bounds_the_attempts(tmp_path: Path) -> None:
    from frazil.testing import CountingStorage, FaultSettings, FaultyStorage

    inner = frazil.local_filesystem_storage(tmp_path / "r")
    frazil.Repository.create(inner)
    counting = CountingStorage(FaultyStorage(inner, FaultSettings(error_rate=1.0, seed=1)))
    config = frazil.RepositoryConfig.default()
    config.storage = frazil.StorageSettings(
        retries=frazil.StorageRetriesSettings(max_tries=3, initial_backoff_ms=0, max_backoff_ms=0)
    )
    repo = frazil.Repository.open(inner, config)
    flaky = frazil.Repository(  # the same repository over the failing storage
        frazil._repo.context_for(counting, config, repo.repo_id),
        counting,
        repo._doc,
    )
    counting.reset()
    with pytest.raises(frazil.StorageError) as info:
        flaky.lookup_branch("main")
    assert info.value.transient
    assert counting.counts["get"] == 3
    config.storage.retries.max_tries = 5
    flaky5 = flaky.reopen(config)
    counting.reset()
    with pytest.raises(frazil.StorageError):
        flaky5.lookup_branch("main")
    assert counting.counts["get"] == 5


def test_status_and_metadata_changes_are_in_the_operations_log(
    any_repo: frazil.Repository,
) -> None:
    repo = any_repo
    at = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    repo.set_metadata({"owner": "ocean", "team": "sst"})
    newest = next(iter(repo.ops_log()))
    assert isinstance(newest.kind, frazil.UpdateType.MetadataChanged)
    assert newest.kind.details["keys"] == ["owner", "team"]
    repo.update_metadata({"team": "ice"})
    assert isinstance(next(iter(repo.ops_log())).kind, frazil.UpdateType.MetadataChanged)

    repo.set_status(RepoStatus(RepoAvailability.read_only, at, "copying to a new bucket"))
    entry = next(iter(repo.ops_log()))
    assert isinstance(entry.kind, frazil.UpdateType.RepoStatusChanged)
    assert entry.kind.status == RepoStatus(
        RepoAvailability.read_only, at, "copying to a new bucket"
    )
    with pytest.raises(frazil.ReadOnlyError, match="repository status is read-only"):
        repo.create_branch("late", repo.lookup_branch("main"))

    repo.set_status(RepoStatus(RepoAvailability.online))
    entry = next(iter(repo.ops_log()))
    assert isinstance(entry.kind, frazil.UpdateType.RepoStatusChanged)
    assert entry.kind.status.availability is RepoAvailability.online
    kinds = [type(u.kind).__name__ for u in repo.ops_log()]
    assert kinds == [
        "RepoStatusChanged",
        "RepoStatusChanged",
        "MetadataChanged",
        "MetadataChanged",
        "RepoInitialized",
    ]
    # a refused change leaves no entry
    with pytest.raises(frazil.InvalidInputError):
        repo.set_metadata({"bad": object()})  # type: ignore[dict-item]
    assert len(list(repo.ops_log())) == 5
