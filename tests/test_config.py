"""Configuration: Icechunk's mutable shape, validated on every assignment, persisted."""

from __future__ import annotations

import pickle

import pytest

import frazil
from frazil import (
    CachingConfig,
    CompressionAlgorithm,
    CompressionConfig,
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
    RepositoryConfig,
    StorageRetriesSettings,
    StorageSettings,
    VirtualChunkContainer,
)


def full_config() -> RepositoryConfig:
    config = RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 0
    config.max_concurrent_requests = 7
    config.caching = CachingConfig(num_chunk_refs=1000, snapshot_cache_bytes=1 << 20)
    config.compression = CompressionConfig(algorithm=CompressionAlgorithm.Zstd, level=5)
    config.manifest = ManifestConfig(
        preload=ManifestPreloadConfig(
            max_total_refs=10,
            preload_if=ManifestPreloadCondition.or_conditions(
                [
                    ManifestPreloadCondition.name_matches("t.*"),
                    ManifestPreloadCondition.num_refs(0, 10),
                ]
            ),
        ),
        splitting=ManifestSplittingConfig(
            split_sizes=[
                (
                    ManifestSplitCondition.path_matches("/data/.*"),
                    [
                        (ManifestSplitDimCondition.Axis(0), 4),
                        (ManifestSplitDimCondition.DimensionName("x"), 2),
                        (ManifestSplitDimCondition.Any(), 8),
                    ],
                )
            ]
        ),
    )
    config.storage = StorageSettings(retries=StorageRetriesSettings(max_tries=3))
    config.set_virtual_chunk_container(
        VirtualChunkContainer("s3://bucket/data/", frazil.s3_store(region="us-east-1"))
    )
    config.set_virtual_chunk_container(
        VirtualChunkContainer("file:///srv/netcdf/", frazil.local_filesystem_store("/srv/netcdf"))
    )
    return config


def test_settings_are_set_like_icechunk_and_read_back():
    config = full_config()
    assert config.inline_chunk_threshold_bytes == 0
    assert config.caching.num_chunk_refs == 1000
    assert config.compression.algorithm is CompressionAlgorithm.Zstd
    assert config.compression.algorithm == "zstd"
    assert config.manifest.preload.max_total_refs == 10
    assert config.storage.retries.max_tries == 3
    assert set(config.virtual_chunk_containers) == {"s3://bucket/data/", "file:///srv/netcdf/"}
    # nested sections made on first read keep what is assigned into them
    fresh = RepositoryConfig()
    fresh.caching.num_snapshot_nodes = 5
    assert fresh.caching.num_snapshot_nodes == 5
    assert fresh.to_dict() == {"caching": {"num_snapshot_nodes": 5}}


def test_unset_settings_read_as_defaults_and_none_resets():
    config = RepositoryConfig()
    assert config.inline_chunk_threshold_bytes == 512
    assert config.manifest.split_size == 50_000
    assert config.compression.level == 3
    assert config.to_dict() == {}
    config.inline_chunk_threshold_bytes = 1
    config.inline_chunk_threshold_bytes = None
    assert config.inline_chunk_threshold_bytes == 512
    assert config == RepositoryConfig.default()
    assert "(default)" in repr(config)


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        (RepositoryConfig, "inline_chunk_threshold_bytes", -1),
        (RepositoryConfig, "inline_chunk_threshold_bytes", "0"),
        (RepositoryConfig, "max_concurrent_requests", 0),
        (RepositoryConfig, "max_concurrent_requests", True),
        (RepositoryConfig, "caching", 5),
        (RepositoryConfig, "manifest", CachingConfig()),
        (CompressionConfig, "level", 23),
        (CompressionConfig, "algorithm", "lz4"),
        (CachingConfig, "num_chunk_refs", -5),
        (ManifestConfig, "split_size", 0),
        (StorageRetriesSettings, "max_tries", 0),
        (ManifestSplittingConfig, "split_sizes", [("x", [])]),
    ],
)
def test_every_assignment_is_validated(section, name, value):
    config = section()
    before = config.to_dict()
    with pytest.raises(frazil.InvalidInputError, match=name):
        setattr(config, name, value)
    assert config.to_dict() == before
    with pytest.raises(frazil.InvalidInputError, match=name):
        section(**{name: value})


