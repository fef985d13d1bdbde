"""Storage backends: one conformance class per backend, key safety, pickling."""

from __future__ import annotations

import os
import pickle
import shutil
from typing import TYPE_CHECKING

import pytest
import zarr

import frazil
from frazil.storage import FsspecStorage, RetryingStorage, storage_from_url
from frazil.testing import BAD_KEYS, FaultSettings, FaultyStorage, StorageTests

if TYPE_CHECKING:
    from pathlib import Path


class TestMemoryStorage(StorageTests):
    @pytest.fixture
    def storage(self):
        return frazil.in_memory_storage()


class TestLocalStorage(StorageTests):
    @pytest.fixture
    def storage(self, tmp_path):
        return frazil.local_filesystem_storage(tmp_path / "store")


@pytest.mark.s3
class TestS3Storage(StorageTests):
    @pytest.fixture
    def storage(self, moto_s3):
        return moto_s3.storage()


class TestRetryingStorage(StorageTests):
    """Transient faults below the retry layer are invisible above it."""

    @pytest.fixture
    def storage(self, tmp_path):
        faulty = FaultyStorage(
            frazil.local_filesystem_storage(tmp_path / "store"),
            FaultSettings(error_rate=0.2, timeout_rate=0.1, seed=7),
        )
        return RetryingStorage(faulty)

    async def test_pickle_roundtrip(self, storage):
        pytest.skip("FaultyStorage compares by identity")


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_never_touch_the_file_system(tmp_path: Path, key: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage = frazil.local_filesystem_storage(tmp_path / "repo" / "inner")
    with pytest.raises(frazil.InvalidInputError):
        await storage.put(key, b"x")
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "repo").exists()


def test_local_path_with_dotdot_is_refused(tmp_path: Path) -> None:
    with pytest.raises(frazil.InvalidInputError, match=r"'\.\.'"):
        frazil.local_filesystem_storage(str(tmp_path / "a" / ".." / "b"))
    assert not (tmp_path / "b").exists()


def test_deleted_repository_directory_is_not_recreated(tmp_path: Path) -> None:
    project = tmp_path / "project"
    repo = frazil.Repository.create(frazil.local_filesystem_storage(project / "data" / "repo"))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(4,), dtype="i4")[:] = 1
    sid = session.commit("one")
    copy = pickle.loads(pickle.dumps(repo))
    shutil.rmtree(project)
    for attempt in (lambda: repo.create_branch("x", sid), lambda: copy.create_tag("t", sid)):
        with pytest.raises(frazil.StorageError, match="no longer exists"):
            attempt()
    assert not project.exists(), "nothing was recreated"


def test_repository_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("not a directory")
    with pytest.raises(frazil.StorageError, match="is a file"):
        frazil.Repository.create(frazil.local_filesystem_storage(target))
    assert target.read_text() == "not a directory"


