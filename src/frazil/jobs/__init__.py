"""L8, coordinator jobs: :class:`~frazil.Job`, one distributed write from preparation to
commit, sharded across an executor, resumable after its coordinator dies, and recorded.

``_job`` is the job itself; ``_engine`` runs ``map`` (retries, the merge tree) on the
executors of ``_runners``; ``_shards`` holds shard keys and the functions workers run;
``_lease`` keeps the job's record and heartbeat; ``_progress`` shows how ``map`` goes. The
records are stored by ``frazil._repo`` (:class:`~frazil.JobRecord`), so the repository
façade can read them. ``docs/design/006-jobs.md`` explains the design.
"""

from __future__ import annotations

from frazil._repo import JobRecord
from frazil.jobs._job import Job

__all__ = ["Job", "JobRecord"]
