"""Virtual chunks: containers, authorisation per Repository object, pinned sources, bulk
references, and round trips through local files, S3 (moto) and HTTP (``http.server``)."""

from __future__ import annotations

import datetime
import functools
import http.server
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
import zarr

import frazil
from frazil import credentials as fc
from frazil.format import Manifest, layout

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import MotoS3

VALUES = np.arange(64, dtype="<i4")
HEADER = b"HEAD" * 5  # 20 bytes before the data, so offsets matter


def write_source(path: Path, values: np.ndarray = VALUES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(HEADER + values.tobytes())


def local_container(folder: Path) -> frazil.VirtualChunkContainer:
    return frazil.VirtualChunkContainer(
        f"file://{folder}/", frazil.local_filesystem_store(str(folder))
    )


def new_repo(
    where: Path, *containers: frazil.VirtualChunkContainer, **kw: Any
) -> frazil.Repository:
    config = frazil.RepositoryConfig()
    for c in containers:
        config.set_virtual_chunk_container(c)
    return frazil.Repository.create(frazil.local_filesystem_storage(where), config, **kw)


def add_array(session: frazil.Session, name: str = "v", n: int = 64, chunk: int = 8) -> None:
    zarr.create_array(
        session.store, name=name, shape=(n,), chunks=(chunk,), dtype="<i4", compressors=None
    )


def refs_into(url: str, chunks: int = 8, chunk: int = 8) -> tuple[list[str], Any, Any]:
    return [url] * chunks, len(HEADER) + np.arange(chunks) * chunk * 4, np.full(chunks, chunk * 4)


def read(repo: frazil.Repository, name: str = "v") -> np.ndarray:
    return zarr.open_array(repo.readonly_session("main").store, path=name, mode="r")[:]


# ---------------------------------------------------------------------- authorisation
PRIVATE_CASE = """
import sys, zarr, numpy as np, frazil
repo_dir, secret = sys.argv[1], sys.argv[2]
repo = frazil.Repository.create(frazil.local_filesystem_storage(repo_dir))
s = repo.writable_session("main")
zarr.create_array(s.store, name="v", shape=(4,), chunks=(4,), dtype="u1", compressors=None)
s.set_virtual_ref("v/c/0", "file://" + secret, offset=0, length=4)
s.commit("point at the reader's file")
"""

READER = """
import sys, json, zarr, numpy as np, frazil
repo_dir, secret_dir, authorise = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
storage = frazil.local_filesystem_storage(repo_dir)
config = frazil.Repository.fetch_config(storage) or frazil.RepositoryConfig()
access = None
if authorise:
    prefix = "file://" + secret_dir + "/"
    config.set_virtual_chunk_container(
        frazil.VirtualChunkContainer(prefix, frazil.local_filesystem_store(secret_dir))
    )
    access = {prefix: None}
repo = frazil.Repository.open(storage, config, authorize_virtual_chunk_access=access)
try:
    data = zarr.open_array(repo.readonly_session("main").store, path="v", mode="r")[:]
    print(json.dumps({"data": data.tolist()}))
except frazil.VirtualChunkNotAuthorizedError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc), "kind": exc.kind}))
"""


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_repository_cannot_make_its_reader_read_a_private_file(tmp_path):
    import json

    secret_dir = tmp_path / "home"
    secret_dir.mkdir()
    secret = secret_dir / "id_rsa"
    secret.write_bytes(b"\x01\x02\x03\x04")
    made = run_python(PRIVATE_CASE, str(tmp_path / "repo"), str(secret))
    assert made.returncode == 0, made.stderr

    refused = run_python(READER, str(tmp_path / "repo"), str(secret_dir), "0")
    assert refused.returncode == 0, refused.stderr
    out = json.loads(refused.stdout)
    assert out["error"] == "VirtualChunkNotAuthorizedError"
    assert out["kind"] in {"unauthorized-virtual-chunk-container", "no-container-for-virtual-chunk"}
    assert f"file://{secret}" in out["message"]  # the chunk's URL, not only a prefix
    assert (
        "authorize_virtual_chunk_access" in out["message"]
        or "set_virtual_chunk_container" in out["message"]
    )

    allowed = run_python(READER, str(tmp_path / "repo"), str(secret_dir), "1")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == {"data": [1, 2, 3, 4]}


def test_declared_but_unauthorised_containers_are_refused_by_location(tmp_path):
    src = tmp_path / "src"
    write_source(src / "a.bin")
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    add_array(s)
    assert s.store.set_virtual_refs_arr("/v", (8,), *refs_into(f"file://{src}/a.bin")) is None
    assert s.chunk_type("/v", [3]) == frazil.ChunkType.virtual
    s.commit("refs")
    assert repo.authorized_virtual_container_prefixes == set()
    with pytest.raises(frazil.VirtualChunkNotAuthorizedError) as info:
        read(repo)
    assert info.value.location == f"file://{src}/a.bin"
    assert f"authorize_virtual_chunk_access={{'file://{src}/': " in str(info.value)
    assert isinstance(info.value, PermissionError)
    assert pickle.loads(pickle.dumps(info.value)).location == info.value.location

    allowed = repo.reopen(authorize_virtual_chunk_access={f"file://{src}/": None})
    assert allowed.authorized_virtual_container_prefixes == {f"file://{src}/"}
    np.testing.assert_array_equal(read(allowed), VALUES)
    # the first object is unchanged: authorisation belongs to the object that got it
    with pytest.raises(frazil.VirtualChunkNotAuthorizedError):
        read(repo)
    # sessions and repositories carry their authorisation through pickling
    ro = pickle.loads(pickle.dumps(allowed.readonly_session("main")))
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="v", mode="r")[:], VALUES)
    np.testing.assert_array_equal(read(pickle.loads(pickle.dumps(allowed))), VALUES)


