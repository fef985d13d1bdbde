"""Icechunk-style scripts, run through ``import frazil as icechunk``.

Each test is written as a user of Icechunk 2.3 writes it; the only edits are the three
renames ``IcechunkStore`` -> ``FrazilStore``, ``IcechunkError`` -> ``FrazilError`` and
``to_icechunk`` -> ``to_frazil``. What is checked is what the script's author would check:
data read back, history as committed, errors where Icechunk raises them.
"""

from __future__ import annotations

import datetime
import pickle
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil as icechunk
from frazil import (
    FrazilError as IcechunkError,  # rename 2
    FrazilStore as IcechunkStore,  # rename 1
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import MotoS3


def test_create_configure_write_commit(tmp_path: Path) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    config = icechunk.RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 0
    config.caching = icechunk.CachingConfig(num_chunk_refs=10_000, num_snapshot_nodes=100)
    config.compression = icechunk.CompressionConfig(
        algorithm=icechunk.CompressionAlgorithm.Zstd, level=5
    )
    config.manifest = icechunk.ManifestConfig(
        splitting=icechunk.ManifestSplittingConfig.from_dict(
            {
                icechunk.ManifestSplitCondition.path_matches(".*"): {
                    icechunk.ManifestSplitDimCondition.Any(): 2
                }
            }
        )
    )
    config.storage = icechunk.StorageSettings(
        concurrency=icechunk.StorageConcurrencySettings(max_concurrent_requests_for_object=4),
        retries=icechunk.StorageRetriesSettings(max_tries=3),
    )
    repo = icechunk.Repository.create(storage, config, spec_version=icechunk.spec_version())
    repo.save_config()
    session = repo.writable_session("main")
    assert isinstance(session.store, IcechunkStore)
    root = zarr.group(session.store)
    temps = root.create_array("temperature", shape=(10, 10), chunks=(5, 5), dtype="f4")
    temps[:] = np.arange(100, dtype="f4").reshape(10, 10)
    root.attrs["title"] = "demo"
    snap = session.commit("first data", {"author": "ana"})
    again = icechunk.Repository.open(storage)
    assert again.config.inline_chunk_threshold_bytes == 0
    assert again.config.storage.retries.max_tries == 3
    assert again.spec_version == icechunk.spec_version()
    read = again.readonly_session("main")
    group = zarr.open_group(read.store, mode="r")
    np.testing.assert_array_equal(group["temperature"][:], np.arange(100).reshape(10, 10))
    assert group.attrs["title"] == "demo"
    [latest, _initial] = list(again.ancestry(branch="main"))
    assert (latest.id, latest.message, latest.metadata["author"]) == (snap, "first data", "ana")
    assert sum(f.num_chunk_refs for f in again.list_manifest_files(snap)) == 4


def test_branches_tags_time_travel_and_errors() -> None:
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(4,), chunks=(2,), dtype="i4")[:] = 1
    first = session.commit("one")
    repo.create_branch("dev", snapshot_id=first)
    repo.create_tag("v1", snapshot_id=first)
    dev = repo.writable_session("dev")
    zarr.open_array(dev.store, path="x")[:] = 2
    dev.commit("two on dev")
    assert repo.list_branches() == {"main", "dev"}
    assert repo.list_tags() == {"v1"}
    by_tag = repo.readonly_session(tag="v1")
    np.testing.assert_array_equal(zarr.open_array(by_tag.store, path="x")[:], [1, 1, 1, 1])
    by_branch = repo.readonly_session(branch="dev")
    np.testing.assert_array_equal(zarr.open_array(by_branch.store, path="x")[:], [2, 2, 2, 2])
    as_of = repo.readonly_session(branch="main", as_of=datetime.datetime.now(datetime.UTC))
    assert as_of.snapshot_id == first
    diff = repo.diff(from_tag="v1", to_branch="dev")
    assert "/x" in diff.updated_chunks
    with pytest.raises(IcechunkError) as info:
        repo.lookup_branch("nope")
    assert info.value.kind == icechunk.ErrorKind.REF_NOT_FOUND
    with pytest.raises(icechunk.RefNotFoundError):
        repo.readonly_session(tag="nope")
    repo.reset_branch("dev", first)
    assert repo.lookup_branch("dev") == first
    repo.delete_tag("v1")
    repo.delete_branch("dev")
    assert repo.list_branches() == {"main"}
    print(repo.ancestry_graph(plain=True))


