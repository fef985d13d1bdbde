"""The on-storage format: ids, envelopes, columnar chunk references, corruption."""

from __future__ import annotations

import random

import numpy as np
import pytest
import zarr
from hypothesis import given, strategies as st

import frazil
from conftest import LONG
from frazil.format import (
    ChunkRefs,
    ObjectKind,
    RefIndex,
    RefKind,
    decode_document,
    decode_id,
    encode_document,
    encode_id,
    new_id,
)


def test_ids_are_20_chars_of_crockford_base32():
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for text in list(ids)[:50]:
        assert len(text) == 20
        assert set(text) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        assert encode_id(decode_id(text)) == text


@given(st.binary(min_size=12, max_size=12))
def test_id_roundtrip(raw):
    assert decode_id(encode_id(raw)) == raw


@pytest.mark.parametrize("bad", ["", "short", "I" * 20, "0" * 21, "z" * 20, None])
def test_bad_ids(bad):
    with pytest.raises(frazil.InvalidInputError):
        decode_id(bad)


def test_document_roundtrip_and_kind_check():
    columns = {"a": np.arange(5, dtype=np.int64), "b": np.ones((2, 3), dtype=np.uint8)}
    data = encode_document(ObjectKind.MANIFEST, {"x": [1, "two"]}, columns)
    doc, cols = decode_document(data, key="manifests/K", kind=ObjectKind.MANIFEST)
    assert doc == {"x": [1, "two"]}
    np.testing.assert_array_equal(cols["a"], columns["a"])
    np.testing.assert_array_equal(cols["b"], columns["b"])
    with pytest.raises(frazil.FormatError, match="manifests/K"):
        decode_document(data, key="manifests/K", kind=ObjectKind.SNAPSHOT)


def test_foreign_and_future_objects():
    with pytest.raises(frazil.FormatError, match="not a frazil object") as info:
        decode_document(b"PK\x03\x04 a zip file", key="snapshots/Z", kind=ObjectKind.SNAPSHOT)
    assert info.value.key == "snapshots/Z"
    data = bytearray(encode_document(ObjectKind.REF, {"a": 1}))
    data[4] = 99  # a future format version; the checksum then no longer matches either
    with pytest.raises(frazil.FormatError):
        decode_document(bytes(data), key="refs/branch.main", kind=ObjectKind.REF)


def refs(coords, kinds=None, lengths=None):
    coords = np.asarray(coords, dtype=np.int64)
    n = len(coords)
    return ChunkRefs(
        coords=coords.reshape(n, -1),
        kind=np.asarray(kinds if kinds is not None else [RefKind.NATIVE] * n, dtype=np.uint8),
        chunk_id=np.zeros((n, 12), dtype=np.uint8),
        offset=np.zeros(n, dtype=np.uint64),
        length=np.asarray(lengths if lengths is not None else range(n), dtype=np.uint64),
        checksum=np.zeros(n, dtype=np.uint32),
        location=np.zeros(n, dtype=np.uint32),
    )


def test_chunkrefs_dedup_overlay_and_index():
    table = refs([[0, 0], [1, 1], [0, 1], [0, 0]], lengths=[10, 11, 12, 13]).dedup_last()
    assert table.coords.tolist() == [[0, 0], [0, 1], [1, 1]]
    assert table.length.tolist() == [13, 12, 11]
    changes = refs(
        [[1, 1], [5, 5], [0, 1]],
        kinds=[RefKind.NATIVE, RefKind.NATIVE, RefKind.TOMBSTONE],
        lengths=[1, 2, 0],
    )
    merged = table.overlay(changes)
    assert merged.coords.tolist() == [[0, 0], [1, 1], [5, 5]]
    assert merged.length.tolist() == [13, 1, 2]
    index = RefIndex(merged.coords)
    assert index.find((5, 5)) == 2
    assert index.find((0, 1)) == -1
    assert index.find((9, 9)) == -1
    assert index.find((0,)) == -1


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=0, max_size=200),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=0, max_size=200),
)
def test_overlay_matches_a_dict_model(base_coords, change_coords):
    base = (
        refs(base_coords, lengths=range(len(base_coords))).dedup_last()
        if base_coords
        else ChunkRefs.empty(2)
    )
    model = {
        tuple(c): int(v) for c, v in zip(base.coords.tolist(), base.length.tolist(), strict=True)
    }
    if change_coords:
        changes = refs(
            change_coords, lengths=[1000 + i for i in range(len(change_coords))]
        ).dedup_last()
        for c, v in zip(changes.coords.tolist(), changes.length.tolist(), strict=True):
            model[tuple(c)] = int(v)
    else:
        changes = ChunkRefs.empty(2)
    result = base.overlay(changes)
    assert {
        tuple(c): int(v)
        for c, v in zip(result.coords.tolist(), result.length.tolist(), strict=True)
    } == model
    assert result.coords.tolist() == sorted(result.coords.tolist())


