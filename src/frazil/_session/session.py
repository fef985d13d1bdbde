"""Sessions: a view of one snapshot plus uncommitted changes, and forks of them.

:class:`Session` and :class:`ForkSession` are façades over a
:class:`~frazil._session.state.SessionState`: properties, and for every I/O method an
``_async`` twin with the same signature, the synchronous one a single line over it through
:func:`frazil._sync.sync`. The work is done by the state (reads, staging), the committer
(commit, amend, flush, rebase) and the fork module (forks, merges, tickets).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, NoReturn

from frazil._changes import ChunkKey, normalize_path, reindex_changes, resolve_key, shift_changes
from frazil._check import require_int, require_int_sequence, require_text
from frazil._errors import ErrorKind, InvalidInputError, NotPicklableError, SessionStateError
from frazil._repo import MOVE_NODE, check_feature_flag
from frazil._session import committer, forks
from frazil._session.state import SessionMode, SessionState
from frazil._session.store import FrazilStore
from frazil._sync import sync
from frazil.format import RefKind

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from frazil._changes import NodeView, VersionSelection, Workspace
    from frazil._commit import ConflictSolver
    from frazil._config import RepositoryConfig
    from frazil._repo import Diff

__all__ = ["ChunkType", "ForkSession", "Session", "SessionMode"]


class ChunkType(enum.IntEnum):
    """Where a chunk's bytes live (its value is the code of
    :meth:`FrazilStore.array_chunk_iterator`, so the two compare equal)."""

    uninitialized = 0
    """No chunk is stored at these coordinates."""
    native = 1
    """A chunk object in the repository."""
    virtual = 2
    """A byte range of a file outside the repository."""
    inline = 3
    """Stored inside the manifest."""
    UNINITIALIZED = 0  # alias spelling
    NATIVE = 1  # alias spelling
    VIRTUAL = 2  # alias spelling
    INLINE = 3  # alias spelling

    __str__ = enum.Enum.__str__


ChunkType.__module__ = "frazil"

_CHUNK_TYPES = {
    RefKind.INLINE: ChunkType.inline,
    RefKind.NATIVE: ChunkType.native,
    RefKind.VIRTUAL: ChunkType.virtual,
}


class Session:
    """A view of one snapshot plus, when writable, uncommitted changes.

    Get one from :meth:`Repository.readonly_session`, :meth:`Repository.writable_session`
    or :meth:`Repository.rearrange_session`. Its :attr:`store` is a zarr store.

    A writable session refuses to pickle: writes made in another process through a copy
    would never reach :meth:`commit`. Use :meth:`fork` for workers (or send the
    :attr:`store` itself, whose remote writes are collected at commit).
    """

    def __init__(self, state: SessionState) -> None:
        self._state = state

    # ------------------------------------------------------------------ attributes
    @property
    def branch(self) -> str | None:
        """The branch the session commits to (writable sessions), else None."""
        state = self._state
        return state.branch if state.mode != SessionMode.READONLY else None

    @property
    def config(self) -> RepositoryConfig:
        """A copy of the repository configuration (changing it changes nothing; use
        ``Repository.reopen``)."""
        return self._state.config.copy()

    @property
    def mode(self) -> SessionMode:
        """READONLY, WRITABLE or REARRANGE."""
        return self._state.mode

    @property
    def read_only(self) -> bool:
        """Whether the session refuses writes."""
        return self._state.read_only

    @property
    def snapshot_id(self) -> str:
        """The snapshot the session is based on (after a commit: the new one)."""
        return self._state.base_id

    @property
    def has_uncommitted_changes(self) -> bool:
        """Whether the session changed anything (forks: their own changes)."""
        return self._state.has_uncommitted_changes

    @property
    def commit_attempts(self) -> int:
        """How many attempts the last successful commit took (1 if no rebase was needed)."""
        return self._state.commit_attempts

    @property
    def store(self) -> FrazilStore:
        """A zarr store reading and writing through this session."""
        return FrazilStore(self)

    def __repr__(self) -> str:
        state = self._state
        where = f"branch {state.branch!r}" if state.branch else "detached"
        return (
            f"<{type(self).__name__} {state.mode.name.lower()} {where} at {state.base_id}"
            f"{' with changes' if self.has_uncommitted_changes else ''}>"
        )

    # ------------------------------------------------------------------ pickling
    def _reduce_store(self, read_only: bool) -> tuple[Any, ...]:
        state = self._state
        if state.read_only:
            # also a store that was writable before its session committed: it unpickles
            # (so a scheduler can load the graph) and refuses writes with a clear error
            return (_restore_store, (state.to_pickle(), True))
        # A copy of a writable store sent elsewhere records its chunk writes under a
        # staging prefix that this session collects at commit (and before it next reads).
        return (_restore_store, (state.ship(), read_only))

    def __reduce__(self) -> tuple[Any, ...]:
        if not self._state.read_only:
            raise NotPicklableError(
                "a writable Session cannot be pickled: its copy in another process would "
                "write changes that never reach commit(). Call session.fork() and send the "
                "ForkSession instead, then merge the returned forks with session.merge(...) "
                "(or use frazil.dask.store_dask / frazil.xarray.to_frazil, which do this). "
                "For reading in workers, use repo.readonly_session(...).",
                kind=ErrorKind.NOT_PICKLABLE,
            )
        return (_restore_session, (self._state.to_pickle(),))

    # ------------------------------------------------------------------ status
    async def status_async(self) -> Diff:
        """Async version of :meth:`status`."""
        state = self._state
        ws = await state.workspace()
        if state.changes is not None:
            await state.collect_staged(ws)
        return ws.status()

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
        self._state.discard()

    # ------------------------------------------------------------------ commit
    async def commit_async(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> str:
        """Async version of :meth:`commit`."""
        return await committer.commit(
            self._state,
            message,
            metadata=metadata,
            rebase_with=rebase_with,
            rebase_tries=rebase_tries,
            allow_empty=allow_empty,
        )

    def commit(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
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
        return await committer.amend(
            self._state, message, metadata=metadata, allow_empty=allow_empty
        )

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
        return await committer.flush(self._state, message, metadata=metadata)

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

    async def rebase_async(self, solver: ConflictSolver) -> None:
        """Async version of :meth:`rebase`."""
        await committer.rebase(self._state, solver)

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
        return ForkSession(forks.fork(self._state))

    async def merge_async(
        self, *others: ForkSession, on_conflict: VersionSelection | str = "fail"
    ) -> None:
        """Async version of :meth:`merge`."""
        states = forks.check_mergeable(self._state, _fork_states(others))
        forks.merge(self._state, await self._state.workspace(), states, on_conflict)

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
        states = forks.check_mergeable(self._state, _fork_states(others))
        ws = self._state.workspace_now() or sync(self._state.workspace())
        forks.merge(self._state, ws, states, on_conflict)

    # ------------------------------------------------------------------ tickets
    async def ticket_async(self, job: str | None = None) -> str:
        """Async version of :meth:`ticket`."""
        if self._state.mode != SessionMode.WRITABLE or isinstance(self, ForkSession):
            raise SessionStateError(
                "tickets are made from a writable (non-fork) session: "
                "repo.writable_session(branch).ticket()",
                kind=ErrorKind.COMMIT_NOT_ALLOWED,
            )
        return await forks.make_ticket(self._state, job)

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

    # ------------------------------------------------------------------ nodes and chunks
    async def get_node_id_async(self, path: str) -> str:
        """Async version of :meth:`get_node_id`."""
        ws = await self._state.workspace()
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
        ws = await self._state.workspace()
        table = await ws.chunk_table(ws.require_array(array_path))
        coords = table.coords
        for start in range(0, len(coords), batch_size):
            for row in coords[start : start + batch_size].tolist():
                yield tuple(row)

    async def chunk_type_async(
        self, array_path: str, chunk_coordinates: Iterable[int]
    ) -> ChunkType:
        """Async version of :meth:`chunk_type`."""
        ws = await self._state.workspace()
        view = ws.require_array(array_path)
        coords = require_int_sequence(
            "chunk_coordinates",
            chunk_coordinates,
            low=0,
            high=2**62,
            ndim=view.layout.ndim,
            path=array_path,
            kind=ErrorKind.INVALID_CHUNK_INDEX,
        )
        ref = await ws.chunk_ref(view, tuple(coords))
        return ChunkType.uninitialized if ref is None else _CHUNK_TYPES[ref.kind]

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
        ws = await self._state.workspace()
        return await ws.virtual_locations()

    def all_virtual_chunk_locations(self) -> list[str]:
        """The URLs of every file that virtual chunks point into."""
        return sync(self.all_virtual_chunk_locations_async())

    async def move_async(self, from_path: str, to_path: str) -> None:
        """Async version of :meth:`move`."""
        state = self._state
        if state.mode != SessionMode.REARRANGE:
            raise SessionStateError(
                "moves need a rearrange session: repo.rearrange_session(branch)",
                kind=ErrorKind.NON_REARRANGE_SESSION,
            )
        if state.committed:
            committer.check_can_commit(state, "move")
        await check_feature_flag(state.ctx.storage, MOVE_NODE, "move a node")
        ws = await state.workspace()
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
            If this is not a rearrange session, or (kind ``feature-flag-disabled``) the
            repository's ``move_node`` feature flag is disabled.
        NodeNotFoundError
            If nothing exists at ``from_path``.
        InvalidInputError
            If the destination exists, lies inside the source, or has no parent group.
        """
        sync(self.move_async(from_path, to_path))

    async def _regular_array(self, array_path: str) -> tuple[Workspace, NodeView, tuple[int, ...]]:
        """Workspace, view and chunk grid of the array at ``array_path`` (writable only)."""
        state = self._state
        state.check_writable()
        ws = await state.workspace()
        await state.collect_staged(ws)
        view = ws.require_array(array_path)
        grid = view.layout.grid
        if grid is None:
            raise InvalidInputError(
                f"array {array_path!r} has no regular chunk grid; only regular grids can be "
                "shifted or reindexed",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        return ws, view, grid

    async def shift_array_async(self, array_path: str, chunk_offset: Iterable[int]) -> None:
        """Async version of :meth:`shift_array`."""
        ws, view, grid = await self._regular_array(array_path)
        offset = require_int_sequence(
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
        self._state.add_chunk_table(ws, view, shift_changes(table, offset, grid, view.path))

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
        self._state.add_chunk_table(ws, view, changes)

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
        state = self._state
        state.check_writable()
        ws = await state.workspace()
        resolved = resolve_key(ws, key)
        if not isinstance(resolved, ChunkKey):
            raise InvalidInputError(
                f"{key!r} is not a chunk key of an existing array", kind=ErrorKind.INVALID_KEY
            )
        require_text("virtual reference location", location, empty=False)
        require_int("virtual reference offset", offset)
        require_int("virtual reference length", length)
        ws.put_chunk(
            resolved.view,
            resolved.coords,
            kind=RefKind.VIRTUAL,
            offset=offset,
            length=length,
            location=location,
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
            f"a ForkSession cannot {what} (commits are not allowed on forks): merge it into "
            "the session it was forked from (session.merge(fork)) and commit that session",
            kind=ErrorKind.COMMIT_NOT_ALLOWED,
        )

    async def commit_async(self, message: str, *args: Any, **kwargs: Any) -> str:
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
        staging = self._state.staging_writer is not None
        return (_restore_store, (self._state.to_pickle(staging=staging), read_only))

    def __reduce__(self) -> tuple[Any, ...]:
        staging = self._state.staging_writer is not None
        return (_restore_session, (self._state.to_pickle(staging=staging),))

    async def publish_async(self, ticket: str, *, name: str | None = None) -> str:
        """Async version of :meth:`publish`."""
        return await forks.publish_fork(self._state, ticket, name)

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


def _fork_states(others: Iterable[object]) -> list[SessionState]:
    states = []
    for fork in others:
        if not isinstance(fork, ForkSession):
            raise TypeError(
                f"merge() takes ForkSession objects (from session.fork()), got "
                f"{type(fork).__name__!r}"
            )
        states.append(fork._state)
    return states


def session_for(state: SessionState) -> Session:
    """The façade for a state: a ForkSession for a writable pickled state."""
    return (ForkSession if state.mode != SessionMode.READONLY else Session)(state)


def _restore_session(doc: dict[str, Any]) -> Session:
    return session_for(SessionState.from_pickle(doc))


def _restore_store(doc: dict[str, Any], read_only: bool) -> FrazilStore:
    return FrazilStore(_restore_session(doc), read_only=read_only)


ForkSession.__module__ = "frazil"
Session.__module__ = "frazil"
