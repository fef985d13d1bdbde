"""Coordinator jobs in the Repository façade: their records, by name, status or snapshot.

The jobs themselves (:class:`frazil.Job`) live in ``frazil.jobs``, one layer up; this part
only reads the records they keep in the repository.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frazil._repo import job_for_snapshot, list_job_records, require_job
from frazil._repository.base import RepositoryBase
from frazil._sync import sync

if TYPE_CHECKING:
    from frazil._repo import JobRecord, JobStatus

__all__ = ["JobsMixin"]


class JobsMixin(RepositoryBase):
    """The records of coordinator jobs: which run wrote this, with which parameters."""

    async def list_jobs_async(self, *, status: JobStatus | None = None) -> list[JobRecord]:
        """Async version of :meth:`list_jobs`."""
        return await list_job_records(self._ctx.storage, status=status, limit=self._io.concurrency)

    def list_jobs(self, *, status: JobStatus | None = None) -> list[JobRecord]:
        """The records of the repository's coordinator jobs, oldest first.

        Parameters
        ----------
        status
            Only jobs in this state: ``"running"``, ``"committed"``, ``"failed"`` or
            ``"abandoned"``.

        Returns
        -------
        list of JobRecord

        Raises
        ------
        InvalidInputError
            If ``status`` is not one of the four.
        """
        return sync(self.list_jobs_async(status=status))

    async def job_async(self, name: str) -> JobRecord:
        """Async version of :meth:`job`."""
        return (await require_job(self._ctx.storage, name)).record

    def job(self, name: str) -> JobRecord:
        """The record of the job called ``name`` (as stored now: a running job's progress).

        Raises
        ------
        NotFoundError
            With kind ``job-not-found``, if there is no such job.
        InvalidInputError
            If the name breaks the naming rule (that of branches).
        """
        return sync(self.job_async(name))

    async def job_for_snapshot_async(self, snapshot_id: str) -> JobRecord | None:
        """Async version of :meth:`job_for_snapshot`."""
        return await job_for_snapshot(self._io, snapshot_id)

    def job_for_snapshot(self, snapshot_id: str) -> JobRecord | None:
        """The record of the job that committed a snapshot, or None if no job did.

        Raises
        ------
        SnapshotNotFoundError
            If the snapshot does not exist.
        """
        return sync(self.job_for_snapshot_async(snapshot_id))
