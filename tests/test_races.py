"""Multi-process races on conditional writes: exactly one winner per round, every round."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from typing import Any

import pytest

import frazil
from conftest import LONG
from frazil.storage import IfMatch

PROCESSES = 8
ROUNDS = 200 if LONG else 25


def _race(
    storage: frazil.Storage, mode: str, rounds: int, worker: int, barrier: Any, out: Any
) -> None:
    async def main() -> list[int]:
        wins = []
        for r in range(rounds):
            if mode == "create":
                barrier.wait()
                try:
                    await storage.put(f"race/{r}", f"{worker}".encode(), mode="create")
                except frazil.AlreadyExistsError:
                    continue
                wins.append(r)
            else:
                barrier.wait()
                current = await storage.get_versioned("counter")
                barrier.wait()
                try:
                    await storage.put(
                        "counter", f"{r}:{worker}".encode(), mode=IfMatch(current.version)
                    )
                except frazil.PreconditionFailedError:
                    continue
                wins.append(r)
        return wins

    try:
        out.put((worker, asyncio.run(main())))
    except BaseException as exc:
        out.put((worker, repr(exc)))
        raise


def run_race(storage: frazil.Storage, mode: str) -> dict[int, list[int]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES, timeout=120)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_race, args=(storage, mode, ROUNDS, w, barrier, out))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    for worker, value in results.items():
        assert isinstance(value, list), f"worker {worker} failed: {value}"
    return results


def check_one_winner_per_round(results: dict[int, list[int]]) -> None:
    winners = [r for wins in results.values() for r in wins]
    assert sorted(winners) == list(range(ROUNDS)), "every round must have exactly one winner"


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def shared_storage(request, tmp_path):
    if request.param == "local":
        return frazil.local_filesystem_storage(tmp_path / "race")
    return request.getfixturevalue("moto_s3").storage()


@pytest.mark.slow
def test_create_if_absent_race(shared_storage):
    results = run_race(shared_storage, "create")
    check_one_winner_per_round(results)

    async def owners():
        return [await shared_storage.get(f"race/{r}") for r in range(ROUNDS)]

    stored = asyncio.run(owners())
    for r, owner in enumerate(stored):
        assert r in results[int(owner)], "the stored value is the winner's"


@pytest.mark.slow
def test_compare_and_swap_race(shared_storage):
    asyncio.run(shared_storage.put("counter", b"start", mode="create"))
    results = run_race(shared_storage, "cas")
    check_one_winner_per_round(results)
    final = asyncio.run(shared_storage.get("counter")).decode()
    last_round, worker = final.split(":")
    assert int(last_round) == ROUNDS - 1
    assert ROUNDS - 1 in results[int(worker)]
