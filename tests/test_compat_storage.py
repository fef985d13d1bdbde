"""More storages in Icechunk's names: R2 and Tigris (S3-compatible, on the moto server),
HTTP (read-only, a local http.server), GCS and Azure (read-only through fsspec)."""

from __future__ import annotations

import functools
import http.server
import threading
import uuid
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import MotoS3


def _roundtrip(storage: frazil.Storage) -> None:
    repo = frazil.Repository.create(storage)
    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="x", shape=(6,), chunks=(2,), dtype="f8")
    array[:] = np.linspace(0, 1, 6)
    first = session.commit("one")
    # two writers from the same base: the compare-and-swap lets exactly one through
    a, b = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(a.store, path="x")[:2] = 5
    zarr.open_array(b.store, path="x")[4:] = 7
    a.commit("a")
    with pytest.raises(frazil.ConflictError):
        b.commit("b")
    reopened = frazil.Repository.open(storage)
    assert [s.message for s in reopened.ancestry(branch="main")][:2] == ["a", "one"]
    expected = np.linspace(0, 1, 6)
    expected[:2] = 5
    read = reopened.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="x")[:], expected)
    assert reopened.lookup_branch("main") != first


def test_r2_storage_on_an_s3_compatible_server(moto_s3: MotoS3) -> None:
    storage = frazil.r2_storage(
        bucket=moto_s3.bucket,
        prefix=f"r2-{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_s3.endpoint,
        allow_http=True,
        access_key_id="testing",
        secret_access_key="testing",
    )
    assert isinstance(storage, frazil.storage.S3Storage)
    assert storage.supports_conditional_writes
    _roundtrip(storage)


def test_r2_endpoint_from_account_and_required_arguments() -> None:
    storage = frazil.r2_storage(bucket="b", prefix="p", account_id="acct")
    assert storage.options.endpoint_url == "https://acct.r2.cloudflarestorage.com"
    assert storage.options.region == "auto"
    tigris = frazil.tigris_storage(bucket="b", prefix="p")
    assert tigris.options.endpoint_url == "https://t3.storage.dev"
    with pytest.raises(frazil.InvalidInputError, match="account_id"):
        frazil.r2_storage(bucket="b", prefix="p")
    with pytest.raises(frazil.InvalidInputError, match="bucket"):
        frazil.r2_storage(account_id="acct")


def test_s3_object_store_storage_is_the_s3_storage(moto_s3: MotoS3) -> None:
    storage = frazil.s3_object_store_storage(
        bucket=moto_s3.bucket,
        prefix=f"os-{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_s3.endpoint,
        allow_http=True,
        access_key_id="testing",
        secret_access_key="testing",
        force_path_style=True,
    )
    assert isinstance(storage, frazil.storage.S3Storage)
    assert storage.supports_conditional_writes
    _roundtrip(storage)
    with pytest.raises(frazil.InvalidInputError, match="headers"):
        frazil.s3_object_store_storage(bucket="b", prefix="p", headers={"x-a": "1"})


def test_tigris_storage_on_an_s3_compatible_server(moto_s3: MotoS3) -> None:
    storage = frazil.tigris_storage(
        bucket=moto_s3.bucket,
        prefix=f"tigris-{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_s3.endpoint,
        allow_http=True,
        access_key_id="testing",
        secret_access_key="testing",
    )
    _roundtrip(storage)
    with pytest.raises(frazil.InvalidInputError, match="consisten"):
        frazil.tigris_storage(bucket="b", prefix="p", use_weak_consistency=True)


def _moto_key() -> frazil.credentials.S3StaticCredentials:
    return frazil.credentials.S3StaticCredentials(
        access_key_id="testing", secret_access_key="testing"
    )


@pytest.mark.parametrize("make", [frazil.r2_storage, frazil.tigris_storage])
def test_r2_and_tigris_take_the_credentials_s3_storage_takes(moto_s3: MotoS3, make: object) -> None:
    build = make if callable(make) else None
    assert build is not None
    common = {
        "bucket": moto_s3.bucket,
        "endpoint_url": moto_s3.endpoint,
        "allow_http": True,
        "force_path_style": True,
    }
    static = build(
        prefix=f"c-{uuid.uuid4().hex[:8]}",
        credentials=frazil.credentials.s3_static_credentials(
            access_key_id="testing", secret_access_key="testing"
        ),
        **common,
    )
    assert static.options.access_key_id == "testing"
    assert static.options.force_path_style
    _roundtrip(static)
    refreshed = build(
        prefix=f"r-{uuid.uuid4().hex[:8]}",
        get_credentials=_moto_key,
        scatter_initial_credentials=True,
        network_stream_timeout_seconds=30,
        **common,
    )
    assert refreshed.options.initial_key is not None
    assert refreshed.options.network_stream_timeout_seconds == 30
    _roundtrip(refreshed)
    with pytest.raises(frazil.InvalidInputError, match="not both"):
        build(
            prefix="p",
            anonymous=True,
            credentials=frazil.credentials.s3_anonymous_credentials(),
            **common,
        )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_http_storage_reads_a_served_repository(served: tuple[str, Path]) -> None:
    url, root = served
    repo = frazil.Repository.create(frazil.local_filesystem_storage(root / "repo"))
    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="t", shape=(5,), chunks=(2,), dtype="i8")
    array[:] = np.arange(5) * 1000  # chunks above the inline threshold are their own objects
    zarr.create_array(session.store, name="big", shape=(256,), chunks=(128,), dtype="i8")[:] = (
        np.arange(256)
    )
    snapshot_id = session.commit("served", {"who": "server"})
    repo.create_tag("v1", snapshot_id)

    storage = frazil.http_storage(f"{url}/repo", headers={"X-Test": "1"})
    remote = frazil.Repository.open(storage)
    assert remote.lookup_branch("main") == snapshot_id
    assert remote.lookup_tag("v1") == snapshot_id
    read = remote.readonly_session(tag="v1")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="t")[:], np.arange(5) * 1000)
    np.testing.assert_array_equal(zarr.open_array(read.store, path="big")[:], np.arange(256))
    assert next(iter(remote.ancestry(branch="main"))).metadata == {"who": "server"}
    assert remote.list_branches() == {"main"}
    with pytest.raises(frazil.ReadOnlyError) as info:
        remote.writable_session("main")
    assert info.value.kind == "read-only-storage"
    with pytest.raises(frazil.InvalidInputError):
        frazil.http_storage("ftp://example.org/repo")


