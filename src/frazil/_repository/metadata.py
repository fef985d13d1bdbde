"""The Repository's own metadata, availability status and feature flags (the info
document), and its format version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from frazil._errors import ObjectNotFoundError
from frazil._repo import (
    FeatureFlag,
    RepoInfo,
    RepoStatus,
    UpdateType,
    flag_id,
    flags_of,
    merge_metadata,
    read_repo_info,
    record_update,
    replace_feature_flag,
    replace_metadata,
    replace_status,
    retrying,
    update_repo_info,
)
from frazil._repository.base import RepositoryBase, check_storage, check_storage_settings
from frazil._sync import sync
from frazil.format import FORMAT_VERSION, RepoDoc, SpecVersion, layout

if TYPE_CHECKING:
    from collections.abc import Callable

    from frazil._config import StorageSettings
    from frazil.storage import Storage

__all__ = ["MetadataMixin"]


class MetadataMixin(RepositoryBase):
    """Repository metadata (a JSON dict), availability status, feature flags, spec
    version."""

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
        await record_update(
            self._ctx.storage, UpdateType.MetadataChanged, details={"keys": sorted(metadata)}
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
        await record_update(
            self._ctx.storage,
            UpdateType.MetadataChanged,
            details={"keys": sorted(metadata), "merged": True},
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
        await record_update(
            self._ctx.storage,
            UpdateType.RepoStatusChanged,
            details={"status": status.to_json()},
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

    # ------------------------------------------------------------------ feature flags
    async def feature_flags_async(self) -> list[FeatureFlag]:
        """Async version of :meth:`feature_flags`."""
        return flags_of((await read_repo_info(self._ctx.storage)).info.feature_flags)

    def feature_flags(self) -> list[FeatureFlag]:
        """Every feature flag with its default, its setting and whether it is enabled.

        A disabled flag makes every frazil process refuse its operation in this
        repository: ``move_node`` (rearrange sessions, ``Session.move`` and their
        commits), ``create_tag`` and ``delete_tag``. All are enabled by default.

        Returns
        -------
        list of FeatureFlag
            Sorted by name, read from storage now.
        """
        return sync(self.feature_flags_async())

    async def enabled_feature_flags_async(self) -> list[FeatureFlag]:
        """Async version of :meth:`enabled_feature_flags`."""
        return [f for f in await self.feature_flags_async() if f.enabled]

    def enabled_feature_flags(self) -> list[FeatureFlag]:
        """The feature flags that are enabled (by default or by a setting)."""
        return sync(self.enabled_feature_flags_async())

    async def disabled_feature_flags_async(self) -> list[FeatureFlag]:
        """Async version of :meth:`disabled_feature_flags`."""
        return [f for f in await self.feature_flags_async() if not f.enabled]

    def disabled_feature_flags(self) -> list[FeatureFlag]:
        """The feature flags that are disabled."""
        return sync(self.disabled_feature_flags_async())

    async def set_feature_flag_async(self, name: str, setting: bool | None) -> None:
        """Async version of :meth:`set_feature_flag`."""
        change = replace_feature_flag(name, setting)
        await self._update_info(change, f"set feature flag {name!r}", when_read_only=False)
        await record_update(
            self._ctx.storage,
            UpdateType.FeatureFlagChanged,
            details={"id": flag_id(name), "flag": name, "new_value": setting},
        )

    def set_feature_flag(self, name: str, setting: bool | None) -> None:
        """Enable or disable a feature for every process that uses this repository.

        The setting is stored in the repository and appended to the operations log
        (``UpdateType.FeatureFlagChanged``). Operations already past their check are not
        undone: tags that exist stay when ``create_tag`` or ``delete_tag`` is disabled.

        Parameters
        ----------
        name
            A flag's name: ``"move_node"``, ``"create_tag"`` or ``"delete_tag"``.
        setting
            True to enable, False to disable, None to go back to the flag's default.

        Raises
        ------
        InvalidInputError
            With kind ``invalid-feature-flag`` if there is no flag of that name, or if
            ``setting`` is not True, False or None (nothing is written).
        ReadOnlyError
            If the repository's status (or this object) is read-only, or the storage
            cannot make conditional writes.
        ConflictError
            With kind ``update-attempts-exhausted`` if other writers kept changing the
            info document.

        Examples
        --------
        >>> import frazil
        >>> repo = frazil.Repository.create(frazil.in_memory_storage())
        >>> repo.set_feature_flag("delete_tag", False)
        >>> [f.name for f in repo.disabled_feature_flags()]
        ['delete_tag']
        """
        sync(self.set_feature_flag_async(name, setting))

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
        probe = retrying(check_storage(storage), check_storage_settings(storage_settings))
        try:
            data = await probe.get(layout.REPO_KEY)
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
            Retries for the read (``StorageSettings(retries=...)``); the defaults if
            None.

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