def test_authorisation_arguments_are_checked(tmp_path):
    src = tmp_path / "src"
    repo = new_repo(tmp_path / "repo", local_container(src))
    storage = repo.storage
    with pytest.raises(frazil.InvalidInputError, match="no virtual chunk container"):
        frazil.Repository.open(storage, authorize_virtual_chunk_access={"s3://elsewhere/": None})
    # the container's prefix without its trailing slash names the same place
    same = frazil.Repository.open(storage, authorize_virtual_chunk_access={f"file://{src}": None})
    assert same.authorized_virtual_container_prefixes == {f"file://{src}/"}
    with pytest.raises(frazil.InvalidInputError, match="no virtual chunk container"):
        frazil.Repository.open(storage, authorize_virtual_chunk_access={f"file://{src}x": None})
    with pytest.raises(frazil.InvalidInputError, match="credentials") as info:
        frazil.Repository.open(
            storage, authorize_virtual_chunk_access={f"file://{src}/": "my-secret-key"}
        )
    assert info.value.kind == frazil.ErrorKind.INVALID_CREDENTIALS
    with pytest.raises(frazil.InvalidInputError, match="must be a dict"):
        frazil.Repository.open(storage, authorize_virtual_chunk_access=[f"file://{src}/"])  # type: ignore[arg-type]
    with pytest.raises(frazil.InvalidInputError):
        frazil.Repository.create(
            frazil.local_filesystem_storage(tmp_path / "other"),
            authorize_virtual_chunk_access={"file:///nowhere/": None},
        )
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())


def test_dot_dot_cannot_escape_a_container(tmp_path):
    src = tmp_path / "src"
    write_source(src / "a.bin")
    (tmp_path / "secret.bin").write_bytes(b"\xff" * 64)
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    add_array(s)
    escaping = f"file://{src}/../secret.bin"
    with pytest.raises(frazil.InvalidInputError, match="escapes its container"):
        s.store.set_virtual_ref("v/c/0", escaping, offset=0, length=32)
    assert not s.has_uncommitted_changes or s.chunk_type("/v", [0]) != frazil.ChunkType.virtual
    # written without validation, it is still refused when read, even by an authorised reader
    s.store.set_virtual_ref("v/c/0", escaping, offset=0, length=32, validate_container=False)
    s.commit("escape")
    allowed = repo.reopen(authorize_virtual_chunk_access={f"file://{src}/": None})
    with pytest.raises(frazil.VirtualChunkNotAuthorizedError, match=r"escapes its container"):
        zarr.open_array(allowed.readonly_session("main").store, path="v", mode="r")[0:8]


