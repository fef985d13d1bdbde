"""Icechunk's spelling of the API: positional commit metadata, module paths, error kinds
and error constructors."""

from __future__ import annotations

import importlib
import pickle

import numpy as np
import pytest
import zarr

import frazil
from frazil import ErrorKind


def _write(session: frazil.Session, name: str = "x", value: int = 1) -> None:
    array = zarr.create_array(session.store, name=name, shape=(4,), chunks=(2,), dtype="i4")
    array[:] = value


# ---------------------------------------------------------------------- item 1
def test_commit_takes_metadata_positionally(repo: frazil.Repository) -> None:
    session = repo.writable_session("main")
    _write(session)
    snapshot_id = session.commit("first", {"author": "ana", "run": 3})
    info = next(iter(repo.ancestry(branch="main")))
    assert info.id == snapshot_id
    assert info.message == "first"
    assert info.metadata["author"] == "ana"
    assert info.metadata["run"] == 3


def test_commit_metadata_keyword_still_works(repo: frazil.Repository) -> None:
    session = repo.writable_session("main")
    _write(session)
    session.commit("first", metadata={"k": "v"})
    assert next(iter(repo.ancestry(branch="main"))).metadata["k"] == "v"


def test_commit_async_takes_metadata_positionally(repo: frazil.Repository) -> None:
    import asyncio

    session = repo.writable_session("main")
    _write(session)

    async def go() -> str:
        return await session.commit_async("async", {"a": 1})

    snapshot_id = asyncio.run(go())
    info = next(iter(repo.ancestry(snapshot_id=snapshot_id)))
    assert info.metadata["a"] == 1


# ---------------------------------------------------------------------- item 7
@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("frazil.session", ["ForkSession", "Session", "SessionMode"]),
        ("frazil.store", ["FrazilStore"]),
        ("frazil.repository", ["Repository", "Diff", "GCSummary", "SnapshotInfo"]),
        (
            "frazil.config",
            [
                "RepositoryConfig",
                "CachingConfig",
                "CompressionAlgorithm",
                "CompressionConfig",
                "FeatureFlag",
                "ManifestConfig",
                "ManifestPreloadConfig",
                "ManifestSplittingConfig",
                "StorageSettings",
            ],
        ),
        (
            "frazil.conflicts",
            [
                "BasicConflictSolver",
                "Conflict",
                "ConflictDetector",
                "ConflictSolver",
                "ConflictType",
                "VersionSelection",
            ],
        ),
        ("frazil.storage", ["Storage", "in_memory_storage", "s3_storage"]),
    ],
)
def test_submodules_give_the_top_level_objects(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is getattr(frazil, name), f"{module}.{name}"
    assert sorted(mod.__all__) == list(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name)


def test_submodules_reachable_after_bare_import() -> None:
    for name in ("session", "store", "repository", "config", "conflicts"):
        assert getattr(frazil, name).__name__ == f"frazil.{name}"


def test_dask_module_exports_the_merge_helpers(repo: frazil.Repository) -> None:
    import dask
    import dask.array as da

    import frazil.dask

    assert frazil.dask.merge_sessions is frazil.distributed.merge_sessions
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="x", shape=(8,), chunks=(2,), dtype="i4")
    fork = session.fork()
    target = zarr.open_array(fork.store, path="x", mode="r+")
    source = da.arange(8, chunks=2, dtype="i4")
    stored = da.store(
        source, target, compute=False, return_stored=True, load_stored=False, lock=False
    )
    with dask.config.set(scheduler="processes", num_workers=2):
        merged = frazil.dask.session_merge_reduction(stored, split_every=2)
    assert isinstance(merged, frazil.ForkSession)
    session.merge(merged)
    session.commit("dask write")
    read = repo.readonly_session("main")
    np.testing.assert_array_equal(zarr.open_array(read.store, path="x")[:], np.arange(8))