def test_unknown_settings_are_refused():
    config = RepositoryConfig()
    with pytest.raises(AttributeError, match="inline_chunk_treshold"):
        config.inline_chunk_treshold = 5
    with pytest.raises(TypeError):
        RepositoryConfig(inline_chunk_treshold=5)


def test_round_trips_through_dict_pickle_and_the_repository(tmp_path):
    config = full_config()
    assert RepositoryConfig.from_dict(config.to_dict()) == config
    assert pickle.loads(pickle.dumps(config)) == config
    assert config.copy() == config
    assert config.copy() is not config
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    repo = frazil.Repository.create(storage, config)
    assert frazil.Repository.fetch_config(storage) == config
    reopened = frazil.Repository.open(storage)
    assert reopened.config == config
    assert reopened.config.manifest.splitting.split_sizes == config.manifest.splitting.split_sizes
    assert reopened.config.get_virtual_chunk_container("s3://bucket/data/") == (
        config.get_virtual_chunk_container("s3://bucket/data/")
    )
    assert repo.config.caching.num_chunk_refs == 1000


def test_a_repository_keeps_its_own_copy(tmp_path):
    config = RepositoryConfig(inline_chunk_threshold_bytes=10)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(tmp_path / "r"), config)
    config.inline_chunk_threshold_bytes = 1000
    assert repo.config.inline_chunk_threshold_bytes == 10
    repo.config.inline_chunk_threshold_bytes = 99  # a copy: changes nothing
    assert repo.config.inline_chunk_threshold_bytes == 10
    assert repo.reopen(config).config.inline_chunk_threshold_bytes == 1000
    assert repo.writable_session("main").config.inline_chunk_threshold_bytes == 10


def test_icechunk_cache_counts_take_effect_when_bytes_are_not_set():
    caching = CachingConfig(num_chunk_refs=1000)
    assert caching.effective_manifest_cache_bytes < CachingConfig().effective_manifest_cache_bytes
    caching.manifest_cache_bytes = 123
    assert caching.effective_manifest_cache_bytes == 123


def test_merge_applies_only_what_the_other_set():
    base = RepositoryConfig(inline_chunk_threshold_bytes=5, caching=CachingConfig(num_chunk_refs=1))
    other = RepositoryConfig(max_concurrent_requests=9, caching=CachingConfig(num_snapshot_nodes=2))
    merged = base.merge(other)
    assert merged.to_dict() == {
        "inline_chunk_threshold_bytes": 5,
        "max_concurrent_requests": 9,
        "caching": {"num_chunk_refs": 1, "num_snapshot_nodes": 2},
    }
    assert base.max_concurrent_requests == 64  # inputs unchanged


def test_split_rules_pick_block_shapes():
    splitting = full_config().manifest.splitting
    assert splitting.split_shape("/data/t", ("time", "x", "y"), (100, 50, 3)) == (4, 2, 8)
    assert splitting.split_shape("/other", ("time",), (10,)) is None
    icechunk_form = ManifestSplittingConfig.from_dict(
        {ManifestSplitCondition.AnyArray(): {ManifestSplitDimCondition.Axis(0): 3}}
    )
    assert icechunk_form.split_shape("/a", (None, None), (9, 7)) == (3, 7)
    assert "path_matches('/data/.*')" in repr(splitting)


def _manifest_count(root) -> int:
    return len(list((root / "manifests").iterdir()))


def _split_repo(root, longitude: int) -> frazil.Repository:
    rules = ManifestSplittingConfig.from_dict(
        {
            ManifestSplitCondition.name_matches("t"): {
                ManifestSplitDimCondition.DimensionName("lon"): longitude
            }
        }
    )
    config = RepositoryConfig(inline_chunk_threshold_bytes=0)
    config.manifest = ManifestConfig(splitting=rules)
    storage = frazil.local_filesystem_storage(str(root))
    if (root / "manifests").exists():
        return frazil.Repository.open(storage, config)
    return frazil.Repository.create(storage, config)


