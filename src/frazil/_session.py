"""Sessions: a view of one snapshot plus uncommitted changes, and forks of them.

Every I/O method has an ``_async`` twin with the same signature; the synchronous one is a
single line over it through :func:`frazil._sync.sync`.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from frazil._changeset import ChangeSet, ChunkRef
from frazil._check import MAX_JSON_DEPTH, json_depth, require_int, require_text, short
from frazil._commit import (
    BuildAndWrite,
    CommitArtifacts,
    ManifestReuse,
    Rebase,
    RefMoved,
    RefUpdated,
    Sleep,
    UpdateRef,
    build_commit,
    commit_protocol,
    write_artifacts,
)
from frazil._config import RepositoryConfig
from frazil._conflict_types import VersionSelection
from frazil._conflicts import ConflictSolver, rebase_workspace
from frazil._errors import (
    ConflictError,
    ErrorKind,
    FrazilError,
    InvalidInputError,
    MergeConflictError,
    NoChangesToCommitError,
    ReadOnlyError,
    SessionStateError,
)
from frazil._history import Diff, ancestry, net_moves
from frazil._io import RepoIO
from frazil._merge import plan_merge
from frazil._refs import branch_key as make_branch_key
from frazil._refs import cas_ref, read_ref
from frazil._reindex import reindex_changes, shift_changes
from frazil._staging import StagingWriter, collect_staged, delete_staged, seal, unseal
from frazil._store import FrazilStore
from frazil._sync import sync
from frazil._tickets import PARENT, Ticket, encode_publication, new_job_name, validate_job
from frazil._virtual import read_virtual
from frazil._workspace import NodeView, Workspace, normalize_path
from frazil.format import ChunkRefs, RefDoc, RefKind, encode_id
from frazil.storage import ByteRange, slice_range

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterable

    from frazil._refs import RefState
    from frazil.format import Snapshot
    from frazil.storage import Storage

__all__ = ["ChunkType", "ForkSession", "RepoContext", "Session", "SessionMode"]

logger = logging.getLogger("frazil.session")

_RELIST_SECONDS = 0.2
"""How often reads look for new staged writes while copies of the store may be writing."""


class SessionMode(enum.Enum):
    """What a session may do."""

    READONLY = 0
    """Read only."""
    WRITABLE = 1
    """Read and write data and metadata."""
    REARRANGE = 2
    """Only move nodes."""
    # icechunk spells the members in lower case; both spellings work
    readonly = 0  # noqa: PIE796 -- alias spelling
    writable = 1  # noqa: PIE796 -- alias spelling
    rearrange = 2  # noqa: PIE796 -- alias spelling


class ChunkType(enum.Enum):
    """Where a chunk's bytes live."""

    uninitialized = 0
    """No chunk is stored at these coordinates."""
    native = 1
    """A chunk object in the repository."""
    virtual = 2
    """A byte range of a file outside the repository."""
    inline = 3
    """Stored inside the manifest."""
    UNINITIALIZED = 0  # noqa: PIE796 -- alias spelling
    NATIVE = 1  # noqa: PIE796 -- alias spelling
    VIRTUAL = 2  # noqa: PIE796 -- alias spelling
    INLINE = 3  # noqa: PIE796 -- alias spelling


for _cls in (SessionMode, ChunkType):
    _cls.__module__ = "frazil"


@dataclass(slots=True, eq=False, weakref_slot=True)
class RepoContext:
    """What sessions need from their repository; shared by all sessions of one process."""

    io: RepoIO
    repo_id: str
    default_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def storage(self) -> Storage:
        """The (retrying) storage."""
        return self.io.storage

    @property
    def config(self) -> RepositoryConfig:
        """The repository configuration."""
        return self.io.config


_CONTEXTS: weakref.WeakValueDictionary[tuple[Any, ...], RepoContext] = weakref.WeakValueDictionary()
_CONTEXTS_LOCK = threading.Lock()


def context_for(storage: Storage, config: RepositoryConfig, repo_id: str) -> RepoContext:
    """The process-wide context (and caches) of a repository, created on first use."""
    key = (storage, config, repo_id, os.getpid())
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            context = RepoContext(io=RepoIO(storage, config), repo_id=repo_id)
            _CONTEXTS[key] = context
            _KEEP_ALIVE.append(context)
            del _KEEP_ALIVE[:-16]
    return context


_KEEP_ALIVE: list[RepoContext] = []


def check_commit_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"commit metadata must be a dict, got {type(metadata).__name__}")
    if json_depth(metadata) > MAX_JSON_DEPTH:
        raise InvalidInputError(
            f"commit metadata nests more than {MAX_JSON_DEPTH} levels deep; flatten it",
            kind=ErrorKind.INVALID_METADATA,
        )
    try:
        text = json.dumps(metadata, ensure_ascii=False)
        text.encode("utf-8")
        return dict(json.loads(text))
    except (TypeError, ValueError, RecursionError) as exc:
        # UnicodeEncodeError (lone surrogates) is a ValueError
        raise InvalidInputError(
            f"commit metadata must hold JSON values (str, numbers, bools, None, lists and "
            f"dicts, nested less than ~1000 deep, text encodable as UTF-8): "
            f"{short(str(exc) or type(exc).__name__)}",
            kind=ErrorKind.INVALID_METADATA,
        ) from None


