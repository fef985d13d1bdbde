"""The commit retry loop, driven with scripted outcomes (no storage)."""

from __future__ import annotations

import pytest

import frazil
from frazil._commit import (
    BuildAndWrite,
    Rebase,
    RefMoved,
    RefUpdated,
    Sleep,
    UpdateRef,
    commit_protocol,
)

RETRY = frazil.CommitRetryConfig(initial_backoff_seconds=0.01, max_backoff_seconds=0.05)


def drive(protocol, outcomes, clock_steps=None):
    """Feed outcomes to the protocol; return (result, requests seen)."""
    seen = []
    reply = None
    moved = iter(outcomes)
    while True:
        try:
            request = protocol.send(reply)
        except StopIteration as done:
            return done.value, seen
        seen.append(request)
        match request:
            case BuildAndWrite(attempt=n):
                reply = f"S{n}"
            case UpdateRef():
                reply = next(moved)
            case Sleep(seconds=s):
                assert 0 <= s <= RETRY.max_backoff_seconds
                if clock_steps is not None:
                    clock_steps.append(s)
                reply = None
            case Rebase():
                reply = None


def test_first_try():
    result, seen = drive(commit_protocol(rebase=True, rebase_tries=3, retry=RETRY), [RefUpdated()])
    assert result == ("S1", 1)
    assert seen == [BuildAndWrite(1), UpdateRef("S1")]


def test_conflict_without_rebase_raises():
    with pytest.raises(frazil.ConflictError) as info:
        drive(commit_protocol(rebase=False, rebase_tries=3, retry=RETRY), [RefMoved("A", "B")])
    assert (info.value.expected_parent, info.value.actual_parent) == ("A", "B")


def test_retries_rebase_then_succeed():
    outcomes = [RefMoved("A", "B"), RefMoved("B", "C"), RefUpdated()]
    result, seen = drive(commit_protocol(rebase=True, rebase_tries=5, retry=RETRY), outcomes)
    assert result == ("S3", 3)
    kinds = [type(r).__name__ for r in seen]
    assert kinds == [
        "BuildAndWrite",
        "UpdateRef",
        "Sleep",
        "Rebase",
        "BuildAndWrite",
        "UpdateRef",
        "Sleep",
        "Rebase",
        "BuildAndWrite",
        "UpdateRef",
    ]
    assert [r.tip for r in seen if isinstance(r, Rebase)] == ["B", "C"]


def test_tries_are_bounded():
    outcomes = [RefMoved("A", "B")] * 10
    with pytest.raises(frazil.ConflictError, match="rebase_tries=2"):
        drive(commit_protocol(rebase=True, rebase_tries=2, retry=RETRY), outcomes)


def test_deadline():
    now = [0.0]

    def clock():
        now[0] += 1.0
        return now[0]

    retry = frazil.CommitRetryConfig(deadline_seconds=2.5)
    with pytest.raises(frazil.ConflictError, match="deadline"):
        drive(
            commit_protocol(rebase=True, rebase_tries=100, retry=retry, clock=clock),
            [RefMoved("A", "B")] * 100,
        )


def test_backoff_grows_but_is_capped():
    waits: list[float] = []
    outcomes = [RefMoved("A", "B")] * 30 + [RefUpdated()]
    drive(commit_protocol(rebase=True, rebase_tries=40, retry=RETRY), outcomes, clock_steps=waits)
    assert len(waits) == 30
    assert max(waits) <= RETRY.max_backoff_seconds
