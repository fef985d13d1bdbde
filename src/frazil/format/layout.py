"""Every storage key frazil reads or writes is spelled here, and only here.

Layout of a repository::

    repo                          root object: format version, repository id
    config                        persisted RepositoryConfig
    refs/branch.NAME              branch ref (compare-and-swap)
    refs/tag.NAME                 tag ref (create-once; a tombstone after deletion)
    snapshots/ID                  node tables
    manifests/ID                  chunk reference columns
    transactions/ID               what a commit changed, for rebase and diff
    chunks/ID                     chunk bytes, exactly as zarr encoded them
    staging/SESSION/...           refs written by pickled writable stores (markers)
    forks/JOB/FORK                forks published under a ticket
    jobs/NAME                     a coordinator job's record and lease (compare-and-swap)
    ops/INV-ID                    one operations-log entry (put-if-absent), newest first
    info                          repository metadata and status (compare-and-swap)
"""

from __future__ import annotations

__all__ = [
    "BRANCH_PREFIX",
    "CHUNK_PREFIX",
    "CONFIG_KEY",
    "FORKS_PREFIX",
    "JOBS_PREFIX",
    "MANIFEST_PREFIX",
    "OPS_PREFIX",
    "REPO_INFO_KEY",
    "REPO_KEY",
    "SNAPSHOT_PREFIX",
    "STAGING_PREFIX",
    "TAG_PREFIX",
    "TRANSACTION_PREFIX",
    "branch_key",
    "chunk_key",
    "fork_key",
    "fork_prefix",
    "job_key",
    "manifest_key",
    "ops_key",
    "snapshot_key",
    "staging_marker_key",
    "staging_prefix",
    "staging_seal_key",
    "tag_key",
    "transaction_key",
]

REPO_KEY = "repo"
CONFIG_KEY = "config"
REPO_INFO_KEY = "info"
BRANCH_PREFIX = "refs/branch."
TAG_PREFIX = "refs/tag."
SNAPSHOT_PREFIX = "snapshots/"
MANIFEST_PREFIX = "manifests/"
TRANSACTION_PREFIX = "transactions/"
CHUNK_PREFIX = "chunks/"
STAGING_PREFIX = "staging/"
FORKS_PREFIX = "forks/"
JOBS_PREFIX = "jobs/"
OPS_PREFIX = "ops/"


def branch_key(name: str) -> str:
    """Key of a branch ref."""
    return f"{BRANCH_PREFIX}{name}"


def tag_key(name: str) -> str:
    """Key of a tag ref."""
    return f"{TAG_PREFIX}{name}"


def snapshot_key(snapshot_id: str) -> str:
    """Key of a snapshot."""
    return f"{SNAPSHOT_PREFIX}{snapshot_id}"


def manifest_key(manifest_id: str) -> str:
    """Key of a manifest."""
    return f"{MANIFEST_PREFIX}{manifest_id}"


def transaction_key(snapshot_id: str) -> str:
    """Key of the transaction log of the commit that wrote ``snapshot_id``."""
    return f"{TRANSACTION_PREFIX}{snapshot_id}"


def chunk_key(chunk_id: str) -> str:
    """Key of a chunk object."""
    return f"{CHUNK_PREFIX}{chunk_id}"


def staging_prefix(session_id: str) -> str:
    """Prefix under which remote copies of a writable store record their writes."""
    return f"{STAGING_PREFIX}{session_id}/"


def staging_seal_key(session_id: str) -> str:
    """Key written when a session that used staging commits or discards its changes; store
    copies that find it after recording a write fail instead of writing into the void."""
    return f"{STAGING_PREFIX}{session_id}/_sealed"


def staging_marker_key(
    session_token: str,
    node_id: str,
    coords: tuple[int, ...],
    *,
    sequence: int,
    writer: str,
    fields: str,
) -> str:
    """Key of one staged chunk write: everything the commit needs is in the key itself, so
    collecting the writes is a listing, with no reads."""
    where = ".".join(str(c) for c in coords) if coords else "_"
    return f"{STAGING_PREFIX}{session_token}/{node_id}/{where}/{sequence:012x}.{writer}.{fields}"


def fork_prefix(job: str) -> str:
    """Prefix under which the forks of one job are published."""
    return f"{FORKS_PREFIX}{job}/"


def fork_key(job: str, fork_id: str) -> str:
    """Key of one published fork."""
    return f"{FORKS_PREFIX}{job}/{fork_id}"


def job_key(name: str) -> str:
    """Key of a coordinator job's record (names follow the branch-name rule)."""
    return f"{JOBS_PREFIX}{name}"


def ops_key(updated_at_micros: int, entry_id: str) -> str:
    """Key of one operations-log entry: the inverted time first, so that a sorted listing
    is newest first, then the entry's random id (two writers never share a key)."""
    inverted = (1 << 63) - 1 - updated_at_micros
    return f"{OPS_PREFIX}{inverted:016x}-{entry_id}"
