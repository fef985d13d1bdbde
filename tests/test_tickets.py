"""Fork tickets for batch jobs: separate OS processes publish forks to (moto) S3; the
coordinator fetches, merges and commits."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zarr

import frazil

pytestmark = pytest.mark.s3

WORKER = textwrap.dedent(
    """
    import sys, zarr, frazil
    ticket, endpoint, prefix, index, value = sys.argv[1:]
    storage = frazil.s3_storage(bucket="frazil-tests", prefix=prefix, region="us-east-1",
        endpoint_url=endpoint, allow_http=True, access_key_id="testing", secret_access_key="testing")
    repo = frazil.Repository.open(storage)
    fork = repo.fork_from_ticket(ticket)
    i = int(index)
    zarr.open_array(fork.store, path="data")[i * 4:(i + 1) * 4] = int(value)
    print(fork.publish(ticket, name=f"task-{i}"))
    """
)


def run_worker(moto_s3, prefix, ticket, index, value):
    result = subprocess.run(
        [sys.executable, "-c", WORKER, ticket, moto_s3.endpoint, prefix, str(index), str(value)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def coordinator(moto_s3):
    prefix = "tickets-" + frazil.format.new_id().lower()
    repo = frazil.Repository.create(moto_s3.storage(prefix))
    session = repo.writable_session("main")
    zarr.create_array(
        session.store, name="data", shape=(16,), chunks=(4,), dtype="i4", fill_value=0
    )
    return repo, session, prefix


@pytest.mark.slow
def test_batch_workers_publish_and_coordinator_merges(moto_s3, coordinator):
    repo, session, prefix = coordinator
    ticket = session.ticket(job="nightly-1")
    assert len(ticket) < 300
    assert all(ch.isalnum() or ch in "._-" for ch in ticket)
    names = [run_worker(moto_s3, prefix, ticket, i, 10 + i) for i in range(4)]
    assert names == [f"task-{i}" for i in range(4)]
    forks = repo.fetch_forks(ticket)
    assert len(forks) == 4
    assert len(repo.fetch_forks(ticket)) == 4, "fetching is idempotent"
    session.merge(*forks)
    session.commit("batch job")
    values = zarr.open_array(repo.readonly_session("main").store, path="data", mode="r")[:]
    np.testing.assert_array_equal(values, np.repeat([10, 11, 12, 13], 4))
    assert repo.delete_forks(ticket) == 5  # four forks and the parent changes
    assert repo.fetch_forks(ticket) == []


@pytest.mark.slow
def test_republished_task_is_merged_once(moto_s3, coordinator):
    repo, session, prefix = coordinator
    ticket = session.ticket(job="rerun")
    run_worker(moto_s3, prefix, ticket, 0, 1)
    run_worker(moto_s3, prefix, ticket, 0, 2)  # the task ran again
    forks = repo.fetch_forks(ticket)
    assert len(forks) == 1
    session.merge(*forks)
    session.commit("rerun")
    values = zarr.open_array(repo.readonly_session("main").store, path="data", mode="r")[:4]
    np.testing.assert_array_equal(values, 2)


def test_forks_from_another_base_are_rejected(moto_s3, coordinator):
    repo, session, _ = coordinator
    session.commit("array")
    first = repo.writable_session("main")
    ticket = first.ticket(job="shared-job")
    fork = repo.fork_from_ticket(ticket)
    zarr.open_array(fork.store, path="data")[0] = 1
    fork.publish(ticket, name="good")
    other = repo.writable_session("main")
    zarr.open_array(other.store, path="data")[8] = 3
    other.commit("moves main")
    newer = repo.writable_session("main")
    stale_ticket = newer.ticket(job="shared-job")
    stale = repo.fork_from_ticket(stale_ticket)
    zarr.open_array(stale.store, path="data")[4] = 2
    stale.publish(stale_ticket, name="from-newer-base")
    with pytest.raises(frazil.InvalidInputError, match="from-newer-base"):
        repo.fetch_forks(ticket)
    with pytest.raises(frazil.InvalidInputError, match="was not made from ticket"):
        fork.publish(stale_ticket)
    with pytest.raises(frazil.InvalidInputError, match="based on snapshot"):
        newer.merge(fork)


def test_bad_tickets(coordinator):
    repo, _, _ = coordinator
    for bad in ("", "hello", "frz1.!!!", "frz1.e30"):
        with pytest.raises(frazil.InvalidInputError, match="ticket"):
            repo.fork_from_ticket(bad)
    with pytest.raises(frazil.InvalidInputError):
        repo.writable_session("main").ticket(job="../escape")
    with pytest.raises(frazil.InvalidInputError, match="job name"):
        repo.writable_session("main").ticket(job="job\n")
    # a hand-edited ticket naming another branch is refused before anything is read
    good = repo.writable_session("main").ticket(job="edited")
    doc = json.loads(base64.urlsafe_b64decode(good[5:] + "=" * (-len(good[5:]) % 4)))
    doc["b"] = "../x"
    edited = "frz1." + base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    with pytest.raises(frazil.InvalidInputError, match="branch name"):
        repo.fork_from_ticket(edited)
    with pytest.raises(frazil.InvalidInputError) as info:
        repo.fork_from_ticket("frz1." + "A" * 2_000_000)
    assert len(str(info.value)) < 1000, "messages do not echo huge input"


def test_abandoned_tickets_are_garbage_collected(coordinator):
    repo, session, _ = coordinator
    ticket = session.ticket(job="abandoned")
    fork = repo.fork_from_ticket(ticket)
    zarr.open_array(fork.store, path="data")[0] = 1
    fork.publish(ticket)
    now = datetime.datetime.now(datetime.UTC)  # after the debris was written
    summary = repo.garbage_collect(now)
    assert summary.forks_deleted == 2
    assert repo.fetch_forks(ticket) == []
