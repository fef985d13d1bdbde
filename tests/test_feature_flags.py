"""Feature flags (Icechunk 2.3's names and ids): listing, setting, the operations log, and
the refusals of tag creation, tag deletion and moves, on real storages."""

from __future__ import annotations

import dataclasses
import pickle
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zarr

import frazil
from frazil import RepoAvailability, RepoStatus, UpdateType
from frazil._repo import RepoInfo
from frazil._sync import sync
from frazil.format import ObjectKind, decode_document, layout

if TYPE_CHECKING:
    from pathlib import Path

NAMES = {"create_tag": 4, "delete_tag": 5, "move_node": 3}


@pytest.fixture(params=["memory", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> frazil.Storage:
    if request.param == "memory":
        return frazil.in_memory_storage()
    return frazil.local_filesystem_storage(tmp_path / "repo")


@pytest.fixture
def repo(storage: frazil.Storage) -> frazil.Repository:
    return frazil.Repository.create(storage)


def _fill(repo: frazil.Repository) -> str:
    session = repo.writable_session("main")
    zarr.create_group(session.store, path="src")
    array = zarr.create_array(session.store, name="src/a", shape=(4,), chunks=(2,), dtype="i4")
    array[:] = np.arange(4)
    return session.commit("fill")


def _flag_changes(repo: frazil.Repository) -> list[tuple[int, bool | None]]:
    return [
        (u.kind.id, u.kind.new_value)
        for u in repo.ops_log()
        if isinstance(u.kind, UpdateType.FeatureFlagChanged)
    ]


def _stored_settings(storage: frazil.Storage) -> dict[str, bool] | None:
    doc, _ = decode_document(
        sync(storage.get(layout.REPO_INFO_KEY)), key="info", kind=ObjectKind.REPO_INFO
    )
    return doc.get("feature_flags")


# ---------------------------------------------------------------------- listing
def test_a_new_repository_has_every_flag_enabled_by_default(repo: frazil.Repository) -> None:
    flags = repo.feature_flags()
    assert [(f.name, f.id) for f in flags] == sorted(NAMES.items())
    for flag in flags:
        assert flag.default_enabled
        assert flag.setting is None
        assert flag.enabled
    assert repo.enabled_feature_flags() == flags
    assert repo.disabled_feature_flags() == []


def test_feature_flag_is_a_public_value_object() -> None:
    flag = frazil.FeatureFlag(id=4, name="create_tag", default_enabled=True, setting=False)
    assert not flag.enabled
    assert dataclasses.replace(flag, setting=None).enabled
    assert frazil.FeatureFlag is frazil.config.FeatureFlag is frazil.repository.FeatureFlag
    assert frazil.FeatureFlag.__module__ == "frazil"
    assert pickle.loads(pickle.dumps(flag)) == flag
    with pytest.raises(dataclasses.FrozenInstanceError):
        flag.setting = True  # type: ignore[misc]


# ---------------------------------------------------------------------- setting
def test_set_and_reset_flags_with_the_operations_log(
    storage: frazil.Storage, repo: frazil.Repository
) -> None:
    repo.set_feature_flag("create_tag", False)
    (disabled,) = repo.disabled_feature_flags()
    assert (disabled.name, disabled.setting, disabled.enabled) == ("create_tag", False, False)
    assert len(repo.enabled_feature_flags()) == 2

    repo.set_feature_flag("delete_tag", True)  # on by default; now on by choice
    by_name = {f.name: f for f in repo.feature_flags()}
    assert (by_name["delete_tag"].setting, by_name["delete_tag"].enabled) == (True, True)
    assert not by_name["create_tag"].enabled

    repo.set_feature_flag("create_tag", None)
    assert repo.disabled_feature_flags() == []
    by_name = {f.name: f for f in repo.feature_flags()}
    assert by_name["create_tag"].setting is None
    assert _stored_settings(storage) == {"5": True}  # only explicit settings

    log = list(repo.ops_log())
    assert [type(u.kind) for u in log] == [
        UpdateType.FeatureFlagChanged,
        UpdateType.FeatureFlagChanged,
        UpdateType.FeatureFlagChanged,
        UpdateType.RepoInitialized,
    ]
    assert _flag_changes(repo) == [(4, None), (5, True), (4, False)]
    newest = log[0]
    assert newest.to_dict()["kind"] == "feature_flag_changed"
    assert newest.details == {"id": 4, "flag": "create_tag", "new_value": None}
    assert repr(newest.kind) == "UpdateType.FeatureFlagChanged(id=4, new_value=None)"
    assert pickle.loads(pickle.dumps(newest.kind)) == newest.kind


def test_settings_persist_for_a_new_repository_object(tmp_path: Path) -> None:
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    frazil.Repository.create(storage).set_feature_flag("move_node", False)
    other = frazil.Repository.open(frazil.local_filesystem_storage(tmp_path / "repo"))
    assert [f.name for f in other.disabled_feature_flags()] == ["move_node"]
    with pytest.raises(frazil.SessionStateError) as info:
        other.rearrange_session("main")
    assert info.value.kind == frazil.ErrorKind.FEATURE_FLAG_DISABLED
    assert _flag_changes(other) == [(3, False)]  # the log entry decodes in the new object


def test_other_writers_of_the_info_document_keep_the_settings(repo: frazil.Repository) -> None:
    repo.set_feature_flag("delete_tag", False)
    repo.set_metadata({"owner": "me"})
    repo.update_metadata({"team": "ice"})
    repo.set_status(RepoStatus(RepoAvailability.read_only, limited_availability_reason="x"))
    repo.set_status(RepoStatus(RepoAvailability.online))
    assert [f.name for f in repo.disabled_feature_flags()] == ["delete_tag"]
    assert repo.get_metadata() == {"owner": "me", "team": "ice"}


def test_settings_of_unknown_flags_are_kept(storage: frazil.Storage) -> None:
    repo = frazil.Repository.create(storage)
    newer = RepoInfo(metadata={"m": 1}, feature_flags={99: False, 4: False}, token="t")
    sync(storage.put(layout.REPO_INFO_KEY, newer.encode(), mode="create"))
    assert [f.name for f in repo.disabled_feature_flags()] == ["create_tag"]
    repo.set_feature_flag("create_tag", None)
    repo.update_metadata({"n": 2})
    assert _stored_settings(storage) == {"99": False}
    assert repo.get_metadata() == {"m": 1, "n": 2}


def test_documents_without_settings_are_unchanged() -> None:
    plain = RepoInfo(metadata={"a": 1}, token="t")
    doc, _ = decode_document(plain.encode(), key="info", kind=ObjectKind.REPO_INFO)
    assert "feature_flags" not in doc  # an older frazil reads it as before
    assert RepoInfo.decode(plain.encode()) == plain


def test_a_corrupt_setting_is_a_format_error(storage: frazil.Storage) -> None:
    repo = frazil.Repository.create(storage)
    bad = frazil.format.encode_document(
        ObjectKind.REPO_INFO,
        {
            "metadata": {},
            "status": RepoStatus(RepoAvailability.online).to_json(),
            "token": "t",
            "feature_flags": {"4": "off"},
        },
    )
    sync(storage.put(layout.REPO_INFO_KEY, bad, mode="create"))
    with pytest.raises(frazil.FormatError, match="feature flag"):
        repo.feature_flags()


@pytest.mark.parametrize("name", ["nope", "Create_Tag", "", 4, None])
def test_an_unknown_flag_name_writes_nothing(
    storage: frazil.Storage, repo: frazil.Repository, name: object
) -> None:
    with pytest.raises(frazil.InvalidInputError) as info:
        repo.set_feature_flag(name, False)  # type: ignore[arg-type]
    assert info.value.kind == frazil.ErrorKind.INVALID_FEATURE_FLAG == "invalid-feature-flag"
    assert repr(name) in str(info.value)
    assert "'create_tag', 'delete_tag', 'move_node'" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert _flag_changes(repo) == []
    assert not sync(storage.exists(layout.REPO_INFO_KEY))


@pytest.mark.parametrize("setting", [0, 1, "off", "false"])
def test_a_setting_that_is_not_a_bool_writes_nothing(
    repo: frazil.Repository, setting: object
) -> None:
    with pytest.raises(frazil.InvalidInputError, match=r"True \(on\), False \(off\) or None"):
        repo.set_feature_flag("create_tag", setting)  # type: ignore[arg-type]
    assert _flag_changes(repo) == []
    assert repo.disabled_feature_flags() == []


def test_a_read_only_repository_refuses_flag_changes(repo: frazil.Repository) -> None:
    repo.set_status(RepoStatus(RepoAvailability.read_only, limited_availability_reason="moving"))
    with pytest.raises(frazil.ReadOnlyError) as info:
        repo.set_feature_flag("create_tag", False)
    assert info.value.kind == "read-only-repository"
    assert "moving" in str(info.value)
    assert repo.feature_flags()[0].setting is None  # reads go on
    with pytest.raises(frazil.ReadOnlyError):
        repo.as_read_only("viewer").set_feature_flag("create_tag", False)
    repo.set_status(RepoStatus(RepoAvailability.online))
    repo.set_feature_flag("create_tag", False)
    assert _flag_changes(repo) == [(4, False)]


# ---------------------------------------------------------------------- tags
def test_disabled_tag_flags_refuse_and_leave_tags_untouched(repo: frazil.Repository) -> None:
    snap = _fill(repo)
    repo.create_tag("exists", snap)
    repo.set_feature_flag("create_tag", False)
    repo.set_feature_flag("delete_tag", False)
    with pytest.raises(frazil.SessionStateError) as created:
        repo.create_tag("refused", snap)
    with pytest.raises(frazil.SessionStateError) as deleted:
        repo.delete_tag("exists")
    for error, flag in ((created.value, "create_tag"), (deleted.value, "delete_tag")):
        assert error.kind == "feature-flag-disabled"
        assert repr(flag) in str(error)
        assert f"repo.set_feature_flag({flag!r}, True)" in str(error)
        assert pickle.loads(pickle.dumps(error)).kind == error.kind
    assert repo.list_tags() == {"exists"}
    assert repo.lookup_tag("exists") == snap
    read = repo.readonly_session(tag="exists")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="src/a")[:], np.arange(4))
    tag_entries = [u for u in repo.ops_log() if u.kind.code.startswith("tag_")]
    assert [u.name for u in tag_entries] == ["exists"]
    # branches are not concerned
    repo.create_branch("dev", snap)
    repo.delete_branch("dev")

    repo.set_feature_flag("create_tag", True)
    repo.set_feature_flag("delete_tag", None)
    repo.create_tag("later", snap)
    repo.delete_tag("exists")
    assert repo.list_tags() == {"later"}


