"""History: ancestry walks, time travel and diffs between snapshots.

Each snapshot repeats the commit records of its nearest ancestors, so walking the history
of N commits reads about N / (ANCESTOR_WINDOW + 1) snapshots, and diffs combine
transaction logs rather than comparing whole snapshots.
"""

from __future__ import annotations

import copy
import datetime
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._check import require_aware_datetime
from frazil._errors import ErrorKind, InvalidInputError, SnapshotNotFoundError
from frazil.format import CommitInfo, decode_id, is_id, looks_like_id, micros_to_datetime

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable

    from frazil._repo.io import RepoIO
    from frazil.format import Snapshot, TransactionLog

__all__ = [
    "Diff",
    "SnapshotInfo",
    "ancestry",
    "ancestry_windows",
    "commits_between",
    "diff_snapshots",
    "forget_infos",
    "history_now",
    "net_moves",
    "require_snapshot",
    "snapshot_as_of",
    "to_info",
    "unique_rows",
]


class SnapshotInfo:
    """What history shows of one snapshot (one commit). Immutable.

    Parameters
    ----------
    id
        The snapshot id.
    parent_id
        The parent snapshot id; ``None`` for the repository's first snapshot.
    written_at
        When it was committed (UTC).
    message
        The commit message.
    metadata
        The commit metadata.
    """

    # one slot for the stored record and one for its time as a datetime, made when first
    # asked for: history walks make these by the thousand, and most are never looked into
    __slots__ = ("_at", "_record")

    _record: CommitInfo
    _at: datetime.datetime

    def __init__(
        self,
        *,
        id: str,
        parent_id: str | None,
        written_at: datetime.datetime,
        message: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # the record's microseconds are unused here: ``_at`` holds the datetime given,
        # which ``written_at`` returns (it need not be one a stored record could hold)
        record = CommitInfo(id, parent_id, 0, message, dict(metadata or {}))
        _set(self, "_record", record)
        _set(self, "_at", written_at)

    @classmethod
    def _of(cls, record: CommitInfo) -> SnapshotInfo:
        """The public form of a checked stored record (shares its metadata dict, which
        nothing changes)."""
        info = object.__new__(cls)
        _set(info, "_record", record)
        return info

    @property
    def id(self) -> str:
        """The snapshot id."""
        return self._record.id

    @property
    def parent_id(self) -> str | None:
        """The parent snapshot id; ``None`` for the repository's first snapshot."""
        return self._record.parent_id

    @property
    def written_at(self) -> datetime.datetime:
        """When it was committed (UTC)."""
        try:
            return self._at
        except AttributeError:
            at = micros_to_datetime(self._record.written_at)
            _set(self, "_at", at)
            return at

    @property
    def message(self) -> str:
        """The commit message."""
        return self._record.message

    @property
    def _metadata(self) -> dict[str, Any]:
        return self._record.metadata

    @property
    def metadata(self) -> dict[str, Any]:
        """The commit metadata (a copy: changing it changes nothing stored)."""
        return copy.deepcopy(self._record.metadata)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SnapshotInfo is immutable; cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SnapshotInfo):
            return NotImplemented
        return (self.id, self.parent_id, self.written_at, self.message, self._metadata) == (
            other.id,
            other.parent_id,
            other.written_at,
            other.message,
            other._metadata,
        )

    def __hash__(self) -> int:
        return hash((self.id, self.parent_id))

    def __repr__(self) -> str:
        return (
            f"SnapshotInfo(id={self.id!r}, parent_id={self.parent_id!r}, "
            f"written_at={self.written_at!r}, message={self.message!r}, "
            f"metadata={self._metadata!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _snapshot_info,
            (self.id, self.parent_id, self.written_at, self.message, self._metadata),
        )


_set = object.__setattr__


def _snapshot_info(
    id_: str, parent: str | None, written: datetime.datetime, message: str, meta: dict[str, Any]
) -> SnapshotInfo:
    return SnapshotInfo(
        id=id_, parent_id=parent, written_at=written, message=message, metadata=meta
    )


SnapshotInfo.__module__ = "frazil"

_INFOS: dict[tuple[str, str | None, int], SnapshotInfo] = {}
"""Public records already made, by (id, parent, time): history walks are cache hits. A
plain dict (its single operations are atomic), emptied when it reaches :data:`_INFOS_MAX`:
an LRU's lock and bookkeeping cost as much as making a record."""
_INFOS_MAX = 100_000


