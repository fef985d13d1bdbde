"""Integrity checks in four levels, each including the ones below.

1. the repository object, the configuration and every ref decode; every snapshot reachable
   from a ref exists and decodes, and its parent chain is whole down to the first snapshot;
2. every manifest and transaction log of those snapshots exists and decodes, and each
   manifest holds the blocks the snapshots say it does;
3. every native chunk they reference exists with the recorded size (one listing of
   ``chunks/`` and vectorised set differences, not one request per chunk); the files of
   virtual chunks exist, are long enough and match their pinned ETag or modification
   time, read (one byte per file) through the Repository object's authorised reader, so
   a check never reaches a location its caller did not authorise;
4. every chunk's bytes match their recorded crc32c (read in bounded batches, concurrently).

Everything is read from storage, bypassing the caches (a cached copy would hide a deleted
object), and nothing is written to the repository.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import pathlib
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._checksum import crc32c
from frazil._config import RepositoryConfig
from frazil._errors import (
    ErrorKind,
    FormatError,
    InvalidInputError,
    ObjectNotFoundError,
    RefNotFoundError,
    StorageError,
    VirtualChunkNotAuthorizedError,
    VirtualSourceChangedError,
)
from frazil._repo import (
    BRANCHES,
    TAGS,
    RepoInfo,
    VirtualReader,
    gather_limited,
    list_refs,
    read_ref,
)
from frazil.format import (
    Manifest,
    ObjectKind,
    RefKind,
    RepoDoc,
    Snapshot,
    TransactionLog,
    decode_document,
    layout,
    split_location,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from frazil._repo import RepoIO

__all__ = ["Finding", "IntegrityReport", "ProgressCallback", "check_integrity", "encode_ids"]

type ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while a check runs."""

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
_FIVE_BITS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def encode_ids(raw: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The 20-character text of every row of a ``(n, 12)`` uint8 id matrix, vectorised
    (the same spelling as :func:`frazil.format.encode_id`)."""
    n = len(raw)
    bits = np.unpackbits(np.ascontiguousarray(raw, dtype=np.uint8), axis=1)
    padded = np.concatenate([np.zeros((n, 4), dtype=np.uint8), bits], axis=1)
    digits = padded.reshape(n, 20, 5) @ _FIVE_BITS
    chars = np.ascontiguousarray(_ALPHABET[digits])
    return chars.view("S20").reshape(n).astype("U20")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem an integrity check found."""

    level: int
    """The level (1-4) whose check found it."""
    key: str
    """The storage key of the object at fault (``snapshots/ID``, ``chunks/ID``, ...)."""
    kind: str
    """``"missing"``, ``"corrupt"``, ``"size-mismatch"``, ``"checksum-mismatch"``,
    ``"broken-history"`` or ``"inconsistent"``."""
    message: str
    """What is wrong, for people."""
    snapshots: tuple[str, ...] = ()
    """Snapshots affected (those that reference the object), when known."""
    arrays: tuple[str, ...] = ()
    """Array paths affected, when known."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "level": self.level,
            "key": self.key,
            "kind": self.kind,
            "message": self.message,
            "snapshots": list(self.snapshots),
            "arrays": list(self.arrays),
        }


Finding.__module__ = "frazil"


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityReport:
    """What :meth:`Repository.check_integrity` checked and found."""

    level: int
    """The level checked (1-4)."""
    findings: tuple[Finding, ...] = ()
    """Every problem found (only the first with ``stop_on_error=True``)."""
    complete: bool = True
    """False if the check stopped at the first finding."""
    counts: dict[str, int] = field(default_factory=dict)
    """How many objects of each family were checked (refs, snapshots, manifests,
    transactions, chunks, virtual_files) and ``bytes_read`` at level 4."""
    checked_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )
    """When the check ran (UTC)."""
    file: str | None = None
    """Where the report was written (``to_file``), if anywhere."""

    @property
    def ok(self) -> bool:
        """True if nothing was found."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ok": self.ok,
            "level": self.level,
            "complete": self.complete,
            "checked_at": self.checked_at.isoformat(),
            "counts": dict(self.counts),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        """The report as one JSON document."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        head = f"integrity check, level {self.level}: "
        if self.ok:
            return head + f"OK ({counts})"
        more = "" if self.complete else " (stopped at the first; check again with all errors)"
        lines = [head + f"{len(self.findings)} finding(s){more} ({counts})"]
        lines.extend(f"  [level {f.level}] {f.kind} {f.key}: {f.message}" for f in self.findings)
        return "\n".join(lines)


IntegrityReport.__module__ = "frazil"


class _Stop(Exception):
    """Raised internally to stop at the first finding."""


@dataclass(slots=True)
class _Source:
    manifest_or_snapshot: str
    array: str
    snapshots: set[str]


class _Checker:
    def __init__(
        self,
        io: RepoIO,
        *,
        stop: bool,
        progress: ProgressCallback | None,
        initial: str,
        virtual: VirtualReader | None = None,
    ) -> None:
        self.io = io
        self.virtual = virtual
        self.storage = io.storage
        self.stop = stop
        self.progress = progress
        self.initial = initial
        self.findings: list[Finding] = []
        self.counts: dict[str, int] = {}
        # snapshot id -> decoded snapshot (reachable and readable)
        self.snapshots: dict[str, Snapshot] = {}

    def find(self, level: int, key: str, kind: str, message: str, **extra: Any) -> None:
        self.findings.append(Finding(level=level, key=key, kind=kind, message=message, **extra))
        if self.stop:
            raise _Stop

    def tick(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    async def get(self, key: str, level: int, what: str, **extra: Any) -> bytes | None:
        try:
            return await self.storage.get(key)
        except ObjectNotFoundError:
            self.find(level, key, "missing", f"{what} is missing", **extra)
            return None

    async def many[T](self, calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
        return await gather_limited(calls, self.io.concurrency)

    # ------------------------------------------------------------------ level 1
    async def level1(self, branch: str | None) -> None:
        data = await self.get(layout.REPO_KEY, 1, "the repository object")
        if data is not None:
            try:
                RepoDoc.decode(data, key=layout.REPO_KEY)
            except FormatError as exc:
                self.find(1, layout.REPO_KEY, "corrupt", str(exc))
        if await self.storage.exists(layout.CONFIG_KEY):
            try:
                raw = await self.storage.get(layout.CONFIG_KEY)
                doc, _ = decode_document(raw, key=layout.CONFIG_KEY, kind=ObjectKind.CONFIG)
                RepositoryConfig.from_dict(doc)
            except (FormatError, TypeError, KeyError, ValueError) as exc:
                self.find(1, layout.CONFIG_KEY, "corrupt", f"the configuration: {exc}")
        if await self.storage.exists(layout.REPO_INFO_KEY):
            try:
                RepoInfo.decode(await self.storage.get(layout.REPO_INFO_KEY))
            except FormatError as exc:
                self.find(1, layout.REPO_INFO_KEY, "corrupt", f"the metadata and status: {exc}")
        roots: dict[str, set[str]] = {}
        families = [BRANCHES] if branch is not None else [BRANCHES, TAGS]
        refs = 0
        for family in families:
            names = await list_refs(self.storage, family.prefix)
            if branch is not None:
                if branch not in names:
                    raise RefNotFoundError(
                        f"branch {branch!r} not found; existing branches: {names}",
                        kind=ErrorKind.REF_NOT_FOUND,
                    )
                names = [branch]
            for name in names:
                key = family.layout_key(name)
                refs += 1
                try:
                    state = await read_ref(self.storage, key)
                except FormatError as exc:
                    self.find(1, key, "corrupt", str(exc))
                    continue
                if state is not None and not state.doc.deleted:
                    roots.setdefault(state.doc.snapshot_id, set()).add(key)
        self.counts["refs"] = refs
        expected_parent: dict[str, str | None] = {}
        heads: dict[str, Snapshot] = {}
        for root, ref_keys in roots.items():
            await self._walk(root, sorted(ref_keys), expected_parent, heads)
        rest = [s for s in expected_parent if s not in heads]
        done = 0

        async def read(snapshot_id: str) -> tuple[str, Snapshot | None, str | None]:
            key = layout.snapshot_key(snapshot_id)
            try:
                return snapshot_id, _decode_snapshot(await self.storage.get(key), key), None
            except ObjectNotFoundError:
                return snapshot_id, None, "missing"
            except FormatError as exc:
                return snapshot_id, None, str(exc)

        for start in range(0, len(rest), 512):
            for sid, snap, error in await self.many(
                [partial(read, s) for s in rest[start : start + 512]]
            ):
                key = layout.snapshot_key(sid)
                if error == "missing":
                    self.find(
                        1, key, "missing", "a snapshot in the history is missing", snapshots=(sid,)
                    )
                elif error is not None:
                    self.find(1, key, "corrupt", error, snapshots=(sid,))
                else:
                    assert snap is not None
                    self._check_parent(snap, expected_parent[sid])
                    self.snapshots[sid] = snap
            done += min(512, len(rest) - start)
            self.tick("snapshots", done, len(rest))
        self.snapshots.update(heads)
        self.counts["snapshots"] = len(expected_parent)

    def _check_parent(self, snap: Snapshot, expected: str | None) -> None:
        if snap.info.parent_id != expected:
            self.find(
                1,
                layout.snapshot_key(snap.id),
                "inconsistent",
                f"its parent is {snap.info.parent_id!r}, but its child's history says {expected!r}",
                snapshots=(snap.id,),
            )

    async def _walk(
        self,
        root: str,
        ref_keys: list[str],
        expected_parent: dict[str, str | None],
        heads: dict[str, Snapshot],
    ) -> None:
        head: str | None = root
        child: str | None = None
        while head is not None and head not in heads:
            key = layout.snapshot_key(head)
            try:
                snap = _decode_snapshot(await self.storage.get(key), key)
            except (ObjectNotFoundError, FormatError) as exc:
                what = "missing" if isinstance(exc, ObjectNotFoundError) else "corrupt"
                where = (
                    f"the snapshot {ref_keys[0]!r} points to"
                    if child is None
                    else (f"the parent of {child!r}")
                )
                self.find(
                    1,
                    key,
                    what,
                    f"{where} is {what}: the history of {', '.join(ref_keys)} is broken here",
                    snapshots=(head,),
                )
                expected_parent.pop(head, None)
                return
            if head in expected_parent:
                self._check_parent(snap, expected_parent[head])
            heads[head] = snap
            window = [snap.info, *snap.ancestors]
            for record in window:
                expected_parent.setdefault(record.id, record.parent_id)
            last = window[-1]
            if last.parent_id is None and last.id != self.initial:
                self.find(
                    1,
                    layout.snapshot_key(last.id),
                    "broken-history",
                    f"the history of {', '.join(ref_keys)} ends in {last.id!r}, not in the "
                    f"repository's first snapshot {self.initial!r}",
                    snapshots=(last.id,),
                )
            child = last.id
            head = last.parent_id

    # ------------------------------------------------------------------ level 2
    async def level2(self) -> list[tuple[Manifest, _Source | None]]:
        wanted: dict[str, list[tuple[str, tuple[int, ...], int, str, str]]] = {}
        for sid, snap in self.snapshots.items():
            for node in snap.nodes.values():
                for ref in node.manifests:
                    wanted.setdefault(ref.manifest_id, []).append(
                        (node.node_id, ref.block, ref.rows, node.path, sid)
                    )

        async def read_tx(sid: str) -> None:
            key = layout.transaction_key(sid)
            data = await self.get(key, 2, "the transaction log", snapshots=(sid,))
            if data is None:
                return
            try:
                log = TransactionLog.decode(data, key=key)
            except FormatError as exc:
                self.find(2, key, "corrupt", str(exc), snapshots=(sid,))
                return
            if log.snapshot_id != sid:
                self.find(
                    2,
                    key,
                    "inconsistent",
                    f"holds the log of {log.snapshot_id!r}",
                    snapshots=(sid,),
                )

        sids = list(self.snapshots)
        await self.many([partial(read_tx, s) for s in sids])
        self.counts["transactions"] = len(sids)

        manifests: list[tuple[Manifest, _Source | None]] = []

        async def read_manifest(mid: str) -> None:
            uses = wanted[mid]
            snaps = tuple(sorted({u[4] for u in uses}))
            arrays = tuple(sorted({u[3] for u in uses}))
            key = layout.manifest_key(mid)
            data = await self.get(key, 2, "a manifest", snapshots=snaps, arrays=arrays)
            if data is None:
                return
            try:
                manifest = Manifest.decode(data, key=key)
            except FormatError as exc:
                self.find(2, key, "corrupt", str(exc), snapshots=snaps, arrays=arrays)
                return
            rows = {(s.node_id, s.block): len(s.refs) for s in manifest.segments}
            for node_id, block, count, path, sid in uses:
                if rows.get((node_id, block)) != count:
                    self.find(
                        2,
                        key,
                        "inconsistent",
                        f"snapshot {sid!r} expects {count} references of block {list(block)} "
                        f"of {path!r} here; the manifest has {rows.get((node_id, block), 0)}",
                        snapshots=(sid,),
                        arrays=(path,),
                    )
                    return
            paths = {u[0]: u[3] for u in uses}
            manifests.extend(
                (
                    Manifest(manifest_id=mid, segments=(seg,)),
                    _Source(mid, paths.get(seg.node_id, "?"), set(snaps)),
                )
                for seg in manifest.segments
            )

        mids = list(wanted)
        for start in range(0, len(mids), 256):
            await self.many([partial(read_manifest, m) for m in mids[start : start + 256]])
            self.tick("manifests", min(start + 256, len(mids)), len(mids))
        self.counts["manifests"] = len(mids)
        return manifests

    # ------------------------------------------------------------------ level 3
    def _native_columns(
        self, manifests: list[tuple[Manifest, _Source | None]]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], _Owners]:
        ids: list[np.ndarray[Any, Any]] = []
        lengths: list[np.ndarray[Any, Any]] = []
        sums: list[np.ndarray[Any, Any]] = []
        owner: list[np.ndarray[Any, Any]] = []
        sources: list[_Source] = []
        tables = [(m.segments[0].refs, src) for m, src in manifests]
        for sid, snap in self.snapshots.items():
            tables.append((snap.blob_refs, _Source(layout.snapshot_key(sid), "/", {sid})))
        for refs, src in tables:
            mask = refs.kind == RefKind.NATIVE
            if not mask.any():
                continue
            assert src is not None
            ids.append(refs.chunk_id[mask])
            lengths.append(refs.length[mask])
            sums.append(refs.checksum[mask])
            owner.append(np.full(int(mask.sum()), len(sources), dtype=np.int64))
            sources.append(src)
        if not ids:
            empty = np.zeros(0, dtype=np.uint64)
            return np.zeros((0, 12), dtype=np.uint8), empty, empty, _Owners([], [])
        raw = np.concatenate(ids)
        _, first = np.unique(np.ascontiguousarray(raw).view("V12").reshape(-1), return_index=True)
        owners = np.concatenate(owner)[first]
        return (
            raw[first],
            np.concatenate(lengths)[first],
            np.concatenate(sums)[first],
            _Owners(sources, owners),
        )

    async def level3(
        self, manifests: list[tuple[Manifest, _Source | None]]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], _Owners]:
        raw, lengths, sums, owners = self._native_columns(manifests)
        names = encode_ids(raw)
        listed: list[str] = []
        sizes: list[int] = []
        async for info in self.storage.list(layout.CHUNK_PREFIX):
            listed.append(info.key.removeprefix(layout.CHUNK_PREFIX))
            sizes.append(info.size)
        order = np.argsort(np.array(listed, dtype="U20")) if listed else np.zeros(0, np.int64)
        sorted_names = np.array(listed, dtype="U20")[order] if listed else np.zeros(0, "U20")
        sorted_sizes = np.array(sizes, dtype=np.uint64)[order] if listed else np.zeros(0, np.uint64)
        pos = np.searchsorted(sorted_names, names)
        pos_c = np.minimum(pos, max(len(sorted_names) - 1, 0))
        present = (
            (pos < len(sorted_names)) & (sorted_names[pos_c] == names)
            if len(sorted_names)
            else np.zeros(len(names), dtype=bool)
        )
        size_ok = present & (sorted_sizes[pos_c] == lengths) if len(sorted_names) else present
        for i in np.flatnonzero(~present).tolist():
            src = owners[i]
            self.find(
                3,
                layout.chunk_key(str(names[i])),
                "missing",
                f"a chunk of {src.array!r} referenced by {src.manifest_or_snapshot!r} is missing",
                snapshots=tuple(sorted(src.snapshots)),
                arrays=(src.array,),
            )
        for i in np.flatnonzero(present & ~size_ok).tolist():
            src = owners[i]
            self.find(
                3,
                layout.chunk_key(str(names[i])),
                "size-mismatch",
                f"a chunk of {src.array!r} has {int(sorted_sizes[pos_c[i]])} bytes, its "
                f"reference says {int(lengths[i])} (truncated or overwritten)",
                snapshots=tuple(sorted(src.snapshots)),
                arrays=(src.array,),
            )
        self.counts["chunks"] = len(names)
        await self._virtual(manifests)
        keep = np.flatnonzero(size_ok)
        return names[keep], sums[keep], owners.subset(keep)

    async def _virtual(self, manifests: list[tuple[Manifest, _Source | None]]) -> None:
        ends: dict[str, tuple[int, _Source]] = {}
        for manifest, src in manifests:
            refs = manifest.segments[0].refs
            mask = refs.kind == RefKind.VIRTUAL
            if not mask.any():
                continue
            end = (refs.offset[mask] + refs.length[mask]).astype(np.int64)
            loc = refs.location[mask]
            for index in np.unique(loc).tolist():
                url = refs.locations[index]
                need = int(end[loc == index].max())
                if url not in ends or ends[url][0] < need:
                    assert src is not None
                    ends[url] = (need, src)
        if not ends:
            return
        if self.virtual is None:
            return

        async def probe(entry: str, need: int) -> tuple[str, str] | None:
            """Read the last referenced byte through the authorised reader: it checks the
            container, the pins (ETag, modification time) and the length, and reads
            nothing from a location this Repository object may not read."""
            assert self.virtual is not None
            try:
                await self.virtual.read(entry, need - 1, 1)
            except VirtualChunkNotAuthorizedError as exc:
                return "unauthorized", f"cannot be checked: {exc}"
            except VirtualSourceChangedError as exc:
                short = "shorter than" in str(exc)
                return ("size-mismatch" if short else "changed"), str(exc)
            except StorageError as exc:
                return "missing", f"cannot be read: {exc}"
            return None

        results = await self.many(
            [partial(probe, entry, need) for entry, (need, _) in ends.items()]
        )
        for (entry, (need, src)), result in zip(ends.items(), results, strict=True):
            if result is None:
                continue
            what, text = result
            url = split_location(entry)[0]
            self.find(
                3,
                url,
                what,
                f"the file of virtual chunks of {src.array!r} (read up to byte {need}) {text}",
                snapshots=tuple(sorted(src.snapshots)),
                arrays=(src.array,),
            )
        self.counts["virtual_files"] = len(ends)

    # ------------------------------------------------------------------ level 4
    async def level4(
        self,
        manifests: list[tuple[Manifest, _Source | None]],
        names: np.ndarray[Any, Any],
        sums: np.ndarray[Any, Any],
        owners: _Owners,
    ) -> None:
        for manifest, src in manifests:
            refs = manifest.segments[0].refs
            for i in np.flatnonzero(refs.kind == RefKind.INLINE).tolist():
                start, length = int(refs.offset[i]), int(refs.length[i])
                if crc32c(refs.inline[start : start + length]) != int(refs.checksum[i]):
                    assert src is not None
                    self.find(
                        4,
                        layout.manifest_key(manifest.manifest_id),
                        "checksum-mismatch",
                        f"an inline chunk {refs.coords[i].tolist()} of {src.array!r} does "
                        "not match its checksum",
                        snapshots=tuple(sorted(src.snapshots)),
                        arrays=(src.array,),
                    )
        total = len(names)
        read_bytes = 0
        batch = max(8, 4 * self.io.concurrency)

        async def verify(i: int) -> int:
            key = layout.chunk_key(str(names[i]))
            try:
                data = await self.storage.get(key)
            except ObjectNotFoundError:
                src = owners[i]
                self.find(
                    4, key, "missing", "a chunk vanished during the check", arrays=(src.array,)
                )
                return 0
            if crc32c(data) != int(sums[i]):
                src = owners[i]
                self.find(
                    4,
                    key,
                    "checksum-mismatch",
                    f"the bytes of a chunk of {src.array!r} do not match their crc32c",
                    snapshots=tuple(sorted(src.snapshots)),
                    arrays=(src.array,),
                )
            return len(data)

        for start in range(0, total, batch):
            stop = min(total, start + batch)
            read_bytes += sum(await self.many([partial(verify, i) for i in range(start, stop)]))
            self.tick("chunk bytes", stop, total)
        self.counts["bytes_read"] = read_bytes


class _Owners:
    """Where each chunk's reference came from: an index column into a few sources, looked
    up only for the chunks that have findings."""

    def __init__(self, sources: list[_Source], index: Any) -> None:
        self._sources = sources
        self._index = np.asarray(index, dtype=np.int64)

    def __getitem__(self, i: int) -> _Source:
        return self._sources[int(self._index[i])]

    def subset(self, rows: np.ndarray[Any, Any]) -> _Owners:
        """The owners of the selected rows."""
        return _Owners(self._sources, self._index[rows])


def _decode_snapshot(data: bytes, key: str) -> Snapshot:
    snap = Snapshot.decode(data, key=key)
    expected = key.removeprefix(layout.SNAPSHOT_PREFIX)
    if snap.id != expected:
        raise FormatError(f"object {key!r} holds snapshot {snap.id!r}", key=key)
    return snap


def _check_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
        raise InvalidInputError(
            f"level must be 1, 2, 3 or 4, got {level!r}: 1 checks refs and snapshots, 2 adds "
            "manifests and transaction logs, 3 chunk existence and sizes, 4 chunk checksums",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return level


def _report_path(to_file: object, when: datetime.datetime) -> pathlib.Path | None:
    if to_file is False or to_file is None:
        return None
    if to_file is True:
        return pathlib.Path.cwd() / f"frazil-integrity-{when.strftime('%Y%m%dT%H%M%SZ')}.json"
    if isinstance(to_file, (str, pathlib.Path)):
        return pathlib.Path(to_file)
    raise InvalidInputError(
        f"to_file must be True, False or a path, got {to_file!r}", kind=ErrorKind.INVALID_ARGUMENT
    )


async def check_integrity(
    io: RepoIO,
    initial_snapshot: str,
    level: object = 1,
    *,
    stop_on_error: object = True,
    to_file: object = False,
    branch: str | None = None,
    progress: ProgressCallback | None = None,
    virtual: VirtualReader | None = None,
) -> IntegrityReport:
    """Check the repository behind ``io``; see the module docstring. Virtual chunk
    sources are checked through ``virtual``, the Repository object's authorised reader
    (without one they are not checked)."""
    level = _check_level(level)
    if not isinstance(stop_on_error, bool):
        raise InvalidInputError(
            f"stop_on_error must be True or False, got {stop_on_error!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    started = datetime.datetime.now(datetime.UTC)
    path = _report_path(to_file, started)
    if branch is not None:
        BRANCHES.key(branch)
    checker = _Checker(
        io, stop=stop_on_error, progress=progress, initial=initial_snapshot, virtual=virtual
    )
    complete = True
    try:
        await checker.level1(branch)
        if level >= 2:
            manifests = await checker.level2()
            if level >= 3:
                names, sums, owners = await checker.level3(manifests)
                if level >= 4:
                    await checker.level4(manifests, names, sums, owners)
    except _Stop:
        complete = False
    report = IntegrityReport(
        level=level,
        findings=tuple(checker.findings),
        complete=complete,
        counts=dict(checker.counts),
        checked_at=started,
        file=str(path) if path is not None else None,
    )
    if path is not None:
        await asyncio.to_thread(path.write_text, report.to_json() + "\n")
    return report
