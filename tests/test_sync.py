"""The sync bridge: from running event loops, from many threads, from the IO loop itself,
and after os.fork."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import warnings

import numpy as np
import zarr

import frazil
from frazil._sync import io_loop


def test_sync_api_inside_a_running_event_loop(repo):
    async def main():
        return repo.lookup_branch("main"), await repo.lookup_branch_async("main")

    a, b = asyncio.run(main())
    assert a == b


def test_sync_api_from_the_io_loop_thread_does_not_deadlock(repo):
    loop = io_loop()
    future: concurrent.futures.Future[str] = concurrent.futures.Future()

    def callback():
        try:
            future.set_result(repo.lookup_branch("main"))
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting test thread
            future.set_exception(exc)

    loop.call_soon_threadsafe(callback)
    assert future.result(timeout=30) == repo.lookup_branch("main")


def test_many_threads(repo):
    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="a", shape=(64,), chunks=(1,), dtype="i8")

    def write(i):
        array[i] = i
        return zarr.open_array(session.store, path="a", mode="r")[i]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(write, range(64))) == list(range(64))
    session.commit("threads")
    reader = repo.readonly_session("main")
    np.testing.assert_array_equal(
        zarr.open_array(reader.store, path="a", mode="r")[:], np.arange(64)
    )


def test_after_fork(repo):
    expected = repo.lookup_branch("main")
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            reopened = frazil.Repository.open(repo.storage)
            os.write(write_fd, reopened.lookup_branch("main").encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    got = os.read(read_fd, 100).decode()
    os.close(read_fd)
    assert status == 0
    assert got == expected
