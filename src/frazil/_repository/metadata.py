"""The Repository's own metadata and availability status, and its format version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil._errors import ObjectNotFoundError
from frazil._repo import (
    RepoInfo,
    RepoStatus,
    merge_metadata,
    read_repo_info,
    replace_metadata,
    replace_status,
    update_repo_info,
)
from frazil._repository.base import RepositoryBase, check_storage
from frazil._sync import sync
from frazil.format import FORMAT_VERSION, RepoDoc, SpecVersion, layout
from frazil.storage import RetryingStorage

if TYPE_CHECKING:
    from collections.abc import Callable

    from frazil._config import StorageSettings
    from frazil.storage import Storage

__all__ = ["MetadataMixin"]


class MetadataMixin(RepositoryBase):
    """Repository metadata (a JSON dict), availability status, spec version."""

    async def _update_info(
        self, change: Callable[[RepoInfo], RepoInfo], what: str, *, when_read_only: bool
    ) -> RepoInfo:
        self._require_writable()
        return await update_repo_info(
            self._ctx.storage,
            change,
            retries=self._ctx.config.repo_update_retries.default,
            what=what,
            refuse_when_read_only=not when_read_only,
        )

    # ------------------------------------------------------------------ metadata
    async def get_metadata_async(self) -> dict[str, Any]:
        """Async version of :meth:`get_metadata`."""
        return dict((await read_repo_info(self._ctx.storage)).info.metadata)

    def get_metadata(self) -> dict[str, Any]:
        """The repository's metadata, as stored now (an empty dict if never set).

        Returns
        -------
        dict
            A copy; change it with :meth:`set_metadata` or :meth:`update_metadata`.
        """
        return sync(self.get_metadata_async())

    @property
    def metadata(self) -> dict[str, Any]:
        """The repository's metadata, read from storage (see :meth:`get_metadata`)."""
        return self.get_metadata()

    async def set_metadata_async(self, metadata: dict[str, Any]) -> None:
        """Async version of :meth:`set_metadata`."""
        await self._update_info(
            replace_metadata(metadata), "set the repository metadata", when_read_only=False
        )

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace the repository's metadata.

        Parameters
        ----------
        metadata
            A dict of JSON values.

        Raises
        ------
        InvalidInputError
            If ``metadata`` is not a dict of JSON values (nothing is written).
        ReadOnlyError
            If the repository (or this object) is read-only.
        ConflictError
            With kind ``update-attempts-exhausted`` if other writers kept changing the
            document (see ``RepositoryConfig.repo_update_retries``).
        """
        sync(self.set_metadata_async(metadata))

    async def update_metadata_async(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Async version of :meth:`update_metadata`."""
        info = await self._update_info(
            merge_metadata(metadata), "update the repository metadata", when_read_only=False
        )
        return dict(info.metadata)

    def update_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Set the given keys of the repository's metadata, keeping the others.

        Concurrent updates of different keys all land: each is applied to the latest
        stored version.

        Returns
        -------
        dict
            The metadata after the update.

        Raises
        ------
        InvalidInputError, ReadOnlyError, ConflictError
            As for :meth:`set_metadata`.
        """
        return sync(self.update_metadata_async(metadata))

    # ------------------------------------------------------------------ status
    async def get_status_async(self) -> RepoStatus:
        """Async version of :meth:`get_status`."""
        return (await read_repo_info(self._ctx.storage)).info.status

    def get_status(self) -> RepoStatus:
        """The repository's availability status, as stored now (online if never set)."""
        return sync(self.get_status_async())

    @property
    def status(self) -> RepoStatus:
        """The repository's availability status, read from storage."""
        return self.get_status()

    async def set_status_async(self, status: RepoStatus) -> None:
        """Async version of :meth:`set_status`."""
        await self._update_info(
            replace_status(status), "set the repository status", when_read_only=True
        )

    def set_status(self, status: RepoStatus) -> None:
        """Set the repository's availability, for every process that uses it.

        While the status is ``RepoAvailability.read_only``, writable and rearrange sessions,
        commits (also of sessions opened before), ref changes, configuration and metadata
        changes and garbage collection are refused with :class:`ReadOnlyError`, in this
        process and in any other; reads go on. Setting the status back to ``online``
        re-enables writes.

        Parameters
        ----------
        status
            e.g. ``RepoStatus(RepoAvailability.read_only,
            limited_availability_reason="migration")``.

        Raises
        ------
        InvalidInputError
            If ``status`` is not a RepoStatus.
        ReadOnlyError
            If this Repository object is read-only (:meth:`as_read_only`) or the storage
            cannot make conditional writes.
        """
        sync(self.set_status_async(status))

    # ------------------------------------------------------------------ spec version
    @property
    def spec_version(self) -> SpecVersion:
        """The on-storage format version of this repository."""
        return SpecVersion(FORMAT_VERSION)

    @staticmethod
    async def fetch_spec_version_async(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> SpecVersion | None:
        """Async version of :meth:`fetch_spec_version`."""
        try:
            data = await RetryingStorage(check_storage(storage)).get(layout.REPO_KEY)
        except ObjectNotFoundError:
            return None
        RepoDoc.decode(data, key=layout.REPO_KEY)  # a foreign or newer format raises
        return SpecVersion(FORMAT_VERSION)

    @staticmethod
    def fetch_spec_version(
        storage: Storage, storage_settings: StorageSettings | None = None
    ) -> SpecVersion | None:
        """The format version of the repository at ``storage``, without opening it.

        Parameters
        ----------
        storage
            Where the repository lives.
        storage_settings
            Accepted for Icechunk scripts; the default settings are used.

        Returns
        -------
        SpecVersion or None
            None if there is no repository there.

        Raises
        ------
        FormatError
            If the repository was written in a format this frazil cannot read.
        """
        return sync(MetadataMixin.fetch_spec_version_async(storage, storage_settings))
