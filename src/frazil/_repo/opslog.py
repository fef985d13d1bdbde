"""The operations log: one immutable entry per ref change, newest first.

Every ref change (a branch created, moved by a commit, reset or deleted; a tag created or
deleted; the configuration saved; snapshots expired; garbage collected) appends one
object ``ops/INV-ID`` created with ``put(mode="create")``: the key holds the inverted
time (a sorted listing is newest first) and a random id, so concurrent writers never
overwrite each other and nothing is ever read-modify-written. Appending is best effort:
the ref change has happened when it runs, so a failure is logged, never raised.
``docs/design/007-operations.md`` describes the format.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from frazil._errors import AlreadyExistsError, FormatError, FrazilError, ObjectNotFoundError
from frazil._repo.io import gather_limited
from frazil.format import (
    Compression,
    ObjectKind,
    datetime_to_micros,
    decode_document,
    encode_document,
    layout,
    micros_to_datetime,
    new_id,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from frazil.storage import Storage

__all__ = ["Update", "UpdateType", "job_of", "read_updates", "record_update"]

logger = logging.getLogger("frazil.ops")


class UpdateType(StrEnum):
    """What kind of ref change an :class:`Update` records (names as in Icechunk)."""

    RepoInitialized = "repo_initialized"
    """The repository was created (``name`` is ``"main"``, ``new_snap_id`` its first
    snapshot)."""
    BranchCreated = "branch_created"
    """A branch was created at ``new_snap_id``."""
    NewCommit = "new_commit"
    """A commit moved ``branch`` from ``previous_snap_id`` to ``new_snap_id``."""
    CommitAmended = "commit_amended"
    """``amend`` replaced the branch's last commit ``previous_snap_id`` by ``new_snap_id``."""
    BranchReset = "branch_reset"
    """``reset_branch`` moved a branch from ``previous_snap_id`` to ``new_snap_id``."""
    BranchDeleted = "branch_deleted"
    """A branch that pointed at ``previous_snap_id`` was deleted."""
    TagCreated = "tag_created"
    """A tag was created at ``new_snap_id``."""
    TagDeleted = "tag_deleted"
    """A tag that pointed at ``previous_snap_id`` was deleted."""
    ConfigChanged = "config_changed"
    """The repository configuration was saved."""
    ExpirationRan = "expiration_ran"
    """``expire_snapshots`` ran; ``details`` holds the cut-off and what it changed."""
    GCRan = "gc_ran"
    """``garbage_collect`` ran (not a dry run); ``details`` holds what it deleted."""


UpdateType.__module__ = "frazil"


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """One entry of the operations log (:meth:`Repository.ops_log`)."""

    kind: UpdateType
    """What happened."""
    updated_at: datetime.datetime
    """When (UTC, the writer's clock)."""
    name: str | None = None
    """The branch or tag changed (the branch, for commits); None for repository-wide
    changes."""
    previous_snap_id: str | None = None
    """Where the ref pointed before (commits, resets, deletions)."""
    new_snap_id: str | None = None
    """Where it points now (creations, commits, resets)."""
    job: str | None = None
    """The coordinator job whose commit this was, if any."""
    details: dict[str, Any] = field(default_factory=dict)
    """More facts (JSON): counts of garbage collection, the expiry cut-off, ..."""
    entry_id: str = ""
    """The entry's random id (its key is ``ops/<inverted time>-<entry_id>``)."""

    @property
    def branch(self) -> str | None:
        """The branch of a commit, amend, reset, creation or deletion of a branch."""
        branch_kinds = (
            UpdateType.RepoInitialized,
            UpdateType.BranchCreated,
            UpdateType.NewCommit,
            UpdateType.CommitAmended,
            UpdateType.BranchReset,
            UpdateType.BranchDeleted,
        )
        return self.name if self.kind in branch_kinds else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``updated_at`` as ISO 8601)."""
        return {
            "kind": str(self.kind),
            "updated_at": self.updated_at.isoformat(),
            "name": self.name,
            "previous_snap_id": self.previous_snap_id,
            "new_snap_id": self.new_snap_id,
            "job": self.job,
            "details": dict(self.details),
            "entry_id": self.entry_id,
        }

    def encode(self) -> bytes:
        """Serialise."""
        doc = {**self.to_dict(), "updated_at": datetime_to_micros(self.updated_at)}
        del doc["entry_id"]
        return encode_document(ObjectKind.UPDATE, doc, compression=Compression.NONE)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> Update:
        """Parse and check."""
        doc, _ = decode_document(data, key=key, kind=ObjectKind.UPDATE)
        try:
            kind = UpdateType(doc["kind"])
            micros = doc["updated_at"]
            if not isinstance(micros, int):
                raise TypeError("updated_at is not an integer")
            details = doc.get("details") or {}
            if not isinstance(details, dict):
                raise TypeError("details is not an object")
        except (KeyError, ValueError, TypeError) as exc:
            raise FormatError(f"object {key!r} is a malformed log entry: {exc}", key=key) from exc

        def text(name: str) -> str | None:
            value = doc.get(name)
            return None if value is None else str(value)

        return cls(
            kind=kind,
            updated_at=micros_to_datetime(micros),
            name=text("name"),
            previous_snap_id=text("previous_snap_id"),
            new_snap_id=text("new_snap_id"),
            job=text("job"),
            details=details,
            entry_id=key.rsplit("-", 1)[-1],
        )


Update.__module__ = "frazil"


def job_of(metadata: Mapping[str, Any]) -> str | None:
    """The name of the job a commit's metadata names (``frazil_job``), if any."""
    named = metadata.get("frazil_job")
    if isinstance(named, dict) and isinstance(named.get("name"), str):
        return str(named["name"])
    return None


async def record_update(
    storage: Storage,
    kind: UpdateType,
    *,
    name: str | None = None,
    previous: str | None = None,
    new: str | None = None,
    job: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry; a failure is logged and swallowed (the ref change stands)."""
    update = Update(
        kind=kind,
        updated_at=datetime.datetime.now(datetime.UTC),
        name=name,
        previous_snap_id=previous,
        new_snap_id=new,
        job=job,
        details=dict(details or {}),
        entry_id=new_id(),
    )
    key = layout.ops_key(datetime_to_micros(update.updated_at), update.entry_id)
    try:
        await storage.put(key, update.encode(), mode="create")
    except AlreadyExistsError:
        pass  # a retried create whose first response was lost: the entry is there
    except (FrazilError, OSError) as exc:
        logger.warning("could not append %s to the operations log: %s", kind, exc)


async def _read_entry(storage: Storage, key: str) -> Update | None:
    try:
        return Update.decode(await storage.get(key), key=key)
    except ObjectNotFoundError:
        return None


async def read_updates(
    storage: Storage, *, limit: int = 64, batch: int = 256
) -> AsyncIterator[Update]:
    """Every entry, newest first (ties in time in key order).

    Raises
    ------
    FormatError
        If an entry is corrupt.
    """
    keys = sorted([info.key async for info in storage.list(layout.OPS_PREFIX)])
    for start in range(0, len(keys), batch):
        calls = [partial(_read_entry, storage, k) for k in keys[start : start + batch]]
        for update in await gather_limited(calls, limit):
            if update is not None:
                yield update