# ---------------------------------------------------------------------- writing references
def test_store_write_methods_round_trip_and_report_failures(tmp_path):
    src = tmp_path / "src"
    write_source(src / "a.bin")
    write_source(src / "b.bin", VALUES[::-1].copy())
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    add_array(s, "one")
    add_array(s, "many")
    add_array(s, "arr")
    add_array(s, "grid2d", n=64, chunk=8)
    store = s.store
    for i in range(8):
        store.set_virtual_ref(
            f"one/c/{i}", f"file://{src}/a.bin", offset=len(HEADER) + 32 * i, length=32
        )
    specs = [
        frazil.VirtualChunkSpec(
            index=[i], location=f"file://{src}/b.bin", offset=len(HEADER) + 32 * i, length=32
        )
        for i in range(8)
    ]
    specs.append(frazil.VirtualChunkSpec([7], "s3://not-declared/x.nc", 0, 32))
    assert store.set_virtual_refs("/many", specs) == [(7,)]
    # the refused reference did not overwrite the good one at (7,)
    urls, offsets, lengths = refs_into(f"file://{src}/a.bin")
    urls[3] = ""  # skipped
    assert store.set_virtual_refs_arr("/arr", (8,), urls, offsets, lengths) is None
    assert s.chunk_type("/arr", [3]) == frazil.ChunkType.uninitialized
    s.commit("refs")
    allowed = repo.reopen(authorize_virtual_chunk_access={f"file://{src}/": None})
    np.testing.assert_array_equal(read(allowed, "one"), VALUES)
    np.testing.assert_array_equal(read(allowed, "many"), VALUES[::-1])
    expected = VALUES.copy()
    expected[24:32] = 0  # fill value where the chunk was skipped
    np.testing.assert_array_equal(read(allowed, "arr"), expected)
    assert allowed.readonly_session("main").all_virtual_chunk_locations() == [
        f"file://{src}/a.bin",
        f"file://{src}/b.bin",
    ]


def test_set_virtual_refs_arr_places_blocks_for_appends(tmp_path):
    src = tmp_path / "src"
    for i in range(4):
        write_source(src / f"f{i}.bin", VALUES + 100 * i)
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    zarr.create_array(
        s.store, name="t", shape=(4, 64), chunks=(1, 16), dtype="<i4", compressors=None
    )
    # two blocks of 2 x 4 chunks, shaped like the grid, the second placed at row 2
    for block in (0, 1):
        files = np.array([[f"file://{src}/f{2 * block + r}.bin"] * 4 for r in range(2)])
        offsets = len(HEADER) + np.tile(np.arange(4) * 64, (2, 1))
        lengths = np.full((2, 4), 64, dtype=np.uint64)
        assert (
            s.store.set_virtual_refs_arr(
                "/t", (2, 4), files, offsets, lengths, arr_offset=(2 * block, 0)
            )
            is None
        )
    s.commit("blocks")
    allowed = repo.reopen(authorize_virtual_chunk_access={f"file://{src}/": None})
    got = read(allowed, "t")
    np.testing.assert_array_equal(got, np.stack([VALUES + 100 * i for i in range(4)]))


