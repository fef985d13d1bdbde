"""The ground of the Repository façade: its state and the checks every part shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil._config import RepositoryConfig, StorageSettings
from frazil._errors import (
    ErrorKind,
    InvalidInputError,
    ReadOnlyError,
)
from frazil._repo import (
    BRANCHES,
    TAGS,
    RefFamily,
    RefState,
    RepoContext,
    RepoIO,
    check_online,
    check_online_now,
    create_named_ref,
    delete_named_ref,
    list_named_refs,
    named_ref_now,
    named_ref_state,
    require_snapshot,
)
from frazil._sync import sync
from frazil.storage import Storage

if TYPE_CHECKING:
    from frazil.format import (
        RepoDoc,
    )

__all__ = ["RepositoryBase", "check_config", "check_storage", "context_of", "one_selector"]


def check_storage(storage: object) -> Storage:
    if not isinstance(storage, Storage):
        raise TypeError(
            f"expected a frazil Storage (e.g. frazil.local_filesystem_storage(path)), "
            f"got {type(storage).__name__!r}"
        )
    return storage


def check_storage_settings(settings: object) -> StorageSettings | None:
    if settings is not None and not isinstance(settings, StorageSettings):
        raise InvalidInputError(
            "storage_settings must be a frazil.StorageSettings or None, got "
            f"{type(settings).__name__!r}",
            kind=ErrorKind.INVALID_CONFIG,
        )
    return settings


def check_config(config: object) -> RepositoryConfig | None:
    if config is not None and not isinstance(config, RepositoryConfig):
        raise InvalidInputError(
            f"config must be a frazil.RepositoryConfig or None, got {type(config).__name__!r}; "
            "build one with RepositoryConfig(...) or RepositoryConfig.from_dict(d)",
            kind=ErrorKind.INVALID_CONFIG,
        )
    return config


def one_selector(what: str, **selectors: object) -> tuple[str, Any]:
    given = [(name, value) for name, value in selectors.items() if value is not None]
    if len(given) != 1:
        names = ", ".join(f"{n}=" for n in selectors)
        raise InvalidInputError(
            f"{what} takes exactly one of {names} (got {len(given)})",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return given[0]


class RepositoryBase:
    """What every part of the Repository façade stands on: its context, storage and root
    document, and the checks they share."""

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

    async def _require_online(self, what: str, *, flag: str | None = None) -> None:
        """Refuse a write on a read-only Repository object, a storage without conditional
        writes, or a repository whose stored status is read-only (set by any process), and,
        if ``flag`` names a feature flag, when that flag is disabled."""
        self._require_writable()
        await check_online(self._ctx.storage, what, flag=flag)

    def _online_now(self, what: str, *, flag: str | None = None) -> bool:
        """:meth:`_require_online` without the IO loop: True when checked (it raises as
        that does), False when the status needs a read through the loop."""
        self._require_writable()
        return check_online_now(self._ctx.storage, what, flag=flag)

    async def _ref_state(self, family: RefFamily, name: str) -> RefState:
        return await named_ref_state(self._ctx.storage, family, name)

    async def _create_ref(
        self, family: RefFamily, name: str, snapshot_id: str, *, flag: str | None = None
    ) -> None:
        family.key(name)  # a bad name is reported before anything else
        await self._require_online(f"create {family.what} {name!r}", flag=flag)
        await require_snapshot(self._io, snapshot_id)
        await create_named_ref(self._ctx.storage, family, name, snapshot_id)

    async def _list_refs(self, family: RefFamily) -> set[str]:
        return await list_named_refs(self._ctx.storage, family, limit=self._io.concurrency)

    async def _lookup_ref(self, family: RefFamily, name: str) -> str:
        return (await self._ref_state(family, name)).doc.snapshot_id

    def _lookup_ref_now(self, family: RefFamily, name: str) -> str:
        """:meth:`_lookup_ref` for the synchronous API: read in the calling thread when
        the storage can (a local file), else through the IO loop."""
        found = named_ref_now(self._ctx.storage, family, name)
        return found.doc.snapshot_id if found is not None else sync(self._lookup_ref(family, name))

    def _resolve_now(
        self, what: str, *, branch: str | None, tag: str | None, snapshot_id: str | None
    ) -> str | None:
        """:meth:`_resolve` without the IO loop, or None when that needs a read (a ref
        that the storage cannot read at once, a snapshot not in the cache)."""
        name, value = one_selector(what, branch=branch, tag=tag, snapshot_id=snapshot_id)
        if name in ("branch", "tag"):
            found = named_ref_now(self._ctx.storage, BRANCHES if name == "branch" else TAGS, value)
            return None if found is None else found.doc.snapshot_id
        if isinstance(value, str) and self._io.snapshots.get(value) is not None:
            return value
        return None

    async def _delete_ref(self, family: RefFamily, name: str, *, flag: str | None = None) -> None:
        await self._require_online(f"delete {family.what} {name!r}", flag=flag)
        await delete_named_ref(self._ctx.storage, family, name)

    async def _resolve(
        self, what: str, *, branch: str | None, tag: str | None, snapshot_id: str | None
    ) -> str:
        name, value = one_selector(what, branch=branch, tag=tag, snapshot_id=snapshot_id)
        if name == "branch":
            return await self._lookup_ref(BRANCHES, value)
        if name == "tag":
            return await self._lookup_ref(TAGS, value)
        await require_snapshot(self._io, value)
        return str(value)


def context_of(repo: RepositoryBase) -> RepoContext:
    """The context behind a repository object (for the integrations: coordinator jobs
    build their sessions over it)."""
    return repo._ctx
