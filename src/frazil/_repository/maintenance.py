"""Housekeeping in the Repository façade."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        self, delete_object_older_than: datetime.datetime, *, dry_run: bool = False
    ) -> GCSummary:
        """Async version of :meth:`garbage_collect`."""
        await self._require_online("collect garbage")
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
