"""The frazil exception tree.

Every error frazil raises derives from :class:`FrazilError`. The tree is grouped by what a
handler does about the error, not by where it was raised::

    FrazilError
    ├── ConflictError                  retry after a rebase, or choose a solver
    │   ├── RebaseFailedError
    │   ├── MergeConflictError
    │   └── PreconditionFailedError    (a conditional storage write lost its race)
    ├── NotFoundError                  (also a KeyError) ask for something that exists
    │   ├── NodeNotFoundError
    │   ├── SnapshotNotFoundError
    │   ├── RefNotFoundError
    │   ├── RepositoryNotFoundError
    │   └── ObjectNotFoundError
    ├── AlreadyExistsError             pick another name
    ├── ReadOnlyError                  (also a ValueError) use a writable session
    ├── InvalidInputError              (also a ValueError) fix the argument
    │   └── InvalidTypeError           (also a TypeError)
    ├── SessionStateError              you closed, committed or forked it
    │   ├── NoChangesToCommitError
    │   └── NotPicklableError          (also a ValueError)
    ├── ShardsFailedError              fix the shard function, then map (or resume) again
    ├── StorageError                   the world broke it; often transient
    │   └── VirtualSourceChangedError  (a virtual chunk's file changed since referenced)
    ├── FormatError                    stored bytes are corrupt or from the future
    ├── InternalError                  a bug in frazil: please report it
    └── VirtualChunkNotAuthorizedError (also a PermissionError) authorise the container

Every instance carries ``message`` and a stable, append-only ``kind`` code
(:class:`ErrorKind`) so code can match the precise failure without one class per failure.
Every error pickles, because Dask ships them between processes.
"""

from __future__ import annotations

from enum import StrEnum

TYPE_CHECKING = False  # not typing's: importing typing would double ``import frazil``
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "ErrorKind",
    "FormatError",
    "FrazilError",
    "InternalError",
    "InvalidInputError",
    "InvalidTypeError",
    "MergeConflictError",
    "NoChangesToCommitError",
    "NodeNotFoundError",
    "NotFoundError",
    "NotPicklableError",
    "ObjectNotFoundError",
    "PreconditionFailedError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RefNotFoundError",
    "RepositoryNotFoundError",
    "SessionStateError",
    "ShardsFailedError",
    "SnapshotNotFoundError",
    "StorageError",
    "VirtualChunkNotAuthorizedError",
    "VirtualSourceChangedError",
]


