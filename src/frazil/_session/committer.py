"""Committing a session: commit, amend, flush and rebase, over its :class:`SessionState`.

:func:`commit` drives the sans-IO retry loop of :mod:`frazil._commit.protocol` against real
storage: build and write the commit's objects, move the branch with a compare-and-swap,
and on a lost race sleep, rebase and try again. Every entry point seals the session's
staging area first (when its store was shipped), so store copies still writing either land
before the collection or fail loudly; a failed attempt reopens it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from frazil._changes import Workspace
from frazil._check import require_int, require_text
from frazil._commit import (
    BuildAndWrite,
    ConflictSolver,
    ManifestReuse,
    Rebase,
    RefMoved,
    RefUpdated,
    Sleep,
    UpdateRef,
    build_commit,
    commit_protocol,
    delete_staged,
    rebase_onto_branch,
    seal,
    unseal,
    write_artifacts,
)
from frazil._errors import (
    ConflictError,
    ErrorKind,
    FrazilError,
    InvalidInputError,
    NoChangesToCommitError,
    ReadOnlyError,
    SessionStateError,
)
from frazil._repo import (
    BRANCHES,
    MOVE_NODE,
    UpdateType,
    cas_ref,
    check_feature_flag,
    check_online,
    job_of,
    read_ref,
    record_update,
)
from frazil._session.state import SessionMode
from frazil.format import RefDoc

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from frazil._session.state import SessionState
    from frazil.format import Snapshot

__all__ = ["amend", "check_can_commit", "check_solver", "commit", "flush", "rebase"]

logger = logging.getLogger("frazil.session")


def check_can_commit(state: SessionState, what: str) -> None:
    """Raise unless the session may ``what`` (commit, amend, flush, rebase, move).

    Raises
    ------
    SessionStateError
        If it was committed already.
    ReadOnlyError
        If it is read-only.
    """
    if state.committed:
        raise SessionStateError(
            f"cannot {what}: this session was already committed; open a new "
            "repo.writable_session(branch) for further changes",
            kind=ErrorKind.SESSION_COMMITTED,
        )
    if state.mode == SessionMode.READONLY:
        raise ReadOnlyError(
            f"cannot {what} a read-only session; open repo.writable_session(branch)",
            kind=ErrorKind.READ_ONLY_SESSION,
        )
    if state.branch is None:  # pragma: no cover - writable sessions always have one
        raise SessionStateError(f"cannot {what}: the session is not on a branch")


def _flag_of(state: SessionState) -> str | None:
    """The feature flag a commit of this session needs (rearrange sessions: ``move_node``,
    checked again at commit because it may have been disabled since the session opened)."""
    return MOVE_NODE if state.mode == SessionMode.REARRANGE else None


def check_solver(solver: object, name: str) -> ConflictSolver:
    """``solver`` if it is a :class:`~frazil.ConflictSolver`, else InvalidInputError."""
    if not isinstance(solver, ConflictSolver):
        raise InvalidInputError(
            f"{name} must be a ConflictSolver (e.g. BasicConflictSolver()), got {solver!r}"
        )
    return solver


async def commit(
    state: SessionState,
    message: str,
    *,
    metadata: dict[str, Any] | None,
    rebase_with: ConflictSolver | None,
    rebase_tries: int,
    allow_empty: bool,
) -> str:
    """Commit the session to its branch; see :meth:`frazil.Session.commit`."""
    check_can_commit(state, "commit")
    if rebase_with is not None:
        check_solver(rebase_with, "rebase_with")
    require_text("commit message", message)
    require_int("rebase_tries", rebase_tries, low=0)
    meta = state.ctx.commit_metadata(metadata)

    def online() -> Coroutine[Any, Any, None]:
        return check_online(state.ctx.storage, "commit", flag=_flag_of(state))

    async def attempt() -> str:
        # the status is read while the commit is built (which writes nothing), except
        # before sealing a staging area, which writes
        check: Callable[[], Coroutine[Any, Any, None]] | None = online
        if state.staging_used:
            await online()
            check = None
        ws = await _prepare(state, allow_empty)
        return await _drive(state, ws, message, meta, rebase_with, rebase_tries, check)

    return await _guarded(state, "commit", attempt)


async def amend(
    state: SessionState, message: str, *, metadata: dict[str, Any] | None, allow_empty: bool
) -> str:
    """Replace the branch's last commit; see :meth:`frazil.Session.amend`."""
    check_can_commit(state, "amend")
    require_text("commit message", message)

    async def attempt() -> str:
        await check_online(state.ctx.storage, "amend", flag=_flag_of(state))
        ws = await _prepare(state, allow_empty)
        base = ws.base
        if base.info.parent_id is None:
            raise SessionStateError(
                "the first commit of a repository cannot be amended; commit instead",
                kind=ErrorKind.NO_AMEND_FOR_INITIAL_COMMIT,
            )
        io = state.io
        parent, earlier = await asyncio.gather(
            io.read_snapshot(str(base.info.parent_id)), io.read_transaction(base.id)
        )
        artifacts = await build_commit(
            io,
            ws,
            parent=parent,
            message=message,
            metadata=state.ctx.commit_metadata(metadata),
            reuse=ManifestReuse(),
            earlier=earlier,
        )
        await write_artifacts(io, artifacts)
        outcome = await _move_branch(state, artifacts.snapshot.id, expected_base=base.id)
        if isinstance(outcome, RefMoved):
            raise ConflictError(expected_parent=outcome.expected, actual_parent=outcome.actual)
        await record_update(
            state.ctx.storage,
            UpdateType.CommitAmended,
            name=state.branch,
            previous=base.id,
            new=artifacts.snapshot.id,
            job=job_of(artifacts.snapshot.info.metadata),
        )
        state.commit_attempts = 1
        await _finish(state, artifacts.snapshot)
        return artifacts.snapshot.id

    return await _guarded(state, "amend", attempt)


