"""The operations log: one immutable entry per ref change, newest first.

Every ref change (a branch created, moved by a commit, reset or deleted; a tag created or
deleted; the configuration saved; a feature flag set; snapshots expired; garbage
collected) appends one
object ``ops/INV-ID`` created with ``put(mode="create")``: the key holds the inverted
time (a sorted listing is newest first) and a random id, so concurrent writers never
overwrite each other and nothing is ever read-modify-written. Appending is best effort:
the ref change has happened when it runs, so a failure is logged, never raised.
``docs/design/007-operations.md`` describes the format.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from frazil._errors import AlreadyExistsError, FormatError, FrazilError, ObjectNotFoundError
from frazil._repo.io import gather_limited
from frazil._repo.status import RepoStatus
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


class UpdateType:
    """What an :class:`Update` records: a tagged union, as in Icechunk.

    Each kind of change is a nested class (``UpdateType.NewCommit``, ...); an entry's
    ``kind`` is an instance of one, carrying the ref (``name``; ``branch`` for the kinds
    that concern a branch), the snapshots involved (``previous_snap_id``, ``new_snap_id``;
    frazil records both for commits, creations and resets), the ``job`` whose commit it
    was, and ``details``. Test a kind with ``isinstance(update.kind,
    UpdateType.NewCommit)``; ``kind.code`` is its stable name (``"new_commit"``).
    """

    __slots__ = ("details", "job", "name", "new_snap_id", "previous_snap_id")

    code: ClassVar[str] = ""
    """The stable name stored in the log."""
    is_branch: ClassVar[bool] = False

    RepoInitialized: ClassVar[type[UpdateType]]
    BranchCreated: ClassVar[type[UpdateType]]
    NewCommit: ClassVar[type[UpdateType]]
    CommitAmended: ClassVar[type[UpdateType]]
    BranchReset: ClassVar[type[UpdateType]]
    BranchDeleted: ClassVar[type[UpdateType]]
    TagCreated: ClassVar[type[UpdateType]]
    TagDeleted: ClassVar[type[UpdateType]]
    ConfigChanged: ClassVar[type[UpdateType]]
    FeatureFlagChanged: ClassVar[type[FeatureFlagChanged]]
    MetadataChanged: ClassVar[type[UpdateType]]
    RepoStatusChanged: ClassVar[type[RepoStatusChanged]]
    ExpirationRan: ClassVar[type[UpdateType]]
    GCRan: ClassVar[type[UpdateType]]
    RepoMigrated: ClassVar[type[RepoMigrated]]

    name: str | None
    previous_snap_id: str | None
    new_snap_id: str | None
    job: str | None
    details: dict[str, Any]

    def __init__(
        self,
        *,
        name: str | None = None,
        previous_snap_id: str | None = None,
        new_snap_id: str | None = None,
        job: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.previous_snap_id = previous_snap_id
        self.new_snap_id = new_snap_id
        self.job = job
        self.details = dict(details or {})

    @property
    def branch(self) -> str | None:
        """The branch, for the kinds that concern one (commits, resets, ...)."""
        return self.name if self.is_branch else None

    def _key(self) -> tuple[Any, ...]:
        return (
            self.code,
            self.name,
            self.previous_snap_id,
            self.new_snap_id,
            self.job,
            json.dumps(self.details, sort_keys=True, default=str),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UpdateType):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("name", "previous_snap_id", "new_snap_id", "job")
            if getattr(self, n) is not None
        )
        return f"UpdateType.{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_kind,
            (self.code, self.name, self.previous_snap_id, self.new_snap_id, self.job, self.details),
        )


class FeatureFlagChanged(UpdateType):
    """A feature flag was set: ``id`` is the flag's id, ``new_value`` its new setting
    (True, False, or None for its default); ``details`` also names the flag."""

    __slots__ = ()
    code: ClassVar[str] = "feature_flag_changed"

    @property
    def id(self) -> int:
        """The flag's id."""
        return int(self.details["id"])

    @property
    def new_value(self) -> bool | None:
        """The new setting: True, False, or None (the flag's default applies)."""
        value = self.details.get("new_value")
        return value if isinstance(value, bool) else None

    def __repr__(self) -> str:
        return f"UpdateType.FeatureFlagChanged(id={self.id!r}, new_value={self.new_value!r})"


class RepoStatusChanged(UpdateType):
    """The repository's status was set: :attr:`status` is the new one (``details`` holds
    its stored form)."""

    __slots__ = ()
    code: ClassVar[str] = "repo_status_changed"

    @property
    def status(self) -> RepoStatus:
        """The status that was set."""
        return RepoStatus.from_json(self.details["status"])

    def __repr__(self) -> str:
        return f"UpdateType.RepoStatusChanged(status={self.status!r})"


class RepoMigrated(UpdateType):
    """The repository's format was migrated from :attr:`from_version` to
    :attr:`to_version`, as Icechunk records ``upgrade_icechunk_repository``. frazil has one
    format, so it never records one; the kind exists for scripts that match on it."""

    __slots__ = ()
    code: ClassVar[str] = "repo_migrated"

    @property
    def from_version(self) -> int:
        """The spec version before the migration."""
        return int(self.details.get("from_version", 0))

    @property
    def to_version(self) -> int:
        """The spec version after it."""
        return int(self.details.get("to_version", 0))

    def __repr__(self) -> str:
        return (
            f"UpdateType.RepoMigrated(from_version={self.from_version!r}, "
            f"to_version={self.to_version!r})"
        )


