"""zarr's own conformance suite and stateful machines, run against FrazilStore."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.stateful import ZarrHierarchyStateMachine, ZarrStoreStateMachine
from zarr.testing.store import StoreTests

import frazil
from conftest import LONG
from frazil import FrazilStore


class _FrazilStoreTests(StoreTests[FrazilStore, cpu.Buffer]):
    store_cls = FrazilStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def store_kwargs(self, storage):
        repo = frazil.Repository.create(storage)
        return {"session": repo.writable_session("main")}

    async def set(self, store, key, value):
        await FrazilStore(store.session).set(key, value)

    async def get(self, store, key):
        return await FrazilStore(store.session).get(key, default_buffer_prototype())

    def test_store_repr(self, store):
        assert "FrazilStore" in repr(store)
        assert "writable" in repr(store)

    def test_store_supports_writes(self, store):
        assert store.supports_writes

    def test_store_supports_listing(self, store):
        assert store.supports_listing

    def test_store_supports_deletes(self, store):
        assert store.supports_deletes

    async def test_committed_data_reads_back(self, store):
        await store.set("k/v", self.buffer_cls.from_bytes(b"value"))
        store.session.commit("blob")
        repo_session = store.session
        assert repo_session.read_only
        assert (await store.get("k/v", default_buffer_prototype())).to_bytes() == b"value"


class TestFrazilStoreMemory(_FrazilStoreTests):
    @pytest.fixture
    def storage(self):
        return frazil.in_memory_storage()


class TestFrazilStoreLocal(_FrazilStoreTests):
    @pytest.fixture
    def storage(self, tmp_path):
        return frazil.local_filesystem_storage(tmp_path / "repo")


@pytest.mark.s3
class TestFrazilStoreS3(_FrazilStoreTests):
    @pytest.fixture
    def storage(self, moto_s3):
        return moto_s3.storage()


def _storage_factory(kind, request):
    if kind == "memory":
        return frazil.in_memory_storage
    if kind == "local":
        base = tempfile.mkdtemp(prefix="frazil-stateful-")
        return lambda: frazil.local_filesystem_storage(f"{base}/{uuid.uuid4().hex}")
    moto = request.getfixturevalue("moto_s3")
    return moto.storage


STATEFUL = settings(
    max_examples=200 if LONG else 12,
    stateful_step_count=40 if LONG else 12,
    deadline=None,
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", "local", pytest.param("s3", marks=pytest.mark.s3)])
def test_zarr_store_state_machine(kind, request):
    make_storage = _storage_factory(kind, request)

    def machine():
        repo = frazil.Repository.create(make_storage())
        return ZarrStoreStateMachine(repo.writable_session("main").store)

    run_state_machine_as_test(machine, settings=STATEFUL)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", "local", pytest.param("s3", marks=pytest.mark.s3)])
def test_zarr_hierarchy_state_machine(kind, request):
    make_storage = _storage_factory(kind, request)

    def machine():
        repo = frazil.Repository.create(make_storage())
        return ZarrHierarchyStateMachine(repo.writable_session("main").store)

    run_state_machine_as_test(machine, settings=STATEFUL)


async def test_list_prefix_ignores_leading_slashes():
    import numpy as np
    import zarr

    repo = frazil.Repository.create(frazil.in_memory_storage())
    store = repo.writable_session("main").store
    group = zarr.group(store=store)
    group.create_array("a", shape=(4,), chunks=(2,), dtype="i4")[:] = np.arange(4)
    everything = sorted([k async for k in store.list_prefix("")])
    assert everything == ["a/c/0", "a/c/1", "a/zarr.json", "zarr.json"]
    assert sorted([k async for k in store.list_prefix("/")]) == everything
    assert sorted([k async for k in store.list_prefix("/a/c")]) == ["a/c/0", "a/c/1"]
