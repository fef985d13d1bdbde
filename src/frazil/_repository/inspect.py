"""Inspection: snapshots, manifests, transaction logs and the repository's refs, history
and log as JSON-able dicts (Icechunk's ``inspect_*`` shapes, plus what frazil knows more),
a snapshot's manifest files, the history as a graph."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from frazil._errors import ErrorKind, InvalidInputError, ObjectNotFoundError
from frazil._repo import (
    BRANCHES,
    TAGS,
    UpdateType,
    ancestry,
    flags_of,
    gather_limited,
    list_refs,
    read_ref,
    read_repo_info,
    read_updates,
    require_snapshot,
)
from frazil._repository.base import RepositoryBase, one_selector
from frazil._sync import sync
from frazil.format import (
    FORMAT_VERSION,
    Manifest,
    RefKind,
    TransactionLog,
    envelope_header,
    is_id,
    layout,
    looks_like_id,
    micros_to_datetime,
    split_location,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable

    from frazil._repo import Update
    from frazil.format import CommitInfo

_LATEST_UPDATES = 100
"""How many operations-log entries ``inspect_repo_info`` shows, newest first."""

__all__ = ["AncestryGraph", "InspectMixin", "ManifestFileInfo"]


@dataclass(frozen=True, slots=True)
class ManifestFileInfo:
    """One manifest file of a snapshot."""

    id: str
    """The manifest id."""
    size_bytes: int
    """Its size in storage."""
    num_chunk_refs: int
    """How many chunk references of the snapshot it holds."""


ManifestFileInfo.__module__ = "frazil"

_LANE_COLOURS = ("\x1b[33m", "\x1b[36m", "\x1b[35m", "\x1b[32m", "\x1b[34m", "\x1b[31m")
_RESET = "\x1b[0m"


class AncestryGraph:
    """The commit history of branches as a text graph; ``print(graph)`` shows it.

    Each commit is one line: the lanes of the branches that are open at that point, the
    commit's short id, the branches and tags at it, and its message. Lanes join where a
    branch was created from another. Only commits reachable from the chosen refs appear.
    """

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    @property
    def lines(self) -> list[str]:
        """The graph's lines."""
        return list(self._lines)

    def __str__(self) -> str:
        return "\n".join(self._lines)

    def __repr__(self) -> str:
        return str(self)


AncestryGraph.__module__ = "frazil"


def _render(
    tips: list[str],
    commits: dict[str, CommitInfo],
    labels: dict[str, list[str]],
    *,
    plain: bool,
) -> list[str]:
    """Lay the commits out newest first, one lane per open line of history."""
    order = sorted(commits.values(), key=lambda c: (c.written_at, c.id), reverse=True)
    lanes: list[str | None] = []
    for tip in tips:
        if tip not in lanes:
            lanes.append(tip)
    lines: list[str] = []

    def paint(text: str, lane: int) -> str:
        if plain:
            return text
        return f"{_LANE_COLOURS[lane % len(_LANE_COLOURS)]}{text}{_RESET}"

    for commit in order:
        if commit.id not in lanes:
            free = [i for i, lane in enumerate(lanes) if lane is None]
            if free:
                lanes[free[0]] = commit.id
            else:
                lanes.append(commit.id)
        column = lanes.index(commit.id)
        joining = [i for i, lane in enumerate(lanes) if lane == commit.id and i != column]
        cells = []
        for i, lane in enumerate(lanes):
            if i == column:
                cells.append(paint("●", i) + (paint("─", i) if joining else " "))
            elif i in joining:
                cells.append(paint("╯", i) + " " if i == joining[-1] else paint("┴─", i))
            elif joining and column < i < joining[-1]:
                cells.append(paint("┼─", i) if lane is not None else paint("──", i))
            else:
                cells.append(paint("│", i) + " " if lane is not None else "  ")
        names = labels.get(commit.id)
        tag = f" ({', '.join(names)})" if names else ""
        message = commit.message.splitlines()[0] if commit.message else ""
        lines.append(f"{''.join(cells).rstrip()} {commit.id[:8]}{tag} {message}".rstrip())
        for i in joining:
            lanes[i] = None
        lanes[column] = commit.parent_id
        while lanes and lanes[-1] is None:
            lanes.pop()
        if lanes:
            connector = "".join(
                paint("│", i) + " " if lane is not None else "  " for i, lane in enumerate(lanes)
            )
            lines.append(connector.rstrip())
    return lines