def _variant(
    name: str, code: str, doc: str, *, branch: bool = False, cls: type[UpdateType] | None = None
) -> type[UpdateType]:
    if cls is None:
        cls = type(
            name,
            (UpdateType,),
            {"__slots__": (), "__doc__": doc, "code": code, "is_branch": branch},
        )
    cls.__name__ = name
    cls.__module__ = "frazil"
    cls.__qualname__ = f"UpdateType.{name}"
    setattr(UpdateType, name, cls)
    return cls


_VARIANTS = {
    cls.code: cls
    for cls in (
        _variant(
            "RepoInitialized",
            "repo_initialized",
            "The repository was created (``new_snap_id``: its first snapshot).",
            branch=True,
        ),
        _variant(
            "BranchCreated",
            "branch_created",
            "A branch was created at ``new_snap_id``.",
            branch=True,
        ),
        _variant(
            "NewCommit",
            "new_commit",
            "A commit moved ``branch`` from ``previous_snap_id`` to ``new_snap_id``.",
            branch=True,
        ),
        _variant(
            "CommitAmended",
            "commit_amended",
            "``amend`` replaced ``previous_snap_id`` by ``new_snap_id`` on ``branch``.",
            branch=True,
        ),
        _variant(
            "BranchReset",
            "branch_reset",
            "A branch was moved from ``previous_snap_id`` to ``new_snap_id``.",
            branch=True,
        ),
        _variant(
            "BranchDeleted",
            "branch_deleted",
            "A branch that pointed at ``previous_snap_id`` was deleted.",
            branch=True,
        ),
        _variant("TagCreated", "tag_created", "A tag was created at ``new_snap_id``."),
        _variant(
            "TagDeleted", "tag_deleted", "A tag that pointed at ``previous_snap_id`` was deleted."
        ),
        _variant("ConfigChanged", "config_changed", "The configuration was saved."),
        _variant(
            "MetadataChanged",
            "metadata_changed",
            "The repository's metadata was set or updated; ``details`` names the keys.",
        ),
        _variant(
            "RepoStatusChanged",
            RepoStatusChanged.code,
            "The repository's status was set.",
            cls=RepoStatusChanged,
        ),
        _variant(
            "FeatureFlagChanged",
            FeatureFlagChanged.code,
            "A feature flag was set.",
            cls=FeatureFlagChanged,
        ),
        _variant(
            "RepoMigrated",
            RepoMigrated.code,
            "The repository's format was migrated (never recorded by frazil).",
            cls=RepoMigrated,
        ),
        _variant(
            "ExpirationRan",
            "expiration_ran",
            "``expire_snapshots`` ran; ``details`` holds the cut-off and counts.",
        ),
        _variant(
            "GCRan",
            "gc_ran",
            "``garbage_collect`` ran (not a dry run); ``details`` holds its counts.",
        ),
    )
}

UpdateType.__module__ = "frazil"


def _rebuild_kind(
    code: str,
    name: str | None,
    previous: str | None,
    new: str | None,
    job: str | None,
    details: dict[str, Any],
) -> UpdateType:
    return _VARIANTS[code](
        name=name, previous_snap_id=previous, new_snap_id=new, job=job, details=details
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """One entry of the operations log (:meth:`Repository.ops_log`)."""

    kind: UpdateType
    """What happened: an instance of one of the ``UpdateType`` classes, with its ref and
    snapshots."""
    updated_at: datetime.datetime
    """When (UTC, the writer's clock)."""
    entry_id: str = ""
    """The entry's random id (its key is ``ops/<inverted time>-<entry_id>``)."""
    backup_path: str | None = None
    """Always None (Icechunk names a backup made before some operations; frazil makes
    none)."""

    @property
    def name(self) -> str | None:
        """The branch or tag changed; None for repository-wide changes."""
        return self.kind.name

    @property
    def branch(self) -> str | None:
        """The branch, for the kinds that concern one."""
        return self.kind.branch

    @property
    def previous_snap_id(self) -> str | None:
        """Where the ref pointed before (commits, resets, deletions)."""
        return self.kind.previous_snap_id

    @property
    def new_snap_id(self) -> str | None:
        """Where it points now (creations, commits, resets)."""
        return self.kind.new_snap_id

    @property
    def job(self) -> str | None:
        """The coordinator job whose commit this was, if any."""
        return self.kind.job

    @property
    def details(self) -> dict[str, Any]:
        """More facts (JSON): counts of garbage collection, the expiry cut-off, ..."""
        return dict(self.kind.details)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``updated_at`` as ISO 8601)."""
        return {
            "kind": self.kind.code,
            "updated_at": self.updated_at.isoformat(),
            "name": self.name,
            "previous_snap_id": self.previous_snap_id,
            "new_snap_id": self.new_snap_id,
            "job": self.job,
            "details": self.details,
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
            variant = _VARIANTS[doc["kind"]]
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

        kind = variant(
            name=text("name"),
            previous_snap_id=text("previous_snap_id"),
            new_snap_id=text("new_snap_id"),
            job=text("job"),
            details=details,
        )
        return cls(
            kind=kind, updated_at=micros_to_datetime(micros), entry_id=key.rsplit("-", 1)[-1]
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
    kind: type[UpdateType],
    *,
    name: str | None = None,
    previous: str | None = None,
    new: str | None = None,
    job: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry; a failure is logged and swallowed (the ref change stands)."""
    update = Update(
        kind=kind(name=name, previous_snap_id=previous, new_snap_id=new, job=job, details=details),
        updated_at=datetime.datetime.now(datetime.UTC),
        entry_id=new_id(),
    )
    key = layout.ops_key(datetime_to_micros(update.updated_at), update.entry_id)
    try:
        await storage.put(key, update.encode(), mode="create")
    except AlreadyExistsError:
        pass  # a retried create whose first response was lost: the entry is there
    except (FrazilError, OSError) as exc:
        logger.warning("could not append %s to the operations log: %s", kind.code, exc)


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