class ErrorKind(StrEnum):
    """Stable machine-readable codes carried by :attr:`FrazilError.kind`.

    Codes are append-only: new ones may appear in any release, existing ones are never
    renamed or removed, because user code matches on them.
    """

    # conflicts
    COMMIT_CONFLICT = "commit-conflict"
    REBASE_FAILED = "rebase-failed"
    MERGE_CONFLICT = "merge-conflict"
    PRECONDITION_FAILED = "precondition-failed"
    JOB_RUNNING = "job-running"
    JOB_LEASE_LOST = "job-lease-lost"
    # not found
    NODE_NOT_FOUND = "node-not-found"
    SNAPSHOT_NOT_FOUND = "snapshot-not-found"
    NO_SNAPSHOT_AT_TIME = "no-snapshot-at-time"
    BRANCH_NOT_FOUND = "branch-not-found"
    TAG_NOT_FOUND = "tag-not-found"
    REPOSITORY_NOT_FOUND = "repository-not-found"
    OBJECT_NOT_FOUND = "object-not-found"
    FORKS_NOT_FOUND = "forks-not-found"
    JOB_NOT_FOUND = "job-not-found"
    # already exists
    OBJECT_ALREADY_EXISTS = "object-already-exists"
    BRANCH_ALREADY_EXISTS = "branch-already-exists"
    TAG_ALREADY_EXISTS = "tag-already-exists"
    TAG_PREVIOUSLY_DELETED = "tag-previously-deleted"
    REPOSITORY_ALREADY_EXISTS = "repository-already-exists"
    NODE_ALREADY_EXISTS = "node-already-exists"
    JOB_ALREADY_EXISTS = "job-already-exists"
    # read only
    READ_ONLY_SESSION = "read-only-session"
    READ_ONLY_STORE = "read-only-store"
    READ_ONLY_STORAGE = "read-only-storage"
    READ_ONLY_REPOSITORY = "read-only-repository"
    # invalid input
    INVALID_KEY = "invalid-key"
    INVALID_REF_NAME = "invalid-ref-name"
    INVALID_SNAPSHOT_ID = "invalid-snapshot-id"
    INVALID_CHUNK_INDEX = "invalid-chunk-index"
    INVALID_PATH = "invalid-path"
    INVALID_ARGUMENT = "invalid-argument"
    INVALID_CONFIG = "invalid-config"
    INVALID_BYTE_RANGE = "invalid-byte-range"
    INVALID_METADATA = "invalid-metadata"
    INVALID_TICKET = "invalid-ticket"
    FOREIGN_FORK = "foreign-fork"
    # session / repository state
    NO_CHANGES_TO_COMMIT = "no-changes-to-commit"
    NO_AMEND_FOR_INITIAL_COMMIT = "no-amend-for-initial-commit"
    SESSION_COMMITTED = "session-committed"
    COMMIT_NOT_ALLOWED = "commit-not-allowed"
    NOT_PICKLABLE = "not-picklable"
    NOT_ON_BRANCH = "not-on-branch"
    CANNOT_DELETE_MAIN = "cannot-delete-main"
    CANNOT_FORK_READ_ONLY_SESSION = "cannot-fork-read-only-session"
    REARRANGE_SESSION_ONLY = "rearrange-session-only"
    NON_REARRANGE_SESSION = "non-rearrange-session"
    UNSAFE_REMOTE_WRITE = "unsafe-remote-write"
    JOB_FINISHED = "job-finished"
    # storage
    STORAGE_IO = "storage-io"
    STORAGE_TRANSIENT = "storage-transient"
    STORAGE_CONFIG = "storage-config"
    UNSUPPORTED_OPERATION = "unsupported-operation"
    # format
    CORRUPT_OBJECT = "corrupt-object"
    UNSUPPORTED_FORMAT_VERSION = "unsupported-format-version"
    FOREIGN_OBJECT = "foreign-object"
    # internal
    INTERNAL = "internal"
    # shards of a job
    SHARDS_FAILED = "shards-failed"
    # the catalog (frazil.Client)
    INVALID_REPO_NAME = "invalid-repo-name"
    SECRET_IN_CONFIG = "secret-in-config"
    CONFIRMATION_REQUIRED = "confirmation-required"
    BUCKET_CONFIG_NOT_FOUND = "bucket-config-not-found"
    BUCKET_CONFIG_ALREADY_EXISTS = "bucket-config-already-exists"
    BUCKET_CONFIG_IN_USE = "bucket-config-in-use"
    CATALOG_UNREACHABLE = "catalog-unreachable"
    NOT_A_CATALOG = "not-a-catalog"
    CLIENT_CLOSED = "client-closed"
    REPOSITORY_DELETED = "repository-deleted"
    # Icechunk's codes for situations frazil meets too (the same strings as Icechunk's)
    REF_NOT_FOUND = "ref-not-found"
    """A branch or tag does not exist (raised instead of branch-/tag-not-found)."""
    BRANCH_UPDATE_CONFLICT = "branch-update-conflict"
    CONFIG_UPDATED = "config-updated"
    REPO_INFO_UPDATED = "repo-info-updated"
    UPDATE_ATTEMPTS_EXHAUSTED = "update-attempts-exhausted"
    CHUNK_NOT_FOUND = "chunk-not-found"
    KEY_NOT_FOUND = "key-not-found"
    MOVE_WONT_OVERWRITE = "move-wont-overwrite"
    BAD_METADATA = "bad-metadata"
    NOT_AN_ARRAY = "not-an-array"
    NOT_A_GROUP = "not-a-group"
    INVALID_VIRTUAL_REF = "invalid-virtual-ref"
    INVALID_CREDENTIALS = "invalid-credentials"
    NO_CONTAINER_FOR_VIRTUAL_CHUNK = "no-container-for-virtual-chunk"
    UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER = "unauthorized-virtual-chunk-container"
    PARENT_DIRECTORY_NOT_CLEAN = "parent-directory-not-clean"
    MOVE_INTO_SELF_OR_DESCENDANT = "move-into-self-or-descendant"
    MOVE_DESTINATION_PARENT_MISSING = "move-destination-parent-missing"
    MOVE_DESTINATION_PARENT_NOT_GROUP = "move-destination-parent-not-group"
    UNCOMMITTED_CHANGES = "uncommitted-changes"
    OBJECT_STORE = "object-store"
    IO = "io"
    CANNOT_PARSE_URL = "cannot-parse-url"
    THROTTLED = "throttled"
    VIRTUAL_CHUNK_FETCH = "virtual-chunk-fetch"
    VIRTUAL_CHUNK_MODIFIED = "virtual-chunk-modified"
    SERIALIZATION = "serialization"
    DESERIALIZATION = "deserialization"
    UNSUPPORTED_SPEC_VERSION = "unsupported-spec-version"
    PICKLE = "pickle"
    UNKNOWN = "unknown"
    FEATURE_FLAG_DISABLED = "feature-flag-disabled"
    """The repository's owner switched the operation off (``Repository.set_feature_flag``)."""
    INVALID_FEATURE_FLAG = "invalid-feature-flag"
    """No feature flag has that name."""


