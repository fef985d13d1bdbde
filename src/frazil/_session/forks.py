"""Forks of a session, their merges, and their tickets for batch jobs, over states.

A fork is a :class:`SessionState` whose change set inherits (read-only) its parent's
changes; merging folds the forks' own changes into the parent with
:func:`frazil._changes.merge_into`. Tickets carry a fork's recipe to batch workers, which
publish their forks to storage for the coordinator to fetch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from frazil._changes import ChangeSet, VersionSelection, inheriting, merge_into, selection
from frazil._commit import (
    PARENT,
    Ticket,
    delete_publications,
    new_job_name,
    publish,
    read_parent,
    read_publications,
    validate_job,
)
from frazil._errors import ErrorKind, InvalidInputError, SessionStateError
from frazil._session.state import SessionMode, SessionState

if TYPE_CHECKING:
    from collections.abc import Iterable

    from frazil._changes import Workspace
    from frazil._repo import RepoContext

__all__ = [
    "check_mergeable",
    "check_ticket",
    "copy_fork",
    "delete_forks",
    "fetch_forks",
    "fork",
    "fork_from_ticket",
    "make_ticket",
    "merge",
    "publish_fork",
]


def fork(state: SessionState) -> SessionState:
    """A fork of a writable session: an empty change set over the session's changes.

    Raises
    ------
    SessionStateError
        If the session is read-only or a rearrange session.
    """
    if state.mode != SessionMode.WRITABLE:
        raise SessionStateError(
            f"cannot fork a {state.mode.name.lower()} session: only writable sessions "
            "fork (repo.writable_session(branch).fork())",
            kind=ErrorKind.CANNOT_FORK_READ_ONLY_SESSION,
        )
    return _new_fork(state, state.require_changes().fork())


def copy_fork(state: SessionState) -> SessionState:
    """A new fork with the same base and an independent copy of the changes."""
    return _new_fork(state, state.require_changes().copy())


def _new_fork(state: SessionState, changes: ChangeSet) -> SessionState:
    ws = state.loaded_workspace
    return SessionState(
        state.ctx,
        mode=SessionMode.WRITABLE,
        branch=state.branch,
        base_id=state.base_id,
        base=ws.base if ws is not None else None,
        changes=changes,
    )


def check_mergeable(state: SessionState, forks: Iterable[SessionState]) -> list[SessionState]:
    """The forks, if each may be merged into ``state``.

    Raises
    ------
    SessionStateError
        If ``state`` is not writable.
    InvalidInputError
        If a fork comes from another repository, base snapshot or branch.
    """
    if state.mode != SessionMode.WRITABLE:
        raise SessionStateError(
            "cannot merge into a read-only session; merge forks into the writable "
            "session they were forked from",
            kind=ErrorKind.COMMIT_NOT_ALLOWED,
        )
    checked = []
    for other in forks:
        if other.ctx.repo_id != state.ctx.repo_id:
            raise InvalidInputError(
                "cannot merge a fork of another repository "
                f"({other.ctx.repo_id!r}, not {state.ctx.repo_id!r})",
                kind=ErrorKind.FOREIGN_FORK,
            )
        if other.base_id != state.base_id:
            raise InvalidInputError(
                f"cannot merge a fork based on snapshot {other.base_id!r} into a session "
                f"based on {state.base_id!r}: forks must come from this session (or one "
                "with the same base). Merge forks before committing or rebasing.",
                kind=ErrorKind.FOREIGN_FORK,
            )
        if other.branch != state.branch:
            raise InvalidInputError(
                f"cannot merge a fork of branch {other.branch!r} into a session on "
                f"{state.branch!r}",
                kind=ErrorKind.FOREIGN_FORK,
            )
        checked.append(other)
    return checked


def merge(
    state: SessionState,
    ws: Workspace,
    forks: list[SessionState],
    on_conflict: VersionSelection | str,
) -> None:
    """Merge the own changes of checked forks into ``state``, whose workspace is ``ws``.

    Pure computation (no I/O, no event loop), so the synchronous ``Session.merge`` runs it
    in the calling thread: a trip through the IO loop costs as much as merging one fork.

    Raises
    ------
    MergeConflictError
        On conflicting writes with ``on_conflict="fail"``; nothing is merged then.
    """
    how = selection(on_conflict)
    seen: set[int] = set()
    unique = []
    for other in forks:
        if id(other) in seen or other is state:
            continue
        seen.add(id(other))
        unique.append(other.require_changes())
    merge_into(ws, unique, on_conflict=how)


# ---------------------------------------------------------------------- tickets
async def make_ticket(state: SessionState, job: str | None) -> str:
    """A ticket for batch workers; stores the session's changes with the job."""
    job = validate_job(job) if job is not None else new_job_name()
    assert state.branch is not None
    changes = state.require_changes()
    ticket = Ticket(
        repo_id=state.ctx.repo_id,
        branch=state.branch,
        snapshot_id=state.base_id,
        job=job,
        has_parent=not changes.is_empty(),
    )
    if ticket.has_parent:
        await publish(state.ctx.storage, ticket, PARENT, changes.flatten())
    return ticket.encode()