def test_conflicts_and_rebase() -> None:
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(4,), chunks=(1,), dtype="i4")[:] = 0
    session.commit("init")
    s1 = repo.writable_session("main")
    s2 = repo.writable_session("main")
    zarr.open_array(s1.store, path="x")[0] = 1
    zarr.open_array(s2.store, path="x")[0] = 2
    zarr.open_array(s2.store, path="x")[3] = 3
    s1.commit("s1")
    with pytest.raises(icechunk.ConflictError) as conflict:
        s2.commit("s2")
    assert conflict.value.expected_parent != conflict.value.actual_parent
    with pytest.raises(icechunk.RebaseFailedError) as failed:
        s2.rebase(icechunk.ConflictDetector())
    assert failed.value.conflicts[0].conflict_type == icechunk.ConflictType.ChunkDoubleUpdate
    s2.rebase(icechunk.BasicConflictSolver(on_chunk_conflict=icechunk.VersionSelection.UseOurs))
    s2.commit("s2 after rebase")
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="x")[:], [2, 0, 0, 3])
    with pytest.raises(icechunk.ConflictError):
        raise icechunk.ConflictError("AAAA", "BBBB")


def test_forks_and_merge_sessions() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from frazil.distributed import merge_sessions

    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(8,), chunks=(2,), dtype="i4")
    session.commit("schema")
    session = repo.writable_session("main")
    fork = session.fork()

    def write(i: int) -> icechunk.ForkSession:
        mine = pickle.loads(pickle.dumps(fork))
        zarr.open_array(mine.store, path="x", mode="r+")[2 * i : 2 * i + 2] = i + 10
        return mine

    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(write, range(4)))
    session.merge(merge_sessions(*written))
    session.commit("parallel")
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(
        zarr.open_array(read.store, path="x")[:], np.repeat(np.arange(10, 14), 2)
    )
    with pytest.raises(ValueError, match="fork"):
        pickle.dumps(repo.writable_session("main"))


def test_xarray_and_dask_writers() -> None:
    import dask.array as da
    import xarray as xr

    from frazil.dask import store_dask
    from frazil.xarray import to_frazil as to_icechunk  # rename 3

    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    ds = xr.Dataset(
        {"t": (("time", "x"), da.from_array(np.arange(12.0).reshape(4, 3), chunks=(2, 3)))},
        coords={"time": np.arange(4), "x": np.arange(3)},
    )
    to_icechunk(ds, session)
    session.commit("dataset")
    read = repo.readonly_session("main")
    back = xr.open_zarr(read.store, consolidated=False)
    np.testing.assert_array_equal(back["t"].values, np.arange(12.0).reshape(4, 3))

    session = repo.writable_session("main")
    fork = session.fork()
    target = zarr.open_array(fork.store, path="t", mode="r+")
    merged = store_dask(sources=[da.zeros((4, 3), chunks=(2, 3))], targets=[target])
    session.merge(merged)
    session.commit("zeros")
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="t")[:], np.zeros((4, 3)))