def forget_infos() -> None:
    """Drop the public records made so far (a cold start within the process)."""
    _INFOS.clear()


def to_info(record: CommitInfo) -> SnapshotInfo:
    """Public form of a stored commit record (shared: it is immutable)."""
    key = (record.id, record.parent_id, record.written_at)
    info = _INFOS.get(key)
    if info is None:
        info = SnapshotInfo._of(record)
        if len(_INFOS) >= _INFOS_MAX:
            _INFOS.clear()
        _INFOS[key] = info
    return info


async def ancestry_windows(io: RepoIO, snapshot_id: str) -> AsyncGenerator[list[CommitInfo], None]:
    """Yield the commit records from ``snapshot_id`` back to the first snapshot, one
    snapshot's window (itself and its recorded ancestors) at a time."""
    snapshot = await io.read_snapshot(snapshot_id)
    shown: set[str] = set()
    while True:
        window = [r for r in (snapshot.info, *snapshot.ancestors) if r.id not in shown]
        if window:
            yield window
        last = snapshot.ancestors[-1] if snapshot.ancestors else snapshot.info
        if last.parent_id is None:
            return
        try:
            snapshot = await io.read_snapshot(last.parent_id)
            shown.clear()
        except SnapshotNotFoundError:
            # expired and collected since this process cached ``snapshot``: its stored
            # version (rewritten by the expiry) says where the history goes now
            head = snapshot.id
            io.snapshots.clear()
            snapshot = await io.read_snapshot(head)
            if (snapshot.ancestors[-1] if snapshot.ancestors else snapshot.info) == last:
                raise
            shown.update(r.id for r in window)


def history_now(
    io: RepoIO, snapshot_id: str, limit: int
) -> tuple[list[CommitInfo], str | None] | None:
    """The commit records from ``snapshot_id`` back, at least ``limit`` of them (or all),
    and the id the walk goes on from (None: the first snapshot was reached), if every
    snapshot on the way is cached or read at once (:meth:`RepoIO.snapshot_now`); else
    None, and :func:`ancestry_windows` reads.

    No event loop is involved, so a walk of a local repository's history (or a cached
    one) costs no trip through the IO loop.
    """
    records: list[CommitInfo] = []
    next_id: str | None = snapshot_id
    while next_id is not None:
        snapshot = io.snapshot_now(next_id)
        if snapshot is None:
            return None
        records.append(snapshot.info)
        records.extend(snapshot.ancestors)
        next_id = records[-1].parent_id
        if next_id is not None and len(records) >= limit:
            break
    return records, next_id


async def ancestry(io: RepoIO, snapshot_id: str) -> AsyncGenerator[CommitInfo, None]:
    """Yield the commit records from ``snapshot_id`` back to the first snapshot.

    Callers that may stop early walk it under ``contextlib.aclosing``, so the window
    reader is closed on the loop rather than finalised at interpreter exit.
    """
    async with aclosing(ancestry_windows(io, snapshot_id)) as windows:
        async for window in windows:
            for record in window:
                yield record


async def require_snapshot(io: RepoIO, snapshot_id: str) -> Snapshot:
    """The snapshot with this id.

    Raises
    ------
    SnapshotNotFoundError
        If none exists, including ids no snapshot can have (20 characters, more than 96
        bits).
    InvalidInputError
        If the string is not a snapshot id at all.
    """
    if looks_like_id(snapshot_id) and not is_id(snapshot_id):
        raise SnapshotNotFoundError(
            f"snapshot {snapshot_id!r} not found (no snapshot can have this id)",
            kind=ErrorKind.SNAPSHOT_NOT_FOUND,
        )
    decode_id(snapshot_id, what="snapshot id")
    return await io.read_snapshot(snapshot_id)


async def snapshot_as_of(io: RepoIO, tip: str, when: datetime.datetime) -> str:
    """The newest snapshot in the ancestry of ``tip`` written at or before ``when``.

    Raises
    ------
    SnapshotNotFoundError
        If every snapshot in the ancestry is newer than ``when``.
    """
    limit = require_aware_datetime("as_of", when).astimezone(datetime.UTC)
    async with aclosing(ancestry(io, tip)) as walk:
        async for record in walk:
            if micros_to_datetime(record.written_at) <= limit:
                return record.id
    raise SnapshotNotFoundError(
        f"no snapshot was written at or before {when.isoformat()} on this branch",
        kind=ErrorKind.NO_SNAPSHOT_AT_TIME,
    )


_SHOWN_CHUNKS = 10