def test_inline_compaction_keeps_bytes():
    table = ChunkRefs(
        coords=np.array([[0], [1], [2]], dtype=np.int64),
        kind=np.array([RefKind.INLINE, RefKind.NATIVE, RefKind.INLINE], dtype=np.uint8),
        chunk_id=np.zeros((3, 12), dtype=np.uint8),
        offset=np.array([3, 0, 8], dtype=np.uint64),
        length=np.array([2, 100, 3], dtype=np.uint64),
        checksum=np.zeros(3, dtype=np.uint32),
        location=np.zeros(3, dtype=np.uint32),
        inline=b"xxxABxxxCDE",
    )
    compact = table.compact()
    assert compact.inline == b"ABCDE"
    assert compact.offset.tolist() == [0, 0, 2]


@pytest.fixture
def populated(tmp_path):
    """A repository with every kind of object: config, branches, tags, native and inline
    chunks, several commits."""
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=64)
    repo = frazil.Repository.create(storage, config)
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    big = root.create_array("big", shape=(8, 8), chunks=(4, 4), dtype="f8", compressors=None)
    big[:] = np.arange(64, dtype="f8").reshape(8, 8)
    small = root.create_array("small", shape=(4,), chunks=(2,), dtype="i2", compressors=None)
    small[:] = [1, 2, 3, 4]
    first = session.commit("first")
    repo.create_tag("v1", first)
    repo.create_branch("dev", first)
    return storage, first


def _check_read_fails_naming(storage, key):
    nocache = frazil.RepositoryConfig(
        inline_chunk_threshold_bytes=64,
        caching=frazil.CachingConfig(
            snapshot_cache_bytes=0, manifest_cache_bytes=0, transaction_cache_bytes=0
        ),
    )
    family = key.split("/")[0]
    with pytest.raises(frazil.FormatError) as info:
        if family == "config":
            frazil.Repository.fetch_config(storage)
            return
        if family == "repo":
            frazil.Repository.open(storage)
            return
        repo = frazil.Repository.open(storage, nocache)
        if key.startswith("refs/branch."):
            repo.lookup_branch(key.removeprefix("refs/branch."))
        elif key.startswith("refs/tag."):
            repo.lookup_tag(key.removeprefix("refs/tag."))
        elif family == "ops":
            list(repo.ops_log())
        elif family == "transactions":
            repo.diff(
                from_snapshot_id=repo.lookup_snapshot(key.split("/")[1]).parent_id,
                to_snapshot_id=key.split("/")[1],
            )
        else:
            session = repo.readonly_session(snapshot_id=repo.lookup_branch("main"))
            if family == "snapshots":
                frazil.Repository.open(storage, nocache).readonly_session(
                    snapshot_id=key.split("/")[1]
                )
            root = zarr.open_group(session.store, mode="r")
            root["big"][:]
            root["small"][:]
    assert key in str(info.value)
    assert info.value.key == key


@pytest.mark.slow
def test_corrupting_any_byte_of_any_object_is_a_format_error(populated):
    import asyncio

    storage, _ = populated
    objects = asyncio.run(_list(storage))
    kinds = {k.split("/")[0] for k in objects}
    assert {"repo", "config", "refs", "snapshots", "manifests", "transactions", "chunks"} <= kinds
    rng = random.Random(0)
    for key, data in objects.items():
        if key.startswith("transactions/") and key.endswith(_initial_snapshot(storage)):
            continue
        positions = range(len(data))
        if not LONG and len(data) > 64:
            positions = sorted({*range(24), *rng.sample(range(len(data)), 24), len(data) - 1})
        for pos in positions:
            corrupted = bytearray(data)
            corrupted[pos] ^= 0x5A
            asyncio.run(storage.put(key, bytes(corrupted)))
            try:
                _check_read_fails_naming(storage, key)
            finally:
                asyncio.run(storage.put(key, data))


def _initial_snapshot(storage):
    return (
        frazil.Repository.open(storage)
        .lookup_snapshot(list(frazil.Repository.open(storage).ancestry(branch="main"))[-1].id)
        .id
    )


async def _list(storage):
    return {info.key: await storage.get(info.key) async for info in storage.list("")}