def test_bad_references_are_refused_and_nothing_is_written(tmp_path):
    src = tmp_path / "src"
    write_source(src / "a.bin")
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    add_array(s)
    s.commit("array")
    s = repo.writable_session("main")
    store = s.store
    url = f"file://{src}/a.bin"
    urls, offsets, lengths = refs_into(url)
    cases = [
        lambda: store.set_virtual_ref("v/c/0", 5, offset=0, length=4),  # type: ignore[arg-type]
        lambda: store.set_virtual_ref("v/c/0", url, offset=-1, length=4),
        lambda: store.set_virtual_ref("v/c/0", url, offset=0, length=-4),
        lambda: store.set_virtual_ref("v/c/0", "s3://undeclared/x", offset=0, length=4),
        lambda: store.set_virtual_ref("v/zarr.json", url, offset=0, length=4),
        lambda: store.set_virtual_refs_arr("/v", (8,), urls, offsets - 100, lengths),
        lambda: store.set_virtual_refs_arr("/v", (8,), urls, offsets, lengths.astype(float)),
        lambda: store.set_virtual_refs_arr("/v", (9,), [*urls, url], [*offsets, 0], [*lengths, 4]),
        lambda: store.set_virtual_refs_arr("/v", (4,), urls, offsets, lengths),
        lambda: store.set_virtual_refs_arr("/v", (8,), [*urls[:7], 3], offsets, lengths),
        lambda: store.set_virtual_refs_arr("/v", (8,), urls, offsets, lengths, arr_offset=(1,)),
        lambda: store.set_virtual_refs(
            "/v",
            [frazil.VirtualChunkSpec([0], url, 0, 4), frazil.VirtualChunkSpec([0, 1], url, 0, 4)],
        ),
        lambda: store.set_virtual_refs("/v", [frazil.VirtualChunkSpec([0], url, -5, 4)]),
        lambda: store.set_virtual_refs("/v", [(0, url, 0, 4)]),  # type: ignore[list-item]
    ]
    for number, case in enumerate(cases):
        with pytest.raises(frazil.InvalidInputError):
            print("case", number)
            case()
        assert not s.has_uncommitted_changes
    with pytest.raises(frazil.InvalidInputError, match="unknown virtual chunk container store"):
        frazil.ObjectStoreConfig("ftp-ish", {})
    with pytest.raises(frazil.InvalidInputError, match="end with '/'"):
        frazil.VirtualChunkContainer(f"file://{src}", frazil.local_filesystem_store(str(src)))


# ---------------------------------------------------------------------- checksums
def test_changed_local_sources_are_detected(tmp_path):
    src = tmp_path / "src"
    write_source(src / "a.bin")
    write_source(src / "short.bin")
    write_source(src / "etag.bin")
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    for name in ("pinned", "short", "etag"):
        add_array(s, name)
    pinned_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    s.store.set_virtual_refs_arr(
        "/pinned", (8,), *refs_into(f"file://{src}/a.bin"), checksum=pinned_at
    )
    s.store.set_virtual_refs_arr("/short", (8,), *refs_into(f"file://{src}/short.bin"))
    s.store.set_virtual_refs_arr(
        "/etag", (8,), *refs_into(f"file://{src}/etag.bin"), checksum='"abc"'
    )
    s.commit("pinned")
    allowed = repo.reopen(authorize_virtual_chunk_access={f"file://{src}/": None})
    np.testing.assert_array_equal(read(allowed, "pinned"), VALUES)

    # same size, other bytes, modified after the pin
    write_source(src / "a.bin", VALUES * 7)
    later = pinned_at.timestamp() + 60
    os.utime(src / "a.bin", (later, later))
    with pytest.raises(frazil.VirtualSourceChangedError, match="modified at") as info:
        read(allowed, "pinned")
    assert info.value.location == f"file://{src}/a.bin"
    assert isinstance(info.value, frazil.StorageError)

    (src / "short.bin").write_bytes(HEADER + VALUES[:10].tobytes())
    with pytest.raises(frazil.VirtualSourceChangedError, match="shorter than its reference"):
        read(allowed, "short")
    # local files have no ETag: an ETag pin cannot be checked, so nothing is returned
    with pytest.raises(frazil.VirtualSourceChangedError, match="no ETag"):
        read(allowed, "etag")


