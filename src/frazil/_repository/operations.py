"""Operations in the Repository façade: integrity checks, expiry, storage statistics,
manifest rewriting and the operations log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frazil._check import require_int, require_text
from frazil._errors import ErrorKind, InvalidInputError
from frazil._ops import (
    ChunkStorageStats,
    IntegrityReport,
    ProgressCallback,
    check_integrity,
    chunk_storage_stats,
    expire_snapshots,
    rewrite_manifests,
)
from frazil._repo import Update, read_updates
from frazil._repository.base import RepositoryBase
from frazil._sync import sync

if TYPE_CHECKING:
    import datetime
    import os
    from collections.abc import AsyncIterator, Iterator
    from typing import Any

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
            virtual=self._ctx.virtual,
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

    # ------------------------------------------------------------------ expiry
    async def expire_snapshots_async(
        self,
        older_than: datetime.datetime,
        *,
        delete_expired_branches: bool = False,
        delete_expired_tags: bool = False,
    ) -> set[str]:
        """Async version of :meth:`expire_snapshots`."""
        await self._require_online("expire snapshots")
        return await expire_snapshots(
            self._io,
            self._doc.initial_snapshot_id,
            older_than,
            delete_expired_branches=delete_expired_branches,
            delete_expired_tags=delete_expired_tags,
        )

    def expire_snapshots(
        self,
        older_than: datetime.datetime,
        *,
        delete_expired_branches: bool = False,
        delete_expired_tags: bool = False,
    ) -> set[str]:
        """Release snapshots older than a cut-off from every branch's and tag's history.

        The target of every ref stays, and so does its history back to the first
        snapshot written at or after ``older_than``; that snapshot's parent becomes the
        repository's first snapshot. Snapshot ids do not change and no ref moves, so
        sessions and commits running meanwhile are unaffected. Run
        :meth:`garbage_collect` afterwards to reclaim the space.

        Parameters
        ----------
        older_than
            Aware datetime in the past.
        delete_expired_branches
            Also delete branches (never ``main``) whose tip is older than the cut-off.
        delete_expired_tags
            Also delete tags that point at snapshots older than the cut-off.

        Returns
        -------
        set of str
            The ids of the snapshots that no branch or tag reaches any more.

        Raises
        ------
        InvalidInputError
            If ``older_than`` is naive or in the future.
        ReadOnlyError
            If this repository object is read-only.
        """
        return sync(
            self.expire_snapshots_async(
                older_than,
                delete_expired_branches=delete_expired_branches,
                delete_expired_tags=delete_expired_tags,
            )
        )

    # ------------------------------------------------------------------ statistics
    async def chunk_storage_stats_async(
        self,
        *,
        progress: ProgressCallback | None = None,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> ChunkStorageStats:
        """Async version of :meth:`chunk_storage_stats`."""
        for name, value in (
            ("max_snapshots_in_memory", max_snapshots_in_memory),
            ("max_compressed_manifest_mem_bytes", max_compressed_manifest_mem_bytes),
            ("max_decoded_manifest_mem_bytes", max_decoded_manifest_mem_bytes),
            ("max_concurrent_manifest_fetches", max_concurrent_manifest_fetches),
        ):
            require_int(name, value, low=1)
        return await chunk_storage_stats(self._io, progress=progress)

    def chunk_storage_stats(
        self,
        *,
        progress: ProgressCallback | None = None,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_decoded_manifest_mem_bytes: int = 4 * 1024 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> ChunkStorageStats:
        """Bytes and counts of the chunks reachable from any branch or tag, by kind.

        Native chunks are counted once per object, virtual ones once per distinct
        (file, offset, length), inline ones once per manifest that holds them.

        Parameters
        ----------
        progress
            Called as ``progress(phase, done, total)`` as manifests are read.
        max_snapshots_in_memory, max_compressed_manifest_mem_bytes
            Accepted for Icechunk scripts (validated; frazil reads snapshots and manifests
            in batches of 256 through its byte-bounded caches).
        max_decoded_manifest_mem_bytes, max_concurrent_manifest_fetches
            Accepted for Icechunk scripts, as above (requests in flight are bounded by
            ``RepositoryConfig.max_concurrent_requests``).

        Returns
        -------
        ChunkStorageStats
        """
        return sync(
            self.chunk_storage_stats_async(
                progress=progress,
                max_snapshots_in_memory=max_snapshots_in_memory,
                max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
                max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
                max_concurrent_manifest_fetches=max_concurrent_manifest_fetches,
            )
        )

    async def total_chunks_storage_async(self) -> int:
        """Async version of :meth:`total_chunks_storage` (deprecated)."""
        _deprecated("total_chunks_storage_async", "chunk_storage_stats_async")
        return (await self.chunk_storage_stats_async()).native_bytes

    def total_chunks_storage(self) -> int:
        """Bytes of the native chunk objects reachable from any branch or tag.

        .. deprecated::
            Use :meth:`chunk_storage_stats`, whose ``native_bytes`` is this number and
            which also counts inline and virtual chunks (as Icechunk deprecated it too).

        Returns
        -------
        int
        """
        _deprecated("total_chunks_storage", "chunk_storage_stats")
        return sync(self.chunk_storage_stats_async()).native_bytes

    # ------------------------------------------------------------------ manifests
    async def rewrite_manifests_async(
        self,
        message: str,
        *,
        branch: str,
        metadata: dict[str, Any] | None = None,
        commit_method: str = "new_commit",
    ) -> str:
        """Async version of :meth:`rewrite_manifests`."""
        await self._require_online("rewrite manifests")
        require_text("commit message", message)
        if commit_method not in ("new_commit", "amend"):
            raise InvalidInputError(
                f"commit_method must be 'new_commit' or 'amend', got {commit_method!r}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        meta = self._ctx.commit_metadata(metadata)
        return await rewrite_manifests(
            self._io, branch, message, meta, amend=commit_method == "amend"
        )

    def rewrite_manifests(
        self,
        message: str,
        *,
        branch: str,
        metadata: dict[str, Any] | None = None,
        commit_method: str = "new_commit",
    ) -> str:
        """Commit the tip of a branch with its chunk references laid out afresh.

        After many small commits an array's references are spread over many small
        manifests; this rewrites them into the configured split layout (``splitting``
        rules, else ``split_size``) and packs them as a fresh write would, so a cold read
        of the tip costs as few requests as one of a freshly written array. The data does
        not change.

        Parameters
        ----------
        message
            The commit message.
        branch
            The branch to rewrite (its tip).
        metadata
            Commit metadata.
        commit_method
            ``"new_commit"`` (a commit on top of the tip) or ``"amend"`` (replace the tip).

        Returns
        -------
        str
            The new snapshot id.

        Raises
        ------
        ConflictError
            If the branch moved meanwhile (nothing changed; run it again).
        RefNotFoundError
            If the branch does not exist.
        ReadOnlyError
            If this repository object is read-only.
        """
        return sync(
            self.rewrite_manifests_async(
                message, branch=branch, metadata=metadata, commit_method=commit_method
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


def _deprecated(name: str, instead: str) -> None:
    import warnings

    warnings.warn(
        f"Repository.{name}() is deprecated: use Repository.{instead}(), whose "
        "native_bytes is the same number",
        DeprecationWarning,
        stacklevel=3,
    )
