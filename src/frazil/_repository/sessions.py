"""Sessions in the Repository façade: read-only, writable, rearrange, transactions, tickets."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from frazil._errors import (
    ErrorKind,
    InvalidInputError,
)
from frazil._repo import (
    BRANCHES,
    MOVE_NODE,
    named_ref_now,
    snapshot_as_of,
)
from frazil._session import (
    ForkSession,
    Session,
    SessionMode,
    SessionState,
    check_ticket,
    delete_forks,
    fetch_forks,
    fork_from_ticket,
)
from frazil._sync import sync

if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterator

    from frazil._commit import ConflictSolver
    from frazil._repo import RefState
    from frazil._session import FrazilStore
    from frazil.format import Snapshot


from frazil._repository.base import RepositoryBase

__all__ = ["SessionsMixin"]


class SessionsMixin(RepositoryBase):
    """Sessions, transactions and forks for batch jobs."""

    # ------------------------------------------------------------------ sessions
    async def readonly_session_async(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: datetime.datetime | None = None,
    ) -> Session:
        """Async version of :meth:`readonly_session`."""
        if as_of is not None:
            if branch is None or tag is not None or snapshot_id is not None:
                raise InvalidInputError(
                    "as_of= selects a point in a branch's history: pass branch= with it "
                    "(and no tag= or snapshot_id=)",
                    kind=ErrorKind.INVALID_ARGUMENT,
                )
            tip = await self._lookup_ref(BRANCHES, branch)
            target = await snapshot_as_of(self._io, tip, as_of)
        else:
            target = await self._resolve(
                "readonly_session", branch=branch, tag=tag, snapshot_id=snapshot_id
            )
        return self._readonly_at(await self._io.read_snapshot(target))

    def _readonly_at(self, base: Snapshot) -> Session:
        return Session(
            SessionState(
                self._ctx, mode=SessionMode.READONLY, branch=None, base_id=base.id, base=base
            )
        )

    def readonly_session(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: datetime.datetime | None = None,
    ) -> Session:
        """A read-only session at a branch tip, a tag, a snapshot, or a branch at a time.

        Parameters
        ----------
        branch
            Read the tip of this branch (or, with ``as_of``, its state at that time).
        tag
            Read the snapshot of this tag.
        snapshot_id
            Read this snapshot.
        as_of
            With ``branch``: the newest commit written at or before this aware datetime.

        Raises
        ------
        InvalidInputError
            Unless exactly one of branch, tag, snapshot_id is given.
        NotFoundError
            If the branch, tag or snapshot does not exist (naming it).
        """
        if as_of is None:  # at a local ref and a cached snapshot: no trip through the loop
            target = self._resolve_now(
                "readonly_session", branch=branch, tag=tag, snapshot_id=snapshot_id
            )
            base = self._io.snapshot_now(target) if target is not None else None
            if base is not None:
                return self._readonly_at(base)
        return sync(
            self.readonly_session_async(branch, tag=tag, snapshot_id=snapshot_id, as_of=as_of)
        )

    async def _writable(self, branch: str, mode: SessionMode) -> Session:
        flag = MOVE_NODE if mode == SessionMode.REARRANGE else None
        await self._require_online(f"open a {mode.name.lower()} session", flag=flag)
        state = await self._ref_state(BRANCHES, branch)
        base = await self._io.read_snapshot(state.doc.snapshot_id)
        return self._writable_at(branch, mode, state, base)

    def _writable_at(
        self, branch: str, mode: SessionMode, state: RefState, base: Snapshot
    ) -> Session:
        return Session(
            SessionState(self._ctx, mode=mode, branch=branch, base_id=base.id, base=base, ref=state)
        )

    def _writable_now(self, branch: str, mode: SessionMode) -> Session:
        """:meth:`_writable` for the synchronous API: made in the calling thread when the
        status and the ref are local reads and the tip's snapshot is cached (a loop of
        commits to one branch), else through the IO loop."""
        flag = MOVE_NODE if mode == SessionMode.REARRANGE else None
        if self._online_now(f"open a {mode.name.lower()} session", flag=flag):
            state = named_ref_now(self._ctx.storage, BRANCHES, branch)
            base = self._io.snapshot_now(state.doc.snapshot_id) if state is not None else None
            if state is not None and base is not None:
                return self._writable_at(branch, mode, state, base)
        return sync(self._writable(branch, mode))

    async def writable_session_async(self, branch: str) -> Session:
        """Async version of :meth:`writable_session`."""
        return await self._writable(branch, SessionMode.WRITABLE)

    def writable_session(self, branch: str) -> Session:
        """A session that reads the tip of ``branch`` and can commit to it.

        Raises
        ------
        RefNotFoundError
            If the branch does not exist.
        """
        return self._writable_now(branch, SessionMode.WRITABLE)

    async def rearrange_session_async(self, branch: str) -> Session:
        """Async version of :meth:`rearrange_session`."""
        return await self._writable(branch, SessionMode.REARRANGE)

    def rearrange_session(self, branch: str) -> Session:
        """A session that can only move nodes (``session.move``) and commit.

        Raises
        ------
        RefNotFoundError
            If the branch does not exist.
        SessionStateError
            With kind ``feature-flag-disabled`` if the repository's ``move_node`` feature
            flag is disabled (:meth:`set_feature_flag`).
        """
        return self._writable_now(branch, SessionMode.REARRANGE)

    # ------------------------------------------------------------------ tickets
    async def fork_from_ticket_async(self, ticket: str) -> ForkSession:
        """Async version of :meth:`fork_from_ticket`."""
        parsed = check_ticket(self._ctx, ticket)
        await self._require_online("make a fork from a ticket")
        return ForkSession(await fork_from_ticket(self._ctx, parsed))

    def fork_from_ticket(self, ticket: str) -> ForkSession:
        """A fork for a batch worker, made from a coordinator's :meth:`Session.ticket`.

        Raises
        ------
        InvalidInputError
            If the string is not a ticket of this repository.
        """
        return sync(self.fork_from_ticket_async(ticket))

    async def fetch_forks_async(self, ticket: str) -> list[ForkSession]:
        """Async version of :meth:`fetch_forks`."""
        states = await fetch_forks(self._ctx, check_ticket(self._ctx, ticket))
        return [ForkSession(state) for state in states]

    def fetch_forks(self, ticket: str) -> list[ForkSession]:
        """Every fork published under the ticket's job, once each, in name order.

        Merge them into the session the ticket was made from (``session.merge(*forks)``)
        and commit. Fetching is idempotent: it changes nothing in storage.

        Raises
        ------
        InvalidInputError
            If a published fork was made against another snapshot or branch.
        """
        return sync(self.fetch_forks_async(ticket))

    async def delete_forks_async(self, ticket: str) -> int:
        """Async version of :meth:`delete_forks`."""
        return await delete_forks(self._ctx, check_ticket(self._ctx, ticket))

    def delete_forks(self, ticket: str) -> int:
        """Remove a job's published forks (after merging and committing them).

        Returns
        -------
        int
            How many objects were removed.
        """
        return sync(self.delete_forks_async(ticket))

    @contextlib.contextmanager
    def transaction(
        self,
        branch: str,
        *,
        message: str,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
        allow_empty: bool = False,
    ) -> Iterator[FrazilStore]:
        """A writable store that is committed when the block ends without an exception.

        If the block raises, the changes are discarded and nothing is committed. A block
        that changes nothing raises :class:`NoChangesToCommitError` unless
        ``allow_empty`` is true.

        Examples
        --------
        >>> with repo.transaction("main", message="add y") as store:  # doctest: +SKIP
        ...     zarr.create_array(store, name="y", shape=(2,), dtype="f8")
        """
        session = self.writable_session(branch)
        try:
            yield session.store
        except BaseException:
            session.discard_changes()
            raise
        session.commit(
            message,
            metadata=metadata,
            rebase_with=rebase_with,
            rebase_tries=rebase_tries,
            allow_empty=allow_empty,
        )
