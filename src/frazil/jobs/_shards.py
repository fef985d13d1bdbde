"""Shards: their keys and fork names, and the functions that run on the workers.

Every shard of a job has a stable *key* (``str(shard)`` or what the ``key=`` function
returns) and publishes its fork under a *fork name*: the key itself when it is a valid fork
name (letters, digits, '.', '_', '-', starting with a letter or digit), otherwise a
readable prefix of it plus 16 hex digits of its SHA-256, which the record maps back to the
key.

The task functions (:func:`run_shard`, :func:`load_published`) are module-level so that
every executor can pickle them by reference. A worker receives the coordinator's fork as
pickled bytes (the *seed*) and loads a fresh fork from them for every attempt: a retried
shard never sees what a failed attempt wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._check import require_text, short
from frazil._commit import Ticket, decode_publication
from frazil._distributed import merge_sessions
from frazil._errors import ErrorKind, FrazilError, InvalidInputError
from frazil._session import ForkSession, SessionMode, SessionState, state_of
from frazil._sync import sync
from frazil.format import RefKind

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from frazil._changes import ChangeSet
    from frazil._repo import RepoContext

__all__ = [
    "ShardTask",
    "changes_fingerprint",
    "check_picklable",
    "fork_name",
    "fork_nbytes",
    "load_published",
    "plan_shards",
    "run_shard",
]

_VERBATIM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def fork_name(key: str) -> str:
    """The name a shard with this key publishes its fork under.

    Keys that are valid fork names are used as they are (so batch workers publish with
    ``fork.publish(ticket, name=key)``); any other key becomes a readable prefix plus a
    digest, e.g. ``"(1, 2)"`` -> ``"1-2-4f3c..."``.
    """
    if _VERBATIM.fullmatch(key) and ".." not in key:
        return key
    readable = _UNSAFE.sub("-", key).strip("-_")[:40]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{readable or 'shard'}-{digest}"


@dataclass(slots=True)
class ShardTask:
    """One shard of a ``map``."""

    key: str
    """The shard's key."""
    name: str
    """The fork name it publishes under."""
    shard: Any
    """The shard itself, ``fn``'s second argument."""
    attempts: int = 0
    """Attempts made so far (when the map loop does the retrying)."""


