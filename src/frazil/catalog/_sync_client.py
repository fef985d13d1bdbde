"""Client: the synchronous face of the catalog, one line over each AsyncClient method."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from frazil._sync import sync
from frazil.catalog._client import AsyncClient
from frazil.catalog._registry import UNSET

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from frazil._config import RepositoryConfig
    from frazil._repository import Repository
    from frazil.catalog._models import BucketConfig, IntegrityReports, RepoModel, StorageSize

__all__ = ["Client"]


class Client:
    """A catalog of repositories by ``org/name``, with bucket configs, in a SQL database.

    Parameters
    ----------
    uri
        The catalog database. ``None`` means ``$FRAZIL_CATALOG`` if set, else the SQLite
        file ``catalog.db`` in the user's data directory (platformdirs; on Linux
        ``$XDG_DATA_HOME/frazil``), so ``frazil.Client()`` works with no set-up.
        ``sqlite:///path/to/catalog.db``, ``postgresql://user@host/db`` (psycopg 3, the
        ``postgres`` extra) or any SQLAlchemy URL; a plain path means a SQLite file there;
        ``memory://name`` for a catalog kept in this process's memory (tests).

    Notes
    -----
    The client is a context manager that can be entered again after it was closed::

        client = frazil.Client()
        with client:
            repo = client.create_repo("acme/temps")
        with client:  # reopened
            ...

    Repositories without a bucket config live under the catalog's default root: a
    ``repos`` folder beside a SQLite catalog file, ``repos`` in the user's data directory
    for other databases, and in memory for in-memory catalogs.

    Raises
    ------
    StorageError
        With kind ``catalog-unreachable`` if the database cannot be reached (the message
        names the host; no driver stack).
    FormatError
        With kind ``not-a-catalog`` for a file or database that holds something else (left
        untouched), or ``unsupported-format-version`` for a catalog of a newer frazil.

    Examples
    --------
    >>> import frazil
    >>> client = frazil.Client("memory://doc-example")
    >>> repo = client.create_repo("acme/temps", description="daily temperatures")
    >>> [r.name for r in client.list_repos("acme")]
    ['temps']
    """

    def __init__(self, uri: str | None = None) -> None:
        self._async = AsyncClient(uri)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client")

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_open(self) -> bool:
        """Whether the client is open (usable)."""
        return self._async.is_open

    @property
    def is_closed(self) -> bool:
        """Whether the client was closed (``with client:`` opens it again)."""
        return self._async.is_closed

    @property
    def url(self) -> str:
        """The catalog database's URL, without a password."""
        return self._async.url

    def close(self) -> None:
        """Close the database connections; entering the client opens it again."""
        self._async.close()

    def __enter__(self) -> Self:
        if self._async.is_closed:
            self._async._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[RepoModel]:
        """Iterate over every repository of every org (their catalog entries)."""
        return iter(self.list_all_repos())

    # ------------------------------------------------------------------ repositories
    def create_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str | None = None,
        prefix: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        config: RepositoryConfig | None = None,
    ) -> Repository:
        """Create a repository in storage and register it.

        Parameters
        ----------
        name
            ``org/repo``; each part is 1 to 64 characters of lowercase letters, digits,
            ``-``, ``_`` and ``.``, starting and ending with a letter or digit, without
            ``..``.
        bucket_config_nickname
            The org's bucket config to create it in; ``None`` for the org's default bucket
            config, or the catalog's default root if the org has none.
        prefix
            Where inside the bucket config's location; defaults to ``org/repo``.
        description, metadata
            Free text and a JSON object kept in the catalog.
        config
            The repository's configuration (saved in it if not the default).

        Returns
        -------
        Repository

        Raises
        ------
        AlreadyExistsError
            If the name is registered, or the location holds objects or overlaps another
            repository. Nothing is created.
        NotFoundError
            For an unknown bucket config nickname.
        InvalidInputError
            For a bad name, prefix, description or metadata.
        """
        return sync(
            self._async.create_repo(
                name,
                bucket_config_nickname=bucket_config_nickname,
                prefix=prefix,
                description=description,
                metadata=metadata,
                config=config,
            )
        )

    def get_repo(
        self, name: str, *, read_only: bool = False, config: RepositoryConfig | None = None
    ) -> Repository:
        """Open a registered repository.

        Parameters
        ----------
        name
            ``org/repo``.
        read_only
            Return a repository that refuses writable sessions.
        config
            Use this configuration instead of the saved one.

        Returns
        -------
        Repository
            Read-only (writable sessions raise :class:`~frazil.ReadOnlyError`) if the catalog
            marks it ``read-only`` or ``archived``.

        Raises
        ------
        RepositoryNotFoundError
            If no such repository is registered, or it is being created or deleted.
        """
        return sync(self._async.get_repo(name, read_only=read_only, config=config))

    def get_or_create_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str | None = None,
        prefix: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        config: RepositoryConfig | None = None,
    ) -> Repository:
        """Open a registered repository, creating it (as :meth:`create_repo`) if there is
        none. The creation arguments are ignored when it exists."""
        return sync(
            self._async.get_or_create_repo(
                name,
                bucket_config_nickname=bucket_config_nickname,
                prefix=prefix,
                description=description,
                metadata=metadata,
                config=config,
            )
        )

    def get_repo_object(self, name: str) -> RepoModel:
        """The catalog entry of a repository (see :class:`~frazil.catalog.RepoModel`).

        Raises
        ------
        RepositoryNotFoundError
            If no such repository is registered.
        """
        return sync(self._async.get_repo_object(name))

    def list_repos(
        self, org: str, *, filter_metadata: dict[str, Any] | None = None
    ) -> list[RepoModel]:
        """The repositories of an org, by name.

        Parameters
        ----------
        org
            The organisation.
        filter_metadata
            Keep only repositories whose metadata has each of these keys with these values.

        Returns
        -------
        list of RepoModel
        """
        return sync(self._async.list_repos(org, filter_metadata=filter_metadata))

    def list_all_repos(self) -> list[RepoModel]:
        """Every repository of every org, by org and name (what ``iter(client)`` yields)."""
        return sync(self._async.list_all_repos())

    def update_repo(
        self,
        name: str,
        *,
        description: str | type[UNSET] | None = UNSET,
        metadata: dict[str, Any] | type[UNSET] = UNSET,
        status: str | type[UNSET] = UNSET,
    ) -> RepoModel:
        """Change a repository's description, metadata or status.

        Parameters
        ----------
        name
            ``org/repo``.
        description, metadata
            New values (left as they are when not passed).
        status
            ``"online"``, ``"read-only"`` or ``"archived"``; the last two make
            :meth:`get_repo` return a read-only repository.

        Returns
        -------
        RepoModel
            The updated entry.
        """
        return sync(
            self._async.update_repo(name, description=description, metadata=metadata, status=status)
        )

    def delete_repo(self, name: str, *, imsure: bool = False, imreallysure: bool = False) -> None:
        """Delete a repository: every object under its prefix, then its registration.

        The entry is first marked ``deleting``, so a crash midway leaves a record that a
        second call completes. Repository objects this client handed out refuse every call
        from then on. Nothing outside the repository's prefix is touched.

        Parameters
        ----------
        name
            ``org/repo``.
        imsure, imreallysure
            Both must be True.

        Raises
        ------
        InvalidInputError
            With kind ``confirmation-required`` unless both flags are True (nothing deleted).
        RepositoryNotFoundError
            If no such repository is registered.
        """
        sync(self._async.delete_repo(name, imsure=imsure, imreallysure=imreallysure))

    # ------------------------------------------------------------------ bucket configs
    def create_bucket_config(
        self,
        *,
        org: str,
        nickname: str,
        uri: str,
        extra_config: dict[str, Any] | None = None,
        auth_config: dict[str, Any] | None = None,
    ) -> BucketConfig:
        """Register a storage location of an org. Creates no bucket.

        Parameters
        ----------
        org
            The organisation.
        nickname
            Its name in the org (the name rule of repository name parts).
        uri
            ``file:///absolute/dir``, ``s3://bucket[/prefix]`` or ``memory://name``.
        extra_config
            Storage options by the keyword names of the storage constructor (for S3 those of
            :func:`frazil.s3_storage`: ``endpoint_url``, ``region``, ``allow_http``, ...).
        auth_config
            How credentials are found: ``{"method": "anonymous"}`` (the default),
            ``{"method": "from_env"}`` or ``{"method": "provider", "name": ...}`` for a
            provider registered with :func:`frazil.catalog.register_credential_provider`.

        Returns
        -------
        BucketConfig

        Raises
        ------
        InvalidInputError
            With kind ``secret-in-config`` for a secret in either dict (they never go in the
            catalog; the message says where they go), ``storage-config`` for an unknown
            scheme, option or method.
        AlreadyExistsError
            If the nickname is taken in the org.
        """
        return sync(
            self._async.create_bucket_config(
                org=org,
                nickname=nickname,
                uri=uri,
                extra_config=extra_config,
                auth_config=auth_config,
            )
        )

    def set_default_bucket_config(self, *, org: str, nickname: str) -> None:
        """Make a bucket config the org's default for new repositories."""
        sync(self._async.set_default_bucket_config(org=org, nickname=nickname))

    def get_bucket_config(self, *, org: str, nickname: str) -> BucketConfig:
        """One bucket config.

        Raises
        ------
        NotFoundError
            With kind ``bucket-config-not-found``, naming the org's nicknames.
        """
        return sync(self._async.get_bucket_config(org=org, nickname=nickname))

    def list_bucket_configs(self, org: str) -> list[BucketConfig]:
        """The org's bucket configs, by nickname."""
        return sync(self._async.list_bucket_configs(org))

    def list_repos_for_bucket_config(self, *, org: str, nickname: str) -> list[RepoModel]:
        """The repositories that live in a bucket config."""
        return sync(self._async.list_repos_for_bucket_config(org=org, nickname=nickname))

    def delete_bucket_config(
        self, *, org: str, nickname: str, imsure: bool = False, imreallysure: bool = False
    ) -> None:
        """Unregister a bucket config. Deletes no bucket and no object.

        Raises
        ------
        InvalidInputError
            With kind ``confirmation-required`` unless both flags are True, or
            ``bucket-config-in-use`` while repositories use it (they are named).
        """
        sync(
            self._async.delete_bucket_config(
                org=org, nickname=nickname, imsure=imsure, imreallysure=imreallysure
            )
        )

    # ------------------------------------------------------------------ storage conveniences
    def calculate_storage_size(self, name: str | None = None) -> StorageSize:
        """The size of one repository (``org/repo``), of an org (``org``) or of all.

        Sums the sizes of the objects under each repository's prefix (one listing each).

        Returns
        -------
        StorageSize
            ``.bytes``, ``.human`` (``"1.3 GiB"``), ``.objects`` and ``.repos``.
        """
        return sync(self._async.calculate_storage_size(name))

    def check_integrity(
        self,
        level: int = 1,
        *,
        stop_on_error: bool = True,
        to_file: bool | str | os.PathLike[str] = False,
        repo: str | None = None,
    ) -> IntegrityReports:
        """Check repositories with their own integrity check (``Repository.check_integrity``).

        Parameters
        ----------
        level
            1 to 4, as for ``Repository.check_integrity``.
        stop_on_error
            Stop at the first repository with a finding (and at its first finding).
        to_file
            ``True`` writes the reports as JSON to ``frazil-integrity-TIMESTAMP.json`` in the
            current directory; a path writes them there.
        repo
            One repository (``org/repo``), an org, or ``None`` for every repository.

        Returns
        -------
        IntegrityReports
            A dict of repository name -> its integrity report (``.ok``, ``.findings``),
            with ``.ok`` (no repository had a finding), ``.findings`` and ``.to_json()``.
        """
        return sync(
            self._async.check_integrity(
                level, stop_on_error=stop_on_error, to_file=to_file, repo=repo
            )
        )

    def clear_locks(self, repo: str | None = None) -> int:
        """Remove stale lock files of local repositories (those no live process holds).

        Parameters
        ----------
        repo
            One repository (``org/repo``), an org, or ``None`` for every repository.

        Returns
        -------
        int
            How many lock files were removed.
        """
        return sync(self._async.clear_locks(repo))