def test_storage_constructors_and_metadata_status(moto_s3: MotoS3) -> None:
    storage = icechunk.s3_storage(
        bucket=moto_s3.bucket,
        prefix="porting",
        region="us-east-1",
        endpoint_url=moto_s3.endpoint,
        allow_http=True,
        access_key_id="testing",
        secret_access_key="testing",
    )
    repo = icechunk.Repository.open_or_create(storage, create_version=2)
    assert icechunk.Repository.exists(storage)
    settings = icechunk.StorageSettings(retries=icechunk.StorageRetriesSettings(max_tries=2))
    assert icechunk.Repository.exists(storage, storage_settings=settings)
    assert icechunk.Repository.fetch_spec_version(storage, storage_settings=settings) == (
        icechunk.SpecVersion.v2
    )
    with pytest.raises(icechunk.InvalidInputError, match="storage_settings"):
        icechunk.Repository.exists(storage, storage_settings={"retries": 2})  # type: ignore[arg-type]
    assert icechunk.Repository.fetch_spec_version(storage) == icechunk.SpecVersion.current()
    repo.set_metadata({"project": "porting"})
    assert repo.update_metadata({"year": 2026}) == {"project": "porting", "year": 2026}
    repo.set_status(
        icechunk.RepoStatus(icechunk.RepoAvailability.read_only, limited_availability_reason="x")
    )
    with pytest.raises(icechunk.ReadOnlyError):
        repo.writable_session("main")
    repo.set_status(icechunk.RepoStatus(icechunk.RepoAvailability.online))
    session = repo.writable_session("main")
    zarr.create_group(session.store)
    snap = session.commit("online again")
    assert all(f.enabled for f in repo.feature_flags())
    repo.create_tag("release", snap)
    repo.set_feature_flag("delete_tag", False)  # releases are for keeps
    assert [f.name for f in repo.disabled_feature_flags()] == ["delete_tag"]
    with pytest.raises(IcechunkError) as refused:
        repo.delete_tag("release")
    assert refused.value.kind == icechunk.ErrorKind.FEATURE_FLAG_DISABLED
    assert repo.lookup_tag("release") == snap
    latest = next(iter(repo.ops_log()))
    assert isinstance(latest.kind, icechunk.UpdateType.FeatureFlagChanged)
    assert (latest.kind.id, latest.kind.new_value) == (5, False)
    for other in (
        icechunk.r2_storage(bucket="b", prefix="p", account_id="a"),
        icechunk.tigris_storage(bucket="b", prefix="p"),
        icechunk.http_storage("https://example.org/repo"),
        icechunk.gcs_storage(bucket="b", prefix="p", anonymous=True),
        icechunk.azure_storage(account="a", container="c", prefix="p", anonymous=True),
    ):
        assert isinstance(other, icechunk.Storage)


def test_housekeeping_and_inspection(tmp_path: Path) -> None:
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path / "r")))
    session = repo.writable_session("main")
    noise = np.random.default_rng(0).integers(0, 2**40, 1000)  # chunks too big to inline
    zarr.create_array(session.store, name="x", shape=(1000,), chunks=(500,), dtype="i8")[:] = noise
    snap = session.commit("big")
    repo.create_branch("scratch", snap)
    scratch = repo.writable_session("scratch")
    zarr.open_array(scratch.store, path="x")[:] = noise + 1
    scratch.commit("throwaway")
    repo.delete_branch("scratch")
    summary = repo.garbage_collect(
        datetime.datetime.now(datetime.UTC), max_concurrent_deletes=4, dry_run=False
    )
    assert summary.snapshots_deleted == 1
    assert summary.chunks_deleted == 2
    assert summary.bytes_deleted > 0
    info = repo.inspect_snapshot(snap)
    assert info["commit_message"] == "big"
    manifest_id = repo.list_manifest_files(snap)[0].id
    manifest = repo.inspect_manifest(manifest_id)
    assert manifest["id"] == manifest_id
    assert manifest["total_chunk_refs"] == manifest["total_native"] == 2
    tx = repo.inspect_transaction_log(snap)
    assert "new_groups" in tx
    assert "moved_nodes" in tx
    assert len(tx["new_arrays"]) == 1
    repo_info = repo.inspect_repo_info()
    assert "main" in repo_info["branches"]
    assert snap in [s["id"] for s in repo_info["snapshots"]]
    icechunk.set_logs_filter("warn")
    icechunk.print_debug_info()
    from frazil.testing import LatencyStorage

    slow = LatencyStorage(icechunk.in_memory_storage(), write_latency_ms=1)
    icechunk.Repository.create(slow)


def test_submodules_like_icechunks() -> None:
    from frazil.config import RepositoryConfig
    from frazil.conflicts import BasicConflictSolver
    from frazil.repository import Repository
    from frazil.session import Session
    from frazil.storage import in_memory_storage
    from frazil.store import FrazilStore

    repo = Repository.create(in_memory_storage(), RepositoryConfig.default())
    session = repo.writable_session("main")
    assert isinstance(session, Session)
    assert isinstance(session.store, FrazilStore)
    assert BasicConflictSolver is icechunk.BasicConflictSolver
    from frazil.ops import GCSummary, UpdateType
    from frazil.snapshots import AncestryGraph, Diff, ManifestFileInfo, SnapshotInfo
    from frazil.virtual import VirtualChunkContainer, VirtualChunkSpec

    snap = session.commit("one", allow_empty=True)
    [info, *_] = repo.ancestry(branch="main")
    assert isinstance(info, SnapshotInfo)
    assert info.id == snap
    assert isinstance(repo.diff(from_snapshot_id=snap, to_branch="main"), Diff)
    assert isinstance(repo.ancestry_graph(), AncestryGraph)
    assert all(isinstance(f, ManifestFileInfo) for f in repo.list_manifest_files(snap))
    assert isinstance(next(iter(repo.ops_log())).kind, UpdateType.NewCommit)
    assert GCSummary is icechunk.GCSummary
    assert (VirtualChunkContainer, VirtualChunkSpec) == (
        icechunk.VirtualChunkContainer,
        icechunk.VirtualChunkSpec,
    )