def plan_shards(
    shards: object, key: Callable[[Any], str] | None, *, known: dict[str, str]
) -> list[ShardTask]:
    """The shards with their keys and fork names, checked before anything runs.

    ``known`` maps the fork names of the job's earlier shards to their keys.

    Raises
    ------
    InvalidInputError
        If ``shards`` is not iterable, a key is not a non-empty str, two shards share a
        key, or two keys map to one fork name.
    """
    if isinstance(shards, str | bytes) or not hasattr(shards, "__iter__"):
        raise InvalidInputError(
            f"shards must be an iterable of shards (e.g. a list), got {short(shards)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    if key is not None and not callable(key):
        raise InvalidInputError(
            f"key must be a function of a shard returning its str key, got {short(key)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    names: dict[str, str] = {}
    tasks = []
    for shard in list(shards):
        shard_key: object = key(shard) if key is not None else str(shard)
        if not isinstance(shard_key, str) or not shard_key:
            raise InvalidInputError(
                f"the key of shard {short(shard)} is {short(shard_key)}: shard keys are "
                "non-empty strings (str(shard), or what key= returns)",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        require_text("shard key", shard_key)
        name = fork_name(shard_key)
        other = names.get(name, known.get(name))
        if other is not None and (other != shard_key or name in names):
            same = other == shard_key
            raise InvalidInputError(
                f"shards {other!r} and {shard_key!r} "
                + ("have the same key" if same else f"map to one fork name {name!r}")
                + ": each shard needs its own key (pass key= to tell them apart)",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        names[name] = shard_key
        tasks.append(ShardTask(key=shard_key, name=name, shard=shard))
    return tasks


def check_picklable(fn: object, tasks: list[ShardTask], *, cloud: bool) -> None:
    """Tasks go to other processes: find what cannot travel before anything runs.

    ``cloud`` pickles with cloudpickle, as Dask does for functions.

    Raises
    ------
    InvalidInputError
        With kind ``not-picklable``, naming the function or the shard.
    SessionStateError
        If ``fn`` captures a writable session (its own message says what to do).
    """
    dumps: Callable[[object], bytes] = pickle.dumps
    if cloud:
        with contextlib.suppress(ImportError):
            import cloudpickle

            dumps = cloudpickle.dumps
    try:
        dumps(fn)
    except FrazilError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"the shard function {short(fn)} cannot be pickled to send it to the "
            f"executor's workers ({type(exc).__name__}: {short(str(exc))}); define it at "
            "module level and capture only picklable values",
            kind=ErrorKind.NOT_PICKLABLE,
        ) from exc
    for task in tasks:
        try:
            dumps(task.shard)
        except FrazilError:
            raise
        except Exception as exc:
            raise InvalidInputError(
                f"shard {task.key!r} cannot be pickled to send it to a worker "
                f"({type(exc).__name__}: {short(str(exc))}); pass shards as plain "
                "values (numbers, strings, tuples, slices)",
                kind=ErrorKind.NOT_PICKLABLE,
            ) from exc


def fork_nbytes(fork: ForkSession) -> int:
    """Bytes of chunk data a fork wrote itself (native and inline chunks)."""
    changes = state_of(fork).changes
    if changes is None:
        return 0
    total = 0
    for writes in changes.chunks.values():
        table = writes.own()
        stored = (table.kind == RefKind.NATIVE) | (table.kind == RefKind.INLINE)
        total += int(np.sum(table.length[stored], dtype=np.uint64))
    return total


def changes_fingerprint(changes: ChangeSet | None) -> int:
    """A cheap value that changes whenever a session's own changes do (to notice writes
    made through the coordinator's session while shards run in its process)."""
    if changes is None:
        return 0
    return hash(
        (
            tuple((k, v.path, v.metadata) for k, v in changes.created.items()),
            tuple(changes.updated.items()),
            tuple(changes.deleted.items()),
            len(changes.moves),
            tuple(changes.blobs.items()),
            tuple((k, w.version) for k, w in changes.chunks.items()),
        )
    )


def _fresh_fork(seed: bytes) -> ForkSession:
    fork = pickle.loads(seed)
    assert isinstance(fork, ForkSession)
    return fork


def run_shard(
    fn: Callable[[ForkSession, Any], object], seed: bytes, shard: Any, ticket: str, name: str
) -> ForkSession:
    """On a worker: run ``fn(fork, shard)`` on a fresh fork, publish the fork under the
    job as ``name``, and return it for the merge tree."""
    fork = _fresh_fork(seed)
    fn(fork, shard)
    fork.publish(ticket, name=name)
    return fork


def load_published(seed: bytes, ticket: str, names: Sequence[str]) -> ForkSession:
    """On a worker (or the coordinator): the published forks ``names`` merged into one.

    Each publication is rebuilt as the fork it would be if it had run now, from this
    coordinator state (``seed``): its own changes over the seed's inherited ones, with the
    seed's lineage, so merging it behaves exactly like merging a freshly run shard.

    Raises
    ------
    InvalidInputError
        If a publication was made against another repository, snapshot or branch.
    """
    seed_fork = _fresh_fork(seed)
    state = state_of(seed_fork)
    parsed = Ticket.decode(ticket)
    forks = [
        ForkSession(s) for s in sync(_read_publications(state.ctx, state, parsed, list(names)))
    ]
    if not forks:
        return seed_fork
    return merge_sessions(*forks)


async def _read_publications(
    ctx: RepoContext, seed: SessionState, parsed: Ticket, names: list[str]
) -> list[SessionState]:
    storage = ctx.storage
    keys = [parsed.key(name) for name in names]
    blobs = await ctx.io.read_many([_getter(storage.get, k) for k in keys])
    states = []
    for key, data in zip(keys, blobs, strict=True):
        header, changes = decode_publication(data, key=key)
        if (header["repo_id"], header["snapshot_id"], header["branch"]) != (
            parsed.repo_id,
            parsed.snapshot_id,
            parsed.branch,
        ):
            raise InvalidInputError(
                f"published fork {key!r} was made against snapshot "
                f"{header['snapshot_id']!r} of branch {header['branch']!r}, not the job's "
                f"{parsed.snapshot_id!r}; it cannot be merged",
                kind=ErrorKind.FOREIGN_FORK,
            )
        states.append(
            SessionState(
                ctx,
                mode=SessionMode.WRITABLE,
                branch=parsed.branch,
                base_id=parsed.snapshot_id,
                changes=_as_fork_of(seed, changes),
                token=str(header["name"]),
            )
        )
    return states


def _getter(get: Callable[[str], Any], key: str) -> Callable[[], Any]:
    return lambda: get(key)


def _as_fork_of(seed: SessionState, own: ChangeSet) -> ChangeSet:
    """``own`` changes layered over the seed fork's inherited changes and lineage."""
    out = seed.require_changes().copy()
    out.created.update(own.created)
    out.updated.update(own.updated)
    out.deleted.update(own.deleted)
    out.moves.extend(own.moves)
    out.blobs.update(own.blobs)
    for node_id, writes in own.chunks.items():
        out.writes_for(node_id, writes.ndim).add_table(writes.own(), unique=True)
    return out
