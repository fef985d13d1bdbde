"""The error tree: one root, stable kinds, and every error pickles."""

from __future__ import annotations

import inspect
import pickle

import pytest

import frazil
from frazil import _errors


def all_error_classes() -> list[type[frazil.FrazilError]]:
    return [
        obj
        for _, obj in inspect.getmembers(_errors, inspect.isclass)
        if issubclass(obj, frazil.FrazilError)
    ]


def make(cls: type[frazil.FrazilError]) -> frazil.FrazilError:
    if cls is frazil.RebaseFailedError:
        return cls("SNAP", [frazil.Conflict(frazil.ConflictType.ChunkDoubleUpdate, "/a", [[0, 1]])])
    if cls is frazil.ConflictError:
        return cls(expected_parent="A", actual_parent="B")
    if cls is frazil.MergeConflictError:
        return cls("boom", conflicts=[frazil.Conflict(frazil.ConflictType.ChunkDoubleUpdate, "/x")])
    if cls in (frazil.PreconditionFailedError, frazil.ObjectNotFoundError):
        return cls("boom", key="refs/branch.main")
    if cls is frazil.StorageError:
        return cls("boom", transient=True, key="k")
    if cls is frazil.FormatError:
        return cls("boom", key="snapshots/X")
    return cls("boom")


def test_every_public_error_derives_from_the_root():
    public = [getattr(frazil, n) for n in frazil.__all__]
    errors = [e for e in public if isinstance(e, type) and issubclass(e, Exception)]
    assert len(errors) >= 15
    for cls in errors:
        assert issubclass(cls, frazil.FrazilError), cls
        assert cls.__module__ == "frazil"


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_errors_pickle_with_their_fields(cls):
    error = make(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.kind == error.kind
    assert isinstance(copy.kind, frazil.ErrorKind)
    for name in ("expected_parent", "actual_parent", "key", "transient", "snapshot_id"):
        if hasattr(error, name):
            assert getattr(copy, name) == getattr(error, name)
    if hasattr(error, "conflicts"):
        assert copy.conflicts == error.conflicts


def test_grouping_by_handler():
    assert issubclass(frazil.NotFoundError, KeyError)
    assert issubclass(frazil.InvalidInputError, ValueError)
    assert issubclass(frazil.RebaseFailedError, frazil.ConflictError)
    assert issubclass(frazil.NoChangesToCommitError, frazil.SessionStateError)
    for cls in (
        frazil.NodeNotFoundError,
        frazil.SnapshotNotFoundError,
        frazil.RefNotFoundError,
        frazil.RepositoryNotFoundError,
    ):
        assert issubclass(cls, frazil.NotFoundError)


def test_kinds_are_stable_strings():
    kinds = {k.value for k in frazil.ErrorKind}
    assert len(kinds) == len(list(frazil.ErrorKind))
    assert frazil.ErrorKind.NO_CHANGES_TO_COMMIT == "no-changes-to-commit"
    assert make(frazil.NotFoundError).kind == frazil.ErrorKind.OBJECT_NOT_FOUND


def test_rebase_failed_message_names_paths_and_chunks():
    error = make(frazil.RebaseFailedError)
    assert "/a" in str(error)
    assert "[0, 1]" in str(error)
    assert error.snapshot == "SNAP"
    assert error.snapshot_id == "SNAP"


def test_not_found_str_is_not_quoted():
    assert str(frazil.NotFoundError("no such thing")) == "no such thing"