def test_s3_options_are_validated() -> None:
    with pytest.raises(frazil.InvalidInputError, match="allow_http"):
        frazil.s3_storage(bucket="b", prefix="p", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(frazil.InvalidInputError):
        frazil.s3_storage(bucket="b", prefix="a/../b")
    with pytest.raises(frazil.InvalidInputError):
        frazil.s3_storage(bucket="", prefix="p")


def _connections_for(max_tries: int) -> int:
    """Connections an S3 storage opens to an endpoint that drops every one, when asked
    whether a repository exists with ``max_tries`` tries."""
    import contextlib
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            connections.append(1)
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # take the request, then drop the connection unanswered
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    storage = frazil.s3_storage(
        bucket="b",
        prefix="p",
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        allow_http=True,
        access_key_id="x",
        secret_access_key="y",
    )
    retries = frazil.StorageRetriesSettings(
        max_tries=max_tries, initial_backoff_ms=1, max_backoff_ms=2
    )
    try:
        with pytest.raises(frazil.StorageError, match="ConnectionClosedError"):
            frazil.Repository.exists(storage, frazil.StorageSettings(retries=retries))
    finally:
        server.close()
        thread.join(timeout=5)
    return len(connections)


def test_an_s3_endpoint_that_drops_connections_is_tried_as_often_as_the_settings_say() -> None:
    """frazil's retries are the only ones: botocore's own (five attempts with backoff
    under each of frazil's) stay off. The HTTP client reconnects at most once per try."""
    once = _connections_for(1)
    assert 1 <= once <= 2
    assert _connections_for(3) == 3 * once


def test_storage_from_url_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    with pytest.raises(frazil.InvalidInputError, match="nosuch"):
        storage_from_url("nosuch://x")
    with pytest.raises(frazil.InvalidInputError, match="options"):
        storage_from_url("memory://", colour="blue")
    with pytest.raises(frazil.InvalidInputError, match="options"):
        storage_from_url(f"file://{tmp_path}/r", colour="blue")
    assert frazil.s3_storage(bucket="b", prefix=None).describe().startswith("s3://b")


def test_storage_from_url(tmp_path: Path) -> None:
    assert isinstance(storage_from_url(f"file://{tmp_path}/r"), frazil.storage.LocalStorage)
    assert isinstance(storage_from_url(str(tmp_path / "r")), frazil.storage.LocalStorage)
    assert isinstance(storage_from_url("memory://"), frazil.storage.MemoryStorage)
    s3 = storage_from_url("s3://bucket/some/prefix", region="us-east-1")
    assert isinstance(s3, frazil.storage.S3Storage)
    assert s3.options.prefix == "some/prefix"
    other = storage_from_url("https://example.org/repo")
    assert isinstance(other, FsspecStorage)
    assert not other.supports_conditional_writes
    with pytest.raises(frazil.InvalidInputError):
        storage_from_url("")


async def test_fsspec_storage_is_read_only(tmp_path: Path) -> None:
    local = frazil.local_filesystem_storage(tmp_path / "r")
    await local.put("a/b", b"data")
    ro = FsspecStorage(f"file://{tmp_path / 'r'}")
    assert await ro.get("a/b") == b"data"
    assert [i.key async for i in ro.list("a/")] == ["a/b"]
    with pytest.raises(frazil.ReadOnlyError):
        await ro.put("a/c", b"x")


async def test_memory_storage_is_not_shared_across_processes() -> None:
    storage = frazil.in_memory_storage()
    await storage.put("k", b"v")
    from frazil.storage._memory import _restore_memory_storage

    foreign = _restore_memory_storage(storage._name, os.getpid() + 1)
    with pytest.raises(frazil.StorageError, match="cannot be shared between processes"):
        await foreign.get("k")


async def test_local_temp_files_are_invisible(tmp_path: Path) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "r")
    await storage.put("d/k", b"1")
    (tmp_path / "r" / "d" / ".k.123.tmp").write_bytes(b"partial")
    assert [i.key async for i in storage.list("")] == ["d/k"]


async def test_local_and_memory_storages_read_at_once(tmp_path: Path) -> None:
    # the synchronous API's fast paths rely on these two (and on wrappers that add
    # behaviour staying out unless they say otherwise)
    for storage in (frazil.in_memory_storage(), frazil.local_filesystem_storage(tmp_path / "s")):
        await storage.put("k", b"value")
        version = (await storage.get_versioned("k")).version
        for reader in (storage, RetryingStorage(storage)):
            now = reader.get_now("k")
            assert now is not None
            assert (now.data, now.version) == (b"value", version)
            with pytest.raises(frazil.ObjectNotFoundError):
                reader.get_now("missing")
        assert FaultyStorage(storage, FaultSettings(error_rate=1.0)).get_now("k") is None
    (tmp_path / "s" / "dir").mkdir()
    with pytest.raises(frazil.ObjectNotFoundError):  # as get() says of a folder
        frazil.local_filesystem_storage(tmp_path / "s").get_now("dir")


async def test_a_local_storage_copy_is_the_storage(tmp_path: Path) -> None:
    # copies of a storage whose root exists are made without a look at the disk; they
    # must hold everything a made one holds and behave the same
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    await storage.put("k", b"v")
    copy = pickle.loads(pickle.dumps(storage))
    assert vars(copy) == vars(storage)
    await copy.put("k2", b"w", mode="create")
    version = (await copy.get_versioned("k")).version
    await copy.put("k", b"x", mode=frazil.storage.IfMatch(version))
    assert await storage.get("k") == b"x"
    assert await storage.get("k2") == b"w"
    shutil.rmtree(tmp_path / "repo")
    with pytest.raises(frazil.StorageError, match="no longer exists"):
        await copy.put("k3", b"y")  # a deleted repository is not recreated by a copy
