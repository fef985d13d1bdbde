"""Garbage collection: delete objects no branch or tag can reach, and stale debris.

Marks every snapshot reachable from a branch or tag (through ancestry), every manifest
and chunk those snapshots reference, then deletes unreferenced snapshots, manifests,
transaction logs and chunks that are older than a cut-off. Staging markers of remote store
copies and published forks older than the cut-off are deleted too.

The cut-off protects work in flight: a session writes its chunks before it commits, so
objects newer than the oldest session that may still commit must be kept. Choose a cut-off
well before the start of any running job.
"""

from __future__ import annotations

import dataclasses
import datetime
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from frazil._check import require_aware_datetime
from frazil._errors import ErrorKind, InvalidInputError
from frazil._repo.history import ancestry
from frazil._repo.opslog import UpdateType, record_update
from frazil._repo.refs import list_refs, read_ref
from frazil._repo.retention import job_safe_cutoff, recent_snapshots
from frazil.format import RefKind, encode_id, layout

if TYPE_CHECKING:
    from frazil._repo.io import RepoIO

__all__ = ["GCSummary", "garbage_collect"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GCSummary:
    """What a garbage collection deleted (or, with ``dry_run``, would delete)."""

    snapshots_deleted: int = 0
    """Unreachable snapshots."""
    manifests_deleted: int = 0
    """Unreachable manifests."""
    transaction_logs_deleted: int = 0
    """Transaction logs of unreachable snapshots."""
    chunks_deleted: int = 0
    """Unreferenced chunk objects."""
    staging_deleted: int = 0
    """Stale markers of remote store copies."""
    forks_deleted: int = 0
    """Stale published forks."""
    bytes_deleted: int = 0
    """Total size of everything deleted."""
    attributes_deleted: int = 0
    """Icechunk's count of attribute files; always 0 (frazil keeps attributes in
    snapshots)."""
    objects_failed_to_delete: int = 0
    """Objects whose delete failed (a failed batch raises instead, so always 0)."""
    throttled_batches: int = 0
    """Delete batches the store throttled (retried by the storage layer; not counted)."""
    delete_errors: tuple[str, ...] = ()
    """Messages of failed deletes (see ``objects_failed_to_delete``)."""
    skipped_phases: tuple[str, ...] = ()
    """Delete phases skipped after failures (none: a failure raises)."""


GCSummary.__module__ = "frazil"


async def _roots(io: RepoIO, initial_snapshot: str) -> set[str]:
    roots = {initial_snapshot}
    for prefix, key_of in (
        (layout.BRANCH_PREFIX, layout.branch_key),
        (layout.TAG_PREFIX, layout.tag_key),
    ):
        names = await list_refs(io.storage, prefix)
        states = await io.read_many([partial(read_ref, io.storage, key_of(n)) for n in names])
        roots.update(s.doc.snapshot_id for s in states if s is not None and not s.doc.deleted)
    return roots


async def garbage_collect(
    io: RepoIO, initial_snapshot: str, cutoff: object, *, dry_run: object
) -> GCSummary:
    """Collect garbage in the repository behind ``io``; see the module docstring."""
    cutoff = require_aware_datetime("delete_object_older_than", cutoff)
    if cutoff > datetime.datetime.now(datetime.UTC):
        raise InvalidInputError(
            f"delete_object_older_than={cutoff.isoformat()} is in the future: it would delete "
            "chunks that running sessions have written but not yet committed. Pick a time "
            "before the start of any running job.",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    if not isinstance(dry_run, bool):
        raise InvalidInputError(
            f"dry_run must be True or False, got {dry_run!r}", kind=ErrorKind.INVALID_ARGUMENT
        )
    cutoff = await job_safe_cutoff(io.storage, cutoff)
    snapshots: set[str] = set()
    for root in await _roots(io, initial_snapshot):
        async with aclosing(ancestry(io, root)) as walk:
            async for record in walk:
                if record.id in snapshots:
                    break
                snapshots.add(record.id)
    snapshots |= await recent_snapshots(io, cutoff, snapshots)
    manifests: set[str] = set()
    chunk_ids: list[np.ndarray] = []
    for snapshot in await io.read_many([partial(io.read_snapshot, s) for s in snapshots]):
        for node in snapshot.nodes.values():
            manifests.update(m.manifest_id for m in node.manifests)
        blobs = snapshot.blob_refs
        chunk_ids.append(blobs.chunk_id[blobs.kind == RefKind.NATIVE])
    for manifest in await io.read_many([partial(io.read_manifest, m) for m in manifests]):
        for segment in manifest.segments:
            refs = segment.refs
            chunk_ids.append(refs.chunk_id[refs.kind == RefKind.NATIVE])
    live_chunks: set[str] = set()
    if chunk_ids:
        stacked = np.ascontiguousarray(np.concatenate(chunk_ids)).view("V12").reshape(-1)
        live_chunks = {encode_id(v.tobytes()) for v in np.unique(stacked)}

    counts = dict.fromkeys(
        ("snapshots", "manifests", "transactions", "chunks", "staging", "forks"), 0
    )
    doomed: list[str] = []
    size = 0
    live = {
        layout.SNAPSHOT_PREFIX: snapshots,
        layout.TRANSACTION_PREFIX: snapshots,
        layout.MANIFEST_PREFIX: manifests,
        layout.CHUNK_PREFIX: live_chunks,
        layout.STAGING_PREFIX: set(),
        layout.FORKS_PREFIX: set(),
    }
    for prefix, keep in live.items():
        async for info in io.storage.list(prefix):
            if info.last_modified >= cutoff:
                continue
            name = info.key.removeprefix(prefix)
            if prefix in (layout.STAGING_PREFIX, layout.FORKS_PREFIX) or name not in keep:
                doomed.append(info.key)
                counts[prefix.rstrip("/")] += 1
                size += info.size
    if not dry_run and doomed:
        await io.storage.delete_many(doomed)
        for key in doomed:
            family = key.split("/", 1)[0]
            if family == "snapshots":
                io.snapshots.clear()
            elif family == "manifests":
                io.manifests.clear()
                io.indexes.clear()
    summary = GCSummary(
        snapshots_deleted=counts["snapshots"],
        manifests_deleted=counts["manifests"],
        transaction_logs_deleted=counts["transactions"],
        chunks_deleted=counts["chunks"],
        staging_deleted=counts["staging"],
        forks_deleted=counts["forks"],
        bytes_deleted=size,
    )
    if not dry_run:
        details = {"cutoff": cutoff.isoformat(), **dataclasses.asdict(summary)}
        await record_update(io.storage, UpdateType.GCRan, details=details)
    return summary