class Diff:
    """What changed between two versions (or in a session's uncommitted changes).

    Paths are absolute (``"/group/array"``). Chunk coordinates are kept as NumPy arrays;
    :attr:`updated_chunks` builds Python lists only when asked. ``moved_nodes`` lists the
    net ``(old path, new path)`` of every node that moved, the children of a moved group
    included; other attributes use the paths after the change.
    """

    __slots__ = (
        "_chunks",
        "deleted_arrays",
        "deleted_groups",
        "moved_nodes",
        "new_arrays",
        "new_groups",
        "updated_arrays",
        "updated_groups",
    )

    def __init__(
        self,
        *,
        new_groups: Iterable[str] = (),
        new_arrays: Iterable[str] = (),
        deleted_groups: Iterable[str] = (),
        deleted_arrays: Iterable[str] = (),
        updated_groups: Iterable[str] = (),
        updated_arrays: Iterable[str] = (),
        updated_chunks: dict[str, np.ndarray[Any, Any]] | None = None,
        moved_nodes: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.new_groups: set[str] = set(new_groups)
        self.new_arrays: set[str] = set(new_arrays)
        self.deleted_groups: set[str] = set(deleted_groups)
        self.deleted_arrays: set[str] = set(deleted_arrays)
        self.updated_groups: set[str] = set(updated_groups)
        self.updated_arrays: set[str] = set(updated_arrays)
        self.moved_nodes: list[tuple[str, str]] = list(moved_nodes)
        self._chunks: dict[str, np.ndarray[Any, Any]] = {
            path: coords for path, coords in (updated_chunks or {}).items() if len(coords)
        }

    @property
    def updated_chunks(self) -> dict[str, list[list[int]]]:
        """Chunk coordinates written or deleted, by array path, in coordinate order."""
        return {path: coords.tolist() for path, coords in sorted(self._chunks.items())}

    @property
    def updated_chunk_coords(self) -> dict[str, np.ndarray[Any, Any]]:
        """The same as :attr:`updated_chunks`, as ``(n, ndim)`` int64 arrays."""
        return dict(self._chunks)

    def is_empty(self) -> bool:
        """True if nothing changed."""
        return not (
            self.new_groups
            or self.new_arrays
            or self.deleted_groups
            or self.deleted_arrays
            or self.updated_groups
            or self.updated_arrays
            or self._chunks
            or self.moved_nodes
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diff):
            return NotImplemented
        return (
            self.new_groups == other.new_groups
            and self.new_arrays == other.new_arrays
            and self.deleted_groups == other.deleted_groups
            and self.deleted_arrays == other.deleted_arrays
            and self.updated_groups == other.updated_groups
            and self.updated_arrays == other.updated_arrays
            and self.moved_nodes == other.moved_nodes
            and self.updated_chunks == other.updated_chunks
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        """Section by section, in Icechunk's layout (scripts compare the text)."""
        out: list[str] = []
        for title, paths in (
            ("Groups created", self.new_groups),
            ("Arrays created", self.new_arrays),
            ("Group definitions updated", self.updated_groups),
            ("Array definitions updated", self.updated_arrays),
            ("Groups deleted", self.deleted_groups),
            ("Arrays deleted", self.deleted_arrays),
        ):
            if paths:
                out.append(f"{title}:\n")
                out.extend(f"    {p}\n" for p in sorted(paths))
                out.append("\n")
        if self._chunks:
            out.append("Chunks updated:\n")
            for path, coords in sorted(self._chunks.items()):
                out.append(f"    {path}:\n")
                out.extend(f"        {row}\n" for row in coords[:_SHOWN_CHUNKS].tolist())
                if len(coords) > _SHOWN_CHUNKS:
                    out.append(f"        ... {len(coords) - _SHOWN_CHUNKS} more\n")
        if self.moved_nodes:
            out.append("Nodes moved/renamed:\n")
            out.extend(f"    {a} -> {b}\n" for a, b in self.moved_nodes)
            out.append("\n")
        return "".join(out) if out else "<Diff: no changes>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_diff,
            (
                sorted(self.new_groups),
                sorted(self.new_arrays),
                sorted(self.deleted_groups),
                sorted(self.deleted_arrays),
                sorted(self.updated_groups),
                sorted(self.updated_arrays),
                self._chunks,
                self.moved_nodes,
            ),
        )


Diff.__module__ = "frazil"


def _rebuild_diff(*args: Any) -> Diff:
    ng, na, dg, da, ug, ua, chunks, moved = args
    return Diff(
        new_groups=ng,
        new_arrays=na,
        deleted_groups=dg,
        deleted_arrays=da,
        updated_groups=ug,
        updated_arrays=ua,
        updated_chunks=chunks,
        moved_nodes=moved,
    )


def unique_rows(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Distinct coordinate rows in row-major order."""
    if len(coords) <= 1 or coords.shape[1] == 0:
        return coords[:1] if coords.shape[1] == 0 else coords
    return np.unique(coords, axis=0)


def net_moves(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str]]:
    """``(old path, new path)`` of every node (by id) whose path changed, children of moved
    groups included, in order of the new path's components (as Icechunk's transaction logs
    list them: ``/a/b`` before ``/a/b/c`` before ``/a/b-c``)."""
    return sorted(
        (
            (path, after[node_id])
            for node_id, path in before.items()
            if node_id in after and after[node_id] != path
        ),
        key=lambda move: (move[1].split("/"), move[0].split("/")),
    )


def combine_logs(logs: Iterable[TransactionLog], before: Snapshot, after: Snapshot) -> Diff:
    """The net effect of consecutive commits, from ``before`` to ``after``.

    Node additions and deletions are judged against the two snapshots (a node created and
    deleted in between does not show); metadata updates are those recorded in the logs for
    nodes present at both ends; chunks are the union of the logs' coordinates for arrays
    present at ``after``, reported under their path there.
    """
    before_ids = {n.node_id: n for n in before.nodes.values()}
    after_ids = {n.node_id: n for n in after.nodes.values()}
    updated_meta: set[str] = set()
    chunk_parts: dict[str, list[np.ndarray[Any, Any]]] = {}
    any_moves = False
    for log in logs:
        updated_meta.update(log.updated_groups)
        updated_meta.update(log.updated_arrays)
        any_moves = any_moves or bool(log.moves)
        for node_id, coords in log.chunks.items():
            chunk_parts.setdefault(node_id, []).append(coords)
    return Diff(
        new_groups=[
            n.path for i, n in after_ids.items() if i not in before_ids and n.kind == "group"
        ],
        new_arrays=[
            n.path for i, n in after_ids.items() if i not in before_ids and n.kind == "array"
        ],
        deleted_groups=[
            n.path for i, n in before_ids.items() if i not in after_ids and n.kind == "group"
        ],
        deleted_arrays=[
            n.path for i, n in before_ids.items() if i not in after_ids and n.kind == "array"
        ],
        updated_groups=[
            after_ids[i].path
            for i in updated_meta
            if i in after_ids and i in before_ids and after_ids[i].kind == "group"
        ],
        updated_arrays=[
            after_ids[i].path
            for i in updated_meta
            if i in after_ids and i in before_ids and after_ids[i].kind == "array"
        ],
        updated_chunks={
            after_ids[i].path: unique_rows(np.concatenate(parts))
            for i, parts in chunk_parts.items()
            if i in after_ids and after_ids[i].kind == "array"
        },
        moved_nodes=net_moves(
            {i: n.path for i, n in before_ids.items()}, {i: n.path for i, n in after_ids.items()}
        )
        if any_moves
        else [],
    )


async def commits_between(io: RepoIO, ancestor: str, descendant: str) -> list[str] | None:
    """The ids of the commits after ``ancestor`` up to ``descendant``, oldest first.

    Empty when both are the same snapshot; None when ``ancestor`` is not in the history of
    ``descendant``.
    """
    chain: list[str] = []
    if ancestor == descendant:
        return chain
    async with aclosing(ancestry(io, descendant)) as walk:
        async for record in walk:
            if record.id == ancestor:
                chain.reverse()
                return chain
            chain.append(record.id)
    return None


async def diff_snapshots(io: RepoIO, from_id: str, to_id: str) -> Diff:
    """Changes from ``from_id`` to ``to_id``; ``from_id`` must be an ancestor of ``to_id``.

    Raises
    ------
    InvalidInputError
        If ``from_id`` is not in the ancestry of ``to_id``.
    """
    chain = await commits_between(io, from_id, to_id)
    if chain is None:
        raise InvalidInputError(
            f"cannot diff: snapshot {from_id!r} is not an ancestor of {to_id!r}. "
            "The 'from' version must be in the history of the 'to' version.",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    logs = await io.read_many([partial(io.read_transaction, sid) for sid in chain])
    before, after = await io.read_many(
        [partial(io.read_snapshot, from_id), partial(io.read_snapshot, to_id)]
    )
    return combine_logs(logs, before, after)