async def flush(state: SessionState, message: str, *, metadata: dict[str, Any] | None) -> str:
    """Save the changes as a detached snapshot; see :meth:`frazil.Session.flush`."""
    check_can_commit(state, "flush")
    require_text("commit message", message)

    async def attempt() -> str:
        flag = _flag_of(state)
        if flag is not None:
            await check_feature_flag(state.ctx.storage, flag, "flush")
        ws = await _prepare(state, True)
        artifacts = await build_commit(
            state.io,
            ws,
            parent=ws.base,
            message=message,
            metadata=state.ctx.commit_metadata(metadata),
            reuse=ManifestReuse(),
            flushed=True,
        )
        await write_artifacts(state.io, artifacts)
        await _finish(state, artifacts.snapshot)
        state.branch = None
        return artifacts.snapshot.id

    return await _guarded(state, "flush", attempt)


async def rebase(state: SessionState, solver: ConflictSolver) -> None:
    """Move the session's changes onto its branch's tip; see :meth:`frazil.Session.rebase`."""
    check_can_commit(state, "rebase")
    check_solver(solver, "solver")
    ws = await state.workspace()
    changes = state.require_changes()
    had_changes = not changes.is_empty()
    await _rebase(state, ws, solver)
    if had_changes and changes.is_empty():
        # the solver kept the other writers' versions of everything: committing now
        # records that outcome, as commit(rebase_with=...) would
        state.emptied_by_rebase = True


# ---------------------------------------------------------------------- the steps
async def _guarded(
    state: SessionState, what: str, attempt: Callable[[], Coroutine[Any, Any, str]]
) -> str:
    """Run a commit, amend or flush: one at a time, and if it fails, reopen the staging
    area it sealed."""
    if state.commit_running:
        raise SessionStateError(
            f"cannot {what}: another commit of this session is in progress (a session "
            "commits once; use one writable session per writer)",
            kind=ErrorKind.SESSION_COMMITTED,
        )
    state.commit_running = True
    try:
        return await attempt()
    except BaseException:
        if state.sealed and not state.committed:
            state.sealed = False
            try:
                await unseal(state.ctx.storage, state.token)
            except FrazilError as exc:  # keep the commit's own error
                logger.warning("could not reopen the staging area: %s", exc)
        raise
    finally:
        state.commit_running = False