class FrazilError(Exception):
    """Root of every error frazil raises.

    Parameters
    ----------
    message
        What went wrong and what to do about it.
    kind
        A stable :class:`ErrorKind` code; each subclass has a default.
    """

    default_kind: ErrorKind = ErrorKind.INTERNAL

    # ``FrazilError("message", "io")``: the kind may be given positionally, as in Icechunk.

    def __init__(self, message: str, kind: ErrorKind | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = ErrorKind(kind) if kind is not None else self.default_kind

    def __str__(self) -> str:
        return self.message

    def _extra_state(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this error; subclasses with fields extend it."""
        return {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, str(self.kind), self._extra_state()))


def _rebuild(cls: type[FrazilError], message: str, kind: str, extra: dict[str, Any]) -> FrazilError:
    """Unpickle an error without calling its (subclass-specific) ``__init__``."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message = message
    error.kind = ErrorKind(kind)
    for name, value in extra.items():
        setattr(error, name, value)
    return error


class ConflictError(FrazilError):
    """Another writer changed what this operation depended on.

    Raised by ``commit`` when the branch tip moved since the session's base snapshot.

    Attributes
    ----------
    expected_parent
        The snapshot the session was based on.
    actual_parent
        The snapshot the branch points to now.
    """

    default_kind = ErrorKind.COMMIT_CONFLICT

    def __init__(
        self,
        expected_parent: str | None = None,
        actual_parent: str | None = None,
        message: str | None = None,
        kind: ErrorKind | str | None = None,
    ) -> None:
        # Icechunk's positional order is (expected_parent, actual_parent, message, kind).
        # A lone positional argument with spaces in it is a message, the older frazil form.
        if (
            message is None
            and actual_parent is None
            and expected_parent is not None
            and any(c.isspace() for c in expected_parent)
        ):
            message, expected_parent = expected_parent, None
        if message is None:
            message = (
                f"branch tip moved: the session is based on {expected_parent!r} but the "
                f"branch now points to {actual_parent!r}; rebase the session "
                "(session.rebase(solver)) or commit with rebase_with=BasicConflictSolver()"
            )
        super().__init__(message, kind=kind)
        self.expected_parent = expected_parent
        self.actual_parent = actual_parent

    def _extra_state(self) -> dict[str, Any]:
        return {"expected_parent": self.expected_parent, "actual_parent": self.actual_parent}


class RebaseFailedError(ConflictError):
    """A conflict solver could not resolve the conflicts found while rebasing.

    Attributes
    ----------
    snapshot_id
        The snapshot whose changes conflicted with the session's.
    conflicts
        The :class:`~frazil.Conflict` objects that could not be resolved.
    """

    default_kind = ErrorKind.REBASE_FAILED

    def __init__(self, snapshot_id: str, conflicts: list[Any]) -> None:
        lines = [f"rebase onto snapshot {snapshot_id!r} failed with {len(conflicts)} conflict(s):"]
        shown = conflicts[:20]
        lines.extend(f"  - {c}" for c in shown)
        if len(conflicts) > len(shown):
            lines.append(f"  ... and {len(conflicts) - len(shown)} more")
        lines.append(
            "Resolve them with a different solver, e.g. "
            "BasicConflictSolver(on_chunk_conflict=VersionSelection.UseTheirs), "
            "or discard the session's changes."
        )
        super().__init__(message="\n".join(lines), actual_parent=snapshot_id)
        self.snapshot_id = snapshot_id
        self.conflicts = list(conflicts)

    @property
    def snapshot(self) -> str:
        """The snapshot whose changes conflicted (alias of :attr:`snapshot_id`)."""
        return self.snapshot_id

    def _extra_state(self) -> dict[str, Any]:
        return {
            **super()._extra_state(),
            "snapshot_id": self.snapshot_id,
            "conflicts": self.conflicts,
        }


class MergeConflictError(ConflictError):
    """Two forks wrote different data to the same chunk or node.

    Attributes
    ----------
    conflicts
        One :class:`~frazil.Conflict` per array or node in conflict.
    """

    default_kind = ErrorKind.MERGE_CONFLICT

    def __init__(self, message: str, *, conflicts: list[Any] | None = None) -> None:
        super().__init__(message=message)
        self.conflicts = list(conflicts or [])

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "conflicts": self.conflicts}


class PreconditionFailedError(ConflictError):
    """A conditional storage write found a different version than it expected."""

    default_kind = ErrorKind.PRECONDITION_FAILED

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message=message)
        self.key = key

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "key": self.key}