def test_upgrade_script_runs_and_keeps_the_repository(tmp_path: Path) -> None:
    storage = icechunk.local_filesystem_storage(str(tmp_path / "repo"))
    repo = icechunk.Repository.create(storage, spec_version=1)
    session = repo.writable_session("main")
    zarr.group(session.store).attrs["title"] = "before upgrade"
    snap = session.commit("first")

    dry = icechunk.upgrade_icechunk_repository(repo, dry_run=True)
    upgraded = icechunk.upgrade_icechunk_repository(
        dry, dry_run=False, delete_unused_v1_files=False, prefetch_concurrency=4
    )

    assert upgraded.spec_version == icechunk.SpecVersion.v2
    assert upgraded.lookup_branch("main") == snap
    # there was nothing to migrate: the ops log has no RepoMigrated entry, but scripts
    # that match on the kind find it
    kinds = [type(u.kind) for u in upgraded.ops_log()]
    assert icechunk.UpdateType.NewCommit in kinds
    assert icechunk.UpdateType.RepoMigrated not in kinds
    migrated = icechunk.UpdateType.RepoMigrated(details={"from_version": 1, "to_version": 2})
    assert (migrated.from_version, migrated.to_version) == (1, 2)
    readback = zarr.open_group(upgraded.readonly_session("main").store, mode="r")
    assert readback.attrs["title"] == "before upgrade"
    # nothing was rewritten, so the repository object given in still writes
    session = repo.writable_session("main")
    zarr.group(session.store).attrs["title"] = "after upgrade"
    second = session.commit("second")
    assert upgraded.lookup_branch("main") == second


def test_upgrade_checks_what_it_reads(tmp_path: Path) -> None:
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    with pytest.raises(icechunk.InvalidInputError, match="dry_run"):
        icechunk.upgrade_icechunk_repository(repo, dry_run="no")  # type: ignore[arg-type]
    with pytest.raises(icechunk.InvalidInputError, match="prefetch_concurrency"):
        icechunk.upgrade_icechunk_repository(repo, dry_run=True, prefetch_concurrency=0)
    on_disk = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path)))
    (tmp_path / "repo").write_bytes(b"not a frazil root object")
    with pytest.raises(icechunk.FormatError):
        icechunk.upgrade_icechunk_repository(on_disk, dry_run=False)


