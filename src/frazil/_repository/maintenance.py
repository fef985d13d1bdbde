"""Housekeeping in the Repository façade."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frazil._check import require_int
from frazil._repo import (
    GCSummary,
    garbage_collect,
)
from frazil._sync import sync

if TYPE_CHECKING:
    import datetime


from frazil._repository.base import RepositoryBase

__all__ = ["MaintenanceMixin"]


class MaintenanceMixin(RepositoryBase):
    """Garbage collection (and, later, the other housekeeping operations)."""

    # ------------------------------------------------------------------ maintenance
    async def garbage_collect_async(
        self,
        delete_object_older_than: datetime.datetime,
        *,
        dry_run: bool = False,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
        max_concurrent_deletes: int = 10,
        max_consecutive_delete_failures: int = 50,
        max_concurrent_listings: int | None = None,
    ) -> GCSummary:
        """Async version of :meth:`garbage_collect`."""
        _check_tuning(
            max_snapshots_in_memory=max_snapshots_in_memory,
            max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
            max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
            max_concurrent_manifest_fetches=max_concurrent_manifest_fetches,
            max_concurrent_deletes=max_concurrent_deletes,
            max_consecutive_delete_failures=max_consecutive_delete_failures,
            max_concurrent_listings=max_concurrent_listings,
        )
        await self._require_online("collect garbage")
        return await garbage_collect(
            self._io, self._doc.initial_snapshot_id, delete_object_older_than, dry_run=dry_run
        )

    def garbage_collect(
        self,
        delete_object_older_than: datetime.datetime,
        *,
        dry_run: bool = False,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
        max_concurrent_deletes: int = 10,
        max_consecutive_delete_failures: int = 50,
        max_concurrent_listings: int | None = None,
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
        max_snapshots_in_memory, max_compressed_manifest_mem_bytes, max_decoded_manifest_mem_bytes, max_concurrent_manifest_fetches, max_concurrent_deletes, max_consecutive_delete_failures, max_concurrent_listings
            Icechunk's tuning knobs: validated (positive ints), otherwise no effect.
            frazil reads within ``RepositoryConfig.max_concurrent_requests``, marks live
            chunk ids as NumPy columns, and deletes in the storage's batches.

        Returns
        -------
        GCSummary

        Raises
        ------
        InvalidInputError
            If the cut-off is naive or in the future, or a tuning value is not a positive
            int (nothing is deleted).
        ReadOnlyError
            If the repository or this object is read-only.
        """
        return sync(
            self.garbage_collect_async(
                delete_object_older_than,
                dry_run=dry_run,
                max_snapshots_in_memory=max_snapshots_in_memory,
                max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
                max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
                max_concurrent_manifest_fetches=max_concurrent_manifest_fetches,
                max_concurrent_deletes=max_concurrent_deletes,
                max_consecutive_delete_failures=max_consecutive_delete_failures,
                max_concurrent_listings=max_concurrent_listings,
            )
        )


def _check_tuning(**values: int | None) -> None:
    for name, value in values.items():
        if value is None and name == "max_concurrent_listings":
            continue
        require_int(name, value, low=1)
