"""Snapshot expiry: release history older than a cut-off from every ref.

For each branch and tag, the snapshots from its target back to the first one written at or
after the cut-off are kept (the target itself always is); the oldest kept snapshot's parent
becomes the repository's first snapshot, so the history stays whole and ends where every
history ends. Snapshots keep their ids: kept snapshots whose stored window of ancestors
named released ones are rewritten in place with the new window, and no ref moves. What no
ref reaches any more is *expired*; ``garbage_collect`` then reclaims it.

Why a commit racing the expiry is safe: refs are never written (deleting expired refs,
when asked, uses the refs' own compare-and-swap), so a commit on the same branch moves the
ref exactly as it would have; its snapshot may carry the old window, which names released
snapshots that still exist. Expiry reads every ref again at its end and runs once more for
refs that moved, and garbage collection marks through windows and keeps what snapshots
newer than its cut-off reach, so a racing commit's history is never broken; at worst the
racing branch keeps its old history until the next expiry. ``docs/design/007-operations.md``
has the details.
"""

from __future__ import annotations

import dataclasses
import datetime
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING

from frazil._check import require_aware_datetime
from frazil._errors import ErrorKind, InvalidInputError
from frazil._ops.statistics import reachable_snapshots, ref_targets
from frazil._repo import (
    BRANCHES,
    TAGS,
    UpdateType,
    ancestry,
    delete_named_ref,
    record_update,
)
from frazil.format import ANCESTOR_WINDOW, CommitInfo, datetime_to_micros, layout

if TYPE_CHECKING:
    from frazil._repo import RepoIO

__all__ = ["check_cutoff", "expire_snapshots"]


def check_cutoff(name: str, value: object) -> datetime.datetime:
    """An aware datetime not in the future, else InvalidInputError."""
    cutoff = require_aware_datetime(name, value)
    if cutoff > datetime.datetime.now(datetime.UTC):
        raise InvalidInputError(
            f"{name}={cutoff.isoformat()} is in the future: every snapshot would be older. "
            "Pick a time in the past.",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return cutoff


async def _kept_chain(io: RepoIO, tip: str, cutoff: int) -> list[CommitInfo]:
    """The history of ``tip`` down to its first record older than the cut-off (or its
    first snapshot), whichever comes first; the tip itself is always kept."""
    chain: list[CommitInfo] = []
    async with aclosing(ancestry(io, tip)) as walk:
        async for record in walk:
            chain.append(record)
            if record.parent_id is None or (len(chain) > 1 and record.written_at < cutoff):
                break
    return chain


async def _expire_once(io: RepoIO, initial: str, cutoff: int, targets: dict[str, str]) -> int:
    """Rewrite the kept snapshots of the refs in ``targets``; returns how many were."""
    first = (await io.read_snapshot(initial)).info
    rewrites: dict[str, tuple[CommitInfo, tuple[CommitInfo, ...]]] = {}
    for tip in sorted(set(targets.values())):
        chain = await _kept_chain(io, tip, cutoff)
        end = chain[-1]
        if end.id == initial or end.parent_id is None:
            continue  # nothing released (or a history that does not end in the first one)
        kept = len(chain) - 1
        oldest = chain[kept - 1]
        new_chain = [*chain[: kept - 1], oldest._replace(parent_id=initial), first]
        for j in range(max(0, kept - 1 - ANCESTOR_WINDOW), kept):
            window = tuple(new_chain[j + 1 : j + 1 + ANCESTOR_WINDOW])
            rewrites[new_chain[j].id] = (new_chain[j], window)
    snapshots = await io.read_many([partial(io.read_snapshot, sid) for sid in rewrites])
    for snapshot in snapshots:
        info, window = rewrites[snapshot.id]
        if snapshot.info == info and snapshot.ancestors == window:
            continue
        await io.write_snapshot(dataclasses.replace(snapshot, info=info, ancestors=window))
    return len(rewrites)


async def expire_snapshots(
    io: RepoIO,
    initial: str,
    older_than: object,
    *,
    delete_expired_branches: object = False,
    delete_expired_tags: object = False,
) -> set[str]:
    """Expire snapshots older than ``older_than``; see the module docstring.

    Returns the ids of the snapshots no ref reaches any more.
    """
    when = check_cutoff("older_than", older_than)
    for name, flag in (
        ("delete_expired_branches", delete_expired_branches),
        ("delete_expired_tags", delete_expired_tags),
    ):
        if not isinstance(flag, bool):
            raise InvalidInputError(
                f"{name} must be True or False, got {flag!r}", kind=ErrorKind.INVALID_ARGUMENT
            )
    cutoff = datetime_to_micros(when)
    before = await reachable_snapshots(io)
    targets = await ref_targets(io)
    deleted: list[str] = []
    for key, sid in sorted(targets.items()):
        family = BRANCHES if key.startswith(layout.BRANCH_PREFIX) else TAGS
        wanted = delete_expired_branches if family is BRANCHES else delete_expired_tags
        name = key.removeprefix(family.prefix)
        if not wanted or name == "main" or sid == initial:
            continue
        if (await io.read_snapshot(sid)).info.written_at < cutoff:
            await delete_named_ref(io.storage, family, name)
            deleted.append(key)
    for key in deleted:
        del targets[key]
    rewritten = await _expire_once(io, initial, cutoff, targets)
    for _ in range(8):  # refs moved by commits racing this expiry: run again for those
        now = await ref_targets(io)
        moved = {k: v for k, v in now.items() if targets.get(k) != v}
        if not moved:
            break
        rewritten += await _expire_once(io, initial, cutoff, moved)
        targets = now
    expired = before - await reachable_snapshots(io)
    await record_update(
        io.storage,
        UpdateType.ExpirationRan,
        details={
            "older_than": when.isoformat(),
            "expired": len(expired),
            "rewritten": rewritten,
            "deleted_refs": deleted,
        },
    )
    return expired