def test_object_store_config_variants_read_virtual_chunks(moto_s3: MotoS3) -> None:
    import fsspec

    values = np.arange(8, dtype="<i4")
    # A source file in S3 and one in fsspec's in-process memory file system.
    moto_s3.client().put_object(
        Bucket=moto_s3.bucket, Key="porting-src/a.bin", Body=values.tobytes()
    )
    fsspec.filesystem("memory").pipe_file("/porting-src/a.bin", values.tobytes())

    s3_prefix = f"s3://{moto_s3.bucket}/porting-src/"
    s3 = icechunk.ObjectStoreConfig.S3(
        icechunk.S3Options(
            region="us-east-1",
            endpoint_url=moto_s3.endpoint,
            allow_http=True,
            force_path_style=True,
        )
    )
    memory = icechunk.ObjectStoreConfig.InMemory()
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(s3_prefix, s3))
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer("memory://porting-src/", memory)
    )
    storage = icechunk.in_memory_storage()
    credentials = icechunk.containers_credentials(
        {
            s3_prefix: icechunk.s3_static_credentials(
                access_key_id="testing", secret_access_key="testing"
            ),
            "memory://porting-src/": None,
        }
    )
    repo = icechunk.Repository.create(storage, config, authorize_virtual_chunk_access=credentials)
    session = repo.writable_session("main")
    for name in ("from_s3", "from_memory"):
        zarr.create_array(
            session.store, name=name, shape=(8,), chunks=(4,), dtype="<i4", compressors=None
        )
    for i in range(2):
        session.store.set_virtual_ref(
            f"from_s3/c/{i}", f"{s3_prefix}a.bin", offset=16 * i, length=16
        )
        session.store.set_virtual_ref(
            f"from_memory/c/{i}", "memory://porting-src/a.bin", offset=16 * i, length=16
        )
    session.commit("virtual refs through both stores")

    again = icechunk.Repository.open(storage, authorize_virtual_chunk_access=credentials)
    saved = again.config.get_virtual_chunk_container(s3_prefix)
    assert saved is not None
    assert isinstance(saved.store, icechunk.ObjectStoreConfig.S3)
    assert saved.store == s3
    stored_memory = again.config.get_virtual_chunk_container("memory://porting-src/")
    assert stored_memory is not None
    assert isinstance(stored_memory.store, icechunk.ObjectStoreConfig.InMemory)
    # The constructors build the same variants.
    assert isinstance(icechunk.s3_store(region="us-east-1"), icechunk.ObjectStoreConfig.S3)
    assert isinstance(icechunk.http_store(), icechunk.ObjectStoreConfig.Http)
    assert icechunk.ObjectStoreConfig.LocalFileSystem("/data") == icechunk.local_filesystem_store(
        "/data"
    )
    read = again.readonly_session("main")
    for name in ("from_s3", "from_memory"):
        np.testing.assert_array_equal(zarr.open_array(read.store, path=name, mode="r")[:], values)


def test_object_store_config_refuses_what_a_config_must_not_hold() -> None:
    with pytest.raises(icechunk.InvalidInputError, match="credentials"):
        icechunk.ObjectStoreConfig.S3(
            icechunk.S3Options(region="us-east-1", access_key_id="a", secret_access_key="b")
        )
    with pytest.raises(icechunk.InvalidInputError, match="bucket"):
        icechunk.ObjectStoreConfig.S3(icechunk.S3Options(bucket="data"))
    with pytest.raises(icechunk.InvalidInputError, match="allow_http"):
        icechunk.S3Options(endpoint_url="http://localhost:9000")
    with pytest.raises(icechunk.InvalidInputError, match="S3Options"):
        icechunk.ObjectStoreConfig.S3({"region": "us-east-1"})
    # A secret never shows in a repr.
    options = icechunk.S3Options(
        "us-east-1", bucket="b", access_key_id="AKIA", secret_access_key="very-secret"
    )
    assert "very-secret" not in repr(options)
    # Connection options alone are no storage.
    with pytest.raises(icechunk.InvalidInputError, match="no bucket"):
        icechunk.storage.S3Storage(icechunk.S3Options(region="us-east-1"))


def test_no_auth_sentinels_authorise_local_and_http_containers(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    values = np.arange(4, dtype="<i4")
    source.write_bytes(values.tobytes())
    prefix = f"file://{tmp_path}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(prefix, icechunk.local_filesystem_store(str(tmp_path)))
    )
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer("https://example.org/", icechunk.http_store())
    )
    access = icechunk.containers_credentials(
        {prefix: icechunk.credentials.LocalFileSystemAccess, "https://example.org/": None}
    )
    assert access[prefix] is icechunk.credentials.LocalFileSystemAccess
    storage = icechunk.in_memory_storage()
    repo = icechunk.Repository.create(storage, config, authorize_virtual_chunk_access=access)
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="v", shape=(4,), chunks=(4,), dtype="<i4", compressors=None
    )
    session.store.set_virtual_ref("v/c/0", f"{prefix}src.bin", offset=0, length=16)
    session.commit("virtual")
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="v", mode="r")[:], values)
    # A sentinel authorises only its own kind of container.
    with pytest.raises(icechunk.InvalidInputError, match="HttpAccess"):
        icechunk.Repository.open(
            storage, authorize_virtual_chunk_access={prefix: icechunk.credentials.HttpAccess}
        )
    with pytest.raises(icechunk.InvalidInputError, match="S3 credentials"):
        icechunk.Repository.open(
            storage,
            authorize_virtual_chunk_access={
                prefix: icechunk.credentials.s3_anonymous_credentials()
            },
        )


