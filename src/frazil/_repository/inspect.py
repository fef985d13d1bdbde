"""Inspection: a snapshot as a JSON-able dict, its manifest files, the history as a graph."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from frazil._repo import BRANCHES, TAGS, ancestry, require_snapshot
from frazil._repository.base import RepositoryBase, one_selector
from frazil._sync import sync
from frazil.format import FORMAT_VERSION, layout, micros_to_datetime

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from frazil.format import CommitInfo

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
        commits: dict[str, CommitInfo] = {}
        for tip in tips:
            walk = cast("AsyncGenerator[CommitInfo, None]", ancestry(self._io, tip))
            async with aclosing(walk) as records:
                async for record in records:
                    if record.id in commits:
                        break
                    commits[record.id] = record
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
