"""The commit retry loop, sans-IO: a generator of requests and the replies it needs.

:func:`commit_protocol` yields requests (build and write the commit's objects, move the
ref, sleep, rebase) and receives their outcomes. The session's committer drives it against
real storage; tests drive it with scripted outcomes, no storage needed.
``docs/design/002-refs-and-commit-protocol.md`` explains why it is safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frazil._errors import ConflictError, ErrorKind
from frazil.storage import backoff_delay

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from frazil._config import CommitRetryConfig

__all__ = [
    "BuildAndWrite",
    "Rebase",
    "RefMoved",
    "RefUpdated",
    "Request",
    "Sleep",
    "UpdateRef",
    "commit_protocol",
]


@dataclass(frozen=True, slots=True)
class BuildAndWrite:
    """Build the commit on the current base and write its objects; reply: snapshot id."""

    attempt: int


@dataclass(frozen=True, slots=True)
class UpdateRef:
    """Move the branch from the base to ``snapshot_id``; reply: RefUpdated or RefMoved."""

    snapshot_id: str


@dataclass(frozen=True, slots=True)
class RefUpdated:
    """The ref now points at the new snapshot."""


@dataclass(frozen=True, slots=True)
class RefMoved:
    """Another writer moved the ref first."""

    expected: str
    actual: str


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait before retrying; reply: None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Rebase:
    """Rebase the session onto the branch tip ``tip``; reply: None (or it raises)."""

    tip: str


type Request = BuildAndWrite | UpdateRef | Sleep | Rebase


def commit_protocol(
    *,
    rebase: bool,
    rebase_tries: int,
    retry: CommitRetryConfig,
    clock: Callable[[], float] = time.monotonic,
) -> Generator[Request, Any, tuple[str, int]]:
    """The commit loop; returns (snapshot id, attempts).

    Raises
    ------
    ConflictError
        If the ref moved and rebasing is off, the tries are used up, or the deadline passed.
    """
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        snapshot_id = yield BuildAndWrite(attempt)
        outcome = yield UpdateRef(snapshot_id)
        if isinstance(outcome, RefUpdated):
            return snapshot_id, attempt
        assert isinstance(outcome, RefMoved)
        out_of_time = (
            retry.deadline_seconds is not None and clock() - start >= retry.deadline_seconds
        )
        if not rebase or attempt > rebase_tries or out_of_time:
            reason = ""
            if rebase and attempt > rebase_tries:
                reason = f" after {attempt} attempts (rebase_tries={rebase_tries})"
            elif rebase and out_of_time:
                reason = f" after {attempt} attempts: the {retry.deadline_seconds}s deadline passed"
            raise ConflictError(
                message=f"branch tip moved{reason}: the session is based on {outcome.expected!r} but "
                f"the branch now points to {outcome.actual!r}; rebase the session "
                "(session.rebase(solver)) or commit with rebase_with=BasicConflictSolver()",
                expected_parent=outcome.expected,
                actual_parent=outcome.actual,
                kind=ErrorKind.COMMIT_CONFLICT,
            )
        yield Sleep(
            backoff_delay(attempt - 1, retry.initial_backoff_seconds, retry.max_backoff_seconds)
        )
        yield Rebase(outcome.actual)