class InspectMixin(RepositoryBase):
    """Looking inside snapshots and at the shape of the history."""

    # ------------------------------------------------------------------ snapshots
    async def inspect_snapshot_async(self, snapshot_id: str) -> dict[str, Any]:
        """Async version of :meth:`inspect_snapshot`."""
        snapshot = await require_snapshot(self._io, snapshot_id)
        manifests = await self.list_manifest_files_async(snapshot_id)
        nodes = []
        for node in sorted(snapshot.nodes.values(), key=lambda n: n.path):
            entry: dict[str, Any] = {
                "id": node.node_id,
                "path": node.path,
                "node_type": str(node.kind),
            }
            if node.manifests:
                entry["manifest_refs"] = [
                    {"id": m.manifest_id, "block": list(m.block), "num_chunk_refs": m.rows}
                    for m in node.manifests
                ]
            nodes.append(entry)
        info = snapshot.info
        return {
            "id": snapshot.id,
            "parent_id": info.parent_id,
            "header": {"spec_version": str(FORMAT_VERSION), "file_type": "snapshot"},
            "flushed_at": micros_to_datetime(info.written_at).isoformat(),
            "commit_message": info.message,
            "metadata": dict(info.metadata),
            "manifests": [
                {"id": m.id, "size_bytes": m.size_bytes, "num_chunk_refs": m.num_chunk_refs}
                for m in manifests
            ],
            "nodes": nodes,
        }

    def inspect_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        """A snapshot's contents as a JSON-serialisable dict.

        Keys: ``id``, ``parent_id``, ``header``, ``flushed_at`` (ISO time),
        ``commit_message``, ``metadata``, ``manifests`` (as :meth:`list_manifest_files`)
        and ``nodes`` (``id``, ``path``, ``node_type`` and, for arrays with chunks,
        ``manifest_refs``).

        Raises
        ------
        SnapshotNotFoundError
            If there is no such snapshot.
        """
        return sync(self.inspect_snapshot_async(snapshot_id))

    async def list_manifest_files_async(self, snapshot_id: str) -> list[ManifestFileInfo]:
        """Async version of :meth:`list_manifest_files`."""
        snapshot = await require_snapshot(self._io, snapshot_id)
        rows: dict[str, int] = {}
        for node in snapshot.nodes.values():
            for ref in node.manifests:
                rows[ref.manifest_id] = rows.get(ref.manifest_id, 0) + ref.rows

        async def size_of(manifest_id: str) -> int:
            key = layout.manifest_key(manifest_id)
            async for info in self._ctx.storage.list(key):
                if info.key == key:
                    return info.size
            return 0

        ids = sorted(rows)
        sizes = await self._io.read_many([partial(size_of, m) for m in ids])
        return [ManifestFileInfo(m, s, rows[m]) for m, s in zip(ids, sizes, strict=True)]

    def list_manifest_files(self, snapshot_id: str) -> list[ManifestFileInfo]:
        """The manifest files a snapshot's arrays reference, with sizes and ref counts.

        Raises
        ------
        SnapshotNotFoundError
            If there is no such snapshot.
        """
        return sync(self.list_manifest_files_async(snapshot_id))

    # ------------------------------------------------------------------ manifests
    async def inspect_manifest_async(self, manifest_id: str) -> dict[str, Any]:
        """Async version of :meth:`inspect_manifest`."""
        key = layout.manifest_key(_checked_id(manifest_id, "manifest"))
        data = await self._object(
            key,
            f"manifest {manifest_id!r}",
            "repo.list_manifest_files(snapshot_id) lists the manifests of a snapshot",
        )
        manifest = Manifest.decode(data, key=key)
        counts: dict[str, list[int]] = {}
        files: set[str] = set()
        for segment in manifest.segments:
            refs = segment.refs
            row = counts.setdefault(segment.node_id, [0, 0, 0])
            for i, kind in enumerate((RefKind.INLINE, RefKind.NATIVE, RefKind.VIRTUAL)):
                row[i] += int((refs.kind == kind).sum())
            used = set(refs.location[refs.kind == RefKind.VIRTUAL].tolist())
            files.update(split_location(refs.locations[int(i)])[0] for i in used)
        arrays = [
            {
                "node_id": node_id,
                "num_chunk_refs": sum(row),
                "num_inline": row[0],
                "num_native": row[1],
                "num_virtual": row[2],
            }
            for node_id, row in sorted(counts.items())
        ]
        totals = [sum(row[i] for row in counts.values()) for i in range(3)]
        return {
            "id": manifest_id,
            "header": envelope_header(data),
            "size_bytes": len(data),
            "num_arrays": len(arrays),
            "total_chunk_refs": sum(totals),
            "total_inline": totals[0],
            "total_native": totals[1],
            "total_virtual": totals[2],
            "arrays": arrays,
            # frazil keeps one deduplicated table of virtual locations per manifest and
            # does not compress it with a trained dictionary as Icechunk can
            "compression": {
                "uses_location_compression": False,
                "num_compressed_refs": 0,
                "num_locations": len(files),
            },
        }

    def inspect_manifest(self, manifest_id: str) -> dict[str, Any]:
        """What a manifest holds: chunk references per array, by kind, as a JSON-able dict.

        A debugging aid; the keys may grow in later versions.

        Parameters
        ----------
        manifest_id
            A manifest's id, as listed by :meth:`list_manifest_files` or in the
            ``manifest_refs`` of :meth:`inspect_snapshot`'s nodes.

        Returns
        -------
        dict
            ``id``, ``header`` (the object's envelope: ``spec_version``, ``file_type``,
            ``compression``), ``size_bytes`` (stored), ``num_arrays``,
            ``total_chunk_refs``, ``total_inline``, ``total_native``, ``total_virtual``,
            ``arrays`` (per array: ``node_id``, ``num_chunk_refs``, ``num_inline``,
            ``num_native``, ``num_virtual``) and ``compression`` (of virtual locations:
            ``uses_location_compression``, always False, ``num_compressed_refs``, and
            ``num_locations``, the distinct files its virtual references point into).

        Raises
        ------
        NotFoundError
            If there is no manifest with this id (kind ``object-not-found``).
        InvalidInputError
            If ``manifest_id`` is not an id.
        """
        return sync(self.inspect_manifest_async(manifest_id))

    # ------------------------------------------------------------------ transaction logs
    async def inspect_transaction_log_async(self, snapshot_id: str) -> dict[str, Any]:
        """Async version of :meth:`inspect_transaction_log`."""
        await require_snapshot(self._io, snapshot_id)
        key = layout.transaction_key(snapshot_id)
        data = await self._object(
            key,
            f"the transaction log of snapshot {snapshot_id!r}",
            "it may have been deleted by hand; repo.check() reports what else is missing",
        )
        log = TransactionLog.decode(data, key=key)
        paths: dict[str, str] = {}
        for part in (
            log.new_groups,
            log.new_arrays,
            log.deleted_groups,
            log.deleted_arrays,
            log.updated_groups,
            log.updated_arrays,
            log.chunk_paths,
        ):
            paths.update(part)
        return {
            "header": envelope_header(data),
            "snapshot_id": log.snapshot_id,
            "parent_id": log.parent_id,
            "new_groups": sorted(log.new_groups),
            "new_arrays": sorted(log.new_arrays),
            "deleted_groups": sorted(log.deleted_groups),
            "deleted_arrays": sorted(log.deleted_arrays),
            "updated_groups": sorted(log.updated_groups),
            "updated_arrays": sorted(log.updated_arrays),
            "updated_chunks": [
                {"node_id": node_id, "chunks": log.chunks[node_id].tolist()}
                for node_id in sorted(log.chunks)
            ],
            "moved_nodes": [{"from": source, "to": target} for source, target in log.moves],
            "node_paths": dict(sorted(paths.items())),
        }

    def inspect_transaction_log(self, snapshot_id: str) -> dict[str, Any]:
        """What the commit that wrote a snapshot changed, as a JSON-able dict.

        A debugging aid; the keys may grow in later versions.

        Returns
        -------
        dict
            ``header`` (the object's envelope), ``snapshot_id``, ``parent_id``, the node
            ids of ``new_groups``, ``new_arrays``, ``deleted_groups``, ``deleted_arrays``,
            ``updated_groups`` and ``updated_arrays`` (metadata changes),
            ``updated_chunks`` (per array: ``node_id`` and the ``chunks`` coordinates
            written or deleted), ``moved_nodes`` (``from`` and ``to`` paths, in order)
            and ``node_paths`` (node id -> path, for every id above).

        Raises
        ------
        SnapshotNotFoundError
            If there is no such snapshot.
        NotFoundError
            If the snapshot's transaction log is missing (kind ``object-not-found``).
        """
        return sync(self.inspect_transaction_log_async(snapshot_id))

    # ------------------------------------------------------------------ the repository
    async def inspect_repo_info_async(self) -> dict[str, Any]:
        """Async version of :meth:`inspect_repo_info`."""
        storage = self._ctx.storage
        root = await storage.get(layout.REPO_KEY)
        branches = {
            n: await self._lookup_ref(BRANCHES, n) for n in sorted(await self._list_refs(BRANCHES))
        }
        tag_names = await list_refs(storage, TAGS.prefix)
        states = await gather_limited(
            [partial(read_ref, storage, TAGS.key(n)) for n in tag_names], self._io.concurrency
        )
        tags: dict[str, str] = {}
        deleted_tags: list[str] = []
        for name, state in zip(tag_names, states, strict=True):
            if state is None:
                continue
            if state.doc.deleted:
                deleted_tags.append(name)
            else:
                tags[name] = state.doc.snapshot_id
        commits = await self._reachable([*branches.values(), *tags.values()])
        snapshots = []
        for commit in sorted(commits.values(), key=lambda c: (c.written_at, c.id), reverse=True):
            entry: dict[str, Any] = {"id": commit.id}
            if commit.parent_id is not None:
                entry["parent_id"] = commit.parent_id
            entry["flushed_at"] = micros_to_datetime(commit.written_at).isoformat()
            entry["message"] = commit.message
            entry["metadata"] = dict(commit.metadata)
            snapshots.append(entry)
        info = (await read_repo_info(storage)).info
        updates: list[dict[str, Any]] = []
        entries = cast(
            "AsyncGenerator[Update, None]", read_updates(storage, limit=self._io.concurrency)
        )
        async with aclosing(entries) as log:
            async for update in log:
                updates.append(_update_json(update))
                if len(updates) >= _LATEST_UPDATES:
                    break
        status = info.status
        return {
            "header": envelope_header(root),
            "spec_version": str(FORMAT_VERSION),
            "branches": branches,
            "tags": tags,
            "deleted_tags": deleted_tags,
            "snapshots": snapshots,
            "metadata": dict(info.metadata),
            "latest_updates": updates,
            "status": {
                "availability": status.availability.name,
                "set_at": status.set_at.isoformat(),
                "limited_availability_reason": status.limited_availability_reason,
            },
            "feature_flags": [
                {
                    "id": f.id,
                    "name": f.name,
                    "default_enabled": f.default_enabled,
                    "setting": f.setting,
                    "enabled": f.enabled,
                }
                for f in flags_of(info.feature_flags)
            ],
        }

    def inspect_repo_info(self) -> dict[str, Any]:
        """The repository at a glance, as a JSON-able dict: refs, history, metadata, log.

        A debugging aid; the keys may grow in later versions. It lists every tag and
        walks the history of every branch and tag, so it reads one object per ref and one
        per window of commits.

        Returns
        -------
        dict
            ``header`` (the envelope of the repository's root object ``repo``),
            ``spec_version``, ``branches`` and ``tags`` (name -> snapshot id),
            ``deleted_tags``, ``snapshots`` (every snapshot reachable from a branch or tag,
            newest first: ``id``, ``parent_id`` except for the first, ``flushed_at``,
            ``message``, ``metadata``), ``metadata`` (the repository's),
            ``latest_updates`` (the newest 100 operations-log entries: ``update_type``
            with its ``type`` in Icechunk's words and the entry's fields, and
            ``updated_at``), ``status`` and ``feature_flags``.
        """
        return sync(self.inspect_repo_info_async())

    # ------------------------------------------------------------------ helpers
    async def _object(self, key: str, what: str, hint: str) -> bytes:
        """The bytes at ``key``, or a not-found error naming ``what``, with a hint."""
        try:
            return await self._ctx.storage.get(key)
        except ObjectNotFoundError:
            raise ObjectNotFoundError(
                f"{what} does not exist in {self._storage.describe()}; {hint}", key=key
            ) from None

    async def _reachable(self, tips: Iterable[str]) -> dict[str, CommitInfo]:
        """The commits in the history of ``tips``, each read once."""
        commits: dict[str, CommitInfo] = {}
        for tip in tips:
            async with aclosing(ancestry(self._io, tip)) as records:
                async for record in records:
                    if record.id in commits:
                        break
                    commits[record.id] = record
        return commits

    # ------------------------------------------------------------------ history
    async def ancestry_graph_async(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        plain: bool = False,
    ) -> AncestryGraph:
        """Async version of :meth:`ancestry_graph`."""
        labels: dict[str, list[str]] = {}
        branches = sorted(await self._list_refs(BRANCHES))
        tags = sorted(await self._list_refs(TAGS))
        tip_of: dict[str, str] = {}
        for name in branches:
            tip_of[name] = await self._lookup_ref(BRANCHES, name)
            labels.setdefault(tip_of[name], []).append(name)
        for name in tags:
            labels.setdefault(await self._lookup_ref(TAGS, name), []).append(f"tag: {name}")
        if branch is None and tag is None and snapshot_id is None:
            ordered = sorted(branches, key=lambda n: (n != "main", n))
            tips = [tip_of[n] for n in ordered]
        else:
            one_selector("ancestry_graph", branch=branch, tag=tag, snapshot_id=snapshot_id)
            tips = [
                await self._resolve(
                    "ancestry_graph", branch=branch, tag=tag, snapshot_id=snapshot_id
                )
            ]
        commits = await self._reachable(tips)
        return AncestryGraph(_render(tips, commits, labels, plain=plain is True))

    def ancestry_graph(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        plain: bool = False,
    ) -> AncestryGraph:
        """The history of every branch (or of one ref) as a text graph.

        Parameters
        ----------
        branch, tag, snapshot_id
            At most one: draw only this ref's history (default: every branch).
        plain
            No terminal colours (for files, CI logs).

        Returns
        -------
        AncestryGraph
            ``print()`` it.
        """
        return sync(
            self.ancestry_graph_async(branch=branch, tag=tag, snapshot_id=snapshot_id, plain=plain)
        )