def test_location_table_is_deduplicated_in_manifests(tmp_path):
    src = tmp_path / "src"
    repo = new_repo(tmp_path / "repo", local_container(src))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="big", shape=(100, 100), chunks=(1, 1), dtype="u1")
    files = np.array([f"file://{src}/file-{i % 10:03d}.nc" for i in range(10_000)])
    offsets = np.arange(10_000, dtype=np.uint64) * 8
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    s.store.set_virtual_refs_arr(
        "/big", (100, 100), files, offsets, np.full(10_000, 8), checksum=when
    )
    s.commit("10k refs")
    keys = list(os.listdir(tmp_path / "repo" / "manifests"))
    manifests = [
        Manifest.decode(
            (tmp_path / "repo" / "manifests" / k).read_bytes(), key=layout.manifest_key(k)
        )
        for k in keys
    ]
    rows = sum(len(seg.refs) for m in manifests for seg in m.segments)
    assert rows == 10_000
    tables = {seg.refs.locations for m in manifests for seg in m.segments}
    assert all(len(t) <= 10 for t in tables)
    urls = {frazil.format.split_location(e)[0] for t in tables for e in t}
    assert urls == {f"file://{src}/file-{i:03d}.nc" for i in range(10)}
    pins = {frazil.format.split_location(e)[2] for t in tables for e in t}
    assert pins == {int(when.timestamp())}


# ---------------------------------------------------------------------- S3 on moto
@pytest.fixture
def s3_source(moto_s3: MotoS3) -> Iterator[tuple[MotoS3, Any, str]]:
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    prefix = f"src-{uuid.uuid4().hex[:8]}"
    client.put_object(Bucket=moto_s3.bucket, Key=f"{prefix}/a.bin", Body=HEADER + VALUES.tobytes())
    return moto_s3, client, f"s3://{moto_s3.bucket}/{prefix}/"


def s3_container(moto_s3: MotoS3, prefix: str) -> frazil.VirtualChunkContainer:
    return frazil.VirtualChunkContainer(
        prefix,
        frazil.s3_store(
            region="us-east-1",
            endpoint_url=moto_s3.endpoint,
            allow_http=True,
            force_path_style=True,
        ),
    )


def test_s3_round_trip_with_per_object_credentials_and_etag_pins(tmp_path, s3_source):
    moto_s3, client, prefix = s3_source
    config = frazil.RepositoryConfig()
    config.set_virtual_chunk_container(s3_container(moto_s3, prefix))
    storage = moto_s3.storage()
    repo = frazil.Repository.create(storage, config)
    etag = client.head_object(Bucket=moto_s3.bucket, Key=prefix.split("/", 3)[3] + "a.bin")["ETag"]
    s = repo.writable_session("main")
    add_array(s, "plain")
    add_array(s, "pinned")
    s.store.set_virtual_refs_arr("/plain", (8,), *refs_into(f"{prefix}a.bin"))
    s.store.set_virtual_refs_arr("/pinned", (8,), *refs_into(f"{prefix}a.bin"), checksum=etag)
    s.commit("s3 refs")

    static = fc.s3_static_credentials(access_key_id="testing", secret_access_key="testing")
    good = frazil.Repository.open(storage, authorize_virtual_chunk_access={prefix: static})
    anonymous = frazil.Repository.open(
        storage, authorize_virtual_chunk_access={prefix: fc.s3_anonymous_credentials()}
    )
    # two objects in one process, each with its own credentials
    np.testing.assert_array_equal(read(good, "plain"), VALUES)
    np.testing.assert_array_equal(read(good, "pinned"), VALUES)
    with pytest.raises(frazil.StorageError, match=r"Forbidden|AccessDenied|403"):
        read(anonymous, "plain")
    np.testing.assert_array_equal(read(good, "plain"), VALUES)

    # rewritten: same size, other bytes, new ETag
    client.put_object(
        Bucket=moto_s3.bucket,
        Key=prefix.split("/", 3)[3] + "a.bin",
        Body=HEADER + (VALUES + 1).tobytes(),
    )
    with pytest.raises(frazil.VirtualSourceChangedError, match="ETag") as info:
        read(good, "pinned")
    assert info.value.location == f"{prefix}a.bin"
    np.testing.assert_array_equal(read(good, "plain"), VALUES + 1)  # unpinned: new bytes