def test_gcs_and_azure_are_read_only_with_a_clear_error() -> None:
    gcs = frazil.gcs_storage(bucket="bucket", prefix="repo", anonymous=True)
    azure = frazil.azure_storage(account="acct", container="c", prefix="repo", anonymous=True)
    assert gcs.describe() == "gs://bucket/repo"
    assert azure.describe() == "az://c/repo"
    for storage in (gcs, azure):
        assert not storage.supports_conditional_writes
        with pytest.raises(frazil.ReadOnlyError) as info:
            frazil.Repository.create(storage)
        assert info.value.kind == "read-only-storage"
    with pytest.raises(frazil.InvalidInputError):
        frazil.gcs_storage(bucket="a/b", prefix=None)
    with pytest.raises(frazil.InvalidInputError):
        frazil.azure_storage(account="a", container="c", prefix="../up")


def test_storage_class_constructors_make_the_same_storages(moto_s3: MotoS3, tmp_path: Path) -> None:
    from frazil.credentials import s3_static_credentials

    options = frazil.S3Options(region="us-east-1", endpoint_url=moto_s3.endpoint, allow_http=True)
    keys = s3_static_credentials(access_key_id="testing", secret_access_key="testing")
    prefix = f"new-{uuid.uuid4().hex[:8]}"
    made = frazil.Storage.new_s3(options, moto_s3.bucket, prefix, keys)
    assert made == frazil.s3_storage(
        bucket=moto_s3.bucket,
        prefix=prefix,
        region="us-east-1",
        endpoint_url=moto_s3.endpoint,
        allow_http=True,
        credentials=keys,
    )
    _roundtrip(made)
    again = frazil.Storage.new_s3_object_store(options, moto_s3.bucket, prefix, keys)
    assert frazil.Repository.open(again).lookup_branch("main") == (
        frazil.Repository.open(made).lookup_branch("main")
    )
    tigris = frazil.Storage.new_tigris(options, moto_s3.bucket, f"t-{prefix}", False, keys)
    _roundtrip(tigris)
    r2 = frazil.Storage.new_r2(options, moto_s3.bucket, f"r-{prefix}", None, keys)
    _roundtrip(r2)

    local = frazil.Storage.new_local_filesystem(str(tmp_path / "repo"))
    assert local == frazil.local_filesystem_storage(tmp_path / "repo")
    _roundtrip(local)
    _roundtrip(frazil.Storage.new_in_memory())


def test_storage_class_constructors_refuse_what_frazil_cannot_honour(moto_s3: MotoS3) -> None:
    options = frazil.S3Options(endpoint_url=moto_s3.endpoint, allow_http=True)
    with pytest.raises(frazil.InvalidInputError, match="headers"):
        frazil.Storage.new_s3(options, moto_s3.bucket, "p", headers={"x-a": "b"})
    with pytest.raises(frazil.InvalidInputError, match="legacy_rooted_keys"):
        frazil.Storage.new_s3(options, moto_s3.bucket, "p", legacy_rooted_keys=True)
    with pytest.raises(frazil.InvalidInputError, match="S3Options"):
        frazil.Storage.new_s3({"region": "x"}, moto_s3.bucket, "p")
    with pytest.raises(frazil.InvalidInputError, match="bucket= and prefix="):
        frazil.Storage.new_s3(frazil.S3Options(bucket="b"), moto_s3.bucket, "p")
    with pytest.raises(frazil.InvalidInputError, match="credentials="):
        frazil.Storage.new_s3(frazil.S3Options(access_key_id="k"), moto_s3.bucket, "p")
    with pytest.raises(frazil.InvalidInputError, match="requester_pays"):
        frazil.Storage.new_r2(frazil.S3Options(requester_pays=True), moto_s3.bucket, "p")
