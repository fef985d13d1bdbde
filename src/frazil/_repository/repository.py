"""The Repository façade: creating, opening and configuring repositories."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from frazil._check import check_commit_metadata
from frazil._config import RepositoryConfig, StorageSettings
from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
    FormatError,
    FrazilError,
    InvalidInputError,
    ObjectNotFoundError,
    RepositoryNotFoundError,
)
from frazil._repo import (
    BRANCHES,
    TAGS,
    RepoIO,
    UpdateType,
    VirtualReader,
    bootstrap,
    context_for,
    flags_of,
    read_repo_info,
    record_update,
    retrying,
)
from frazil._repository.base import check_config, check_storage, check_storage_settings
from frazil._repository.history import HistoryMixin
from frazil._repository.inspect import InspectMixin
from frazil._repository.jobs import JobsMixin
from frazil._repository.maintenance import MaintenanceMixin
from frazil._repository.metadata import MetadataMixin
from frazil._repository.operations import OperationsMixin
from frazil._repository.refs import RefsMixin
from frazil._repository.sessions import SessionsMixin
from frazil._sync import sync
from frazil.format import (
    ObjectKind,
    RepoDoc,
    SpecVersion,
    check_spec_version,
    decode_document,
    encode_document,
    layout,
)

if TYPE_CHECKING:
    from frazil.storage import Storage

__all__ = ["Repository"]

logger = logging.getLogger("frazil.repository")


class Repository(
    RefsMixin,
    HistoryMixin,
    SessionsMixin,
    MaintenanceMixin,
    JobsMixin,
    MetadataMixin,
    InspectMixin,
    OperationsMixin,
):
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

    def __repr__(self) -> str:
        return f"<frazil.Repository {self._storage.describe()}>"

    def _repr_html_(self) -> str:
        """A small table for notebooks (a few small reads; no history walk)."""
        return sync(self._repr_html_async())

    async def _repr_html_async(self) -> str:
        info = (await read_repo_info(self._ctx.storage)).info
        disabled = [f.name for f in flags_of(info.feature_flags) if not f.enabled]
        rows = [
            ("storage", self._storage.describe()),
            ("branches", str(len(await self._list_refs(BRANCHES)))),
            ("tags", str(len(await self._list_refs(TAGS)))),
            ("status", info.status.describe() if info.status.read_only else "online"),
            ("spec version", str(int(self.spec_version))),
        ]
        if disabled:
            rows.append(("disabled feature flags", ", ".join(disabled)))
        if self._read_only_reason is not None:
            rows.append(("this object", f"read-only ({self._read_only_reason})"))
        import html

        cells = "".join(
            f'<tr><th style="text-align:left">{html.escape(k)}</th>'
            f'<td style="text-align:left">{html.escape(v)}</td></tr>'
            for k, v in rows
        )
        return f'<div class="frazil-repr"><b>frazil.Repository</b><table>{cells}</table></div>'

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _restore_repository,
            (
                self._storage,
                self._ctx.config,
                self._doc,
                self._read_only_reason,
                self._ctx.virtual.access or None,
            ),
        )

    # ------------------------------------------------------------------ opening
    @classmethod
    async def create_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        *,
        spec_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
    ) -> Self:
        """Async version of :meth:`create`."""
        storage = check_storage(storage)
        config = check_config(config) or RepositoryConfig()
        VirtualReader(config.virtual_chunk_containers, authorize_virtual_chunk_access)  # checks
        check_spec_version(spec_version)
        logger.debug("Creating Repository in %s", storage.describe())
        doc = await bootstrap(
            RepoIO(storage, config), check_clean_root=check_clean_root is not False
        )
        repo = cls(
            context_for(storage, config, doc.repo_id, authorize_virtual_chunk_access),
            storage,
            doc,
        )
        if config != RepositoryConfig():
            await repo.save_config_async()
        return repo

    @classmethod
    def create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        *,
        spec_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
    ) -> Self:
        """Create a new repository in an empty storage location.

        Parameters
        ----------
        storage
            Where the repository lives, e.g. ``local_filesystem_storage(path)``.
        config
            Configuration; saved in the repository if it differs from the default.
        authorize_virtual_chunk_access
            ``{url_prefix: credentials or None}``: the virtual chunk containers this
            object may read, each with its credentials (``frazil.credentials``; ``None``
            for containers that need none). Virtual chunks elsewhere are refused when
            read. Credentials are kept by this object only, never stored.
        spec_version
            The format to write (default: the current one, :func:`frazil.spec_version`).
            frazil writes one format; Icechunk's versions 1 and 2 are accepted and mean it.
        check_clean_root
            Refuse a location that holds other objects (default). False creates the
            repository next to them.

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
            If the location holds other objects, or ``spec_version`` names a format this
            frazil cannot write (kind ``unsupported-spec-version``).
        """
        return sync(
            cls.create_async(
                storage,
                config,
                authorize_virtual_chunk_access,
                spec_version=spec_version,
                check_clean_root=check_clean_root,
            )
        )

    @classmethod
    async def open_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
    ) -> Self:
        """Async version of :meth:`open`."""
        storage = check_storage(storage)
        check_config(config)
        logger.debug("Opening Repository at %s", storage.describe())
        probe = retrying(storage)
        try:
            data = await probe.get(layout.REPO_KEY)
        except ObjectNotFoundError:
            error = RepositoryNotFoundError(
                f"the repository doesn't exist: no frazil repository at {storage.describe()}; "
                "create one with Repository.create(storage)",
                kind=ErrorKind.REPOSITORY_NOT_FOUND,
            )
            error.add_note(await _what_is_there(probe))
            raise error from None
        doc = RepoDoc.decode(data, key=layout.REPO_KEY)
        if config is None:
            config = await cls.fetch_config_async(storage) or RepositoryConfig()
        return cls(
            context_for(storage, config, doc.repo_id, authorize_virtual_chunk_access),
            storage,
            doc,
        )

    @classmethod
    def open(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
    ) -> Self:
        """Open an existing repository.

        Parameters
        ----------
        storage
            Where the repository lives.
        config
            Use this configuration instead of the one saved in the repository.
        authorize_virtual_chunk_access
            ``{url_prefix: credentials or None}``: the virtual chunk containers this
            object may read, each with its credentials (``frazil.credentials``; ``None``
            for containers that need none). Virtual chunks elsewhere are refused when
            read. Credentials are kept by this object only, never stored.

        Raises
        ------
        RepositoryNotFoundError
            (a :class:`NotFoundError`) if there is no repository there.
        FormatError
            If the repository was written by a newer, incompatible frazil.
        InvalidInputError
            If ``authorize_virtual_chunk_access`` names a prefix that is no container of
            the configuration, or holds something that is not credentials.
        """
        return sync(cls.open_async(storage, config, authorize_virtual_chunk_access))

    @classmethod
    async def open_or_create_async(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        *,
        create_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
    ) -> Self:
        """Async version of :meth:`open_or_create`."""
        check_spec_version(create_version, "create_version")
        access = authorize_virtual_chunk_access
        try:
            return await cls.open_async(storage, config, access)
        except RepositoryNotFoundError:
            pass
        try:
            return await cls.create_async(
                storage,
                config,
                access,
                spec_version=create_version,
                check_clean_root=check_clean_root,
            )
        except AlreadyExistsError:
            return await cls.open_async(storage, config, access)

    @classmethod
    def open_or_create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
        *,
        create_version: SpecVersion | int | None = None,
        check_clean_root: bool = True,
    ) -> Self:
        """Open the repository at ``storage``, creating it if there is none (arguments as
        for :meth:`open`; ``create_version`` and ``check_clean_root`` apply when it is
        created, see :meth:`create`)."""
        return sync(
            cls.open_or_create_async(
                storage,
                config,
                authorize_virtual_chunk_access,
                create_version=create_version,
                check_clean_root=check_clean_root,
            )
        )

    @staticmethod
    async def exists_async(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> bool:
        """Async version of :meth:`exists`."""
        probe = retrying(check_storage(storage), check_storage_settings(storage_settings))
        return await probe.exists(layout.REPO_KEY)

    @staticmethod
    def exists(storage: Storage, storage_settings: StorageSettings | None = None) -> bool:
        """Whether a repository exists at ``storage``.

        Parameters
        ----------
        storage
            Where to look.
        storage_settings
            Retries for the check (``StorageSettings(retries=...)``); the defaults if
            None.
        """
        return sync(Repository.exists_async(storage, storage_settings))

    # ------------------------------------------------------------------ config
    @staticmethod
    async def fetch_config_async(storage: Storage) -> RepositoryConfig | None:
        """Async version of :meth:`fetch_config`."""
        try:
            data = await retrying(check_storage(storage)).get(layout.CONFIG_KEY)
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
        await self._require_online("save the configuration")
        data = encode_document(ObjectKind.CONFIG, self._ctx.config.to_dict())
        await self._ctx.storage.put(layout.CONFIG_KEY, data)
        await record_update(self._ctx.storage, UpdateType.ConfigChanged)

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

    def reopen(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
    ) -> Repository:
        """A new Repository object on the same storage with another configuration.

        ``authorize_virtual_chunk_access`` replaces this object's authorisation when
        given (see :meth:`open`); otherwise the new object may read what this one may.
        """
        config = check_config(config) or self._ctx.config
        access = (
            self._ctx.virtual.access
            if authorize_virtual_chunk_access is None
            else authorize_virtual_chunk_access
        )
        repo = Repository(
            context_for(self._storage, config, self._doc.repo_id, access),
            self._storage,
            self._doc,
            read_only_reason=self._read_only_reason,
        )
        repo._ctx.default_metadata = dict(self._ctx.default_metadata)
        return repo

    async def reopen_async(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: dict[str, Any] | None = None,
    ) -> Repository:
        """Async version of :meth:`reopen` (it does no I/O; provided for symmetry)."""
        return self.reopen(config, authorize_virtual_chunk_access)

    @property
    def authorized_virtual_container_prefixes(self) -> set[str]:
        """The virtual chunk container prefixes this object may read."""
        return set(self._ctx.virtual.authorized_prefixes)

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


Repository.__module__ = "frazil"


def _restore_repository(
    storage: Storage,
    config: RepositoryConfig,
    doc: RepoDoc,
    read_only_reason: str | None = None,
    virtual_access: dict[str, Any] | None = None,
) -> Repository:
    return Repository(
        context_for(storage, config, doc.repo_id, virtual_access),
        storage,
        doc,
        read_only_reason=read_only_reason,
    )


async def _what_is_there(storage: Storage) -> str:
    """A line for a missing repository's error: what the location holds instead."""
    keys: list[str] = []
    try:
        async for info in storage.list(""):
            keys.append(info.key)
            if len(keys) > 5:
                break
    except FrazilError as exc:
        return f"listing the location failed too: {exc}"
    if not keys:
        return "nothing is stored at this location"
    shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
    return (
        f"the location is not empty ({shown}): another tool's data, or a repository in "
        "another format (frazil reads only its own)"
    )