async def _prepare(state: SessionState, allow_empty: bool) -> Workspace:
    ws = await state.workspace()
    if state.staging_used:
        # seal first: store copies still writing now either land before the listing
        # or fail when they find the seal; none writes into the void
        state.sealed = True
        await seal(state.ctx.storage, state.token)
        await state.collect_staged(ws)
    if state.require_changes().is_empty() and not allow_empty and not state.emptied_by_rebase:
        raise NoChangesToCommitError(
            "nothing to commit: no changes made to the session (pass allow_empty=True to "
            "commit anyway)"
        )
    return ws


async def _drive(
    state: SessionState,
    ws: Workspace,
    message: str,
    meta: dict[str, Any],
    rebase_with: ConflictSolver | None,
    rebase_tries: int,
    check: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> str:
    """Run the retry protocol to completion against real storage.

    ``check``, if given, is awaited alongside building the first attempt, before anything
    is written (the status check of :func:`check_online`).
    """
    io = state.io
    reuse = ManifestReuse()
    snapshot: Snapshot | None = None
    protocol = commit_protocol(
        rebase=rebase_with is not None, rebase_tries=rebase_tries, retry=state.config.commit_retry
    )
    reply: Any = None
    previous = ws.base.id
    while True:
        try:
            request = protocol.send(reply)
        except StopIteration as done:
            snapshot_id, attempts = str(done.value[0]), int(done.value[1])
            break
        match request:
            case BuildAndWrite(attempt=attempt):
                build = build_commit(
                    io, ws, parent=ws.base, message=message, metadata=meta, reuse=reuse
                )
                if check is not None:
                    artifacts, _ = await asyncio.gather(build, check())
                    check = None
                else:
                    artifacts = await build
                await write_artifacts(io, artifacts)
                snapshot = artifacts.snapshot
                if attempt > 1:
                    logger.info(
                        "commit attempt %d on branch %r after rebase (%d manifest blocks "
                        "rewritten, %d reused)",
                        attempt,
                        state.branch,
                        reuse.written,
                        reuse.reused,
                    )
                reply = snapshot.id
            case UpdateRef(snapshot_id=new_id):
                previous = ws.base.id
                reply = await _move_branch(state, new_id, expected_base=previous)
            case Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
                reply = None
            case Rebase():
                assert rebase_with is not None
                await _rebase(state, ws, rebase_with)
                reply = None
    assert snapshot is not None
    await record_update(
        state.ctx.storage,
        UpdateType.NewCommit,
        name=state.branch,
        previous=previous,
        new=snapshot_id,
        job=job_of(meta),
    )
    state.commit_attempts = attempts
    if attempts > 1:
        logger.info("commit %s on %r took %d attempts", snapshot_id, state.branch, attempts)
    await _finish(state, snapshot)
    return snapshot_id


async def _rebase(state: SessionState, ws: Workspace, solver: ConflictSolver) -> None:
    assert state.branch is not None
    rebased = await rebase_onto_branch(state.io, state.branch, ws, solver)
    state.base_id = rebased.tip
    state.ref = rebased.ref


async def _move_branch(
    state: SessionState, snapshot_id: str, *, expected_base: str
) -> RefUpdated | RefMoved:
    assert state.branch is not None
    key = BRANCHES.key(state.branch)
    storage = state.ctx.storage
    if state.ref is None:
        state.ref = await read_ref(storage, key)
    if state.ref is None or state.ref.doc.snapshot_id != expected_base:
        current = state.ref.doc.snapshot_id if state.ref is not None else "<deleted>"
        return RefMoved(expected=expected_base, actual=current)
    doc = RefDoc(snapshot_id=snapshot_id, token=os.urandom(12).hex())
    try:
        state.ref = await cas_ref(storage, key, doc, expected=state.ref)
    except ConflictError as exc:
        state.ref = None
        return RefMoved(expected=expected_base, actual=str(exc.actual_parent))
    return RefUpdated()


async def _finish(state: SessionState, snapshot: Snapshot) -> None:
    # the branch has moved: record that first, so nothing after it can undo it
    state.committed = True
    state.mode = SessionMode.READONLY
    state.base_id = snapshot.id
    state.changes = None
    state.replace_workspace(Workspace(state.io, snapshot, None))
    if state.staging_used:
        try:
            await delete_staged(state.ctx.storage, state.token)
        except FrazilError as exc:  # best effort: garbage collection removes leftovers
            logger.warning("could not delete the staging markers of a commit: %s", exc)
