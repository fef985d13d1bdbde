"""Sessions: the reference Session API, through the public surface."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import zarr

import frazil
from frazil import SessionMode


def make_array(session, name="a", shape=(8, 8), chunks=(2, 2), dtype="i4", fill=None):
    array = zarr.create_array(session.store, name=name, shape=shape, chunks=chunks, dtype=dtype)
    if fill is not None:
        array[:] = fill
    return array


def read(repo, name="a", **selector):
    session = repo.readonly_session(**selector) if selector else repo.readonly_session("main")
    return zarr.open_array(session.store, path=name, mode="r")[:]


def test_attributes(repo):
    ro = repo.readonly_session("main")
    assert ro.read_only
    assert ro.mode == SessionMode.READONLY
    assert ro.branch is None
    assert ro.snapshot_id == repo.lookup_branch("main")
    assert not ro.has_uncommitted_changes
    assert ro.config == repo.config
    w = repo.writable_session("main")
    assert not w.read_only
    assert w.mode == SessionMode.WRITABLE
    assert w.branch == "main"
    assert SessionMode.writable is SessionMode.WRITABLE
    assert isinstance(w.store, frazil.FrazilStore)
    make_array(w)
    assert w.has_uncommitted_changes


def test_commit_makes_session_read_only(repo):
    session = repo.writable_session("main")
    make_array(session, fill=7)
    base = session.snapshot_id
    sid = session.commit("c1", metadata={"k": 1})
    assert session.read_only
    assert session.snapshot_id == sid != base
    assert repo.lookup_branch("main") == sid
    with pytest.raises(frazil.SessionStateError, match="already committed"):
        session.commit("again")
    with pytest.raises(ValueError, match="read-only"):  # zarr checks store.read_only first
        zarr.open_array(session.store, path="a")[:] = 1
    from zarr.core.buffer import cpu

    with pytest.raises(frazil.ReadOnlyError, match="read-only"):
        frazil._sync.sync(session.store.set("a/c/0/0", cpu.Buffer.from_bytes(b"x")))
    np.testing.assert_array_equal(read(repo), 7)
    info = repo.lookup_snapshot(sid)
    assert (info.message, info.metadata, info.parent_id) == ("c1", {"k": 1}, base)


def test_writes_through_read_only_session(repo):
    session = repo.readonly_session("main")
    from zarr.core.buffer import cpu

    with pytest.raises(frazil.ReadOnlyError, match="read-only"):
        frazil._sync.sync(session.store.set("zarr.json", cpu.Buffer.from_bytes(b"{}")))
    with pytest.raises(frazil.ReadOnlyError):
        frazil._sync.sync(session.store.delete("zarr.json"))
    with pytest.raises(ValueError, match="read-only"):
        zarr.group(session.store)
    assert frazil.ReadOnlyError.__mro__[1:3] == (frazil.FrazilError, ValueError)


def test_no_changes(repo):
    session = repo.writable_session("main")
    with pytest.raises(frazil.NoChangesToCommitError) as info:
        session.commit("empty")
    assert info.value.kind == frazil.ErrorKind.NO_CHANGES_TO_COMMIT
    sid = session.commit("empty", allow_empty=True)
    assert repo.lookup_branch("main") == sid


def test_read_your_writes_and_discard(repo):
    session = repo.writable_session("main")
    make_array(session, fill=3)
    np.testing.assert_array_equal(zarr.open_array(session.store, path="a")[:], 3)
    session.discard_changes()
    assert not session.has_uncommitted_changes
    with pytest.raises(FileNotFoundError):
        zarr.open_array(session.store, path="a", mode="r")
    assert session.status().is_empty()


def test_status_lists_chunks(repo):
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    array = root.create_array("a", shape=(4, 4), chunks=(2, 2), dtype="i4")
    array[0:2, 2:4] = 1
    diff = session.status()
    assert diff.new_groups == {"/"}
    assert diff.new_arrays == {"/a"}
    assert diff.updated_chunks == {"/a": [[0, 1]]}
    session.commit("one")
    session = repo.writable_session("main")
    array = zarr.open_array(session.store, path="a")
    array.attrs["x"] = 1
    array[2:4, 0:2] = 5
    del zarr.open_group(session.store)["a"]
    diff = session.status()
    assert diff.deleted_arrays == {"/a"}
    assert diff.updated_chunks == {}


def test_amend(repo):
    session = repo.writable_session("main")
    make_array(session, fill=1)
    with pytest.raises(frazil.SessionStateError, match="first commit"):
        session.amend("amend initial")
    first = session.commit("first")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a")[0, 0] = 99
    amended = session.amend("first, amended")
    history = list(repo.ancestry(branch="main"))
    assert [h.message for h in history] == ["first, amended", "Repository initialized"]
    assert history[0].id == amended != first
    assert read(repo)[0, 0] == 99
    assert read(repo, snapshot_id=first)[0, 0] == 1


def test_flush_leaves_branch_alone(repo):
    session = repo.writable_session("main")
    make_array(session, fill=4)
    tip = repo.lookup_branch("main")
    flushed = session.flush("detached")
    assert repo.lookup_branch("main") == tip
    assert session.read_only
    assert session.snapshot_id == flushed
    np.testing.assert_array_equal(read(repo, snapshot_id=flushed), 4)
    repo.create_branch("from-flush", flushed)
    np.testing.assert_array_equal(read(repo, branch="from-flush"), 4)


def test_transaction_commits_or_discards(repo):
    with repo.transaction("main", message="tx") as store:
        zarr.create_array(store, name="t", shape=(2,), dtype="i4")[:] = 5
    assert next(h.message for h in repo.ancestry(branch="main")) == "tx"
    tip = repo.lookup_branch("main")
    with pytest.raises(RuntimeError), repo.transaction("main", message="never") as store:
        zarr.open_array(store, path="t")[:] = 6
        raise RuntimeError("boom")
    assert repo.lookup_branch("main") == tip
    np.testing.assert_array_equal(read(repo, "t"), 5)
    with pytest.raises(frazil.NoChangesToCommitError), repo.transaction("main", message="no-op"):
        pass
    assert repo.lookup_branch("main") == tip
    with repo.transaction("main", message="marker", allow_empty=True):
        pass
    assert next(h.message for h in repo.ancestry(branch="main")) == "marker"


def test_time_travel_reads_what_was_committed(repo):
    ids = []
    for i in range(5):
        session = repo.writable_session("main")
        if i == 0:
            array = make_array(session)
        array = zarr.open_array(session.store, path="a")
        array[i, :] = i + 1
        ids.append(session.commit(f"c{i}"))
    for i, sid in enumerate(ids):
        expected = np.zeros((8, 8), dtype="i4")
        for j in range(i + 1):
            expected[j, :] = j + 1
        np.testing.assert_array_equal(read(repo, snapshot_id=sid), expected)
    repo.create_tag("third", ids[2])
    np.testing.assert_array_equal(read(repo, tag="third")[2], 3)


def test_unknown_names(repo):
    with pytest.raises(frazil.RefNotFoundError, match="nope"):
        repo.readonly_session("nope")
    with pytest.raises(frazil.RefNotFoundError, match="ghost"):
        repo.readonly_session(tag="ghost")
    with pytest.raises(frazil.SnapshotNotFoundError, match="0000000000000000000A"):
        repo.readonly_session(snapshot_id="0000000000000000000A")
    with pytest.raises(frazil.InvalidInputError):
        repo.readonly_session("main", tag="x")
    with pytest.raises(frazil.InvalidInputError):
        repo.readonly_session()


@pytest.mark.parametrize("key", ["../x", "/abs/zarr.json", "a//b/c/0", "a/../zarr.json", "a/./c"])
def test_bad_zarr_keys_write_nothing(tmp_path, key):
    storage = frazil.local_filesystem_storage(tmp_path / "repo")
    repo = frazil.Repository.create(storage)
    session = repo.writable_session("main")
    before = sorted(tmp_path.rglob("*"))
    from zarr.core.buffer import cpu

    with pytest.raises(frazil.InvalidInputError):
        frazil._sync.sync(session.store.set(key, cpu.Buffer.from_bytes(b"x")))
    assert sorted(tmp_path.rglob("*")) == before
    assert not session.has_uncommitted_changes


@pytest.mark.parametrize("key", ["a/c/-1", "a/c/0/0/0", "a/c/+1", "a/c/1.0", "a/c/01", "a/c/x/0"])
def test_malformed_chunk_keys_of_an_array_are_refused(repo, key):
    session = repo.writable_session("main")
    make_array(session, fill=1)
    from zarr.core.buffer import cpu

    with pytest.raises(frazil.InvalidInputError, match="invalid chunk key"):
        frazil._sync.sync(session.store.set(key, cpu.Buffer.from_bytes(b"x" * 16)))
    assert frazil._sync.sync(session.store.get("a/c/1/0", cpu.buffer_prototype)) is not None
    assert not frazil._sync.sync(session.store.exists("a/c/01/0"))
    with pytest.raises(TypeError, match="Buffer"):
        frazil._sync.sync(session.store.set("a/c/0/0", b"raw bytes"))


@pytest.mark.parametrize("prefix", ["/", "//", "a//", "/a"])
def test_bad_delete_dir_prefixes_delete_nothing(repo, prefix):
    session = repo.writable_session("main")
    make_array(session, fill=1)
    session.commit("array")
    session = repo.writable_session("main")
    with pytest.raises(frazil.InvalidInputError):
        frazil._sync.sync(session.store.delete_dir(prefix))
    assert not session.has_uncommitted_changes
    frazil._sync.sync(session.store.delete_dir("a/"))
    assert session.status().deleted_arrays == {"/a"}


def test_out_of_grid_chunk_is_refused(repo):
    session = repo.writable_session("main")
    make_array(session, shape=(4,), chunks=(2,))
    from zarr.core.buffer import cpu

    with pytest.raises(frazil.InvalidInputError, match="outside the chunk grid"):
        frazil._sync.sync(session.store.set("a/c/7", cpu.Buffer.from_bytes(b"x" * 8)))


def test_diff_between_versions(repo):
    s = repo.writable_session("main")
    make_array(s, fill=0)
    make_array(s, name="b", shape=(2,), chunks=(1,))
    first = s.commit("one")
    s = repo.writable_session("main")
    zarr.open_array(s.store, path="a")[0:2, 0:2] = 1
    del zarr.open_group(s.store)["b"]
    zarr.create_array(s.store, name="c", shape=(1,), dtype="i4")
    second = s.commit("two")
    diff = repo.diff(from_snapshot_id=first, to_branch="main")
    assert diff.new_arrays == {"/c"}
    assert diff.deleted_arrays == {"/b"}
    assert diff.updated_chunks == {"/a": [[0, 0]]}
    assert repo.diff(from_snapshot_id=second, to_snapshot_id=second).is_empty()
    with pytest.raises(frazil.InvalidInputError, match="ancestor"):
        repo.diff(from_snapshot_id=second, to_snapshot_id=first)


def test_every_io_method_has_an_async_twin_with_the_same_signature():
    sync_only = {"fork", "discard_changes"}
    for cls in (frazil.Session, frazil.Repository):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or name.endswith("_async") or name in sync_only:
                continue
            twin = getattr(cls, f"{name}_async", None)
            if twin is None:
                continue
            assert inspect.signature(member).parameters == inspect.signature(twin).parameters, name
    expected = {
        "commit",
        "amend",
        "flush",
        "rebase",
        "merge",
        "status",
        "get_node_id",
        "chunk_type",
        "move",
        "all_virtual_chunk_locations",
    }
    for name in expected:
        assert hasattr(frazil.Session, f"{name}_async"), name
    for name in (
        "create",
        "open",
        "open_or_create",
        "lookup_branch",
        "create_branch",
        "reset_branch",
        "delete_branch",
        "create_tag",
        "lookup_tag",
        "delete_tag",
        "list_branches",
        "list_tags",
        "lookup_snapshot",
        "diff",
        "readonly_session",
        "writable_session",
        "rearrange_session",
        "save_config",
        "fetch_config",
        "exists",
    ):
        assert hasattr(frazil.Repository, f"{name}_async"), name


def test_pickling_rules(repo):
    session = repo.writable_session("main")
    make_array(session, fill=2)
    with pytest.raises(frazil.SessionStateError, match=r"fork\(\)"):
        pickle.dumps(session)
    session.commit("c")
    ro = repo.readonly_session("main")
    copy = pickle.loads(pickle.dumps(ro))
    np.testing.assert_array_equal(zarr.open_array(copy.store, path="a", mode="r")[:], 2)
    store_copy = pickle.loads(pickle.dumps(ro.store))
    np.testing.assert_array_equal(zarr.open_array(store_copy, path="a", mode="r")[:], 2)
    assert store_copy.read_only


def test_node_ids_chunk_types_and_coordinates(repo):
    session = repo.writable_session("main")
    zarr.group(session.store)
    array = make_array(session, shape=(4,), chunks=(2,), dtype="f8")
    array[0:2] = 1.5
    node = session.get_node_id("/a")
    assert node == session.get_node_id("a")
    assert session.chunk_type("/a", [0]) == frazil.ChunkType.inline
    assert session.chunk_type("/a", [1]) == frazil.ChunkType.uninitialized
    with pytest.raises(frazil.NodeNotFoundError):
        session.get_node_id("/missing")
    session.commit("c")
    ro = repo.readonly_session("main")
    assert ro.get_node_id("/a") == node

    async def coords():
        return [c async for c in ro.chunk_coordinates("/a")]

    assert frazil._sync.sync(coords()) == [(0,)]


def test_native_and_inline_chunks(tmp_path):
    repo = frazil.Repository.create(
        frazil.local_filesystem_storage(tmp_path / "repo"),
        frazil.RepositoryConfig(inline_chunk_threshold_bytes=16),
    )
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="a", shape=(16,), chunks=(8,), dtype="u1", compressors=None
    )
    array[0:8] = np.arange(8)
    array[8:16] = 3
    big = zarr.create_array(
        session.store, name="big", shape=(64,), chunks=(32,), dtype="u1", compressors=None
    )
    big[:] = np.arange(64)
    assert session.chunk_type("/a", [0]) == frazil.ChunkType.inline
    assert session.chunk_type("/big", [0]) == frazil.ChunkType.native
    session.commit("mixed")
    chunk_files = list((tmp_path / "repo" / "chunks").iterdir())
    assert len(chunk_files) == 2
    np.testing.assert_array_equal(read(repo, "big"), np.arange(64))


def test_refused_moves_carry_their_kinds(repo):
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_group("g")
    root.create_group("h")
    zarr.create_array(session.store, name="arr", shape=(2,), dtype="i4")
    session.commit("setup")
    rearrange = repo.rearrange_session("main")
    kinds = frazil.ErrorKind
    cases = [
        ("/nope", "/x", frazil.NodeNotFoundError, kinds.NODE_NOT_FOUND, "node not found"),
        (
            "/g",
            "/g/inner",
            frazil.InvalidInputError,
            kinds.MOVE_INTO_SELF_OR_DESCENDANT,
            "descendant",
        ),
        (
            "/g",
            "/h",
            frazil.AlreadyExistsError,
            kinds.MOVE_WONT_OVERWRITE,
            "overwrite existing node",
        ),
        (
            "/g",
            "/no/g",
            frazil.InvalidInputError,
            kinds.MOVE_DESTINATION_PARENT_MISSING,
            "parent group",
        ),
        (
            "/g",
            "/arr/g",
            frazil.InvalidInputError,
            kinds.MOVE_DESTINATION_PARENT_NOT_GROUP,
            "is an array, not a group",
        ),
    ]
    for source, dest, error, kind, phrase in cases:
        with pytest.raises(error, match=phrase) as refused:
            rearrange.move(source, dest)
        assert refused.value.kind == kind, (source, dest)
    assert not rearrange.status().moved_nodes  # nothing refused was recorded


def test_moves_are_listed_by_the_components_of_their_new_paths(repo):
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    for name in ("p", "q", "p/r"):
        root.create_group(name)
    session.commit("setup")
    rearrange = repo.rearrange_session("main")
    rearrange.move("/q", "/a-b")
    rearrange.move("/p", "/a")
    # "/a/r" comes before "/a-b": component by component, not character by character
    expected = [("/p", "/a"), ("/p/r", "/a/r"), ("/q", "/a-b")]
    assert rearrange.status().moved_nodes == expected
    rearrange.commit("moves")
    before = list(repo.ancestry(branch="main"))[1].id
    diff = repo.diff(from_snapshot_id=before, to_branch="main")
    assert diff.moved_nodes == expected
    assert repr(diff) == (
        "Nodes moved/renamed:\n    /p -> /a\n    /p/r -> /a/r\n    /q -> /a-b\n\n"
    )


def test_rearrange_session_moves_keep_node_ids(repo):
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_group("raw")
    zarr.create_array(session.store, name="raw/t", shape=(4,), dtype="i4")[:] = 9
    session.commit("setup")
    node = repo.readonly_session("main").get_node_id("/raw/t")
    rearrange = repo.rearrange_session("main")
    assert rearrange.mode == SessionMode.REARRANGE
    with pytest.raises(frazil.SessionStateError):
        zarr.group(rearrange.store, path="x")
    rearrange.move("/raw", "/v1")
    with pytest.raises(frazil.InvalidInputError):
        rearrange.move("/v1", "/v1/inside")
    with pytest.raises(frazil.AlreadyExistsError, match="already exists"):
        rearrange.move("/v1/t", "/v1")
    assert rearrange.status().moved_nodes == [("/raw", "/v1"), ("/raw/t", "/v1/t")]
    rearrange.move("/v1/t", "/t2")
    rearrange.move("/t2", "/t3")  # net: /raw/t -> /t3
    # listed by the new path, as Icechunk lists them
    assert rearrange.status().moved_nodes == [("/raw/t", "/t3"), ("/raw", "/v1")]
    rearrange.move("/t3", "/v1/t")
    rearrange.commit("move")
    before = list(repo.ancestry(branch="main"))[1].id
    moved = repo.diff(from_snapshot_id=before, to_branch="main")
    assert moved.moved_nodes == [("/raw", "/v1"), ("/raw/t", "/v1/t")]
    old = zarr.open_group(repo.readonly_session(snapshot_id=before).store, mode="r")
    assert set(old.group_keys()) == {"raw"}, "the previous version keeps the old paths"
    ro = repo.readonly_session("main")
    assert ro.get_node_id("/v1/t") == node
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="v1/t", mode="r")[:], 9)
    diff = repo.diff(from_branch="main", to_branch="main")
    assert diff.is_empty()
    with pytest.raises(frazil.SessionStateError):
        repo.writable_session("main").move("/v1", "/v2")


def test_virtual_references_read_bytes_of_outside_files(repo, tmp_path):
    raw = tmp_path / "outside.bin"
    values = np.arange(8, dtype="<i4")
    raw.write_bytes(b"HEADER" + values.tobytes())
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="v", shape=(8,), chunks=(4,), dtype="<i4", compressors=None
    )
    session.set_virtual_ref("v/c/0", str(raw), offset=6, length=16)
    session.set_virtual_ref("v/c/1", f"file://{raw}", offset=22, length=16)
    assert session.chunk_type("/v", [0]) == frazil.ChunkType.virtual
    session.commit("virtual")
    # reading needs the file's container declared and authorised for this object
    with pytest.raises(frazil.VirtualChunkNotAuthorizedError, match=r"outside\.bin"):
        zarr.open_array(repo.readonly_session("main").store, path="v", mode="r")[:]
    config = repo.config
    config.set_virtual_chunk_container(
        frazil.VirtualChunkContainer(f"file://{tmp_path}/", frazil.local_filesystem_store(tmp_path))
    )
    repo = repo.reopen(config, authorize_virtual_chunk_access={f"file://{tmp_path}/": None})
    ro = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(ro.store, path="v", mode="r")[:], values)
    assert ro.all_virtual_chunk_locations() == sorted([str(raw), f"file://{raw}"])

    bad = repo.writable_session("main")
    for location, offset, length in [
        (5, 0, 8),
        ("", 0, 8),
        (str(raw), -1, 8),
        (str(raw), 2**64, 8),
    ]:
        with pytest.raises(frazil.InvalidInputError):
            bad.set_virtual_ref("v/c/0", location, offset=offset, length=length)
    with pytest.raises(frazil.InvalidInputError):
        bad.set_virtual_ref("v/zarr.json", str(raw), offset=0, length=8)
    assert not bad.has_uncommitted_changes


def test_commit_arguments_are_validated_before_anything_is_written(repo):
    session = repo.writable_session("main")
    make_array(session, fill=1)
    tip = repo.lookup_branch("main")
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    bad_calls = [
        lambda: session.commit("\ud800"),
        lambda: session.commit(123),
        lambda: session.commit("m", metadata={"x": "\ud800"}),
        lambda: session.commit("m", metadata=deep),
        lambda: session.commit("m", metadata={"x": object()}),
        lambda: session.commit("m", rebase_tries=-1),
        lambda: session.commit("m", rebase_tries=1.5),
        lambda: session.amend(None),
        lambda: session.flush(["x"]),
    ]
    for call in bad_calls:
        with pytest.raises(frazil.InvalidInputError):
            call()
    assert repo.lookup_branch("main") == tip
    assert session.has_uncommitted_changes
    session.commit("fine")


def test_concurrent_commits_of_one_session_commit_once(repo):
    import concurrent.futures

    session = repo.writable_session("main")
    make_array(session, fill=1)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(session.commit, f"c{i}") for i in range(3)]
    outcomes = [f.exception() or f.result() for f in futures]
    ids = [o for o in outcomes if isinstance(o, str)]
    assert len(ids) == 1
    assert all(isinstance(o, frazil.SessionStateError) for o in outcomes if o not in ids)
    assert next(h.id for h in repo.ancestry(branch="main")) == ids[0]
    assert len(list(repo.ancestry(branch="main"))) == 2
