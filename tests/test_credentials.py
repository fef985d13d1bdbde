"""frazil.credentials: Icechunk's constructors and containers, and s3_storage's credential
keywords against the moto S3 server."""

from __future__ import annotations

import datetime
import pickle
import uuid
from typing import TYPE_CHECKING

import pytest

import frazil
from frazil import credentials as fc

if TYPE_CHECKING:
    from conftest import MotoS3

CALLS: list[int] = []


def moto_key() -> fc.S3StaticCredentials:
    """A picklable get_credentials function (module level)."""
    CALLS.append(1)
    return fc.S3StaticCredentials(
        access_key_id="testing",
        secret_access_key="testing",
        expires_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )


def test_constructors_build_icechunks_shapes():
    static = fc.s3_static_credentials(access_key_id="AK", secret_access_key="SK")
    assert isinstance(static, fc.S3Credentials.Static)
    assert static.credentials == fc.S3StaticCredentials("AK", "SK")
    assert "SK" not in repr(static)  # secrets are not shown
    assert isinstance(fc.s3_anonymous_credentials(), fc.S3Credentials.Anonymous)
    assert isinstance(fc.s3_from_env_credentials(), fc.S3Credentials.FromEnv)
    assert isinstance(fc.s3_credentials(anonymous=True), fc.S3Credentials.Anonymous)
    assert isinstance(fc.s3_credentials(), fc.S3Credentials.FromEnv)
    assert fc.s3_credentials(access_key_id="AK", secret_access_key="SK") == static
    refreshable = fc.s3_credentials(get_credentials=moto_key)
    assert isinstance(refreshable, fc.S3Credentials.Refreshable)
    assert refreshable.current is None
    before = len(CALLS)
    scattered = fc.s3_refreshable_credentials(moto_key, scatter_initial_credentials=True)
    assert len(CALLS) == before + 1
    assert scattered.current is not None
    wrapped = fc.containers_credentials({"s3://a/": static, "s3://b/": None})
    assert wrapped == {"s3://a/": fc.Credentials.S3(static), "s3://b/": None}
    assert fc.Credentials.S3(static).credentials is static
    # the same objects at the top level, as in Icechunk
    assert frazil.s3_static_credentials is fc.s3_static_credentials
    assert frazil.S3StaticCredentials is fc.S3StaticCredentials
    # credentials objects pickle (they reach Dask workers with sessions)
    assert pickle.loads(pickle.dumps(wrapped)) == wrapped
    assert pickle.loads(pickle.dumps(refreshable)).pickled_function is moto_key


def test_wrong_credentials_are_typed_errors():
    cases = [
        lambda: fc.s3_static_credentials(access_key_id="", secret_access_key="SK"),
        lambda: fc.s3_static_credentials(access_key_id="AK", secret_access_key=3),  # type: ignore[arg-type]
        lambda: fc.S3StaticCredentials("AK", "SK", expires_after="tomorrow"),  # type: ignore[arg-type]
        lambda: fc.s3_credentials(anonymous=True, access_key_id="AK", secret_access_key="SK"),
        lambda: fc.s3_refreshable_credentials("not a function"),  # type: ignore[arg-type]
        lambda: fc.Credentials.S3("AK:SK"),  # type: ignore[arg-type]
        lambda: fc.S3Credentials.Static(("AK", "SK")),  # type: ignore[arg-type]
        lambda: fc.containers_credentials({"s3://a/": {"key": "AK"}}),
        lambda: fc.containers_credentials({3: None}),  # type: ignore[dict-item]
    ]
    for case in cases:
        with pytest.raises(frazil.InvalidInputError) as info:
            case()
        assert info.value.kind == frazil.ErrorKind.INVALID_CREDENTIALS
    with pytest.raises(frazil.InvalidInputError, match="S3StaticCredentials"):
        fc.s3_refreshable_credentials(lambda: "AK", scatter_initial_credentials=True)  # type: ignore[arg-type,return-value]


def storage_with(moto_s3: MotoS3, **kwargs: object) -> frazil.storage.S3Storage:
    return frazil.s3_storage(
        bucket=moto_s3.bucket,
        prefix=f"creds-{uuid.uuid4().hex[:8]}",
        region="us-east-1",
        endpoint_url=moto_s3.endpoint,
        allow_http=True,
        **kwargs,  # type: ignore[arg-type]
    )


def round_trip(storage: frazil.Storage) -> None:
    repo = frazil.Repository.create(storage)
    session = repo.writable_session("main")
    import zarr

    zarr.create_array(session.store, name="x", shape=(4,), dtype="i4")[:] = [1, 2, 3, 4]
    session.commit("x")
    again = frazil.Repository.open(pickle.loads(pickle.dumps(storage)))
    got = zarr.open_array(again.readonly_session("main").store, path="x", mode="r")[:]
    assert got.tolist() == [1, 2, 3, 4]


def test_s3_storage_takes_credentials_objects_and_functions(moto_s3):
    static = fc.s3_static_credentials(access_key_id="testing", secret_access_key="testing")
    round_trip(storage_with(moto_s3, credentials=static, force_path_style=True))
    before = len(CALLS)
    round_trip(storage_with(moto_s3, get_credentials=moto_key, network_stream_timeout_seconds=30))
    assert len(CALLS) > before  # asked for a key when the client was made
    before = len(CALLS)
    scattered = storage_with(moto_s3, get_credentials=moto_key, scatter_initial_credentials=True)
    assert len(CALLS) == before + 1  # asked at once, and the key travels with copies
    assert pickle.loads(pickle.dumps(scattered)).options.initial_key is not None
    round_trip(scattered)
    round_trip(storage_with(moto_s3, credentials=fc.s3_refreshable_credentials(moto_key)))
    anonymous = storage_with(moto_s3, credentials=fc.s3_anonymous_credentials())
    assert anonymous.options.anonymous
    assert not anonymous.supports_writes


def test_s3_storage_refuses_bad_credentials(moto_s3):
    static = fc.s3_static_credentials(access_key_id="testing", secret_access_key="testing")
    with pytest.raises(frazil.InvalidInputError, match="not both"):
        storage_with(moto_s3, credentials=static, access_key_id="testing")
    with pytest.raises(frazil.InvalidInputError, match="credentials"):
        storage_with(moto_s3, credentials="testing:testing")
    with pytest.raises(frazil.InvalidInputError, match="function"):
        storage_with(moto_s3, get_credentials="testing")
    with pytest.raises(frazil.InvalidInputError, match="S3StaticCredentials"):
        storage_with(
            moto_s3,
            get_credentials=lambda: ("testing", "testing"),
            scatter_initial_credentials=True,
        )
