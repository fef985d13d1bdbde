"""The state of one session: what the store, the committer and the fork code work on.

A :class:`SessionState` is a session's mode, base snapshot, uncommitted changes, token,
lazily loaded workspace and staging bookkeeping. The public :class:`~frazil.Session` is a
façade over it; :class:`~frazil.FrazilStore` reads and writes through it. Nothing here
knows the façade: a store asks its owner only for this state and how to pickle itself
(:class:`StateOwner`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from frazil._changes import ChangeSet, Workspace, merge_into
from frazil._commit import StagingWriter, collect_staged, seal
from frazil._config import RepositoryConfig
from frazil._errors import (
    ErrorKind,
    InvalidInputError,
    MergeConflictError,
    ReadOnlyError,
    SessionStateError,
)
from frazil._repo import context_for
from frazil._sync import sync
from frazil.format import RefKind, encode_id
from frazil.storage import slice_range

if TYPE_CHECKING:
    from frazil._changes import ChunkRef, NodeView
    from frazil._repo import RefState, RepoContext, RepoIO
    from frazil.format import ChunkRefs, Snapshot
    from frazil.storage import ByteRange

__all__ = ["SessionMode", "SessionState", "StateOwner", "state_of"]

logger = logging.getLogger("frazil.session")

_RELIST_SECONDS = 0.2
"""How often reads look for new staged writes while copies of the store may be writing."""

_DEFAULT_CONFIG = RepositoryConfig()
_DEFAULT_FINGERPRINT = _DEFAULT_CONFIG.fingerprint()


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


SessionMode.__module__ = "frazil"


class StateOwner(Protocol):
    """The façade that owns a state: a store asks it for the state and how to pickle."""

    @property
    def _state(self) -> SessionState:
        """The state the façade is over."""

    def _reduce_store(self, read_only: bool) -> tuple[Any, ...]:
        """Pickle support for a store of this owner."""


def state_of(owner: StateOwner) -> SessionState:
    """The state behind a session (for the integrations: dask, xarray, the test kit)."""
    return owner._state


class SessionState:
    """Everything a session is, apart from its public methods."""

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
        self.ctx = ctx
        self.mode = mode
        self.branch = branch
        self.base_id = base_id
        """The snapshot the session is based on (after a commit: the new one)."""
        self.ref = ref
        """The branch ref as last read (what the commit's compare-and-swap expects)."""
        self.changes: ChangeSet | None = (
            changes if changes is not None or mode == SessionMode.READONLY else ChangeSet()
        )
        self.token = token or os.urandom(12).hex()
        """Identity of the session (store equality, staging prefix, fork names)."""
        self._ws: Workspace | None = None
        self._ws_lock = threading.Lock()
        if base is not None:
            self._ws = Workspace(ctx.io, base, self.changes)
        self.committed = False
        self.commit_running = False
        self.sealed = False
        self.emptied_by_rebase = False
        """A rebase kept the other writers' version of every change: commit anyway."""
        self.commit_attempts = 0
        """How many attempts the last successful commit took (1 if no rebase was needed)."""
        self.staging_used = False
        """The store was shipped to other processes, which record writes under staging."""
        self.staging_writer: StagingWriter | None = None
        """Set in a remote copy of a writable store: where its chunk writes are recorded."""
        self._staging_refresh: asyncio.Future[None] | None = None
        self._staging_checked_at = 0.0
        """When reads last listed the staging area (-inf: the store was shipped since)."""
        self._collected: set[str] = set()
        """Staging markers already taken into the changes (skipped when listed again)."""

    # ------------------------------------------------------------------ plain facts
    @property
    def io(self) -> RepoIO:
        """Object I/O of the repository."""
        return self.ctx.io

    @property
    def config(self) -> RepositoryConfig:
        """The repository configuration."""
        return self.ctx.config

    @property
    def read_only(self) -> bool:
        """Whether the session refuses writes."""
        return self.mode == SessionMode.READONLY

    @property
    def has_uncommitted_changes(self) -> bool:
        """Whether the session changed anything (forks: their own changes)."""
        return self.changes is not None and not self.changes.is_empty()

    @property
    def loaded_workspace(self) -> Workspace | None:
        """The workspace if it was loaded already (no I/O)."""
        return self._ws

    def workspace_now(self) -> Workspace | None:
        """The workspace without I/O: loaded already, or made from the base snapshot when
        this process has it cached (an unpickled fork usually does); else None."""
        if self._ws is None:
            base = self.ctx.io.snapshots.get(self.base_id)
            if base is None:
                return None
            with self._ws_lock:
                if self._ws is None:
                    self._ws = Workspace(self.ctx.io, base, self.changes)
        return self._ws

    def replace_workspace(self, ws: Workspace) -> None:
        """Base the state on another workspace (after a commit)."""
        with self._ws_lock:
            self._ws = ws

    async def workspace(self) -> Workspace:
        """The workspace, reading the base snapshot on first use."""
        if self._ws is None:
            base = await self.ctx.io.read_snapshot(self.base_id)
            with self._ws_lock:
                if self._ws is None:
                    self._ws = Workspace(self.ctx.io, base, self.changes)
        return self._ws

    def require_changes(self) -> ChangeSet:
        """The change set of a writable state."""
        if self.changes is None:  # pragma: no cover - callers check the mode first
            raise SessionStateError("internal: this session holds no changes")
        return self.changes

    def check_writable(self) -> None:
        """Raise unless data and metadata may be written.

        Raises
        ------
        ReadOnlyError
            If the session is read-only (or was committed).
        SessionStateError
            If it is a rearrange session.
        """
        if self.mode == SessionMode.READONLY:
            raise ReadOnlyError(
                "this session is read-only"
                + (" (it was committed)" if self.committed else "")
                + "; open repo.writable_session(branch) to write",
                kind=ErrorKind.READ_ONLY_SESSION,
            )
        if self.mode == SessionMode.REARRANGE:
            raise SessionStateError(
                "a rearrange session can only move nodes (session.move); open "
                "repo.writable_session(branch) to write data",
                kind=ErrorKind.REARRANGE_SESSION_ONLY,
            )

    # ------------------------------------------------------------------ reads
    async def read_ref(self, ref: ChunkRef, byte_range: ByteRange | None) -> bytes:
        """The bytes a chunk reference points to."""
        match ref.kind:
            case RefKind.INLINE:
                return slice_range(ref.data or b"", byte_range)
            case RefKind.NATIVE:
                return await self.ctx.io.read_chunk(
                    encode_id(ref.chunk_id),
                    checksum=ref.checksum,
                    length=ref.length,
                    byte_range=byte_range,
                )
            case RefKind.VIRTUAL:
                assert ref.location is not None
                data = await self.ctx.virtual.read(ref.location, ref.offset, ref.length)
                return slice_range(data, byte_range)
        raise InvalidInputError(f"cannot read a reference of kind {ref.kind!r}")  # pragma: no cover

    # ------------------------------------------------------------------ changes
    def checkpoint(self) -> ChangeSet | None:
        """A copy of the uncommitted changes, to roll back to with :meth:`rollback`."""
        return self.changes.copy() if self.changes is not None else None

    def rollback(self, checkpoint: ChangeSet | None) -> None:
        """Return to the changes of a :meth:`checkpoint`."""
        if checkpoint is None or self.mode == SessionMode.READONLY:
            return
        self._replace_changes(checkpoint)

    def _replace_changes(self, changes: ChangeSet) -> None:
        self.changes = changes
        if self._ws is not None:
            self._ws.changes = changes
            self._ws.rebuild()

    def discard(self) -> None:
        """Drop every uncommitted change (the inherited layer of a fork stays).

        Raises
        ------
        ReadOnlyError
            If the session is read-only.
        """
        if self.mode == SessionMode.READONLY:
            raise ReadOnlyError("a read-only session has no changes to discard")
        inherited = self.changes.inherited if self.changes is not None else None
        self.changes = ChangeSet(inherited=inherited)
        self.emptied_by_rebase = False
        if self.staging_used:
            # writes staged by remote copies belong to the old token; GC removes them.
            # Sealing it makes copies still writing fail instead of writing for nothing.
            sync(seal(self.ctx.storage, self.token))
            self.token = os.urandom(12).hex()
            self.staging_used = False
            self._collected = set()
        self._replace_changes(self.changes)

    def add_chunk_table(self, ws: Workspace, view: NodeView, table: ChunkRefs) -> None:
        """Record a whole table of chunk writes (unique coordinates) for an array."""
        if len(table):
            with ws.lock:
                writes = self.require_changes().writes_for(view.node_id, view.layout.ndim)
                writes.add_table(table, unique=True)

    # ------------------------------------------------------------------ staging
    async def refresh_staged(self) -> None:
        """Read-your-writes for writes made by remote copies of this session's store.

        After the store was pickled (a Dask graph was sent to workers), the next read
        through this session lists the staging area once and takes in what the copies
        recorded, so the coordinator sees data written on the cluster before it commits.
        Concurrent readers wait for the same listing.
        """
        if not self.staging_used or self.staging_writer is not None or self.read_only:
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
            await self.collect_staged(await self.workspace())
        except MergeConflictError as exc:
            # reads go on with what the session has; commit reports the conflict
            logger.warning("writes staged by copies of this session's store conflict: %s", exc)

    async def collect_staged(self, ws: Workspace) -> None:
        """Take in the writes that remote copies of the store recorded (if it was shipped).

        Raises
        ------
        MergeConflictError
            If copies wrote different data to one chunk, or conflict with this session.
        """
        if not self.staging_used:
            return
        staged, listed = await collect_staged(
            self.ctx.storage, self.token, ws, collected=self._collected
        )
        if staged is not None:
            merge_into(
                ws,
                [staged],
                on_conflict="fail",
                conflict_header="chunks written by copies of this session's store in other "
                "processes conflict with each other or with this session's own writes:",
            )
        self._collected.update(listed)

    # ------------------------------------------------------------------ pickling
    def ship(self) -> dict[str, Any]:
        """The pickled form of a writable session's store sent to another process.

        The copy records its chunk writes under this session's staging prefix; this
        session collects them at commit and before it next reads.
        """
        self.staging_used = True
        self._staging_checked_at = -math.inf  # the next read looks at once
        return self.to_pickle(staging=True)

    def to_pickle(self, *, staging: bool = False) -> dict[str, Any]:
        """A small document from which :meth:`from_pickle` rebuilds the state elsewhere
        (configuration and references only; never chunk bytes above the inline size)."""
        state: dict[str, Any] = {
            "storage": self.ctx.io.raw_storage,
            "repo": self.ctx.repo_id,
            "base": self.base_id,
            "token": self.token,
        }
        if self.ctx.io.config_fingerprint != _DEFAULT_FINGERPRINT:
            state["config"] = self.ctx.config
            state["config_fingerprint"] = self.ctx.io.config_fingerprint
        if self.ctx.virtual.access:
            # copies read the same virtual containers as the original (its credentials
            # travel with it, as the storage's do)
            state["virtual_access"] = self.ctx.virtual.access
        if self.branch is not None:
            state["branch"] = self.branch
        if self.mode != SessionMode.READONLY:
            state["mode"] = self.mode.value
        if staging:
            state["staging"] = True
        changes = self.changes
        if changes is not None and (not changes.is_empty() or changes.inherited is not None):
            state["changes"] = (changes.flatten() if staging else changes).to_state()
        return state

    @classmethod
    def from_pickle(cls, state: dict[str, Any]) -> SessionState:
        """Rebuild a state from :meth:`to_pickle` in this process."""
        config = state.get("config")
        ctx = context_for(
            state["storage"],
            config or _DEFAULT_CONFIG,  # RepoIO copies it: the shared one is never changed
            state["repo"],
            state.get("virtual_access"),
            fingerprint=state.get("config_fingerprint") if config else _DEFAULT_FINGERPRINT,
        )
        mode = SessionMode(state.get("mode", 0))
        changes = None
        if "changes" in state:
            doc, columns = state["changes"]
            changes = ChangeSet.from_state(doc, columns, key="<pickled session>")
        elif mode != SessionMode.READONLY:
            changes = ChangeSet()
        out = cls(
            ctx,
            mode=mode,
            branch=state.get("branch"),
            base_id=state["base"],
            changes=changes,
            token=state["token"],
        )
        if state.get("staging"):
            assert changes is not None
            out.changes = ChangeSet(inherited=changes)
            out.staging_writer = StagingWriter(ctx.storage, state["token"], inherited=changes)
        return out