def _checked_id(value: str, what: str) -> str:
    """``value`` if it is an object id (a syntactically valid id that no object can have is
    reported as not found, as for snapshots)."""
    if is_id(value):
        return value
    if looks_like_id(value):
        raise ObjectNotFoundError(f"{what} {value!r} not found (no {what} can have this id)")
    raise InvalidInputError(
        f"invalid {what} id {value!r}: expected 20 characters of Crockford base32, as "
        f"repo.list_manifest_files(snapshot_id) lists them",
        kind=ErrorKind.INVALID_ARGUMENT,
    )


def _update_json(update: Update) -> dict[str, Any]:
    """One log entry as ``inspect_repo_info`` shows it: Icechunk's type names (its variants
    carry an ``Update`` suffix, except ``FeatureFlagChanged``) and the entry's fields."""
    kind = update.kind
    name = type(kind).__name__
    fields: dict[str, Any] = {
        "type": name if isinstance(kind, UpdateType.FeatureFlagChanged) else f"{name}Update"
    }
    if isinstance(kind, UpdateType.FeatureFlagChanged):
        fields.update(id=kind.id, new_value=kind.new_value)
    else:
        if kind.name is not None:
            commit = isinstance(kind, (UpdateType.NewCommit, UpdateType.CommitAmended))
            fields["branch" if commit else "name"] = kind.name
        for key in ("previous_snap_id", "new_snap_id", "job"):
            if getattr(kind, key) is not None:
                fields[key] = getattr(kind, key)
        if kind.details:
            fields["details"] = dict(kind.details)
    return {"update_type": fields, "updated_at": update.updated_at.isoformat()}