# ---------------------------------------------------------------------- moves
def test_a_disabled_move_node_flag_refuses_rearrange_sessions_and_moves(
    storage: frazil.Storage, repo: frazil.Repository
) -> None:
    snap = _fill(repo)
    opened = repo.rearrange_session("main")
    opened.move("/src", "/dst")  # allowed while the flag is on
    repo.set_feature_flag("move_node", False)

    with pytest.raises(frazil.SessionStateError) as info:
        repo.rearrange_session("main")
    assert info.value.kind == "feature-flag-disabled"
    assert "repo.set_feature_flag('move_node', True)" in str(info.value)

    other = frazil.Repository.open(storage)
    late = other.writable_session("main")  # ordinary sessions are not concerned
    with pytest.raises(frazil.SessionStateError, match="rearrange session"):
        late.move("/src", "/x")

    with pytest.raises(frazil.SessionStateError, match="'move_node'") as moved:
        opened.move("/dst", "/again")
    assert moved.value.kind == "feature-flag-disabled"
    with pytest.raises(frazil.SessionStateError, match="'move_node'"):
        opened.commit("move")  # a session opened before the flag changed cannot commit
    assert repo.lookup_branch("main") == snap
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="src/a")[:], np.arange(4))

    repo.set_feature_flag("move_node", None)
    moved_snap = opened.commit("move")  # the refused commit left the session usable
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="dst/a")[:], np.arange(4))
    moves = repo.diff(from_snapshot_id=snap, to_snapshot_id=moved_snap).moved_nodes
    assert ("/src", "/dst") in moves


