"""Operations in the Repository façade: integrity checks, expiry, storage statistics,
manifest rewriting and the operations log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frazil._ops import IntegrityReport, ProgressCallback, check_integrity
from frazil._repo import Update, read_updates
from frazil._repository.base import RepositoryBase
from frazil._sync import sync

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator, Iterator

__all__ = ["OperationsMixin"]


class OperationsMixin(RepositoryBase):
    """Integrity, expiry, statistics, manifest rewriting and the operations log."""

    # ------------------------------------------------------------------ integrity
    async def check_integrity_async(
        self,
        level: int = 1,
        *,
        stop_on_error: bool = True,
        to_file: bool | str | os.PathLike[str] = False,
        branch: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IntegrityReport:
        """Async version of :meth:`check_integrity`."""
        return await check_integrity(
            self._io,
            self._doc.initial_snapshot_id,
            level,
            stop_on_error=stop_on_error,
            to_file=to_file,
            branch=branch,
            progress=progress,
        )

    def check_integrity(
        self,
        level: int = 1,
        *,
        stop_on_error: bool = True,
        to_file: bool | str | os.PathLike[str] = False,
        branch: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IntegrityReport:
        """Check that what the repository stores is whole; nothing is written to it.

        Parameters
        ----------
        level
            1: the repository object, configuration and refs decode, and every snapshot
            reachable from a ref exists, decodes and has a whole parent chain; 2: also
            every manifest and transaction log of those snapshots; 3: also every native
            chunk exists with its recorded size (one listing) and virtual chunks' files
            exist; 4: also every chunk's bytes match their recorded crc32c.
        stop_on_error
            Stop at the first finding (the report holds it); False finds everything.
        to_file
            ``True`` writes the report as JSON to ``frazil-integrity-<time>.json`` in the
            current directory; a path writes it there.
        branch
            Check only this branch's history (tags and other branches are skipped).
        progress
            Called as ``progress(phase, done, total)`` as the check advances.

        Returns
        -------
        IntegrityReport
            ``report.ok`` is True if nothing was found.

        Raises
        ------
        InvalidInputError
            If ``level`` is not 1-4 or another argument is malformed.
        """
        return sync(
            self.check_integrity_async(
                level,
                stop_on_error=stop_on_error,
                to_file=to_file,
                branch=branch,
                progress=progress,
            )
        )

    # ------------------------------------------------------------------ operations log
    async def ops_log_async(self) -> AsyncIterator[Update]:
        """Async version of :meth:`ops_log`."""
        async for update in read_updates(self._ctx.storage, limit=self._io.concurrency):
            yield update

    def ops_log(self) -> Iterator[Update]:
        """Every ref change of the repository, newest first.

        Branches created, moved by commits, amended, reset and deleted; tags created and
        deleted; configuration saves; expiry and garbage collection runs.

        Yields
        ------
        Update
        """

        async def collect() -> list[Update]:
            return [u async for u in self.ops_log_async()]

        yield from sync(collect())