# ---------------------------------------------------------------------- item 9
def test_missing_branch_and_tag_are_ref_not_found(repo: frazil.Repository) -> None:
    for call in (
        lambda: repo.lookup_branch("nope"),
        lambda: repo.lookup_tag("nope"),
        lambda: repo.writable_session("nope"),
        lambda: repo.readonly_session(tag="nope"),
        lambda: repo.delete_branch("nope"),
    ):
        with pytest.raises(frazil.RefNotFoundError) as info:
            call()
        assert info.value.kind == ErrorKind.REF_NOT_FOUND == "ref-not-found"
        assert "nope" in str(info.value)


def test_error_kinds_match_icechunk_for_shared_situations(repo: frazil.Repository) -> None:
    with pytest.raises(frazil.NoChangesToCommitError) as no_changes:
        repo.writable_session("main").commit("nothing")
    assert no_changes.value.kind == "no-changes-to-commit"
    with pytest.raises(frazil.AlreadyExistsError) as exists:
        repo.create_branch("main", repo.lookup_branch("main"))
    assert exists.value.kind == "branch-already-exists"
    with pytest.raises(frazil.SessionStateError) as fork:
        repo.readonly_session("main").fork()
    assert fork.value.kind == "cannot-fork-read-only-session"
    with pytest.raises(frazil.RepositoryNotFoundError) as missing:
        frazil.Repository.open(frazil.in_memory_storage())
    assert missing.value.kind == "repository-not-found"


@pytest.mark.parametrize(
    "code",
    [
        "ref-not-found",
        "io",
        "object-store",
        "chunk-not-found",
        "key-not-found",
        "throttled",
        "not-an-array",
        "not-a-group",
        "unsupported-spec-version",
        "move-wont-overwrite",
        "uncommitted-changes",
        "deserialization",
    ],
)
def test_icechunk_codes_are_members(code: str) -> None:
    assert ErrorKind(code) == code


def test_errors_accept_icechunks_positional_form() -> None:
    error = frazil.FrazilError("the disk is on fire", "io")
    assert (error.message, error.kind) == ("the disk is on fire", ErrorKind.IO)
    conflict = frazil.ConflictError("AAAA", "BBBB")
    assert conflict.expected_parent == "AAAA"
    assert conflict.actual_parent == "BBBB"
    assert conflict.kind == "commit-conflict"
    assert "AAAA" in conflict.message
    assert "BBBB" in conflict.message
    worded = frazil.ConflictError("AAAA", "BBBB", "custom text", "branch-update-conflict")
    assert worded.message == "custom text"
    assert worded.kind == ErrorKind.BRANCH_UPDATE_CONFLICT
    # the older frazil form (one message) still reads as a message
    old = frazil.ConflictError("the branch moved, rebase")
    assert old.message == "the branch moved, rebase"
    assert old.expected_parent is None
    storage = frazil.StorageError("slow down", "throttled", transient=True)
    assert storage.kind == ErrorKind.THROTTLED
    assert storage.transient
    assert frazil.FormatError("bad bytes", "deserialization").kind == "deserialization"
    rebase = frazil.RebaseFailedError("SNAP", [])
    assert rebase.snapshot == "SNAP"
    assert rebase.conflicts == []
    for err in (error, conflict, worded, old, storage, rebase):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert (back.message, back.kind) == (err.message, err.kind)


def test_bad_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not-a-kind"):
        frazil.FrazilError("x", "not-a-kind")


def test_non_json_metadata_is_a_type_error_as_in_icechunk(repo: frazil.Repository) -> None:
    session = repo.writable_session("main")
    _write(session)
    for bad in ({"x": object()}, ["not", "a", "dict"]):
        with pytest.raises(TypeError, match="metadata") as info:
            session.commit("bad", bad)  # type: ignore[arg-type]
        assert isinstance(info.value, frazil.InvalidInputError)
        with pytest.raises(TypeError, match="metadata"):
            repo.set_metadata(bad)  # type: ignore[arg-type]
    assert session.commit("good", {"x": 1})
    assert repo.metadata == {}


def test_session_merge_reduction_refuses_what_is_not_a_dask_array() -> None:
    import frazil.dask

    with pytest.raises(TypeError, match="Expected a dask array"):
        frazil.dask.session_merge_reduction(np.arange(10), split_every=None)  # type: ignore[arg-type]
