"""Shared fixtures: storages (memory, local, moto S3), hypothesis profiles, helpers."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

import frazil

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("default", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

LONG = os.environ.get("FRAZIL_LONG") == "1"


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


class MotoS3:
    """A real S3-compatible HTTP server on 127.0.0.1 (moto), shared by the session."""

    def __init__(self) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        lock = threading.Lock()

        class SerializedMotoServer(ThreadedMotoServer):
            # moto checks If-None-Match / If-Match and then stores the object in two steps,
            # so two requests racing in its threaded server can both pass the check. AWS S3
            # makes the check and the write atomic; serializing requests gives the test
            # server the same guarantee.
            def _server_entry(self) -> None:
                app = DomainDispatcherApplication(create_backend_app)

                def serialized(environ: Any, start_response: Any) -> Any:
                    with lock:
                        return list(app(environ, start_response))

                self._server = make_server(
                    self._ip_address,
                    self._port,
                    serialized,
                    True,
                    request_handler=MotoRequestHandler,
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self.server = SerializedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.bucket = "frazil-tests"
        self.client().create_bucket(Bucket=self.bucket)

    def client(self) -> Any:
        """A boto3 client of the server, for putting source objects in place."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def storage(self, prefix: str | None = None) -> frazil.storage.S3Storage:
        return frazil.s3_storage(
            bucket=self.bucket,
            prefix=prefix or f"t-{uuid.uuid4().hex[:12]}",
            region="us-east-1",
            endpoint_url=self.endpoint,
            allow_http=True,
            access_key_id="testing",
            secret_access_key="testing",
        )

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "local", "s3"])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> frazil.Storage:
    """An empty writable storage of each backend."""
    match request.param:
        case "memory":
            return frazil.in_memory_storage()
        case "local":
            return frazil.local_filesystem_storage(tmp_path / "repo")
        case _:
            return request.getfixturevalue("moto_s3").storage()


@pytest.fixture
def repo(tmp_path: Path) -> frazil.Repository:
    """A fresh repository on local disk."""
    return frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "repo"))


@pytest.fixture
def any_repo(any_storage: frazil.Storage) -> frazil.Repository:
    """A fresh repository on each backend."""
    return frazil.Repository.create(any_storage)


@pytest.fixture(scope="session")
def dask_cluster():
    """A real distributed LocalCluster with two worker processes, shared by the session."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    yield cluster
    cluster.close()


@pytest.fixture
def dask_client(dask_cluster):
    from distributed import Client

    with Client(dask_cluster) as client:
        yield client
