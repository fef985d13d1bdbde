"""What garbage collection must keep besides what refs reach: work still in flight.

* A running job (its coordinator alive, or dead and resumable) owns everything written
  since it started: the chunks its workers wrote, the forks it published under
  ``forks/JOB_ID/`` and its coordinator's staging area. :func:`job_safe_cutoff` moves the
  cut-off back to the start of the oldest running job.
* A snapshot written after the cut-off may be a commit whose ref update is in flight (for
  instance one racing an expiry, built on the history as it was before). Its ancestry and
  manifests are kept as if a ref pointed at it: :func:`recent_snapshots`.
"""

from __future__ import annotations

import datetime
from contextlib import aclosing
from typing import TYPE_CHECKING

from frazil._errors import FormatError, SnapshotNotFoundError
from frazil._repo.history import ancestry
from frazil._repo.jobs import list_job_records
from frazil.format import layout

if TYPE_CHECKING:
    from frazil._repo.io import RepoIO
    from frazil.storage import Storage

__all__ = ["CLOCK_MARGIN", "job_safe_cutoff", "recent_snapshots"]


CLOCK_MARGIN = datetime.timedelta(minutes=5)
"""Objects' times come from the storage's clock (an S3 server's, a file system's coarse
one), a job's start from its coordinator's: keep this much more."""


async def job_safe_cutoff(storage: Storage, cutoff: datetime.datetime) -> datetime.datetime:
    """``cutoff``, or (with a margin for clocks) the start of the oldest running job if that
    is earlier."""
    running = await list_job_records(storage, status="running")
    return min([cutoff, *(record.started_at - CLOCK_MARGIN for record in running)])


async def recent_snapshots(io: RepoIO, cutoff: datetime.datetime, known: set[str]) -> set[str]:
    """The snapshots written at or after ``cutoff`` that ``known`` lacks, with their
    ancestry (a history broken by an earlier collection ends the walk quietly)."""
    found: set[str] = set()
    async for info in io.storage.list(layout.SNAPSHOT_PREFIX):
        root = info.key.removeprefix(layout.SNAPSHOT_PREFIX)
        if info.last_modified < cutoff or root in known or root in found:
            continue
        try:
            async with aclosing(ancestry(io, root)) as walk:
                async for record in walk:
                    if record.id in known or record.id in found:
                        break
                    found.add(record.id)
        except (SnapshotNotFoundError, FormatError):
            continue
    return found
