"""L5, transactions: from a workspace to a moved branch.

Building a commit's objects (``build``), the sans-IO retry loop around the ref update
(``protocol``), rebasing over other writers' commits (``rebase``) with conflict solvers
(``solvers``), and the two ways writes made elsewhere reach a commit: staging markers of
shipped stores (``staging``) and published forks of batch jobs (``tickets``).
"""

from __future__ import annotations

from frazil._commit.build import (
    CommitArtifacts,
    ManifestReuse,
    build_commit,
    write_artifacts,
)
from frazil._commit.protocol import (
    BuildAndWrite,
    Rebase,
    RefMoved,
    RefUpdated,
    Request,
    Sleep,
    UpdateRef,
    commit_protocol,
)
from frazil._commit.rebase import (
    Rebased,
    detect_conflicts,
    rebase_onto_branch,
    rebase_workspace,
)
from frazil._commit.solvers import (
    BasicConflictSolver,
    ConflictDetector,
    ConflictSolver,
    Decision,
)
from frazil._commit.staging import StagingWriter, collect_staged, delete_staged, seal, unseal
from frazil._commit.tickets import (
    PARENT,
    Ticket,
    decode_publication,
    delete_publications,
    encode_publication,
    new_job_name,
    publish,
    read_parent,
    read_publications,
    validate_job,
)

__all__ = [
    "PARENT",
    "BasicConflictSolver",
    "BuildAndWrite",
    "CommitArtifacts",
    "ConflictDetector",
    "ConflictSolver",
    "Decision",
    "ManifestReuse",
    "Rebase",
    "Rebased",
    "RefMoved",
    "RefUpdated",
    "Request",
    "Sleep",
    "StagingWriter",
    "Ticket",
    "UpdateRef",
    "build_commit",
    "collect_staged",
    "commit_protocol",
    "decode_publication",
    "delete_publications",
    "delete_staged",
    "detect_conflicts",
    "encode_publication",
    "new_job_name",
    "publish",
    "read_parent",
    "read_publications",
    "rebase_onto_branch",
    "rebase_workspace",
    "seal",
    "unseal",
    "validate_job",
    "write_artifacts",
]
