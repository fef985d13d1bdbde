"""Icechunk's configuration spellings that frazil's own config tests do not cover."""

from __future__ import annotations

import pytest

import frazil
from frazil import ManifestPreloadCondition, ManifestSplitCondition
from frazil.config import RepoUpdateRetryConfig


def test_storage_default_settings_round_trip() -> None:
    storage = frazil.in_memory_storage()
    config = frazil.RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 5
    config.storage = storage.default_settings()
    config.storage.retries.max_tries = 42
    config.storage.concurrency.ideal_concurrent_request_size = 1_000_000
    repo = frazil.Repository.create(storage, config)
    assert repo.config == config
    assert frazil.Repository.fetch_config(storage) == config
    assert frazil.Repository.open(storage).config.storage.retries.max_tries == 42


def test_conditions_combine_with_and_or() -> None:
    p = ManifestPreloadCondition
    assert p.true() & p.name_matches("foo") == p.and_conditions([p.true(), p.name_matches("foo")])
    assert p.true() | p.name_matches("foo") == p.or_conditions([p.true(), p.name_matches("foo")])
    s = ManifestSplitCondition
    assert s.path_matches("a") | s.name_matches("b") == s.or_conditions(
        [s.path_matches("a"), s.name_matches("b")]
    )
    assert (s.path_matches("/a") & s.name_matches("a")).matches("/a") is True


def test_compression_level_zero_is_zstds_default() -> None:
    assert frazil.CompressionConfig(level=0).level == 0
    with pytest.raises(frazil.InvalidInputError):
        frazil.CompressionConfig(level=23)


def test_repo_update_retries_persist() -> None:
    config = frazil.RepositoryConfig(
        repo_update_retries=RepoUpdateRetryConfig(frazil.StorageRetriesSettings(max_tries=7))
    )
    again = frazil.RepositoryConfig.from_dict(config.to_dict())
    assert again.repo_update_retries.default.max_tries == 7
    assert again.repo_update_retries.default.initial_backoff_ms == 50
    assert frazil.RepositoryConfig.default().repo_update_retries.default.max_tries == 100
    with pytest.raises(frazil.InvalidInputError):
        RepoUpdateRetryConfig(3)  # type: ignore[arg-type]