def test_refreshable_credentials_are_called_and_checked(s3_source):
    moto_s3, _, prefix = s3_source
    config = frazil.RepositoryConfig()
    config.set_virtual_chunk_container(s3_container(moto_s3, prefix))
    storage = moto_s3.storage()
    repo = frazil.Repository.create(storage, config)
    s = repo.writable_session("main")
    add_array(s)
    s.store.set_virtual_refs_arr("/v", (8,), *refs_into(f"{prefix}a.bin"))
    s.commit("refs")
    calls = []

    def get_credentials() -> fc.S3StaticCredentials:
        calls.append(1)
        return fc.S3StaticCredentials(
            "testing",
            "testing",
            expires_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
        )

    creds = fc.s3_refreshable_credentials(get_credentials)
    ok = frazil.Repository.open(storage, authorize_virtual_chunk_access={prefix: creds})
    np.testing.assert_array_equal(read(ok), VALUES)
    assert calls  # asked once for its first key
    bad = frazil.Repository.open(
        storage,
        authorize_virtual_chunk_access={prefix: fc.s3_refreshable_credentials(lambda: "key")},  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(frazil.StorageError, match="S3StaticCredentials"):
        read(bad)


# ---------------------------------------------------------------------- HTTP
class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.headers.get("Range", ""))  # type: ignore[attr-defined]
        path = self.translate_path(self.path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            self.send_error(404)
            return
        start, stop = 0, len(data)
        status = 200
        if self.headers.get("Range"):
            first, _, last = self.headers["Range"].removeprefix("bytes=").partition("-")
            start, stop = int(first), min(len(data), int(last) + 1)
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(stop - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Last-Modified", self.date_time_string(int(os.stat(path).st_mtime)))
        self.end_headers()
        self.wfile.write(data[start:stop])


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_http_round_trip_coalesces_adjacent_chunks_and_checks_mtime(tmp_path, http_root):
    base, root, requests = http_root
    write_source(root / "a.bin")
    container = frazil.VirtualChunkContainer(base, frazil.http_store())
    repo = new_repo(tmp_path / "repo", container)
    s = repo.writable_session("main")
    add_array(s)
    pinned = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    s.store.set_virtual_refs_arr("/v", (8,), *refs_into(f"{base}a.bin"), checksum=pinned)
    s.commit("http refs")
    allowed = repo.reopen(authorize_virtual_chunk_access={base: None})
    np.testing.assert_array_equal(read(allowed), VALUES)
    # eight adjacent chunks of one file, read together, went out as fewer requests
    assert 1 <= len(requests) < 8, requests

    later = pinned.timestamp() + 120
    os.utime(root / "a.bin", (later, later))
    with pytest.raises(frazil.VirtualSourceChangedError, match="modified at"):
        read(allowed)
    (root / "gone.bin").write_bytes(b"")
    s = allowed.writable_session("main")
    s.store.set_virtual_ref("v/c/0", f"{base}missing.bin", offset=0, length=32)
    s.commit("missing")
    with pytest.raises(frazil.StorageError, match=r"missing\.bin"):
        zarr.open_array(allowed.readonly_session("main").store, path="v", mode="r")[0:8]


# ---------------------------------------------------------------------- clean exit
EXIT_SCRIPT = """
import os, numpy as np, zarr, frazil
from frazil import credentials as fc
endpoint, bucket, prefix = os.environ["MOTO"], os.environ["BUCKET"], os.environ["PREFIX"]
storage = frazil.s3_storage(bucket=bucket, prefix="exit-" + os.urandom(4).hex(), region="us-east-1",
    endpoint_url=endpoint, allow_http=True, access_key_id="testing", secret_access_key="testing")
config = frazil.RepositoryConfig()
config.set_virtual_chunk_container(frazil.VirtualChunkContainer(prefix, frazil.s3_store(
    region="us-east-1", endpoint_url=endpoint, allow_http=True, force_path_style=True)))
repo = frazil.Repository.create(storage, config, authorize_virtual_chunk_access={
    prefix: fc.s3_static_credentials(access_key_id="testing", secret_access_key="testing")})
s = repo.writable_session("main")
zarr.create_array(s.store, name="v", shape=(64,), chunks=(8,), dtype="<i4", compressors=None)
s.store.set_virtual_refs_arr("/v", (8,), [prefix + "a.bin"] * 8, 20 + np.arange(8) * 32, np.full(8, 32))
s.commit("refs")
print(zarr.open_array(repo.readonly_session("main").store, path="v", mode="r")[:].sum())
"""


def test_a_process_using_s3_exits_without_unclosed_sessions(s3_source):
    moto_s3, _, prefix = s3_source
    done = run_python(
        EXIT_SCRIPT,
        env={
            "MOTO": moto_s3.endpoint,
            "BUCKET": moto_s3.bucket,
            "PREFIX": prefix,
            "PYTHONWARNINGS": "default",
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(int(VALUES.sum()))
    assert "Unclosed" not in done.stderr, done.stderr


def test_location_pins_round_trip_and_older_manifests_still_read():
    from frazil.format import ChunkRefs, ManifestSegment, RefKind, pin_location

    n = 4
    refs = ChunkRefs(
        coords=np.arange(n, dtype=np.int64).reshape(n, 1),
        kind=np.full(n, RefKind.VIRTUAL, dtype=np.uint8),
        chunk_id=np.zeros((n, 12), dtype=np.uint8),
        offset=np.arange(n, dtype=np.uint64) * 8,
        length=np.full(n, 8, dtype=np.uint64),
        checksum=np.zeros(n, dtype=np.uint32),
        location=np.array([0, 1, 0, 2], dtype=np.uint32),
        locations=(
            "s3://b/a.nc",
            pin_location("s3://b/b.nc", '"etag-1"'),
            pin_location("s3://b/c.nc", None, 1_700_000_000),
        ),
    )
    manifest = Manifest(
        manifest_id="0" * 20, segments=(ManifestSegment(node_id="n", block=(0,), refs=refs),)
    )
    back = Manifest.decode(manifest.encode(), key="manifests/x").segments[0].refs
    assert [back.locations[i] for i in back.location.tolist()] == [
        refs.locations[i] for i in refs.location.tolist()
    ]
    assert frazil.format.split_location(back.locations[int(back.location[1])]) == (
        "s3://b/b.nc",
        '"etag-1"',
        None,
    )
    # what a manifest written before pins holds: the URLs alone
    assert frazil.format.locations_from_json(["s3://b/a.nc"], [], key="k") == ("s3://b/a.nc",)
    with pytest.raises(frazil.FormatError):
        frazil.format.locations_from_json(["s3://b/a.nc"], [[5, None, 1]], key="k")


def test_any_fsspec_protocol_can_be_a_container(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    folder = f"/virtual-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{folder}/a.bin", HEADER + VALUES.tobytes())
    prefix = f"memory://{folder}/"
    repo = new_repo(
        tmp_path / "repo", frazil.VirtualChunkContainer(prefix, frazil.fsspec_store("memory"))
    )
    s = repo.writable_session("main")
    add_array(s)
    s.store.set_virtual_refs_arr("/v", (8,), *refs_into(f"{prefix}a.bin"))
    s.commit("memory refs")
    np.testing.assert_array_equal(
        read(repo.reopen(authorize_virtual_chunk_access={prefix: None})), VALUES
    )
    with pytest.raises(frazil.VirtualChunkNotAuthorizedError):
        read(repo)
