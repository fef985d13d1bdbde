"""What a job finds in storage besides its record: its published forks, the staging area
of its coordinator session, and the commit it may already have made."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

from frazil._commit import PARENT
from frazil._repo import ancestry
from frazil.format import layout

if TYPE_CHECKING:
    from frazil._repo import RepoIO
    from frazil.storage import Storage

__all__ = ["committed_by", "delete_published", "has_staged", "published_names"]


async def published_names(storage: Storage, job_id: str) -> set[str]:
    """Fork names published under the job (its recorded preparation excluded)."""
    prefix = layout.fork_prefix(job_id)
    return {info.key.removeprefix(prefix) async for info in storage.list(prefix)} - {PARENT}


async def delete_published(storage: Storage, job_id: str) -> int:
    """Delete the job's published forks and preparation; returns how many objects went."""
    keys = [info.key async for info in storage.list(layout.fork_prefix(job_id))]
    await storage.delete_many(keys)
    return len(keys)


async def has_staged(storage: Storage, token: str) -> bool:
    """Whether copies of the session with this token recorded staged writes."""
    async for _ in storage.list(layout.staging_prefix(token)):
        return True
    return False


async def committed_by(io: RepoIO, tip: str, base: str, job_id: str) -> str | None:
    """The snapshot between ``tip`` and ``base`` whose commit names job ``job_id``."""
    async with aclosing(ancestry(io, tip)) as walk:
        async for info in walk:
            if info.id == base:
                return None
            named = info.metadata.get("frazil_job")
            if isinstance(named, dict) and named.get("id") == job_id:
                return info.id
    return None
