"""VirtualiZarr and kerchunk round trips: netCDF4/HDF5 files written with xarray
(h5netcdf), referenced by VirtualiZarr's HDF parser and kerchunk's HDF5 backend, committed
through frazil.virtual, and read back equal to the files, on local disk and on moto S3."""

from __future__ import annotations

import uuid
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import frazil
from frazil import credentials as fc

xr = pytest.importorskip("xarray")
pytest.importorskip("virtualizarr")
pytest.importorskip("kerchunk")
pytest.importorskip("h5netcdf")

from frazil.virtual import import_kerchunk, write_virtual_dataset

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import MotoS3


def write_files(folder: Path, count: int = 2) -> list[Path]:
    """netCDF4 files of one dataset split along time, chunked unevenly per variable."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(count):
        ds = xr.Dataset(
            {
                "temperature": (("time", "x"), rng.random((4, 6), dtype="f4")),
                "count": (("time", "x"), np.arange(24, dtype="i8").reshape(4, 6) + 24 * i),
            },
            coords={"time": np.arange(4) + 4 * i, "x": np.arange(6) * 0.5},
            attrs={"title": "frazil virtual test"},
        )
        ds["temperature"].attrs["units"] = "K"
        path = folder / f"part-{i}.nc"
        ds.to_netcdf(
            path,
            engine="h5netcdf",
            encoding={
                "temperature": {"chunksizes": (2, 3), "zlib": True},
                "count": {"chunksizes": (4, 6)},
            },
        )
        paths.append(path)
    return paths


def expected(paths: list[Path]) -> Any:
    parts = [xr.open_dataset(p, engine="h5netcdf").load() for p in paths]
    return xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]


def open_virtual(url: str, registry: Any) -> Any:
    from virtualizarr import open_virtual_dataset
    from virtualizarr.parsers import HDFParser

    return open_virtual_dataset(
        url, registry=registry, parser=HDFParser(), loadable_variables=["time", "x"]
    )


def local_registry() -> Any:
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import LocalStore

    return ObjectStoreRegistry({"file://": LocalStore()})


def repo_with(
    storage: frazil.Storage, prefix: str, store: frazil.ObjectStoreConfig, creds: Any
) -> frazil.Repository:
    config = frazil.RepositoryConfig()
    config.set_virtual_chunk_container(frazil.VirtualChunkContainer(prefix, store))
    frazil.Repository.create(storage, config)
    return frazil.Repository.open(storage, authorize_virtual_chunk_access={prefix: creds})


def read_back(repo: frazil.Repository, group: str | None = None) -> Any:
    store = repo.readonly_session("main").store
    return xr.open_zarr(store, group=group, consolidated=False, zarr_format=3).load()


def test_virtualizarr_round_trip_with_append_on_local_files(tmp_path):
    paths = write_files(tmp_path / "src")
    prefix = f"file://{tmp_path}/src/"
    repo = repo_with(
        frazil.local_filesystem_storage(tmp_path / "repo"),
        prefix,
        frazil.local_filesystem_store(str(tmp_path / "src")),
        None,
    )
    registry = local_registry()
    session = repo.writable_session("main")
    write_virtual_dataset(open_virtual(f"file://{paths[0]}", registry), session.store)
    session.commit("first file")
    xr.testing.assert_identical(read_back(repo), expected(paths[:1]))

    session = repo.writable_session("main")
    write_virtual_dataset(
        open_virtual(f"file://{paths[1]}", registry), session.store, append_dim="time"
    )
    session.commit("second file appended")
    xr.testing.assert_identical(read_back(repo), expected(paths))
    # every data chunk is virtual (nothing copied), into exactly the two files
    ro = repo.readonly_session("main")
    assert ro.chunk_type("/count", [1, 0]) == frazil.ChunkType.virtual
    assert ro.all_virtual_chunk_locations() == [f"file://{p}" for p in paths]
    # history: the first commit still reads as the first file alone
    first = list(repo.ancestry(branch="main"))[1].id
    old = repo.readonly_session(snapshot_id=first).store
    xr.testing.assert_identical(
        xr.open_zarr(old, consolidated=False, zarr_format=3).load(), expected(paths[:1])
    )


def test_virtualizarr_refuses_mismatched_appends_and_foreign_stores(tmp_path):
    paths = write_files(tmp_path / "src")
    prefix = f"file://{tmp_path}/src/"
    repo = repo_with(
        frazil.local_filesystem_storage(tmp_path / "repo"),
        prefix,
        frazil.local_filesystem_store(str(tmp_path / "src")),
        None,
    )
    vds = open_virtual(f"file://{paths[0]}", local_registry())
    session = repo.writable_session("main")
    with pytest.raises(frazil.InvalidInputError, match="append_dim"):
        write_virtual_dataset(vds, session.store, append_dim="depth")
    with pytest.raises(frazil.InvalidInputError, match="frazil store"):
        write_virtual_dataset(vds, {})  # type: ignore[arg-type]
    # references outside every container are refused
    other = repo_with(
        frazil.local_filesystem_storage(tmp_path / "other"),
        "file:///elsewhere/",
        frazil.local_filesystem_store("/elsewhere"),
        None,
    )
    with pytest.raises(frazil.InvalidInputError, match="outside every virtual chunk container"):
        write_virtual_dataset(vds, other.writable_session("main").store)


def test_kerchunk_round_trip_from_dict_json_and_parquet(tmp_path):
    from kerchunk.hdf import SingleHdf5ToZarr

    paths = write_files(tmp_path / "src", count=1)
    prefix = f"file://{tmp_path}/src/"
    repo = repo_with(
        frazil.local_filesystem_storage(tmp_path / "repo"),
        prefix,
        frazil.local_filesystem_store(str(tmp_path / "src")),
        None,
    )
    refs = SingleHdf5ToZarr(str(paths[0]), url=f"file://{paths[0]}", inline_threshold=0).translate()
    import json

    (tmp_path / "refs.json").write_text(json.dumps(refs))
    session = repo.writable_session("main")
    import_kerchunk(refs, session.store, group="from_dict")
    import_kerchunk(tmp_path / "refs.json", session.store, group="from_json")
    parquet_ok = True
    try:
        from kerchunk.df import refs_to_dataframe

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refs_to_dataframe(refs, str(tmp_path / "refs.parq"))
    except ImportError:  # pragma: no cover - needs fastparquet or pyarrow
        parquet_ok = False
    if parquet_ok:
        with warnings.catch_warnings():  # pandas deprecates the fastparquet engine fsspec uses
            warnings.filterwarnings("ignore", message=".*fastparquet.*")
            import_kerchunk(str(tmp_path / "refs.parq"), session.store, group="from_parquet")
    session.commit("kerchunk")
    want = expected(paths)
    for group in ["from_dict", "from_json", *(["from_parquet"] if parquet_ok else [])]:
        xr.testing.assert_equal(read_back(repo, group), want)
        assert read_back(repo, group).attrs["title"] == "frazil virtual test"
    with pytest.raises(frazil.InvalidInputError):
        import_kerchunk(42, repo.writable_session("main").store)  # type: ignore[arg-type]
    with pytest.raises(frazil.InvalidInputError):
        import_kerchunk({"version": 1, "refs": {}}, repo.writable_session("main").store)


# ---------------------------------------------------------------------- moto S3
@pytest.fixture
def s3_files(tmp_path: Path, moto_s3: MotoS3) -> tuple[list[Path], str, str]:
    import boto3

    paths = write_files(tmp_path / "src")
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    folder = f"nc-{uuid.uuid4().hex[:8]}"
    for p in paths:
        client.upload_file(str(p), moto_s3.bucket, f"{folder}/{p.name}")
    return paths, f"s3://{moto_s3.bucket}/{folder}/", folder


def s3_repo(moto_s3: MotoS3, prefix: str) -> frazil.Repository:
    return repo_with(
        moto_s3.storage(),
        prefix,
        frazil.s3_store(
            region="us-east-1",
            endpoint_url=moto_s3.endpoint,
            allow_http=True,
            force_path_style=True,
        ),
        fc.s3_static_credentials(access_key_id="testing", secret_access_key="testing"),
    )


def test_virtualizarr_round_trip_on_moto_s3(moto_s3, s3_files):
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import S3Store

    paths, prefix, _ = s3_files
    s3 = S3Store(
        moto_s3.bucket,
        endpoint=moto_s3.endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    registry = ObjectStoreRegistry({f"s3://{moto_s3.bucket}": s3})
    repo = s3_repo(moto_s3, prefix)
    session = repo.writable_session("main")
    write_virtual_dataset(open_virtual(f"{prefix}{paths[0].name}", registry), session.store)
    write_virtual_dataset(
        open_virtual(f"{prefix}{paths[1].name}", registry), session.store, append_dim="time"
    )
    session.commit("two files on S3")
    xr.testing.assert_identical(read_back(repo), expected(paths))


def test_kerchunk_round_trip_on_moto_s3(moto_s3, s3_files):
    from kerchunk.hdf import SingleHdf5ToZarr

    paths, prefix, _ = s3_files
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": moto_s3.endpoint, "region_name": "us-east-1"},
    }
    import fsspec

    url = f"{prefix}{paths[0].name}"
    with fsspec.open(url, "rb", **options) as f:
        refs = SingleHdf5ToZarr(f, url=url, inline_threshold=0).translate()
    repo = s3_repo(moto_s3, prefix)
    session = repo.writable_session("main")
    import_kerchunk(refs, session.store)
    session.commit("kerchunk on S3")
    xr.testing.assert_equal(read_back(repo), expected(paths[:1]))