def test_split_rules_give_each_split_of_an_array_its_own_manifest(tmp_path):
    import numpy as np
    import zarr

    repo = _split_repo(tmp_path, 3)
    session = repo.writable_session("main")
    group = zarr.open_group(session.store)
    values = np.arange(2 * 7, dtype="i4").reshape(2, 7)
    t = group.create_array(
        "t", shape=(2, 7), chunks=(1, 1), dtype="i4", dimension_names=("time", "lon")
    )
    t[:] = values
    for name in ("time", "lon"):
        coord = group.create_array(
            name, shape=(7,), chunks=(7,), dtype="i4", dimension_names=(name,)
        )
        coord[:] = np.arange(7)
    session.commit("write")
    # t: lon cut in threes (0-2, 3-5, 6), time whole; each coordinate array on its own
    assert _manifest_count(tmp_path) == 3 + 2

    session = repo.writable_session("main")
    t = zarr.open_array(session.store, path="t")
    t.resize((4, 7))
    t[2:] = values + 100
    session.commit("append along time")
    # time is not split: the new rows join the three existing splits, which are rewritten
    assert _manifest_count(tmp_path) == 5 + 3

    session = repo.writable_session("main")
    t = zarr.open_array(session.store, path="t")
    t.resize((4, 8))
    t[:, 7] = -1
    session.commit("append along lon")
    # only the split holding lon 6-8 changes
    assert _manifest_count(tmp_path) == 8 + 1

    wide = _split_repo(tmp_path, 5)
    session = wide.writable_session("main")
    zarr.open_array(session.store, path="t")[0, 0] = 7
    session.commit("one chunk under a new rule")
    # a rule asking for another shape lays the array out afresh: lon 0-4 and 5-7
    assert _manifest_count(tmp_path) == 9 + 2

    expected = np.concatenate([values, values + 100])
    expected = np.concatenate([expected, np.full((4, 1), -1, dtype="i4")], axis=1)
    expected[0, 0] = 7
    reopened = frazil.Repository.open(frazil.local_filesystem_storage(str(tmp_path)))
    read = reopened.readonly_session("main").store
    np.testing.assert_array_equal(zarr.open_array(read, path="t", mode="r")[:], expected)
    np.testing.assert_array_equal(zarr.open_array(read, path="lon", mode="r")[:], np.arange(7))
    history = [c.message for c in reopened.ancestry(branch="main")]
    assert history[:4] == [
        "one chunk under a new rule",
        "append along lon",
        "append along time",
        "write",
    ]


def test_without_split_rules_small_arrays_share_a_manifest(tmp_path):
    import numpy as np
    import zarr

    repo = frazil.Repository.create(
        frazil.local_filesystem_storage(str(tmp_path)),
        RepositoryConfig(inline_chunk_threshold_bytes=0),
    )
    session = repo.writable_session("main")
    group = zarr.open_group(session.store)
    for name in ("a", "b", "c"):
        group.create_array(name, shape=(6,), chunks=(2,), dtype="i4")[:] = np.arange(6)
    session.commit("three small arrays")
    assert _manifest_count(tmp_path) == 1
    read = repo.readonly_session("main").store
    for name in ("a", "b", "c"):
        np.testing.assert_array_equal(zarr.open_array(read, path=name, mode="r")[:], np.arange(6))


def test_rewrite_manifests_follows_the_split_rules(tmp_path):
    import numpy as np
    import zarr

    repo = _split_repo(tmp_path, 2)
    for i in range(4):
        session = repo.writable_session("main")
        group = zarr.open_group(session.store)
        if i == 0:
            group.create_array("t", shape=(4,), chunks=(1,), dtype="i4", dimension_names=("lon",))
            group.create_array("u", shape=(4,), chunks=(1,), dtype="i4")
        zarr.open_array(session.store, path="t")[i] = i + 1
        zarr.open_array(session.store, path="u")[i] = i + 10
        session.commit(f"chunk {i}")
    before = _manifest_count(tmp_path)
    repo.rewrite_manifests("rewrite", branch="main")
    # t in two splits of two chunks, u on its own
    assert _manifest_count(tmp_path) - before == 3
    read = repo.readonly_session("main").store
    np.testing.assert_array_equal(zarr.open_array(read, path="t", mode="r")[:], [1, 2, 3, 4])
    np.testing.assert_array_equal(zarr.open_array(read, path="u", mode="r")[:], [10, 11, 12, 13])


