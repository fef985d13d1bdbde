"""The Repository facade: creating and opening repositories, refs, history and sessions."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Self

from frazil._check import check_commit_metadata
from frazil._config import RepositoryConfig
from frazil._errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    FormatError,
    InvalidInputError,
    ObjectNotFoundError,
    ReadOnlyError,
    RepositoryNotFoundError,
    SessionStateError,
)
from frazil._repo import (
    BRANCHES,
    TAGS,
    Diff,
    GCSummary,
    RefFamily,
    RefState,
    RepoContext,
    RepoIO,
    SnapshotInfo,
    ancestry,
    ancestry_windows,
    bootstrap,
    cas_ref,
    context_for,
    create_named_ref,
    delete_named_ref,
    diff_snapshots,
    garbage_collect,
    list_named_refs,
    named_ref_state,
    new_token,
    require_snapshot,
    snapshot_as_of,
    to_info,
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
from frazil.format import (
    CommitInfo,
    ObjectKind,
    RefDoc,
    RepoDoc,
    decode_document,
    encode_document,
    layout,
)
from frazil.storage import RetryingStorage, Storage

if TYPE_CHECKING:
    import datetime
    from collections.abc import AsyncIterator, Iterator

    from frazil._commit import ConflictSolver
    from frazil._session import FrazilStore

__all__ = ["Repository"]


def _check_storage(storage: object) -> Storage:
    if not isinstance(storage, Storage):
        raise TypeError(
            f"expected a frazil Storage (e.g. frazil.local_filesystem_storage(path)), "
            f"got {type(storage).__name__!r}"
        )
    return storage


def _check_config(config: object) -> RepositoryConfig | None:
    if config is not None and not isinstance(config, RepositoryConfig):
        raise InvalidInputError(
            f"config must be a frazil.RepositoryConfig or None, got {type(config).__name__!r}; "
            "build one with RepositoryConfig(...) or RepositoryConfig.from_dict(d)",
            kind=ErrorKind.INVALID_CONFIG,
        )
    return config


def _one_selector(what: str, **selectors: object) -> tuple[str, Any]:
    given = [(name, value) for name, value in selectors.items() if value is not None]
    if len(given) != 1:
        names = ", ".join(f"{n}=" for n in selectors)
        raise InvalidInputError(
            f"{what} takes exactly one of {names} (got {len(given)})",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return given[0]


class Repository:
    """A frazil repository: immutable snapshots plus branches and tags, in one storage.

    Create one with :meth:`create`, open one with :meth:`open`. Read and write through
    sessions (:meth:`readonly_session`, :meth:`writable_session`) whose ``store`` is a zarr
    store.

    Examples
    --------
    >>> import frazil, zarr
    >>> repo = frazil.Repository.create(frazil.in_memory_storage())
    >>> session = repo.writable_session("main")
    >>> _ = zarr.create_array(session.store, name="x", shape=(4,), dtype="i4")
    >>> snapshot_id = session.commit("add x")
    """

    def __init__(
        self,
        ctx: RepoContext,
        storage: Storage,
        repo_doc: RepoDoc,
        *,
        read_only_reason: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._storage = storage
        self._doc = repo_doc
        self._read_only_reason = read_only_reason

    def __repr__(self) -> str:
        return f"<frazil.Repository {self._storage.describe()}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _restore_repository,
            (self._storage, self._ctx.config, self._doc, self._read_only_reason),
        )

    # ------------------------------------------------------------------ opening
    @classmethod
    async def create_async(cls, storage: Storage, config: RepositoryConfig | None = None) -> Self:
        """Async version of :meth:`create`."""
        storage = _check_storage(storage)
        config = _check_config(config) or RepositoryConfig()
        doc = await bootstrap(RepoIO(storage, config))
        repo = cls(context_for(storage, config, doc.repo_id), storage, doc)
        if config != RepositoryConfig():
            await repo.save_config_async()
        return repo

    @classmethod
    def create(cls, storage: Storage, config: RepositoryConfig | None = None) -> Self:
        """Create a new repository in an empty storage location.

        Parameters
        ----------
        storage
            Where the repository lives, e.g. ``local_filesystem_storage(path)``.
        config
            Configuration; saved in the repository if it differs from the default.

        Returns
        -------
        Repository
            With a ``main`` branch at the "Repository initialized" snapshot.

        Raises
        ------
        AlreadyExistsError
            If a repository already exists there (also when another process created one
            at the same moment).
        InvalidInputError
            If the location holds other objects.
        """
        return sync(cls.create_async(storage, config))

    @classmethod
    async def open_async(cls, storage: Storage, config: RepositoryConfig | None = None) -> Self:
        """Async version of :meth:`open`."""
        storage = _check_storage(storage)
        _check_config(config)
        probe = RetryingStorage(storage) if not isinstance(storage, RetryingStorage) else storage
        try:
            data = await probe.get(layout.REPO_KEY)
        except ObjectNotFoundError:
            raise RepositoryNotFoundError(
                f"no frazil repository at {storage.describe()}: create one with "
                "Repository.create(storage)",
                kind=ErrorKind.REPOSITORY_NOT_FOUND,
            ) from None
        doc = RepoDoc.decode(data, key=layout.REPO_KEY)
        if config is None:
            config = await cls.fetch_config_async(storage) or RepositoryConfig()
        return cls(context_for(storage, config, doc.repo_id), storage, doc)

    @classmethod
    def open(cls, storage: Storage, config: RepositoryConfig | None = None) -> Self:
        """Open an existing repository.

        Parameters
        ----------
        storage
            Where the repository lives.
        config
            Use this configuration instead of the one saved in the repository.

        Raises
        ------
        RepositoryNotFoundError
            (a :class:`NotFoundError`) if there is no repository there.
        FormatError
            If the repository was written by a newer, incompatible frazil.
        """
        return sync(cls.open_async(storage, config))

    @classmethod
    async def open_or_create_async(
        cls, storage: Storage, config: RepositoryConfig | None = None
    ) -> Self:
        """Async version of :meth:`open_or_create`."""
        try:
            return await cls.open_async(storage, config)
        except RepositoryNotFoundError:
            pass
        try:
            return await cls.create_async(storage, config)
        except AlreadyExistsError:
            return await cls.open_async(storage, config)

    @classmethod
    def open_or_create(cls, storage: Storage, config: RepositoryConfig | None = None) -> Self:
        """Open the repository at ``storage``, creating it if there is none."""
        return sync(cls.open_or_create_async(storage, config))

    @staticmethod
    async def exists_async(storage: Storage) -> bool:
        """Async version of :meth:`exists`."""
        storage = _check_storage(storage)
        return await RetryingStorage(storage).exists(layout.REPO_KEY)

    @staticmethod
    def exists(storage: Storage) -> bool:
        """Whether a repository exists at ``storage``."""
        return sync(Repository.exists_async(storage))

    # ------------------------------------------------------------------ config
    @staticmethod
    async def fetch_config_async(storage: Storage) -> RepositoryConfig | None:
        """Async version of :meth:`fetch_config`."""
        try:
            data = await RetryingStorage(_check_storage(storage)).get(layout.CONFIG_KEY)
        except ObjectNotFoundError:
            return None
        doc, _ = decode_document(data, key=layout.CONFIG_KEY, kind=ObjectKind.CONFIG)
        try:
            return RepositoryConfig.from_dict(doc)
        except (TypeError, KeyError, ValueError) as exc:  # InvalidInputError is a ValueError
            raise FormatError(
                f"object {layout.CONFIG_KEY!r} holds an invalid configuration: {exc}",
                key=layout.CONFIG_KEY,
            ) from exc

    @staticmethod
    def fetch_config(storage: Storage) -> RepositoryConfig | None:
        """The configuration saved in the repository at ``storage``, if any."""
        return sync(Repository.fetch_config_async(storage))

    async def save_config_async(self) -> None:
        """Async version of :meth:`save_config`."""
        self._require_writable()
        data = encode_document(ObjectKind.CONFIG, self._ctx.config.to_dict())
        await self._ctx.storage.put(layout.CONFIG_KEY, data)

    def save_config(self) -> None:
        """Save this repository object's configuration in the repository."""
        sync(self.save_config_async())

    @property
    def config(self) -> RepositoryConfig:
        """A copy of the configuration in use (changing it changes nothing until it is
        passed to :meth:`reopen`)."""
        return self._ctx.config.copy()

    @property
    def storage(self) -> Storage:
        """The storage the repository lives in."""
        return self._storage

    @property
    def repo_id(self) -> str:
        """The repository's random id (forks of other repositories are refused by it)."""
        return self._doc.repo_id

    def reopen(self, config: RepositoryConfig | None = None) -> Repository:
        """A new Repository object on the same storage with another configuration."""
        config = _check_config(config) or self._ctx.config
        repo = Repository(
            context_for(self._storage, config, self._doc.repo_id),
            self._storage,
            self._doc,
            read_only_reason=self._read_only_reason,
        )
        repo._ctx.default_metadata = dict(self._ctx.default_metadata)
        return repo

    async def reopen_async(self, config: RepositoryConfig | None = None) -> Repository:
        """Async version of :meth:`reopen` (it does no I/O; provided for symmetry)."""
        return self.reopen(config)

    def as_read_only(self, reason: str | None = None) -> Repository:
        """A view of this repository that reads as usual and refuses every write.

        Writable and rearrange sessions, ref changes, forks from tickets, configuration
        saves and garbage collection raise :class:`ReadOnlyError` naming ``reason``. The
        repository itself is not changed: other objects opened on it can still write.

        Parameters
        ----------
        reason
            Why writes are refused (shown in the error), e.g. ``"archived"``.

        Returns
        -------
        Repository
        """
        return Repository(
            self._ctx,
            self._storage,
            self._doc,
            read_only_reason=reason or "this Repository object was opened read-only",
        )

    @property
    def read_only(self) -> bool:
        """Whether this object refuses writes (see :meth:`as_read_only`)."""
        return self._read_only_reason is not None or not self._storage.supports_conditional_writes

    def set_default_commit_metadata(self, metadata: dict[str, Any]) -> None:
        """Metadata merged into every commit made through this repository object.

        Metadata passed to ``commit`` takes precedence key by key.
        """
        if not isinstance(metadata, dict):
            raise InvalidInputError(
                f"default commit metadata must be a dict, got {type(metadata).__name__!r}",
                kind=ErrorKind.INVALID_METADATA,
            )
        self._ctx.default_metadata = check_commit_metadata(metadata)

    def default_commit_metadata(self) -> dict[str, Any]:
        """The metadata set with :meth:`set_default_commit_metadata` (a copy)."""
        return dict(self._ctx.default_metadata)

    # ------------------------------------------------------------------ internals
    @property
    def _io(self) -> RepoIO:
        return self._ctx.io

    def _require_writable(self) -> None:
        if self._read_only_reason is not None:
            raise ReadOnlyError(
                f"this repository is read-only ({self._read_only_reason}); it can be read, "
                "not written",
                kind=ErrorKind.READ_ONLY_REPOSITORY,
            )
        if not self._storage.supports_conditional_writes:
            raise ReadOnlyError(
                f"{self._storage.describe()} cannot make atomic conditional writes, so this "
                "repository can only be read",
                kind=ErrorKind.READ_ONLY_STORAGE,
            )

    async def _ref_state(self, family: RefFamily, name: str) -> RefState:
        return await named_ref_state(self._ctx.storage, family, name)

    async def _create_ref(self, family: RefFamily, name: str, snapshot_id: str) -> None:
        family.key(name)  # a bad name is reported before anything else
        self._require_writable()
        await require_snapshot(self._io, snapshot_id)
        await create_named_ref(self._ctx.storage, family, name, snapshot_id)

    async def _list_refs(self, family: RefFamily) -> set[str]:
        return await list_named_refs(self._ctx.storage, family, limit=self._io.concurrency)

    async def _lookup_ref(self, family: RefFamily, name: str) -> str:
        return (await self._ref_state(family, name)).doc.snapshot_id

    async def _delete_ref(self, family: RefFamily, name: str) -> None:
        self._require_writable()
        await delete_named_ref(self._ctx.storage, family, name)

    # ------------------------------------------------------------------ branches
    async def create_branch_async(self, branch: str, snapshot_id: str) -> None:
        """Async version of :meth:`create_branch`."""
        await self._create_ref(BRANCHES, branch, snapshot_id)

    def create_branch(self, branch: str, snapshot_id: str) -> None:
        """Create a branch pointing at a snapshot.

        Raises
        ------
        AlreadyExistsError
            If the branch exists (exactly one of two racing creators succeeds).
        InvalidInputError
            If the name breaks the naming rules.
        SnapshotNotFoundError
            If the snapshot does not exist.
        """
        sync(self.create_branch_async(branch, snapshot_id))

    async def list_branches_async(self) -> set[str]:
        """Async version of :meth:`list_branches`."""
        return await self._list_refs(BRANCHES)

    def list_branches(self) -> set[str]:
        """The names of all branches."""
        return sync(self.list_branches_async())

    async def lookup_branch_async(self, branch: str) -> str:
        """Async version of :meth:`lookup_branch`."""
        return await self._lookup_ref(BRANCHES, branch)

    def lookup_branch(self, branch: str) -> str:
        """The snapshot id at the tip of a branch.

        Raises
        ------
        RefNotFoundError
            If the branch does not exist.
        """
        return sync(self.lookup_branch_async(branch))

    async def reset_branch_async(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        """Async version of :meth:`reset_branch`."""
        self._require_writable()
        state = await self._ref_state(BRANCHES, branch)
        await require_snapshot(self._io, snapshot_id)
        if from_snapshot_id is not None and state.doc.snapshot_id != from_snapshot_id:
            raise ConflictError(
                f"branch {branch!r} is at {state.doc.snapshot_id!r}, not at "
                f"from_snapshot_id={from_snapshot_id!r}; it was not reset",
                expected_parent=from_snapshot_id,
                actual_parent=state.doc.snapshot_id,
            )
        doc = RefDoc(snapshot_id=snapshot_id, token=new_token())
        await cas_ref(self._ctx.storage, BRANCHES.key(branch), doc, expected=state)

    def reset_branch(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        """Point a branch at another snapshot (rewriting its history).

        Parameters
        ----------
        branch
            The branch to move.
        snapshot_id
            Where it should point.
        from_snapshot_id
            Only reset if the branch is currently there (a guard against races).

        Raises
        ------
        ConflictError
            If ``from_snapshot_id`` does not match, or another writer moved the branch
            during the reset.
        """
        sync(self.reset_branch_async(branch, snapshot_id, from_snapshot_id=from_snapshot_id))

    async def delete_branch_async(self, branch: str) -> None:
        """Async version of :meth:`delete_branch`."""
        if branch == "main":
            raise SessionStateError(
                "the main branch cannot be deleted", kind=ErrorKind.CANNOT_DELETE_MAIN
            )
        await self._delete_ref(BRANCHES, branch)

    def delete_branch(self, branch: str) -> None:
        """Delete a branch (its snapshots stay until garbage collection).

        Raises
        ------
        SessionStateError
            For ``main``.
        RefNotFoundError
            If the branch does not exist.
        """
        sync(self.delete_branch_async(branch))

    # ------------------------------------------------------------------ tags
    async def create_tag_async(self, tag: str, snapshot_id: str) -> None:
        """Async version of :meth:`create_tag`."""
        await self._create_ref(TAGS, tag, snapshot_id)

    def create_tag(self, tag: str, snapshot_id: str) -> None:
        """Create an immutable tag pointing at a snapshot.

        Raises
        ------
        AlreadyExistsError
            If the tag exists or existed (deleted names are never reused).
        """
        sync(self.create_tag_async(tag, snapshot_id))

    async def list_tags_async(self) -> set[str]:
        """Async version of :meth:`list_tags`."""
        return await self._list_refs(TAGS)

    def list_tags(self) -> set[str]:
        """The names of all (not deleted) tags."""
        return sync(self.list_tags_async())

    async def lookup_tag_async(self, tag: str) -> str:
        """Async version of :meth:`lookup_tag`."""
        return await self._lookup_ref(TAGS, tag)

    def lookup_tag(self, tag: str) -> str:
        """The snapshot a tag points at.

        Raises
        ------
        RefNotFoundError
            If the tag does not exist (or was deleted).
        """
        return sync(self.lookup_tag_async(tag))

    async def delete_tag_async(self, tag: str) -> None:
        """Async version of :meth:`delete_tag`."""
        await self._delete_ref(TAGS, tag)

    def delete_tag(self, tag: str) -> None:
        """Delete a tag; its name can never be used again.

        Raises
        ------
        RefNotFoundError
            If the tag does not exist.
        """
        sync(self.delete_tag_async(tag))

    # ------------------------------------------------------------------ history
    async def lookup_snapshot_async(self, snapshot_id: str) -> SnapshotInfo:
        """Async version of :meth:`lookup_snapshot`."""
        return to_info((await require_snapshot(self._io, snapshot_id)).info)

    def lookup_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """The history record of a snapshot.

        Raises
        ------
        SnapshotNotFoundError
            If it does not exist.
        InvalidInputError
            If the id is malformed.
        """
        return sync(self.lookup_snapshot_async(snapshot_id))

    async def _resolve(
        self, what: str, *, branch: str | None, tag: str | None, snapshot_id: str | None
    ) -> str:
        name, value = _one_selector(what, branch=branch, tag=tag, snapshot_id=snapshot_id)
        if name == "branch":
            return await self.lookup_branch_async(value)
        if name == "tag":
            return await self.lookup_tag_async(value)
        await require_snapshot(self._io, value)
        return str(value)

    async def async_ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> AsyncIterator[SnapshotInfo]:
        """Async version of :meth:`ancestry`."""
        start = await self._resolve("ancestry", branch=branch, tag=tag, snapshot_id=snapshot_id)
        async for record in ancestry(self._io, start):
            yield to_info(record)

    ancestry_async = async_ancestry

    def ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> Iterator[SnapshotInfo]:
        """The history of a branch, tag or snapshot, newest first.

        Exactly one selector must be given. The last entry is the repository's first
        snapshot, "Repository initialized".

        Yields
        ------
        SnapshotInfo
        """
        windows: AsyncIterator[list[CommitInfo]] | None = None

        async def step() -> list[SnapshotInfo] | None:
            # one trip through the event loop per ~1,000 commits, not per commit
            nonlocal windows
            if windows is None:
                start = await self._resolve(
                    "ancestry", branch=branch, tag=tag, snapshot_id=snapshot_id
                )
                windows = ancestry_windows(self._io, start)
            batch: list[SnapshotInfo] = []
            async for window in windows:
                batch.extend(to_info(r) for r in window)
                if len(batch) >= 1000:
                    break
            return batch or None

        while (batch := sync(step())) is not None:
            yield from batch

    async def diff_async(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """Async version of :meth:`diff`."""
        start = await self._resolve(
            "diff (from)", branch=from_branch, tag=from_tag, snapshot_id=from_snapshot_id
        )
        end = await self._resolve(
            "diff (to)", branch=to_branch, tag=to_tag, snapshot_id=to_snapshot_id
        )
        return await diff_snapshots(self._io, start, end)

    def diff(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """What changed between two versions; ``from`` must be an ancestor of ``to``.

        Returns
        -------
        Diff
        """
        return sync(
            self.diff_async(
                from_branch=from_branch,
                from_tag=from_tag,
                from_snapshot_id=from_snapshot_id,
                to_branch=to_branch,
                to_tag=to_tag,
                to_snapshot_id=to_snapshot_id,
            )
        )

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
            tip = await self.lookup_branch_async(branch)
            target = await snapshot_as_of(self._io, tip, as_of)
        else:
            target = await self._resolve(
                "readonly_session", branch=branch, tag=tag, snapshot_id=snapshot_id
            )
        base = await self._io.read_snapshot(target)
        return Session(
            SessionState(
                self._ctx, mode=SessionMode.READONLY, branch=None, base_id=target, base=base
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
        return sync(
            self.readonly_session_async(branch, tag=tag, snapshot_id=snapshot_id, as_of=as_of)
        )

    async def _writable(self, branch: str, mode: SessionMode) -> Session:
        self._require_writable()
        state = await self._ref_state(BRANCHES, branch)
        base = await self._io.read_snapshot(state.doc.snapshot_id)
        return Session(
            SessionState(self._ctx, mode=mode, branch=branch, base_id=base.id, base=base, ref=state)
        )

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
        return sync(self.writable_session_async(branch))

    async def rearrange_session_async(self, branch: str) -> Session:
        """Async version of :meth:`rearrange_session`."""
        return await self._writable(branch, SessionMode.REARRANGE)

    def rearrange_session(self, branch: str) -> Session:
        """A session that can only move nodes (``session.move``) and commit."""
        return sync(self.rearrange_session_async(branch))

    # ------------------------------------------------------------------ maintenance
    async def garbage_collect_async(
        self, delete_object_older_than: datetime.datetime, *, dry_run: bool = False
    ) -> GCSummary:
        """Async version of :meth:`garbage_collect`."""
        self._require_writable()
        return await garbage_collect(
            self._io, self._doc.initial_snapshot_id, delete_object_older_than, dry_run=dry_run
        )

    def garbage_collect(
        self, delete_object_older_than: datetime.datetime, *, dry_run: bool = False
    ) -> GCSummary:
        """Delete objects that no branch or tag can reach, and stale debris.

        Snapshots, manifests, transaction logs and chunks that no branch or tag reaches,
        staging markers left by remote store copies of sessions that never committed, and
        published forks of finished or abandoned jobs, are deleted if they are older than
        ``delete_object_older_than``. Objects a running session may still commit must be
        newer than that, so pick a cut-off before the start of any running job.

        Parameters
        ----------
        delete_object_older_than
            Aware datetime; only older objects are deleted.
        dry_run
            Count what would be deleted, delete nothing.

        Returns
        -------
        GCSummary
        """
        return sync(self.garbage_collect_async(delete_object_older_than, dry_run=dry_run))

    # ------------------------------------------------------------------ tickets
    async def fork_from_ticket_async(self, ticket: str) -> ForkSession:
        """Async version of :meth:`fork_from_ticket`."""
        parsed = check_ticket(self._ctx, ticket)
        self._require_writable()
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


Repository.__module__ = "frazil"


def _restore_repository(
    storage: Storage, config: RepositoryConfig, doc: RepoDoc, read_only_reason: str | None = None
) -> Repository:
    return Repository(
        context_for(storage, config, doc.repo_id),
        storage,
        doc,
        read_only_reason=read_only_reason,
    )