def test_a_disabled_move_node_flag_refuses_flushing_a_rearrange_session(
    storage: frazil.Storage, repo: frazil.Repository
) -> None:
    _fill(repo)
    session = repo.rearrange_session("main")
    session.move("/src", "/dst")
    repo.set_feature_flag("move_node", False)
    before = set(sync(_list(storage, layout.SNAPSHOT_PREFIX)))
    with pytest.raises(frazil.SessionStateError, match="cannot flush"):
        session.flush("detached")
    assert set(sync(_list(storage, layout.SNAPSHOT_PREFIX))) == before


async def _list(storage: frazil.Storage, prefix: str) -> list[str]:
    return [info.key async for info in storage.list(prefix)]


# ---------------------------------------------------------------------- async
async def test_the_async_twins(storage: frazil.Storage) -> None:
    repo = await frazil.Repository.create_async(storage)
    flags = await repo.feature_flags_async()
    assert len(await repo.enabled_feature_flags_async()) == len(flags) == 3
    snap = await repo.lookup_branch_async("main")
    await repo.create_tag_async("exists", snap)
    await repo.set_feature_flag_async("create_tag", False)
    await repo.set_feature_flag_async("delete_tag", False)
    assert [f.name for f in await repo.disabled_feature_flags_async()] == [
        "create_tag",
        "delete_tag",
    ]
    with pytest.raises(frazil.SessionStateError):
        await repo.create_tag_async("refused", snap)
    with pytest.raises(frazil.SessionStateError):
        await repo.delete_tag_async("exists")
    assert await repo.list_tags_async() == {"exists"}
    await repo.set_feature_flag_async("create_tag", None)
    await repo.set_feature_flag_async("delete_tag", None)
    assert await repo.disabled_feature_flags_async() == []