def test_preload_conditions():
    condition = ManifestPreloadCondition.and_conditions(
        [ManifestPreloadCondition.path_matches("/a.*"), ManifestPreloadCondition.num_refs(2, 5)]
    )
    assert condition.matches("/abc", 3)
    assert not condition.matches("/abc", 5)
    assert not condition.matches("/b", 3)
    assert ManifestPreloadCondition.true().matches("/x", 10**9)
    assert ManifestPreloadCondition.from_json(condition.to_json()) == condition
    with pytest.raises(frazil.InvalidInputError, match="regular expression"):
        ManifestPreloadCondition.path_matches("(")


def test_virtual_chunk_containers_are_checked():
    config = RepositoryConfig()
    store = frazil.s3_store()
    with pytest.raises(frazil.InvalidInputError, match="must end with '/'"):
        VirtualChunkContainer("s3://bucket/data", store)
    with pytest.raises(frazil.InvalidInputError, match="scheme"):
        VirtualChunkContainer("bucket/data/", store)
    with pytest.raises(frazil.InvalidInputError, match="cannot reach"):
        VirtualChunkContainer("file:///data/", store)
    with pytest.raises(frazil.InvalidInputError, match=r"'\.\.'"):
        VirtualChunkContainer("file:///data/../etc/", frazil.local_filesystem_store("/"))
    with pytest.raises(frazil.InvalidInputError, match="unknown virtual chunk container store"):
        frazil.ObjectStoreConfig("ftp-ish", {})
    config.set_virtual_chunk_container(VirtualChunkContainer("s3://bucket/data/", store))
    with pytest.raises(frazil.InvalidInputError, match="overlaps"):
        config.set_virtual_chunk_container(VirtualChunkContainer("s3://bucket/", store))
    replacement = VirtualChunkContainer("s3://bucket/data/", frazil.s3_store(anonymous=True))
    config.set_virtual_chunk_container(replacement)  # same prefix: replaced
    assert config.get_virtual_chunk_container("s3://bucket/data/") == replacement
    assert config.container_for("s3://bucket/data/x.nc") == replacement
    assert config.container_for("s3://bucket/other/x.nc") is None
    with_containers = config.copy()
    config.clear_virtual_chunk_containers()
    assert config.virtual_chunk_containers == {}
    assert with_containers.merge(config).virtual_chunk_containers == {}  # the clear carries
    assert RepositoryConfig.from_dict(config.to_dict()).virtual_chunk_containers == {}
    with pytest.raises(frazil.InvalidInputError, match="allow_http"):
        frazil.s3_store(endpoint_url="http://127.0.0.1:9000")


def test_caches_too_small_for_an_object_say_so_once(caplog):
    import logging

    import zarr

    from frazil._repo import io

    io._WARNED.clear()  # said once per process: forget what earlier tests were told
    config = RepositoryConfig(caching=CachingConfig(num_chunk_refs=0, num_snapshot_nodes=0))
    repo = frazil.Repository.create(frazil.in_memory_storage(), config)
    with caplog.at_level(logging.WARNING, logger="frazil"):
        session = repo.writable_session("main")
        for name in ("a1", "a2"):
            array = zarr.create_array(
                session.store, name=name, shape=(10,), chunks=(2,), dtype="i8"
            )
            array[:] = 42
        session.commit("two arrays")
        again = frazil.Repository.open(repo.storage, config).readonly_session("main").store
        assert (zarr.open_array(again, path="a2", mode="r")[:] == 42).all()
    said = [r.getMessage() for r in caplog.records if r.name == "frazil.cache"]
    assert len(said) == 2, said
    assert any("caching.manifest_cache_bytes" in m for m in said)
    assert any("caching.snapshot_cache_bytes" in m for m in said)