async def publish_fork(state: SessionState, ticket: str, name: str | None) -> str:
    """Store a fork's own changes under its ticket's job; returns the name used.

    Raises
    ------
    InvalidInputError
        If the fork was not made from this ticket, or the name is invalid.
    """
    parsed = Ticket.decode(ticket)
    if (parsed.repo_id, parsed.snapshot_id, parsed.branch) != (
        state.ctx.repo_id,
        state.base_id,
        state.branch,
    ):
        raise InvalidInputError(
            f"this fork (of {state.branch!r} at {state.base_id!r}) was not made from "
            f"ticket {ticket!r}; publish forks made with repo.fork_from_ticket(ticket)",
            kind=ErrorKind.FOREIGN_FORK,
        )
    fork_name = validate_job(name, what="fork") if name is not None else state.token
    changes = state.require_changes()
    own = ChangeSet(
        created=changes.created,
        updated=changes.updated,
        deleted=changes.deleted,
        moves=changes.moves,
        chunks=changes.chunks,
        blobs=changes.blobs,
    )
    await publish(state.ctx.storage, parsed, fork_name, own)
    return fork_name


def check_ticket(ctx: RepoContext, ticket: str) -> Ticket:
    """The parsed ticket, if it belongs to this repository.

    Raises
    ------
    InvalidInputError
        If it is not a ticket, or one of another repository.
    """
    parsed = Ticket.decode(ticket)
    if parsed.repo_id != ctx.repo_id:
        raise InvalidInputError(
            f"ticket {ticket!r} belongs to another repository ({parsed.repo_id!r}, this "
            f"one is {ctx.repo_id!r})",
            kind=ErrorKind.FOREIGN_FORK,
        )
    return parsed


async def fork_from_ticket(ctx: RepoContext, parsed: Ticket) -> SessionState:
    """A batch worker's fork made from a coordinator's (checked) ticket."""
    parent, base = await asyncio.gather(
        read_parent(ctx.storage, parsed), ctx.io.read_snapshot(parsed.snapshot_id)
    )
    return SessionState(
        ctx,
        mode=SessionMode.WRITABLE,
        branch=parsed.branch,
        base_id=parsed.snapshot_id,
        base=base,
        changes=inheriting(parent or ChangeSet()),
    )


async def fetch_forks(ctx: RepoContext, parsed: Ticket) -> list[SessionState]:
    """Every fork published under the (checked) ticket's job, once each, in name order."""
    return [
        SessionState(
            ctx,
            mode=SessionMode.WRITABLE,
            branch=parsed.branch,
            base_id=parsed.snapshot_id,
            changes=changes,
            token=name,
        )
        for name, changes in await read_publications(ctx.io, parsed)
    ]


async def delete_forks(ctx: RepoContext, parsed: Ticket) -> int:
    """Remove a (checked) ticket's published forks; returns how many objects went."""
    return await delete_publications(ctx.storage, parsed)
