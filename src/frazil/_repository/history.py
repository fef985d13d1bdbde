"""History in the Repository façade: snapshots, ancestry, diffs."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from frazil._repo import (
    Diff,
    SnapshotInfo,
    ancestry,
    ancestry_windows,
    diff_snapshots,
    history_now,
    require_snapshot,
    to_info,
)
from frazil._sync import sync

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator


from frazil._repository.base import RepositoryBase

__all__ = ["HistoryMixin"]

_PAGE = 1000
"""Commits read per trip through the IO loop by ``Repository.ancestry``."""


class HistoryMixin(RepositoryBase):
    """Snapshots, ancestry and diffs."""

    # ------------------------------------------------------------------ history
    async def lookup_snapshot_async(self, snapshot_id: str) -> SnapshotInfo:
        """Async version of :meth:`lookup_snapshot`."""
        return to_info((await require_snapshot(self._io, snapshot_id)).info)

    def lookup_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """The history record of a snapshot.

        Raises
        ------
        SnapshotNotFoundError
            If it does not exist.
        InvalidInputError
            If the id is malformed.
        """
        return sync(self.lookup_snapshot_async(snapshot_id))

    async def async_ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> AsyncIterator[SnapshotInfo]:
        """Async version of :meth:`ancestry`."""
        start = await self._resolve("ancestry", branch=branch, tag=tag, snapshot_id=snapshot_id)
        async with aclosing(ancestry(self._io, start)) as walk:
            async for record in walk:
                yield to_info(record)

    ancestry_async = async_ancestry

    def ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> Iterator[SnapshotInfo]:
        """The history of a branch, tag or snapshot, newest first.

        Exactly one selector must be given. The last entry is the repository's first
        snapshot, "Repository initialized".

        Returns
        -------
        Iterator of SnapshotInfo
            Read in pages of about 1,000 commits; the first page is read at the call.

        Raises
        ------
        RefNotFoundError
            If the branch or tag does not exist (at the call, not at the first ``next``).
        SnapshotNotFoundError
            If the snapshot does not exist.
        """

        async def page(start: str | None) -> tuple[list[SnapshotInfo], str | None]:
            # one trip through the event loop per ~1,000 commits, not per commit; each trip
            # says where the next one starts (None: the first snapshot was reached)
            if start is None:
                start = await self._resolve(
                    "ancestry", branch=branch, tag=tag, snapshot_id=snapshot_id
                )
            batch: list[SnapshotInfo] = []
            async with aclosing(ancestry_windows(self._io, start)) as windows:
                async for window in windows:
                    batch.extend(map(to_info, window))
                    after = window[-1].parent_id
                    if after is None or len(batch) >= _PAGE:
                        return batch, after
            return batch, None

        # the first page is read now, so a missing branch or snapshot raises here, where
        # ancestry() was called, not at the first next(); on a local storage (or from the
        # cache) it is read in this thread, without a trip through the IO loop
        start = self._resolve_now("ancestry", branch=branch, tag=tag, snapshot_id=snapshot_id)
        walked = history_now(self._io, start, _PAGE) if start is not None else None
        if walked is not None:
            records, after = walked
            return _pages(list(map(to_info, records)), after, page)
        first, after = sync(page(None))
        return _pages(first, after, page)

    async def diff_async(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """Async version of :meth:`diff`."""
        start = await self._resolve(
            "diff (from)", branch=from_branch, tag=from_tag, snapshot_id=from_snapshot_id
        )
        end = await self._resolve(
            "diff (to)", branch=to_branch, tag=to_tag, snapshot_id=to_snapshot_id
        )
        return await diff_snapshots(self._io, start, end)

    def diff(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """What changed between two versions; ``from`` must be an ancestor of ``to``.

        Returns
        -------
        Diff
        """
        return sync(
            self.diff_async(
                from_branch=from_branch,
                from_tag=from_tag,
                from_snapshot_id=from_snapshot_id,
                to_branch=to_branch,
                to_tag=to_tag,
                to_snapshot_id=to_snapshot_id,
            )
        )


def _pages(
    first: list[SnapshotInfo],
    after: str | None,
    page: Callable[[str | None], Coroutine[Any, Any, tuple[list[SnapshotInfo], str | None]]],
) -> Iterator[SnapshotInfo]:
    """The records of ``first``, then of every later page (nothing stays open between)."""
    yield from first
    while after is not None:
        batch, after = sync(page(after))
        yield from batch