def _int_sequence(
    name: str, values: object, *, low: int, high: int, ndim: int, path: str, kind: ErrorKind
) -> list[int]:
    """One int per dimension of the array at ``path`` (a str or a lone int is refused)."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise InvalidInputError(
            f"{name} must be a sequence of integers, got {short(values)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    ints = [require_int(f"each entry of {name}", v, low=low, high=high) for v in values]
    if len(ints) != ndim:
        raise InvalidInputError(
            f"{name} {tuple(ints)} has {len(ints)} entries but array {path!r} has {ndim} "
            "dimensions",
            kind=kind,
        )
    return ints


def _selection(on_conflict: VersionSelection | str) -> str:
    match on_conflict:
        case VersionSelection.Fail | "fail":
            return "fail"
        case VersionSelection.UseOurs | "ours":
            return "ours"
        case VersionSelection.UseTheirs | "theirs":
            return "theirs"
    raise InvalidInputError(
        f"on_conflict must be 'fail', 'ours', 'theirs' or a VersionSelection, got {on_conflict!r}"
    )


class Session:
    """A view of one snapshot plus, when writable, uncommitted changes.

    Get one from :meth:`Repository.readonly_session`, :meth:`Repository.writable_session`
    or :meth:`Repository.rearrange_session`. Its :attr:`store` is a zarr store.

    A writable session refuses to pickle: writes made in another process through a copy
    would never reach :meth:`commit`. Use :meth:`fork` for workers (or send the
    :attr:`store` itself, whose remote writes are collected at commit).
    """

    def __init__(
        self,
        ctx: RepoContext,
        *,
        mode: SessionMode,
        branch: str | None,
        base_id: str,
        base: Snapshot | None = None,
        ref: RefState | None = None,
        changes: ChangeSet | None = None,
        token: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._mode = mode
        self._branch = branch
        self._base_id = base_id
        self._ref = ref
        self._changes = (
            changes if changes is not None or mode == SessionMode.READONLY else ChangeSet()
        )
        self._token = token or os.urandom(12).hex()
        self._ws: Workspace | None = None
        self._ws_lock = threading.Lock()
        if base is not None:
            self._ws = Workspace(ctx.io, base, self._changes)
        self._committed = False
        self._staging_used = False
        self._staging_writer: StagingWriter | None = None
        self._emptied_by_rebase = False
        self._commit_running = False
        self._sealed = False
        self._staging_refresh: asyncio.Future[None] | None = None
        self._staging_checked_at = 0.0
        """When reads last listed the staging area (-inf: the store was shipped since)."""
        self._collected: set[str] = set()
        """Staging markers already taken into the changes (skipped when listed again)."""
        self.commit_attempts = 0
        """How many attempts the last successful commit took (1 if no rebase was needed)."""

    # ------------------------------------------------------------------ attributes
    @property
    def branch(self) -> str | None:
        """The branch the session commits to (writable sessions), else None."""
        return self._branch if self._mode != SessionMode.READONLY else None

    @property
    def config(self) -> RepositoryConfig:
        """The repository configuration (read-only view; use ``Repository.reopen``)."""
        return self._ctx.config

    @property
    def mode(self) -> SessionMode:
        """READONLY, WRITABLE or REARRANGE."""
        return self._mode

    @property
    def read_only(self) -> bool:
        """Whether the session refuses writes."""
        return self._mode == SessionMode.READONLY

    @property
    def snapshot_id(self) -> str:
        """The snapshot the session is based on (after a commit: the new one)."""
        return self._base_id

    @property
    def has_uncommitted_changes(self) -> bool:
        """Whether the session changed anything (forks: their own changes)."""
        return self._changes is not None and not self._changes.is_empty()

    @property
    def store(self) -> FrazilStore:
        """A zarr store reading and writing through this session."""
        return FrazilStore(self)

    def __repr__(self) -> str:
        where = f"branch {self._branch!r}" if self._branch else "detached"
        return (
            f"<{type(self).__name__} {self._mode.name.lower()} {where} at {self._base_id}"
            f"{' with changes' if self.has_uncommitted_changes else ''}>"
        )

    # ------------------------------------------------------------------ store backend
    @property
    def _io(self) -> RepoIO:
        return self._ctx.io

    @property
    def _staging(self) -> StagingWriter | None:
        return self._staging_writer

    @property
    def _workspace(self) -> Workspace:
        if self._ws is None:
            base = sync(self._ctx.io.read_snapshot(self._base_id))
            with self._ws_lock:
                if self._ws is None:
                    self._ws = Workspace(self._ctx.io, base, self._changes)
        return self._ws

    async def _get_workspace(self) -> Workspace:
        if self._ws is None:
            base = await self._ctx.io.read_snapshot(self._base_id)
            with self._ws_lock:
                if self._ws is None:
                    self._ws = Workspace(self._ctx.io, base, self._changes)
        return self._ws

    def _check_writable(self) -> None:
        if self._mode == SessionMode.READONLY:
            raise ReadOnlyError(
                "this session is read-only"
                + (" (it was committed)" if self._committed else "")
                + "; open repo.writable_session(branch) to write",
                kind=ErrorKind.READ_ONLY_SESSION,
            )
        if self._mode == SessionMode.REARRANGE:
            raise SessionStateError(
                "a rearrange session can only move nodes (session.move); open "
                "repo.writable_session(branch) to write data",
                kind=ErrorKind.REARRANGE_SESSION_ONLY,
            )

    async def _read_ref(self, ref: ChunkRef, byte_range: ByteRange | None) -> bytes:
        match ref.kind:
            case RefKind.INLINE:
                data = ref.data or b""
                return slice_range(data, byte_range)
            case RefKind.NATIVE:
                return await self._ctx.io.read_chunk(
                    encode_id(ref.chunk_id),
                    checksum=ref.checksum,
                    length=ref.length,
                    byte_range=byte_range,
                )
            case RefKind.VIRTUAL:
                assert ref.location is not None
                data = await read_virtual(ref.location, ref.offset, ref.length)
                return slice_range(data, byte_range)
        raise InvalidInputError(f"cannot read a reference of kind {ref.kind!r}")  # pragma: no cover

    def _reduce_store(self, read_only: bool) -> tuple[Any, ...]:
        if self._mode == SessionMode.READONLY:
            # also a store that was writable before its session committed: it unpickles
            # (so a scheduler can load the graph) and refuses writes with a clear error
            return (_restore_store, (self._state(), True))
        # A copy of a writable store sent elsewhere records its chunk writes under a
        # staging prefix that this session collects at commit (and before it next reads).
        self._staging_used = True
        self._staging_checked_at = -math.inf  # the next read looks at once
        return (_restore_store, (self._state(staging=True), read_only))

    def _state(self, *, staging: bool = False, with_changes: bool = True) -> dict[str, Any]:
        config = self._ctx.config
        state: dict[str, Any] = {
            "storage": self._ctx.io.raw_storage,
            "repo": self._ctx.repo_id,
            "base": self._base_id,
            "token": self._token,
        }
        if config != _DEFAULT_CONFIG:
            state["config"] = config
        if self._branch is not None:
            state["branch"] = self._branch
        if self._mode != SessionMode.READONLY:
            state["mode"] = self._mode.value
        if staging:
            state["staging"] = True
        if (
            with_changes
            and self._changes is not None
            and (not self._changes.is_empty() or self._changes.inherited is not None)
        ):
            changes = self._changes.flatten() if staging else self._changes
            state["changes"] = changes.to_state()
        return state

    def __reduce__(self) -> tuple[Any, ...]:
        if self._mode != SessionMode.READONLY:
            raise SessionStateError(
                "a writable Session cannot be pickled: its copy in another process would "
                "write changes that never reach commit(). Call session.fork() and send the "
                "ForkSession instead, then merge the returned forks with session.merge(...) "
                "(or use frazil.dask.store_dask / frazil.xarray.to_frazil, which do this). "
                "For reading in workers, use repo.readonly_session(...).",
                kind=ErrorKind.NOT_PICKLABLE,
            )
        return (_restore_session, (self._state(),))

    # ------------------------------------------------------------------ status
    async def status_async(self) -> Diff:
        """Async version of :meth:`status`."""
        ws = await self._get_workspace()
        changes = self._changes
        if changes is None:
            return Diff()
        if self._staging_used:
            await self._collect_staged(ws)
        flat = changes.flatten() if changes.inherited is not None else changes
        by_id = {v.node_id: v for v in ws.nodes.values()}
        base_kinds = {r.node_id: r.kind for r in ws.base.nodes.values()}
        chunks: dict[str, np.ndarray[Any, Any]] = {}
        for node_id, writes in changes.chunks.items():
            view = by_id.get(node_id)
            if view is not None and writes.has_own():
                chunks[view.path] = writes.own().coords
        return Diff(
            new_groups=[
                by_id[n].path for n in changes.created if n in by_id and by_id[n].kind == "group"
            ],
            new_arrays=[
                by_id[n].path for n in changes.created if n in by_id and by_id[n].kind == "array"
            ],
            deleted_groups=[p for n, p in changes.deleted.items() if base_kinds.get(n) == "group"],
            deleted_arrays=[p for n, p in changes.deleted.items() if base_kinds.get(n) != "group"],
            updated_groups=[
                by_id[n].path for n in changes.updated if n in by_id and by_id[n].kind == "group"
            ],
            updated_arrays=[
                by_id[n].path for n in changes.updated if n in by_id and by_id[n].kind == "array"
            ],
            updated_chunks=chunks,
            moved_nodes=net_moves(
                {r.node_id: p for p, r in ws.base.nodes.items()},
                {v.node_id: p for p, v in ws.nodes.items()},
            )
            if flat.moves
            else [],
        )

    def status(self) -> Diff:
        """Compute an overview of the session's uncommitted changes.

        Returns
        -------
        Diff
            New, deleted and updated groups and arrays, and the chunks written per array.
        """
        return sync(self.status_async())

    def discard_changes(self) -> None:
        """Drop every uncommitted change (writable sessions).

        Raises
        ------
        ReadOnlyError
            If the session is read-only.
        """
        if self._mode == SessionMode.READONLY:
            raise ReadOnlyError("a read-only session has no changes to discard")
        inherited = self._changes.inherited if self._changes is not None else None
        self._changes = ChangeSet(inherited=inherited)
        self._emptied_by_rebase = False
        if self._staging_used:
            # writes staged by remote copies belong to the old token; GC removes them.
            # Sealing it makes copies still writing fail instead of writing for nothing.
            sync(seal(self._ctx.storage, self._token))
            self._token = os.urandom(12).hex()
            self._staging_used = False
            self._collected = set()
        if self._ws is not None:
            self._ws.changes = self._changes
            self._ws.rebuild()

    # ------------------------------------------------------------------ commit
    def _check_can_commit(self, what: str) -> None:
        if self._committed:
            raise SessionStateError(
                f"cannot {what}: this session was already committed; open a new "
                "repo.writable_session(branch) for further changes",
                kind=ErrorKind.SESSION_COMMITTED,
            )
        if self._mode == SessionMode.READONLY:
            raise ReadOnlyError(
                f"cannot {what} a read-only session; open repo.writable_session(branch)",
                kind=ErrorKind.READ_ONLY_SESSION,
            )
        if self._branch is None:  # pragma: no cover - writable sessions always have one
            raise SessionStateError(f"cannot {what}: the session is not on a branch")

    async def _prepare_commit(self, allow_empty: bool) -> Workspace:
        ws = await self._get_workspace()
        if self._staging_used:
            # seal first: store copies still writing now either land before the listing
            # or fail when they find the seal; none writes into the void
            self._sealed = True
            await seal(self._ctx.storage, self._token)
            await self._collect_staged(ws)
        assert self._changes is not None
        if self._changes.is_empty() and not allow_empty and not self._emptied_by_rebase:
            raise NoChangesToCommitError(
                "nothing to commit: the session has no changes (pass allow_empty=True to "
                "commit anyway)"
            )
        return ws

    async def commit_async(
        self,
        message: str,
        *,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Async version of :meth:`commit`."""
        self._check_can_commit("commit")
        if rebase_with is not None and not isinstance(rebase_with, ConflictSolver):
            raise InvalidInputError(
                f"rebase_with must be a ConflictSolver (e.g. BasicConflictSolver()), "
                f"got {rebase_with!r}"
            )
        require_text("commit message", message)
        require_int("rebase_tries", rebase_tries, low=0)
        meta = {**self._ctx.default_metadata, **check_commit_metadata(metadata)}
        return await self._guarded_commit(
            "commit",
            partial(self._commit, meta, message, rebase_with, rebase_tries, allow_empty),
        )

    async def _guarded_commit(
        self, what: str, attempt: Callable[[], Coroutine[Any, Any, str]]
    ) -> str:
        """Run a commit, amend or flush: one at a time, and if it fails, reopen the
        staging area it sealed."""
        if self._commit_running:
            raise SessionStateError(
                f"cannot {what}: another commit of this session is in progress (a session "
                "commits once; use one writable session per writer)",
                kind=ErrorKind.SESSION_COMMITTED,
            )
        self._commit_running = True
        try:
            return await attempt()
        except BaseException:
            if self._sealed and not self._committed:
                self._sealed = False
                try:
                    await unseal(self._ctx.storage, self._token)
                except FrazilError as exc:  # keep the commit's own error
                    logger.warning("could not reopen the staging area: %s", exc)
            raise
        finally:
            self._commit_running = False

    async def _commit(
        self,
        meta: dict[str, Any],
        message: str,
        rebase_with: ConflictSolver | None,
        rebase_tries: int,
        allow_empty: bool,
    ) -> str:
        ws = await self._prepare_commit(allow_empty)
        reuse = ManifestReuse()
        artifacts: CommitArtifacts | None = None
        protocol = commit_protocol(
            rebase=rebase_with is not None,
            rebase_tries=rebase_tries,
            retry=self._ctx.config.commit_retry,
        )
        reply: Any = None
        while True:
            try:
                request = protocol.send(reply)
            except StopIteration as done:
                snapshot_id, attempts = str(done.value[0]), int(done.value[1])
                break
            match request:
                case BuildAndWrite(attempt=attempt):
                    artifacts = await build_commit(
                        self._io,
                        ws,
                        parent=ws.base,
                        message=message,
                        metadata=meta,
                        reuse=reuse,
                    )
                    await write_artifacts(self._io, artifacts)
                    if attempt > 1:
                        logger.info(
                            "commit attempt %d on branch %r after rebase (%d manifest blocks "
                            "rewritten, %d reused)",
                            attempt,
                            self._branch,
                            reuse.written,
                            reuse.reused,
                        )
                    reply = artifacts.snapshot.id
                case UpdateRef(snapshot_id=snapshot_id):
                    reply = await self._move_branch(snapshot_id, expected_base=ws.base.id)
                case Sleep(seconds=seconds):
                    await asyncio.sleep(seconds)
                    reply = None
                case Rebase():
                    assert rebase_with is not None
                    await self._rebase(ws, rebase_with)
                    reply = None
        assert artifacts is not None
        self.commit_attempts = attempts
        if attempts > 1:
            logger.info("commit %s on %r took %d attempts", snapshot_id, self._branch, attempts)
        await self._finish(artifacts.snapshot)
        return snapshot_id

    async def _move_branch(self, snapshot_id: str, *, expected_base: str) -> RefUpdated | RefMoved:
        assert self._branch is not None
        key = make_branch_key(self._branch)
        if self._ref is None:
            self._ref = await read_ref(self._ctx.storage, key)
        if self._ref is None or self._ref.doc.snapshot_id != expected_base:
            current = self._ref.doc.snapshot_id if self._ref is not None else "<deleted>"
            return RefMoved(expected=expected_base, actual=current)
        doc = RefDoc(snapshot_id=snapshot_id, token=os.urandom(12).hex())
        try:
            self._ref = await cas_ref(self._ctx.storage, key, doc, expected=self._ref)
        except ConflictError as exc:
            self._ref = None
            return RefMoved(expected=expected_base, actual=str(exc.actual_parent))
        return RefUpdated()

    async def _finish(self, snapshot: Snapshot) -> None:
        # the branch has moved: record that first, so nothing after it can undo it
        self._committed = True
        self._mode = SessionMode.READONLY
        self._base_id = snapshot.id
        self._changes = None
        self._ws = Workspace(self._ctx.io, snapshot, None)
        if self._staging_used:
            try:
                await delete_staged(self._ctx.storage, self._token)
            except FrazilError as exc:  # best effort: garbage collection removes leftovers
                logger.warning("could not delete the staging markers of a commit: %s", exc)

    def commit(
        self,
        message: str,
        *,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Commit the session's changes to its branch.

        The new snapshot's objects are written first; then the branch is moved from the
        session's base snapshot to it with one atomic compare-and-swap. On success the
        session becomes read-only, based on the new snapshot.

        Parameters
        ----------
        message
            The commit message.
        metadata
            JSON metadata stored with the commit (merged over the repository's default
            commit metadata).
        rebase_with
            If the branch moved meanwhile, rebase with this solver and retry.
        rebase_tries
            At most this many rebases.
        allow_empty
            Commit even without changes.

        Returns
        -------
        str
            The new snapshot id.

        Raises
        ------
        ConflictError
            If the branch moved and no (successful) rebase was possible.
        RebaseFailedError
            If the solver could not resolve a conflict.
        NoChangesToCommitError
            If nothing changed and ``allow_empty`` is False.
        SessionStateError
            If the session was already committed, or is a fork.
        """
        return sync(
            self.commit_async(
                message,
                metadata=metadata,
                rebase_with=rebase_with,
                rebase_tries=rebase_tries,
                allow_empty=allow_empty,
            )
        )

    async def amend_async(
        self, message: str, *, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        """Async version of :meth:`amend`."""
        self._check_can_commit("amend")
        require_text("commit message", message)
        return await self._guarded_commit(
            "amend", partial(self._amend, message, metadata, allow_empty)
        )

    async def _amend(self, message: str, metadata: dict[str, Any] | None, allow_empty: bool) -> str:
        ws = await self._prepare_commit(allow_empty)
        base = ws.base
        if base.info.parent_id is None:
            raise SessionStateError(
                "the first commit of a repository cannot be amended; commit instead",
                kind=ErrorKind.NO_AMEND_FOR_INITIAL_COMMIT,
            )
        parent, earlier = await asyncio.gather(
            self._io.read_snapshot(str(base.info.parent_id)), self._io.read_transaction(base.id)
        )
        artifacts = await build_commit(
            self._io,
            ws,
            parent=parent,
            message=message,
            metadata={**self._ctx.default_metadata, **check_commit_metadata(metadata)},
            reuse=ManifestReuse(),
            earlier=earlier,
        )
        await write_artifacts(self._io, artifacts)
        outcome = await self._move_branch(artifacts.snapshot.id, expected_base=base.id)
        if isinstance(outcome, RefMoved):
            raise ConflictError(expected_parent=outcome.expected, actual_parent=outcome.actual)
        self.commit_attempts = 1
        await self._finish(artifacts.snapshot)
        return artifacts.snapshot.id

    def amend(
        self, message: str, *, metadata: dict[str, Any] | None = None, allow_empty: bool = False
    ) -> str:
        """Replace the branch's last commit with one that also holds this session's changes.

        The new commit has the old one's parent; the old one leaves the branch's history.

        Parameters
        ----------
        message
            The new commit message.
        metadata
            JSON metadata for the new commit.
        allow_empty
            Amend even without changes (to reword the message).

        Returns
        -------
        str
            The new snapshot id.

        Raises
        ------
        SessionStateError
            If the base is the repository's first commit, or the session was committed.
        ConflictError
            If the branch moved since the session was opened.
        """
        return sync(self.amend_async(message, metadata=metadata, allow_empty=allow_empty))

    async def flush_async(self, message: str, *, metadata: dict[str, Any] | None = None) -> str:
        """Async version of :meth:`flush`."""
        self._check_can_commit("flush")
        require_text("commit message", message)
        return await self._guarded_commit("flush", partial(self._flush, message, metadata))

    async def _flush(self, message: str, metadata: dict[str, Any] | None) -> str:
        ws = await self._prepare_commit(True)
        artifacts = await build_commit(
            self._io,
            ws,
            parent=ws.base,
            message=message,
            metadata={**self._ctx.default_metadata, **check_commit_metadata(metadata)},
            reuse=ManifestReuse(),
            flushed=True,
        )
        await write_artifacts(self._io, artifacts)
        await self._finish(artifacts.snapshot)
        self._branch = None
        return artifacts.snapshot.id

    def flush(self, message: str, *, metadata: dict[str, Any] | None = None) -> str:
        """Save the changes as a new snapshot without moving any branch.

        The session becomes read-only, based on the new (detached) snapshot; point a branch
        or tag at it with ``Repository.create_branch`` / ``create_tag``.

        Parameters
        ----------
        message
            The snapshot's message.
        metadata
            JSON metadata for it.

        Returns
        -------
        str
            The new snapshot id.
        """
        return sync(self.flush_async(message, metadata=metadata))

    # ------------------------------------------------------------------ rebase
    async def _rebase(self, ws: Workspace, solver: ConflictSolver) -> None:
        assert self._branch is not None
        key = make_branch_key(self._branch)
        state = await read_ref(self._ctx.storage, key)
        if state is None:
            raise SessionStateError(
                f"branch {self._branch!r} was deleted; cannot rebase onto it",
                kind=ErrorKind.BRANCH_NOT_FOUND,
            )
        tip_id = state.doc.snapshot_id
        if tip_id != ws.base.id:
            chain: list[str] = []
            found = False
            async for record in ancestry(self._io, tip_id):
                if record.id == ws.base.id:
                    found = True
                    break
                chain.append(record.id)
            if not found:
                raise ConflictError(
                    f"cannot rebase: branch {self._branch!r} was reset to a history that does "
                    f"not contain this session's base {ws.base.id!r}",
                    expected_parent=ws.base.id,
                    actual_parent=tip_id,
                )
            chain.reverse()
            tip = await self._io.read_snapshot(tip_id)
            logs = await self._io.read_many(
                [partial(self._io.read_transaction, sid) for sid in chain]
            )
            rebase_workspace(ws, tip, logs, solver)
            self._base_id = tip_id
        self._ref = state

    async def rebase_async(self, solver: ConflictSolver) -> None:
        """Async version of :meth:`rebase`."""
        self._check_can_commit("rebase")
        if not isinstance(solver, ConflictSolver):
            raise InvalidInputError(
                f"solver must be a ConflictSolver (e.g. BasicConflictSolver()), got {solver!r}"
            )
        ws = await self._get_workspace()
        assert self._changes is not None
        had_changes = not self._changes.is_empty()
        await self._rebase(ws, solver)
        if had_changes and self._changes.is_empty():
            # the solver kept the other writers' versions of everything: committing now
            # records that outcome, as commit(rebase_with=...) would
            self._emptied_by_rebase = True

    def rebase(self, solver: ConflictSolver) -> None:
        """Move the session's changes onto the current tip of its branch.

        Reads the transaction logs of the commits made since the session's base, checks
        the session's changes against them, and lets ``solver`` resolve conflicts.

        Parameters
        ----------
        solver
            A :class:`ConflictDetector`, :class:`BasicConflictSolver` or subclass.

        Raises
        ------
        RebaseFailedError
            If the solver leaves a conflict unresolved; it names every conflict.
        """
        sync(self.rebase_async(solver))

    # ------------------------------------------------------------------ fork / merge
    def fork(self) -> ForkSession:
        """Create a picklable child session for a worker; merge it back with :meth:`merge`.

        The fork sees this session's uncommitted changes. Forking writes nothing to
        storage.

        Returns
        -------
        ForkSession

        Raises
        ------
        SessionStateError
            If the session is read-only or a rearrange session.
        """
        if self._mode != SessionMode.WRITABLE:
            raise SessionStateError(
                f"cannot fork a {self._mode.name.lower()} session: only writable sessions "
                "fork (repo.writable_session(branch).fork())",
                kind=ErrorKind.CANNOT_FORK_READ_ONLY_SESSION,
            )
        assert self._changes is not None
        return self._new_fork(self._changes.fork())

    def _check_mergeable(self, forks: Iterable[object]) -> list[ForkSession]:
        if self._mode != SessionMode.WRITABLE:
            raise SessionStateError(
                "cannot merge into a read-only session; merge forks into the writable "
                "session they were forked from",
                kind=ErrorKind.COMMIT_NOT_ALLOWED,
            )
        checked = []
        for fork in forks:
            if not isinstance(fork, ForkSession):
                raise TypeError(
                    f"merge() takes ForkSession objects (from session.fork()), got "
                    f"{type(fork).__name__!r}"
                )
            if fork._ctx.repo_id != self._ctx.repo_id:
                raise InvalidInputError(
                    "cannot merge a fork of another repository "
                    f"({fork._ctx.repo_id!r}, not {self._ctx.repo_id!r})",
                    kind=ErrorKind.FOREIGN_FORK,
                )
            if fork._base_id != self._base_id:
                raise InvalidInputError(
                    f"cannot merge a fork based on snapshot {fork._base_id!r} into a session "
                    f"based on {self._base_id!r}: forks must come from this session (or one "
                    "with the same base). Merge forks before committing or rebasing.",
                    kind=ErrorKind.FOREIGN_FORK,
                )
            if fork._branch != self._branch:
                raise InvalidInputError(
                    f"cannot merge a fork of branch {fork._branch!r} into a session on "
                    f"{self._branch!r}",
                    kind=ErrorKind.FOREIGN_FORK,
                )
            checked.append(fork)
        return checked

    async def merge_async(
        self, *others: ForkSession, on_conflict: VersionSelection | str = "fail"
    ) -> None:
        """Async version of :meth:`merge`."""
        forks = self._check_mergeable(others)
        self._merge_now(await self._get_workspace(), forks, on_conflict)

    def _merge_now(
        self, ws: Workspace, forks: list[ForkSession], on_conflict: VersionSelection | str
    ) -> None:
        """Merging is pure computation on loaded change sets: no I/O, no event loop."""
        assert self._changes is not None
        selection = _selection(on_conflict)
        with ws.lock:
            seen: set[int] = set()
            unique = []
            for fork in forks:
                if id(fork) in seen or fork is self:
                    continue
                seen.add(id(fork))
                assert fork._changes is not None
                unique.append(fork._changes)
            base_paths = {p: r.node_id for p, r in ws.base.nodes.items()}
            plan = plan_merge(self._changes, unique, on_conflict=selection, base_paths=base_paths)
            if plan.conflicts and selection == "fail":
                raise MergeConflictError(plan.describe(), conflicts=plan.conflicts)
            plan.apply(self._changes)
            if plan.created or plan.deleted or plan.updated or plan.removed_created:
                ws.rebuild()

    def merge(self, *others: ForkSession, on_conflict: VersionSelection | str = "fail") -> None:
        """Merge the changes of forks into this session.

        Parameters
        ----------
        *others
            Forks of this session (possibly merged with each other already).
        on_conflict
            What to do when forks wrote different data to the same chunk (or metadata):
            ``"fail"`` (default) raises :class:`MergeConflictError` and merges nothing;
            ``"theirs"`` lets the later write win (later arguments over earlier ones, and
            forks over this session); ``"ours"`` keeps the earlier write.

        Raises
        ------
        TypeError
            If an argument is not a ForkSession.
        InvalidInputError
            If a fork comes from another repository, branch or base snapshot.
        MergeConflictError
            On conflicting writes with ``on_conflict="fail"``.
        """
        forks = self._check_mergeable(others)
        ws = self._ws if self._ws is not None else sync(self._get_workspace())
        self._merge_now(ws, forks, on_conflict)

    def _checkpoint(self) -> ChangeSet | None:
        """A copy of the uncommitted changes, to roll back to with :meth:`_rollback`."""
        return self._changes.copy() if self._changes is not None else None

    def _rollback(self, checkpoint: ChangeSet | None) -> None:
        if checkpoint is None or self._mode == SessionMode.READONLY:
            return
        self._changes = checkpoint
        if self._ws is not None:
            self._ws.changes = checkpoint
            self._ws.rebuild()

    def _copy_fork(self) -> ForkSession:
        """A new ForkSession with the same base and an independent copy of the changes."""
        assert self._changes is not None
        return self._new_fork(self._changes.copy())

    def _new_fork(self, changes: ChangeSet) -> ForkSession:
        base = self._ws.base if self._ws is not None else None
        return ForkSession(
            self._ctx,
            mode=SessionMode.WRITABLE,
            branch=self._branch,
            base_id=self._base_id,
            base=base,
            changes=changes,
        )

    # ------------------------------------------------------------------ tickets
    async def ticket_async(self, job: str | None = None) -> str:
        """Async version of :meth:`ticket`."""
        if self._mode != SessionMode.WRITABLE or isinstance(self, ForkSession):
            raise SessionStateError(
                "tickets are made from a writable (non-fork) session: "
                "repo.writable_session(branch).ticket()",
                kind=ErrorKind.COMMIT_NOT_ALLOWED,
            )
        job = validate_job(job) if job is not None else new_job_name()
        assert self._branch is not None
        assert self._changes is not None
        ticket = Ticket(
            repo_id=self._ctx.repo_id,
            branch=self._branch,
            snapshot_id=self._base_id,
            job=job,
            has_parent=not self._changes.is_empty(),
        )
        if ticket.has_parent:
            data = encode_publication(
                repo_id=ticket.repo_id,
                branch=ticket.branch,
                snapshot_id=ticket.snapshot_id,
                name=PARENT,
                changes=self._changes.flatten(),
            )
            await self._ctx.storage.put(ticket.key(PARENT), data)
        return ticket.encode()

    def ticket(self, job: str | None = None) -> str:
        """A short, command-line-safe string from which batch workers make forks.

        Workers call ``Repository.fork_from_ticket(ticket)``, write, and
        ``fork.publish(ticket)``; the coordinator merges ``repo.fetch_forks(ticket)`` into
        this session and commits. The session's uncommitted changes (array metadata, for
        example) are stored with the job, so the workers' forks see them.

        Parameters
        ----------
        job
            Name of the job (letters, digits, '.', '_', '-'); random if omitted. Forks are
            published under it.

        Returns
        -------
        str
            The ticket, like ``"frz1.eyJyIjoi..."``.
        """
        return sync(self.ticket_async(job))

    # ------------------------------------------------------------------ staging
    async def _refresh_staged(self) -> None:
        """Read-your-writes for writes made by remote copies of this session's store.

        After the store was pickled (a Dask graph was sent to workers), the next read
        through this session lists the staging area once and takes in what the copies
        recorded, so the coordinator sees data written on the cluster before it commits.
        Concurrent readers wait for the same listing.
        """
        if not self._staging_used or self._staging_writer is not None or self.read_only:
            return
        now = time.monotonic()
        # right after the store was shipped, then at most every _RELIST_SECONDS while
        # reading: copies may still be writing (a computation submitted asynchronously)
        if self._staging_refresh is None and now - self._staging_checked_at > _RELIST_SECONDS:
            self._staging_checked_at = now
            self._staging_refresh = asyncio.ensure_future(self._refresh_now())
        refresh = self._staging_refresh
        if refresh is None or refresh.get_loop() is not asyncio.get_running_loop():
            return  # nothing to wait for (a caller on another loop cannot; commit collects)
        try:
            await asyncio.shield(refresh)
        finally:
            if refresh.done() and self._staging_refresh is refresh:
                self._staging_refresh = None

    async def _refresh_now(self) -> None:
        try:
            await self._collect_staged(await self._get_workspace())
        except MergeConflictError as exc:
            # reads go on with what the session has; commit reports the conflict
            logger.warning("writes staged by copies of this session's store conflict: %s", exc)

    async def _collect_staged(self, ws: Workspace) -> None:
        assert self._changes is not None
        staged, listed = await collect_staged(
            self._ctx.storage, self._token, ws, collected=self._collected
        )
        if staged is not None:
            base_paths = {p: r.node_id for p, r in ws.base.nodes.items()}
            plan = plan_merge(self._changes, [staged], on_conflict="fail", base_paths=base_paths)
            if plan.conflicts:
                raise MergeConflictError(
                    "chunks written by copies of this session's store in other processes "
                    "conflict with each other or with this session's own writes:\n"
                    + plan.describe(),
                    conflicts=plan.conflicts,
                )
            with ws.lock:
                plan.apply(self._changes)
        self._collected.update(listed)

    # ------------------------------------------------------------------ nodes and chunks
    async def get_node_id_async(self, path: str) -> str:
        """Async version of :meth:`get_node_id`."""
        ws = await self._get_workspace()
        return ws.require_node(path).node_id

    def get_node_id(self, path: str) -> str:
        """The stable id of the group or array at ``path`` (kept across moves).

        Raises
        ------
        NodeNotFoundError
            If nothing exists at the path.
        """
        return sync(self.get_node_id_async(path))

    async def chunk_coordinates(
        self, array_path: str, batch_size: int = 1000
    ) -> AsyncIterator[tuple[int, ...]]:
        """Yield the coordinates of every initialized chunk of an array.

        Raises
        ------
        NodeNotFoundError
            If there is no array at the path.
        """
        require_int("batch_size", batch_size, low=1)
        ws = await self._get_workspace()
        view = ws.require_node(array_path)
        if view.kind != "array":
            raise InvalidInputError(
                f"{array_path!r} is a group, not an array", kind=ErrorKind.INVALID_PATH
            )
        table = await ws.chunk_table(view)
        coords = table.coords
        for start in range(0, len(coords), batch_size):
            for row in coords[start : start + batch_size].tolist():
                yield tuple(row)

    async def chunk_type_async(
        self, array_path: str, chunk_coordinates: Iterable[int]
    ) -> ChunkType:
        """Async version of :meth:`chunk_type`."""
        ws = await self._get_workspace()
        view = ws.require_node(array_path)
        if view.kind != "array":
            raise InvalidInputError(
                f"{array_path!r} is a group, not an array", kind=ErrorKind.INVALID_PATH
            )
        coords = _int_sequence(
            "chunk_coordinates",
            chunk_coordinates,
            low=0,
            high=2**62,
            ndim=view.layout.ndim,
            path=array_path,
            kind=ErrorKind.INVALID_CHUNK_INDEX,
        )
        ref = await ws.chunk_ref(view, tuple(coords))
        if ref is None:
            return ChunkType.uninitialized
        return {
            RefKind.INLINE: ChunkType.inline,
            RefKind.NATIVE: ChunkType.native,
            RefKind.VIRTUAL: ChunkType.virtual,
        }[ref.kind]

    def chunk_type(self, array_path: str, chunk_coordinates: Iterable[int]) -> ChunkType:
        """Where the chunk at the coordinates lives (or ``uninitialized``).

        Raises
        ------
        NodeNotFoundError
            If there is no array at the path.
        """
        return sync(self.chunk_type_async(array_path, chunk_coordinates))

    async def all_virtual_chunk_locations_async(self) -> list[str]:
        """Async version of :meth:`all_virtual_chunk_locations`."""
        ws = await self._get_workspace()
        locations: set[str] = set()
        for view in list(ws.nodes.values()):
            if view.kind == "array":
                table = await ws.chunk_table(view)
                virtual = table.kind == RefKind.VIRTUAL
                if bool(virtual.any()):
                    locations.update(
                        table.locations[i] for i in np.unique(table.location[virtual]).tolist()
                    )
        return sorted(locations)

    def all_virtual_chunk_locations(self) -> list[str]:
        """The URLs of every file that virtual chunks point into."""
        return sync(self.all_virtual_chunk_locations_async())

    async def move_async(self, from_path: str, to_path: str) -> None:
        """Async version of :meth:`move`."""
        if self._mode != SessionMode.REARRANGE:
            raise SessionStateError(
                "moves need a rearrange session: repo.rearrange_session(branch)",
                kind=ErrorKind.NON_REARRANGE_SESSION,
            )
        if self._committed:
            self._check_can_commit("move")
        ws = await self._get_workspace()
        ws.move(normalize_path(from_path), normalize_path(to_path))

    def move(self, from_path: str, to_path: str) -> None:
        """Move or rename a group or array (metadata only; node ids are kept).

        Parameters
        ----------
        from_path
            Current absolute path, e.g. ``"/data/raw"``.
        to_path
            New absolute path; its parent must be an existing group.

        Raises
        ------
        SessionStateError
            If this is not a rearrange session.
        NodeNotFoundError
            If nothing exists at ``from_path``.
        InvalidInputError
            If the destination exists, lies inside the source, or has no parent group.
        """
        sync(self.move_async(from_path, to_path))

    async def _regular_array(self, array_path: str) -> tuple[Workspace, NodeView, tuple[int, ...]]:
        """Workspace, view and chunk grid of the array at ``array_path`` (writable only)."""
        self._check_writable()
        ws = await self._get_workspace()
        if self._staging_used:
            await self._collect_staged(ws)
        view = ws.require_node(normalize_path(array_path))
        if view.kind != "array":
            raise InvalidInputError(
                f"{array_path!r} is a group, not an array", kind=ErrorKind.INVALID_PATH
            )
        grid = view.layout.grid
        if grid is None:
            raise InvalidInputError(
                f"array {array_path!r} has no regular chunk grid; only regular grids can be "
                "shifted or reindexed",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        return ws, view, grid

    def _apply_chunk_moves(self, ws: Workspace, view: NodeView, changes: ChunkRefs) -> None:
        if len(changes):
            with ws.lock:
                assert self._changes is not None
                writes = self._changes.writes_for(view.node_id, view.layout.ndim)
                writes.add_table(changes, unique=True)

    async def shift_array_async(self, array_path: str, chunk_offset: Iterable[int]) -> None:
        """Async version of :meth:`shift_array`."""
        ws, view, grid = await self._regular_array(array_path)
        offset = _int_sequence(
            "chunk_offset",
            chunk_offset,
            low=-(2**62),
            high=2**62,
            ndim=len(grid),
            path=array_path,
            kind=ErrorKind.INVALID_ARGUMENT,
        )
        if not any(offset):
            return
        table = await ws.chunk_table(view)
        self._apply_chunk_moves(ws, view, shift_changes(table, offset, grid, view.path))

    def shift_array(self, array_path: str, chunk_offset: Iterable[int]) -> None:
        """Shift every chunk of an array by a number of chunks along each dimension.

        Only chunk references move; no chunk bytes are read or copied. Chunks shifted past
        the edge of the chunk grid are dropped (resize the array first to keep them), and
        positions that no chunk moves into are cleared to the fill value.

        Parameters
        ----------
        array_path
            Absolute path of the array, e.g. ``"/data/temperature"``.
        chunk_offset
            Chunks to shift by per dimension; negative values shift towards index 0.

        Raises
        ------
        NodeNotFoundError
            If there is no node at the path.
        InvalidInputError
            If the path is a group, the offset has the wrong number of dimensions, or the
            array's chunk grid is not regular.
        ReadOnlyError
            If the session is read-only.

        Examples
        --------
        Drop the oldest time chunk and move the rest one step back:

        >>> session.shift_array("/temperature", [-1, 0, 0])  # doctest: +SKIP
        """
        sync(self.shift_array_async(array_path, chunk_offset))

    async def reindex_array_async(
        self,
        array_path: str,
        forward: Callable[[list[int]], Iterable[int] | None],
        backward: Callable[[list[int]], Iterable[int] | None] | None = None,
    ) -> None:
        """Async version of :meth:`reindex_array`."""
        ws, view, grid = await self._regular_array(array_path)
        table = await ws.chunk_table(view)
        changes = reindex_changes(table, forward, backward, grid, view.path)
        self._apply_chunk_moves(ws, view, changes)

    def reindex_array(
        self,
        array_path: str,
        forward: Callable[[list[int]], Iterable[int] | None],
        backward: Callable[[list[int]], Iterable[int] | None] | None = None,
    ) -> None:
        """Move the chunks of an array to new positions given by a function.

        Every existing chunk ``c`` moves to ``forward(c)`` (a list of chunk indices, or
        None to leave it in place); all moves are computed from the state before the call,
        so permutations work. Only existing chunks are visited: a position that an empty
        chunk would move into keeps its data unless ``backward`` is given. With
        ``backward`` (the inverse of ``forward``), each existing position ``p`` whose
        ``backward(p)`` is None or names a position without a chunk is cleared.

        Parameters
        ----------
        array_path
            Absolute path of the array.
        forward
            Maps a chunk's indices (a list of ints) to its new indices, or None.
        backward
            Optional inverse of ``forward``, with the same conventions.

        Raises
        ------
        NodeNotFoundError
            If there is no node at the path.
        InvalidInputError
            If a function returns indices outside the chunk grid or something that is not
            a sequence of integers, if two chunks would move to the same position, or if
            the array's chunk grid is not regular.
        ReadOnlyError
            If the session is read-only.

        Examples
        --------
        Reverse the chunk order along the first axis of a 5-chunk array:

        >>> session.reindex_array("/a", lambda idx: [4 - idx[0]])  # doctest: +SKIP
        """
        sync(self.reindex_array_async(array_path, forward, backward))

    async def set_virtual_ref_async(
        self, key: str, location: str, *, offset: int, length: int
    ) -> None:
        """Async version of :meth:`set_virtual_ref`."""
        self._check_writable()
        ws = await self._get_workspace()
        kind, target, coords = FrazilStore(self)._resolve(key)
        if kind != "chunk":
            raise InvalidInputError(
                f"{key!r} is not a chunk key of an existing array", kind=ErrorKind.INVALID_KEY
            )
        require_text("virtual reference location", location, empty=False)
        require_int("virtual reference offset", offset)
        require_int("virtual reference length", length)
        ws.put_chunk(
            target, coords, kind=RefKind.VIRTUAL, offset=offset, length=length, location=location
        )

    def set_virtual_ref(self, key: str, location: str, *, offset: int, length: int) -> None:
        """Point a chunk key at ``length`` bytes at ``offset`` of the file ``location``.

        Raises
        ------
        InvalidInputError
            If the key is not a chunk of an existing array.
        """
        sync(self.set_virtual_ref_async(key, location, offset=offset, length=length))


class ForkSession(Session):
    """A picklable child of a writable session, for workers; it cannot commit.

    Write through its :attr:`store` in a worker, send it back, and merge it into the
    session it was forked from with :meth:`Session.merge` (or merge forks with each other
    with :meth:`merge`). It carries chunk references and metadata changes, never chunk bytes
    above the inline threshold.
    """

    def _refuse(self, what: str) -> NoReturn:
        raise SessionStateError(
            f"a ForkSession cannot {what}: merge it into the session it was forked from "
            "(session.merge(fork)) and commit that session",
            kind=ErrorKind.COMMIT_NOT_ALLOWED,
        )

    async def commit_async(self, message: str, **kwargs: Any) -> str:
        """Not allowed: forks are merged, not committed."""
        self._refuse("commit")

    async def amend_async(self, message: str, **kwargs: Any) -> str:
        """Not allowed: forks are merged, not committed."""
        self._refuse("amend")

    async def flush_async(self, message: str, **kwargs: Any) -> str:
        """Not allowed: forks are merged, not committed."""
        self._refuse("flush")

    async def rebase_async(self, solver: ConflictSolver) -> None:
        """Not allowed: rebase the session the fork came from instead."""
        self._refuse("rebase")

    def _reduce_store(self, read_only: bool) -> tuple[Any, ...]:
        return (_restore_store, (self._state(staging=self._staging_writer is not None), read_only))

    async def publish_async(self, ticket: str, *, name: str | None = None) -> str:
        """Async version of :meth:`publish`."""
        parsed = Ticket.decode(ticket)
        if (parsed.repo_id, parsed.snapshot_id, parsed.branch) != (
            self._ctx.repo_id,
            self._base_id,
            self._branch,
        ):
            raise InvalidInputError(
                f"this fork (of {self._branch!r} at {self._base_id!r}) was not made from "
                f"ticket {ticket!r}; publish forks made with repo.fork_from_ticket(ticket)",
                kind=ErrorKind.FOREIGN_FORK,
            )
        fork_name = validate_job(name, what="fork") if name is not None else self._token
        assert self._changes is not None
        own = ChangeSet(
            created=self._changes.created,
            updated=self._changes.updated,
            deleted=self._changes.deleted,
            moves=self._changes.moves,
            chunks=self._changes.chunks,
            blobs=self._changes.blobs,
        )
        data = encode_publication(
            repo_id=parsed.repo_id,
            branch=parsed.branch,
            snapshot_id=parsed.snapshot_id,
            name=fork_name,
            changes=own,
        )
        await self._ctx.storage.put(parsed.key(fork_name), data)
        return fork_name

    def publish(self, ticket: str, *, name: str | None = None) -> str:
        """Store this fork's changes under the ticket's job for the coordinator to fetch.

        Parameters
        ----------
        ticket
            The ticket this fork was made from.
        name
            A stable name for this piece of work (e.g. the batch task index). Publishing
            the same name again replaces the earlier publication, so a re-run task is
            merged once. Defaults to this fork's own id.

        Returns
        -------
        str
            The name it was published under.

        Raises
        ------
        InvalidInputError
            If the fork was not made from this ticket, or the name is invalid.
        """
        return sync(self.publish_async(ticket, name=name))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_session, (self._state(staging=self._staging_writer is not None),))


_DEFAULT_CONFIG = RepositoryConfig()


def _restore_session(state: dict[str, Any]) -> Session:
    ctx = context_for(state["storage"], state.get("config") or RepositoryConfig(), state["repo"])
    mode = SessionMode(state.get("mode", 0))
    changes = None
    if "changes" in state:
        doc, columns = state["changes"]
        changes = ChangeSet.from_state(doc, columns, key="<pickled session>")
    elif mode != SessionMode.READONLY:
        changes = ChangeSet()
    cls = ForkSession if mode != SessionMode.READONLY else Session
    session = cls(
        ctx,
        mode=mode,
        branch=state.get("branch"),
        base_id=state["base"],
        changes=changes,
        token=state["token"],
    )
    if state.get("staging"):
        assert changes is not None
        session._changes = ChangeSet(inherited=changes)
        session._staging_writer = StagingWriter(ctx.storage, state["token"], inherited=changes)
    return session


def _restore_store(state: dict[str, Any], read_only: bool) -> FrazilStore:
    return FrazilStore(_restore_session(state), read_only=read_only)


ForkSession.__module__ = "frazil"
Session.__module__ = "frazil"