def test_error_messages_carry_icechunks_phrases(tmp_path: Path) -> None:
    # Scripts match on these words; frazil's messages add what to do next.
    with pytest.raises(IcechunkError, match=r"the repository doesn.t exist"):
        icechunk.Repository.open(icechunk.local_filesystem_storage(str(tmp_path / "missing")))
    assert not (tmp_path / "missing").exists()
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    with pytest.raises(IcechunkError, match="no changes made to the session"):
        session.commit("nothing")
    zarr.create_group(session.store)
    fork = session.fork()
    with pytest.raises(IcechunkError, match="commits are not allowed"):
        fork.commit("from a fork")
    first = session.commit("group")
    second = repo.writable_session("main")
    zarr.create_group(second.store, path="child")
    latest = second.commit("child")
    with pytest.raises(IcechunkError, match="branch update conflict"):
        repo.reset_branch("main", first, from_snapshot_id=first)
    assert repo.lookup_branch("main") == latest
    with pytest.raises(ValueError, match="Unsupported version 255"):
        icechunk.Repository.create(icechunk.in_memory_storage(), spec_version=255)
    rearrange = repo.rearrange_session("main")
    with pytest.raises(IcechunkError, match="into itself or its own descendant"):
        rearrange.move("/child", "/child/inner")


def test_array_chunk_iterator_gives_columnar_batches(tmp_path: Path) -> None:
    import asyncio

    async def drain(iterator):  # type: ignore[no-untyped-def]
        return [batch async for batch in iterator]

    config = icechunk.RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 8  # 2-element chunks inline, 4-element native
    repo = icechunk.Repository.create(icechunk.local_filesystem_storage(str(tmp_path)), config)
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    small = root.create_array("small", shape=(6,), chunks=(2,), dtype="<i4", compressors=None)
    big = root.create_array("big", shape=(4, 8), chunks=(1, 4), dtype="<i4", compressors=None)
    small[:4] = [1, 2, 3, 4]  # chunks 0 and 1 inline, chunk 2 never written
    big[:] = np.arange(1, 33).reshape(4, 8)
    session.store.set_virtual_ref(
        "small/c/2", "s3://bucket/data.bin", offset=100, length=8, validate_container=False
    )
    session.commit("mixed")

    # an uncommitted overwrite is seen, as the session sees it
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="big")[3, 4:] = [7, 7, 7, 7]
    batches = asyncio.run(drain(session.store.array_chunk_iterator("big", batch_size=3)))
    assert [len(b[1]) for b in batches] == [3, 3, 2]
    coords = np.concatenate([b[0] for b in batches])
    assert coords.dtype == np.uint32
    assert coords.tolist() == [[r, c] for r in range(4) for c in (0, 1)]
    for batch_coords, kinds, paths, offsets, lengths, inlined in batches:
        assert kinds.dtype == np.uint8
        assert offsets.dtype == lengths.dtype == np.uint64
        assert (kinds == icechunk.ChunkType.native).all()
        assert inlined == {}
        assert lengths.tolist() == [16] * len(kinds)
        for (row, col), chunk_id in zip(batch_coords.tolist(), paths, strict=True):
            # a native path is the bare id of the chunk object that holds the data
            data = (tmp_path / "chunks" / chunk_id).read_bytes()
            want = (
                [7] * 4
                if (row, col) == (3, 1)
                else list(range(8 * row + 4 * col + 1, 8 * row + 4 * col + 5))
            )
            assert np.frombuffer(data, "<i4").tolist() == want

    (batch,) = asyncio.run(
        drain(repo.readonly_session("main").store.array_chunk_iterator("/small"))
    )
    coords, kinds, paths, offsets, lengths, inlined = batch
    assert coords.tolist() == [[0], [1], [2]]
    assert kinds.tolist() == [icechunk.ChunkType.inline] * 2 + [icechunk.ChunkType.virtual]
    assert paths == ["", "", "s3://bucket/data.bin"]
    assert offsets.tolist() == [0, 0, 100]
    assert lengths.tolist() == [8, 8, 8]
    assert {k: np.frombuffer(v, "<i4").tolist() for k, v in inlined.items()} == {
        0: [1, 2],
        1: [3, 4],
    }

    with pytest.raises(icechunk.NodeNotFoundError):
        asyncio.run(drain(session.store.array_chunk_iterator("nothing")))
    with pytest.raises(icechunk.InvalidInputError, match="batch_size"):
        session.store.array_chunk_iterator("big", batch_size=0)