class NotFoundError(FrazilError, KeyError):
    """Something that was asked for does not exist.

    Also a :class:`KeyError`, so ``except KeyError`` handlers keep working.
    """

    default_kind = ErrorKind.OBJECT_NOT_FOUND

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message; show it as written.
        return self.message


class NodeNotFoundError(NotFoundError):
    """No group or array exists at the given path."""

    default_kind = ErrorKind.NODE_NOT_FOUND


class SnapshotNotFoundError(NotFoundError):
    """No snapshot exists with the given id, or at the given time."""

    default_kind = ErrorKind.SNAPSHOT_NOT_FOUND


class RefNotFoundError(NotFoundError):
    """No branch or tag exists with the given name."""

    default_kind = ErrorKind.REF_NOT_FOUND


class RepositoryNotFoundError(NotFoundError):
    """The storage location holds no frazil repository."""

    default_kind = ErrorKind.REPOSITORY_NOT_FOUND


class ObjectNotFoundError(NotFoundError):
    """A storage key does not exist."""

    default_kind = ErrorKind.OBJECT_NOT_FOUND

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def _extra_state(self) -> dict[str, Any]:
        return {"key": self.key}


class AlreadyExistsError(FrazilError):
    """Something being created exists already (branch, tag, repository, object)."""

    default_kind = ErrorKind.OBJECT_ALREADY_EXISTS


class ReadOnlyError(FrazilError, ValueError):
    """A write went through a read-only session, store or storage.

    Also a :class:`ValueError`, which is what zarr raises for writes to a read-only store.
    """

    default_kind = ErrorKind.READ_ONLY_SESSION


class InvalidInputError(FrazilError, ValueError):
    """An argument, key, name, index or metadata value is invalid.

    Also a :class:`ValueError`, so ``except ValueError`` handlers keep working.
    """

    default_kind = ErrorKind.INVALID_ARGUMENT


class SessionStateError(FrazilError):
    """The operation is not allowed in the session's current state.

    Examples: committing twice, committing a fork, pickling a writable session.
    """

    default_kind = ErrorKind.COMMIT_NOT_ALLOWED


