"""L3, repository mechanics: object I/O and caches, refs, history, GC, virtual reads, job
records, the operations log.

Nothing here knows of sessions or uncommitted changes. The layers above import these
names from ``frazil._repo`` only, never from its modules.
"""

from __future__ import annotations

from frazil._repo.bootstrap import INITIAL_MESSAGE, bootstrap, frazil_version
from frazil._repo.context import RepoContext, context_for
from frazil._repo.gc import GCSummary, garbage_collect
from frazil._repo.history import (
    Diff,
    SnapshotInfo,
    ancestry,
    ancestry_windows,
    commits_between,
    diff_snapshots,
    net_moves,
    require_snapshot,
    snapshot_as_of,
    to_info,
    unique_rows,
)
from frazil._repo.io import ByteLRU, RepoIO, gather_limited
from frazil._repo.jobs import (
    JOB_STATUSES,
    JobRecord,
    JobState,
    JobStatus,
    create_job,
    job_for_snapshot,
    job_record_key,
    list_job_records,
    read_job,
    replace_job,
    require_job,
    validate_job_name,
)
from frazil._repo.opslog import Update, UpdateType, job_of, read_updates, record_update
from frazil._repo.refs import (
    BRANCHES,
    TAGS,
    RefFamily,
    RefState,
    branch_key,
    cas_ref,
    create_named_ref,
    create_ref,
    delete_named_ref,
    list_named_refs,
    list_refs,
    named_ref_state,
    new_token,
    read_ref,
    tag_key,
    validate_ref_name,
)
from frazil._repo.virtual import VirtualReader, container_of, normalize_location

__all__ = [
    "BRANCHES",
    "INITIAL_MESSAGE",
    "JOB_STATUSES",
    "TAGS",
    "ByteLRU",
    "Diff",
    "GCSummary",
    "JobRecord",
    "JobState",
    "JobStatus",
    "RefFamily",
    "RefState",
    "RepoContext",
    "RepoIO",
    "SnapshotInfo",
    "Update",
    "UpdateType",
    "VirtualReader",
    "ancestry",
    "ancestry_windows",
    "bootstrap",
    "branch_key",
    "cas_ref",
    "commits_between",
    "container_of",
    "context_for",
    "create_job",
    "create_named_ref",
    "create_ref",
    "delete_named_ref",
    "diff_snapshots",
    "frazil_version",
    "garbage_collect",
    "gather_limited",
    "job_for_snapshot",
    "job_of",
    "job_record_key",
    "list_job_records",
    "list_named_refs",
    "list_refs",
    "named_ref_state",
    "net_moves",
    "new_token",
    "normalize_location",
    "read_job",
    "read_ref",
    "read_updates",
    "record_update",
    "replace_job",
    "require_job",
    "require_snapshot",
    "snapshot_as_of",
    "tag_key",
    "to_info",
    "unique_rows",
    "validate_job_name",
    "validate_ref_name",
]