class NoChangesToCommitError(SessionStateError):
    """``commit`` was called on a session without changes and ``allow_empty=False``."""

    default_kind = ErrorKind.NO_CHANGES_TO_COMMIT


class ShardsFailedError(FrazilError):
    """Shards of a job's ``map`` failed on every attempt; nothing of the job was committed.

    The other shards finished and were published. Fix the shard function and call
    ``job.map`` again (or ``frazil.Job.resume`` in a new process): only the failed shards
    run again.

    Attributes
    ----------
    job
        The job's name.
    failed
        Shard key -> the error of its last attempt (type and message).
    """

    default_kind = ErrorKind.SHARDS_FAILED

    def __init__(
        self, message: str, *, job: str | None = None, failed: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.job = job
        self.failed = dict(failed or {})

    def _extra_state(self) -> dict[str, Any]:
        return {"job": self.job, "failed": self.failed}


class StorageError(FrazilError):
    """The object store or file system failed or is misconfigured.

    Attributes
    ----------
    transient
        True when retrying the same call may succeed (timeouts, throttling, lost
        connections).
    """

    default_kind = ErrorKind.STORAGE_IO

    def __init__(
        self,
        message: str,
        kind: ErrorKind | str | None = None,
        *,
        transient: bool = False,
        key: str | None = None,
    ) -> None:
        super().__init__(message, kind=kind)
        self.transient = transient
        self.key = key

    def _extra_state(self) -> dict[str, Any]:
        return {"transient": self.transient, "key": self.key}


class FormatError(FrazilError):
    """Stored bytes are corrupt, foreign, or of a format version this frazil cannot read."""

    default_kind = ErrorKind.CORRUPT_OBJECT

    def __init__(
        self, message: str, kind: ErrorKind | str | None = None, *, key: str | None = None
    ) -> None:
        super().__init__(message, kind=kind)
        self.key = key

    def _extra_state(self) -> dict[str, Any]:
        return {"key": self.key}


class InternalError(FrazilError):
    """An unexpected internal error: a bug in frazil worth reporting."""

    default_kind = ErrorKind.INTERNAL


class VirtualChunkNotAuthorizedError(FrazilError, PermissionError):
    """A virtual chunk lives where this Repository object may not read.

    Raised before anything is read: either no virtual chunk container of the repository's
    configuration holds the chunk's location, or the container was not authorised when the
    repository was opened (``authorize_virtual_chunk_access={prefix: credentials}``).

    Attributes
    ----------
    location
        The chunk's URL.
    """

    default_kind = ErrorKind.UNAUTHORIZED_VIRTUAL_CHUNK_CONTAINER

    def __init__(
        self, message: str, *, location: str = "", kind: ErrorKind | str | None = None
    ) -> None:
        super().__init__(message, kind=kind)
        self.location = location

    def _extra_state(self) -> dict[str, Any]:
        return {"location": self.location}


class VirtualSourceChangedError(StorageError):
    """The file a virtual chunk points into changed since the reference was written (its
    ETag differs, it was modified after the pinned time, or it is too short).

    Attributes
    ----------
    location
        The chunk's URL.
    """

    default_kind = ErrorKind.VIRTUAL_CHUNK_MODIFIED

    def __init__(
        self, message: str, *, location: str = "", kind: ErrorKind | str | None = None
    ) -> None:
        super().__init__(message, kind=kind)
        self.location = location

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "location": self.location}


class NotPicklableError(SessionStateError, ValueError):
    """A writable session (or another object that must not travel) was pickled.

    Also a :class:`ValueError`, which is what Icechunk raises there.
    """

    default_kind = ErrorKind.NOT_PICKLABLE


class InvalidTypeError(InvalidInputError, TypeError):
    """An argument has the wrong type (e.g. commit metadata that is not JSON).

    Also a :class:`TypeError`, which is what Icechunk raises there.
    """


for _name in __all__:
    globals()[_name].__module__ = "frazil"
