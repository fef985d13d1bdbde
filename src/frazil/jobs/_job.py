"""``frazil.Job``: one distributed write, from preparation to commit, resumable, recorded.

A job owns a coordinator session (:attr:`Job.session`, where the script writes metadata),
a lease on the job's record, and a fork ticket. :meth:`Job.map` runs a function once per
shard on an executor, each shard writing through its own fork that it publishes under the
job as soon as it finishes; the forks are merged in a tree on the workers and into the
session; :meth:`Job.commit` commits once, naming the job in the commit's metadata. A
coordinator that dies leaves its published shards and its recorded preparation behind:
:meth:`Job.resume` rebuilds the session and runs only the missing shards.
``docs/design/006-jobs.md`` describes the protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import pickle
import time
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Self

from frazil._changes import ChangeSet
from frazil._check import check_commit_metadata, require_int, require_text, short
from frazil._commit import Ticket, read_parent, unseal
from frazil._errors import (
    ConflictError,
    ErrorKind,
    FrazilError,
    InvalidInputError,
    PreconditionFailedError,
    SessionStateError,
    ShardsFailedError,
)
from frazil._repo import (
    JobRecord,
    create_job,
    frazil_version,
    new_token,
    read_job,
    replace_job,
    require_job,
    validate_job_name,
    validate_ref_name,
)
from frazil._repository import Repository, context_of
from frazil._session import Session, SessionMode, SessionState, state_of
from frazil._sync import sync
from frazil.format import new_id
from frazil.jobs._engine import describe, run_map
from frazil.jobs._lease import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    Lease,
    coordinator_alive,
    git_commit,
    host_name,
    now,
    stamp,
    user_name,
)
from frazil.jobs._progress import make_progress
from frazil.jobs._runners import runner_for
from frazil.jobs._shards import (
    changes_fingerprint,
    check_picklable,
    fork_name,
    fork_nbytes,
    load_published,
    plan_shards,
)
from frazil.jobs._stored import committed_by, delete_published, has_staged, published_names

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from frazil._commit import ConflictSolver
    from frazil._repo import JobState
    from frazil._session import ForkSession
    from frazil.jobs._runners import Runner
    from frazil.jobs._shards import ShardTask
    from frazil.storage import Storage

__all__ = ["Job"]

logger = logging.getLogger("frazil.jobs")

_SPLIT_EVERY = 8


def _check_repo(repo: object) -> Repository:
    if not isinstance(repo, Repository):
        raise InvalidInputError(
            f"a job runs on a frazil.Repository, got {short(repo)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return repo


def _check_params(params: object) -> tuple[dict[str, Any], str]:
    """Parameters as a JSON dict (a copy) and the SHA-256 of their canonical JSON."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInputError(
            f"params must be a dict of JSON values (or None), got {short(params)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    try:
        text = json.dumps(
            params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        data = text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(
            "params must hold JSON values only (str, finite numbers, bools, None, lists and "
            f"dicts with str keys) so the job's record can store them: {short(str(exc))}",
            kind=ErrorKind.INVALID_ARGUMENT,
        ) from None
    return dict(json.loads(text)), hashlib.sha256(data).hexdigest()


class Job:
    """A coordinator job: one distributed write from preparation to commit.

    Start one with :meth:`create` (or continue one whose coordinator died with
    :meth:`resume`), as a context manager::

        with frazil.Job.create(repo, "era5-2026-12", params={"year": 2026},
                               executor=client) as job:
            ds_template.to_zarr(job.session.store, compute=False)
            job.map(write_month, months)
            job.commit("ERA5 December", rebase_with=frazil.BasicConflictSolver())

    A job runs once: one commit, then it is done. Leaving the ``with`` block by an
    exception discards the uncommitted changes, marks the job failed and re-raises;
    leaving it without a commit marks it abandoned (with a warning). Either way the shards
    published so far stay, and :meth:`resume` continues from them.

    Its record (:class:`JobRecord`, from ``repo.job(name)``) tells every process how it
    goes and, afterwards, which run wrote which snapshot with which parameters.
    """

    lease_seconds: ClassVar[float] = LEASE_SECONDS
    """A running job whose coordinator wrote its record less than this many seconds ago
    is held by it: :meth:`resume` refuses it without ``force=True`` (default 30)."""
    heartbeat_seconds: ClassVar[float] = HEARTBEAT_SECONDS
    """How often a coordinator rewrites its record while it runs (default 5)."""

    def __init__(
        self,
        repo: Repository,
        session: Session,
        lease: Lease,
        runner: Runner,
        *,
        ticket: str | None,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`resume`."""
        self._repo = repo
        self._session = session
        self._lease = lease
        self._runner = runner
        self._ticket = ticket
        self._ticket_frozen = ticket is not None
        self._merged: set[str] = set()
        """Fork names of the shards merged into the session."""
        self._published: set[str] = set()
        """Fork names known to be published."""
        self._ended: str | None = None

    # ------------------------------------------------------------------ starting
    @classmethod
    def create(
        cls,
        repo: Repository,
        name: str,
        *,
        branch: str = "main",
        params: dict[str, Any] | None = None,
        executor: Any = None,
    ) -> Job:
        """Start a new job on ``branch`` and take its lease.

        Parameters
        ----------
        repo
            The repository to write to.
        name
            The job's name, unique in the repository; the branch-name rule applies
            (letters, digits, '.', '_', '-', '/').
        branch
            The branch the job commits to; its tip is the job's base snapshot.
        params
            The job's parameters (a dict of JSON values), kept in its record; their digest
            goes into the commit's metadata.
        executor
            Where ``map`` runs shards: a ``distributed.Client``, a
            ``concurrent.futures.Executor``, or None for this process.

        Returns
        -------
        Job
            Running, with an empty coordinator session at the tip of ``branch``.

        Raises
        ------
        InvalidInputError
            If the name breaks the naming rule (the message states it), the parameters are
            not JSON, or the executor is of an unknown kind; nothing is written then.
        AlreadyExistsError
            With kind ``job-already-exists``, if a job of that name exists (running or
            not; exactly one of two racing creators wins).
        RefNotFoundError
            If the branch does not exist.
        ReadOnlyError
            If the repository cannot be written.
        """
        repo = _check_repo(repo)
        name = validate_job_name(name)
        validate_ref_name(branch, what="branch")
        params, digest = _check_params(params)
        runner = runner_for(executor)
        session = repo.writable_session(branch)
        storage = context_of(repo).storage
        when = now()
        user, host, pid = user_name(), host_name(), os.getpid()
        record = JobRecord(
            name=name,
            id=new_id(),
            status="running",
            branch=branch,
            base_snapshot=session.snapshot_id,
            params=params,
            params_digest=digest,
            user=user,
            host=host,
            pid=pid,
            frazil_version=frazil_version(),
            git_commit=git_commit(),
            started_at=when,
            ended_at=None,
            heartbeat_at=when,
            shards_total=0,
            shards_done=0,
            events=(f"{stamp(when)} created by {user} (pid {pid} on {host})",),
            lease_holder=new_token(),
            session_token=state_of(session).token,
            write_token=new_token(),
        )
        state = sync(create_job(storage, record))
        job = cls(repo, session, cls._lease_for(storage, state), runner, ticket=None)
        job._lease.start()
        return job

    @classmethod
    def _lease_for(cls, storage: Storage, state: JobState) -> Lease:
        return Lease(storage, state, heartbeat_seconds=cls.heartbeat_seconds)

    @classmethod
    def resume(
        cls, repo: Repository, name: str, *, executor: Any = None, force: bool = False
    ) -> Job:
        """Continue a job whose coordinator died (or that failed or was abandoned).

        The coordinator session is rebuilt from the job's base snapshot and its recorded
        preparation (what the session held when the first ``map`` or ticket was made).
        Call ``map`` again with the same shards: the published ones are merged, only the
        missing ones run. Then commit once.

        Parameters
        ----------
        repo
            The repository of the job.
        name
            The job's name.
        executor
            Where ``map`` runs the missing shards (as for :meth:`create`).
        force
            Take the job over even if its coordinator seems alive (its record is younger
            than :attr:`lease_seconds`). That coordinator then loses its lease and can no
            longer commit.

        Returns
        -------
        Job

        Raises
        ------
        NotFoundError
            With kind ``job-not-found``, if there is no such job.
        ConflictError
            With kind ``job-running``, if its coordinator holds the lease (and ``force``
            is false), or another process resumed it at the same moment; exactly one
            resumer wins, and the others run nothing.
        SessionStateError
            With kind ``job-finished``, if the job committed already (also when its
            coordinator died right after its commit: the record is corrected then).
        """
        repo = _check_repo(repo)
        name = validate_job_name(name)
        runner = runner_for(executor)
        if not isinstance(force, bool):
            raise InvalidInputError(
                f"force must be True or False, got {short(force)}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        ctx = context_of(repo)
        storage = ctx.storage
        state = sync(require_job(storage, name))
        record = state.record
        cls._check_resumable(record, force=force)
        tip = repo.writable_session(record.branch)  # the branch exists; the repo is writable
        committed = sync(committed_by(ctx.io, tip.snapshot_id, record.base_snapshot, record.id))
        if committed is not None:
            cls._record_late_commit(storage, state, committed)
        ticket = Ticket.decode(record.ticket) if record.ticket is not None else None
        parent = sync(read_parent(storage, ticket)) if ticket is not None else None
        base = sync(ctx.io.read_snapshot(record.base_snapshot))
        when = now()
        user, host, pid = user_name(), host_name(), os.getpid()
        event = (
            f"{stamp(when)} resumed by {user} (pid {pid} on {host})"
            f"{' with force=True' if force else ''}; the previous coordinator (pid "
            f"{record.pid} on {record.host}) last wrote the record at "
            f"{stamp(record.heartbeat_at)}, status {record.status}, "
            f"{record.shards_done} of {record.shards_total} shards published"
        )
        taken = record.evolve(
            status="running",
            host=host,
            pid=pid,
            heartbeat_at=when,
            ended_at=None,
            error=None,
            lease_holder=new_token(),
            events=(*record.events, event),
        )
        try:
            state = sync(replace_job(storage, taken, expected=state))
        except PreconditionFailedError:
            raise ConflictError(
                message=f"job {name!r} was resumed (or changed) by another process at the same "
                "moment; only one coordinator runs a job at a time, and this one runs nothing",
                kind=ErrorKind.JOB_RUNNING,
            ) from None
        session_state = SessionState(
            ctx,
            mode=SessionMode.WRITABLE,
            branch=record.branch,
            base_id=record.base_snapshot,
            base=base,
            changes=parent if parent is not None else ChangeSet(),
            token=record.session_token or None,
        )
        token = session_state.token
        if sync(has_staged(storage, token)):
            # copies of the first coordinator's store wrote here: collect them at commit
            session_state.staging_used = True
            sync(unseal(storage, token))
        job = cls(repo, Session(session_state), cls._lease_for(storage, state), runner, ticket=None)
        if record.ticket is not None:
            job._ticket, job._ticket_frozen = record.ticket, True
        job._lease.start()
        return job

    @classmethod
    def _check_resumable(cls, record: JobRecord, *, force: bool) -> None:
        if record.status == "committed":
            raise SessionStateError(
                f"job {record.name!r} committed snapshot {record.snapshot_id!r}; a job runs "
                "once: start a new job with another name",
                kind=ErrorKind.JOB_FINISHED,
            )
        if not force and coordinator_alive(record, lease_seconds=cls.lease_seconds):
            age = (now() - record.heartbeat_at).total_seconds()
            raise ConflictError(
                message=f"job {record.name!r} is running: its coordinator (pid {record.pid} on "
                f"{record.host!r}) wrote its record {age:.0f} s ago. Resume it once that "
                f"coordinator has stopped (its lease lapses {cls.lease_seconds:.0f} s after "
                "its last heartbeat), or pass force=True if you know it is dead.",
                kind=ErrorKind.JOB_RUNNING,
            )

    @staticmethod
    def _record_late_commit(storage: Storage, state: JobState, snapshot_id: str) -> None:
        record = state.record
        when = now()
        fixed = record.evolve(
            status="committed",
            snapshot_id=snapshot_id,
            ended_at=when,
            lease_holder=None,
            events=(
                *record.events,
                (
                    f"{stamp(when)} found committed as {snapshot_id} (the coordinator stopped "
                    "before recording it)"
                ),
            ),
        )
        with contextlib.suppress(PreconditionFailedError):
            sync(replace_job(storage, fixed, expected=state))
        raise SessionStateError(
            f"job {record.name!r} already committed snapshot {snapshot_id!r}: its coordinator "
            "stopped after the commit, before its record said so (the record says so now). "
            "A job runs once.",
            kind=ErrorKind.JOB_FINISHED,
        )

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lease.stop()
        if self._ended is not None or self._lease.lost is not None:
            return
        when = now()
        if exc is not None:
            status, error = "failed", describe(exc)
            event = f"{stamp(when)} failed: {error}"
        else:
            status, error = "abandoned", None
            event = f"{stamp(when)} abandoned: its with block ended without a commit"
            warnings.warn(
                f"job {self.name!r} ended without a commit and is marked abandoned; its "
                "published shards stay until job.cleanup() or garbage collection, and "
                f"frazil.Job.resume(repo, {self.name!r}) continues it",
                RuntimeWarning,
                stacklevel=2,
            )
        self._ended = status
        if not self._session.read_only:
            with contextlib.suppress(FrazilError):
                self._session.discard_changes()
        try:
            self._lease.write(
                status=status,
                error=error,
                ended_at=when,
                lease_holder=None,
                events=(*self._lease.record.events, event),
            )
        except FrazilError as write_error:  # keep the block's own exception
            logger.warning("job %r: could not record its end: %s", self.name, write_error)

    def __reduce__(self) -> tuple[Any, ...]:
        raise SessionStateError(
            "a Job cannot be pickled: it stays in its coordinator process. Shard functions "
            "get a fork as their first argument; batch workers use job.ticket",
            kind=ErrorKind.NOT_PICKLABLE,
        )

    def __repr__(self) -> str:
        record = self._lease.record
        return (
            f"<frazil.Job {record.name!r} {self._ended or record.status} on {record.branch!r}"
            f" {record.shards_done}/{record.shards_total} shards>"
        )

    # ------------------------------------------------------------------ attributes
    @property
    def name(self) -> str:
        """The job's name."""
        return self._lease.record.name

    @property
    def id(self) -> str:
        """The job's random id."""
        return self._lease.record.id

    @property
    def session(self) -> Session:
        """The coordinator's writable session: prepare arrays and metadata here."""
        return self._session

    @property
    def record(self) -> JobRecord:
        """The job's record as this coordinator last wrote it (``repo.job(name)`` reads
        the stored one)."""
        return self._lease.record

    @property
    def ticket(self) -> str:
        """The fork ticket external (batch) workers use.

        A worker opens the repository and calls ``repo.fork_from_ticket(ticket)``, writes
        through the fork, and ``fork.publish(ticket, name=shard_key)``. The ticket carries
        the coordinator session's changes, so workers see the arrays it created: read it
        after the preparation. From the first ``map`` or ``wait`` on it stays fixed.

        Raises
        ------
        SessionStateError
            If the job ended.
        """
        self._check_open("make a ticket")
        if self._ticket_frozen:
            assert self._ticket is not None
            return self._ticket
        ticket = self._session.ticket(job=self.id)
        if ticket != self._ticket:
            self._ticket = ticket
            self._lease.write(ticket=ticket)
        return ticket

    @staticmethod
    def fork_name(shard_key: str) -> str:
        """The name the shard with key ``shard_key`` publishes its fork under.

        A key that is a valid fork name (letters, digits, '.', '_', '-', starting with a
        letter or digit) is its own fork name; any other gets a readable prefix plus a
        digest. Batch workers whose keys are not fork names publish with
        ``fork.publish(ticket, name=frazil.Job.fork_name(key))``.
        """
        return fork_name(require_text("shard key", shard_key, empty=False))

    # ------------------------------------------------------------------ state checks
    def _check_open(self, what: str) -> None:
        record = self._lease.record
        if self._ended == "committed":
            raise SessionStateError(
                f"cannot {what}: job {record.name!r} committed snapshot "
                f"{record.snapshot_id!r}; a job runs once (start a new job for more)",
                kind=ErrorKind.JOB_FINISHED,
            )
        if self._ended is not None:
            raise SessionStateError(
                f"cannot {what}: job {record.name!r} has ended ({self._ended}); continue it "
                f"with frazil.Job.resume(repo, {record.name!r})",
                kind=ErrorKind.JOB_FINISHED,
            )
        if self._lease.lost is not None:
            self._lease.write()  # raises the lease-lost error

    def _check_base(self) -> None:
        record = self._lease.record
        if self._session.snapshot_id != record.base_snapshot or self._session.read_only:
            raise SessionStateError(
                f"job {record.name!r}: the coordinator session is no longer at the job's "
                f"base snapshot {record.base_snapshot!r} (it was rebased or committed); map "
                "every shard before rebasing, and commit through job.commit",
                kind=ErrorKind.COMMIT_NOT_ALLOWED,
            )

    def _freeze_ticket(self) -> str:
        if not self._ticket_frozen:
            self._ticket = self._session.ticket(job=self.id)
            self._ticket_frozen = True
            self._lease.write(ticket=self._ticket)
        assert self._ticket is not None
        return self._ticket

    def _register(self, tasks: list[ShardTask]) -> None:
        known = self._lease.record.shard_names
        fresh = {t.name: t.key for t in tasks if t.name not in known}
        if fresh:
            names = {**known, **fresh}
            self._lease.write(shard_names=names, shards_total=len(names))

    def _shards_done(self) -> int:
        return len(self._published & self._lease.record.shard_names.keys())

    def _list_published(self) -> set[str]:
        found = sync(published_names(context_of(self._repo).storage, self.id))
        self._published |= found
        return found

    # ------------------------------------------------------------------ map
    def map(
        self,
        fn: Callable[[ForkSession, Any], object],
        shards: Iterable[Any],
        *,
        key: Callable[[Any], str] | None = None,
        retries: int = 2,
        split_every: int | None = None,
        progress: bool | None = None,
    ) -> None:
        """Run ``fn(fork, shard)`` once per shard on the executor, each with its own fork.

        What ``fn`` returns is ignored; what it wrote through the fork is the result. As
        each shard finishes, its fork is published under the job in storage (its work
        survives the coordinator); the forks are merged in a tree on the workers (the
        coordinator receives one merged fork) and into :attr:`session`. Shards already
        published (by an earlier run of the job) are merged, not run again. ``map`` may be
        called several times before the commit (phases).

        Parameters
        ----------
        fn
            The shard function; with a Dask client or a process pool it is pickled, so it
            must not capture the writable session.
        shards
            The shards (anything picklable); each is identified by a stable key.
        key
            The key of a shard (default ``str(shard)``); keys must be unique.
        retries
            Retries of a failing shard (2: up to three attempts). When a shard fails for
            good the others still finish.
        split_every
            Fan-in of the merge tree (default 8).
        progress
            Show progress (shards done / total, MB written, rate): True, False, or None
            for "on a terminal or in a notebook".

        Raises
        ------
        ShardsFailedError
            If shards failed on every attempt; it lists them with their errors, and the
            job's record keeps them. Nothing is committed; call ``map`` again (or resume)
            with a fixed function: only those shards run.
        InvalidInputError
            Before anything runs: for duplicate or non-str shard keys, shards or a function
            that cannot be pickled for the executor, bad arguments.
        SessionStateError
            If the job ended or committed, or the shard function wrote through the
            coordinator session instead of its fork (executor=None or threads).
        ConflictError
            With kind ``job-lease-lost``, if another process took the job over.
        MergeConflictError
            If two shards wrote different data to one chunk.
        """
        self._check_open("map")
        if not callable(fn):
            raise InvalidInputError(
                f"fn must be a function fn(fork, shard), got {short(fn)}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        retries = require_int("retries", retries, low=0, high=1000)
        fan_in = (
            _SPLIT_EVERY
            if split_every is None
            else require_int("split_every", split_every, low=2, high=100_000)
        )
        if progress is not None and not isinstance(progress, bool):
            raise InvalidInputError(
                f"progress must be True, False or None, got {short(progress)}",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        tasks = plan_shards(shards, key, known=self._lease.record.shard_names)
        runner = self._runner
        if runner.pickles:
            check_picklable(fn, tasks, cloud=runner.kind == "dask")
        self._check_base()
        ticket = self._freeze_ticket()
        self._register(tasks)
        published = self._list_published()
        load = [t.name for t in tasks if t.name in published and t.name not in self._merged]
        run = [t for t in tasks if t.name not in published and t.name not in self._merged]
        seed = pickle.dumps(self._session.fork(), protocol=pickle.HIGHEST_PROTOCOL)
        before = changes_fingerprint(state_of(self._session).changes)
        display = make_progress(
            progress,
            dask=runner.kind == "dask",
            label=f"job {self.name}",
            total=len(tasks),
            done=len(tasks) - len(run),
        )

        def finished(name: str) -> None:
            self._published.add(name)
            self._lease.progress(shards_done=self._shards_done())

        outcome = None
        try:
            outcome = run_map(
                runner,
                fn=fn,
                seed=seed,
                ticket=ticket,
                tasks=run,
                load=load,
                retries=retries,
                split_every=fan_in,
                progress=display,
                on_finished=finished,
            )
        finally:
            total = None
            if outcome is not None and outcome.fork is not None and runner.kind == "dask":
                total = fork_nbytes(outcome.fork)
            display.close(nbytes=total)
        if not runner.pickles and changes_fingerprint(state_of(self._session).changes) != before:
            raise SessionStateError(
                f"job {self.name!r}: the shard function wrote through job.session (or its "
                "store) instead of the fork it was given. Those writes are not published "
                "with the shard, so a resumed job would lose them: write through the fork "
                "(fn's first argument). The job's changes are not committed.",
                kind=ErrorKind.UNSAFE_REMOTE_WRITE,
            )
        if outcome.fork is not None:
            self._session.merge(outcome.fork)
        self._merged.update(load)
        self._merged.update(outcome.finished)
        succeeded = {t.key for t in tasks if t.name in self._merged}
        failed = {k: v for k, v in self._lease.record.shards_failed.items() if k not in succeeded}
        failed.update(outcome.failed)
        self._lease.write(shards_done=self._shards_done(), shards_failed=failed)
        if outcome.failed:
            self._raise_failed(outcome.failed, retries)

    def _raise_failed(self, failed: dict[str, str], retries: int) -> None:
        lines = [f"  - {k}: {v}" for k, v in list(failed.items())[:20]]
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20} more")
        attempts = f"{retries + 1} attempt{'s' if retries else ''}"
        raise ShardsFailedError(
            f"{len(failed)} shard(s) of job {self.name!r} failed ({attempts} each); the "
            "others finished and are published, nothing of the job is committed:\n"
            + "\n".join(lines)
            + "\nFix the shard function and call job.map again (or "
            f"frazil.Job.resume(repo, {self.name!r}) in a new process): only these shards "
            "run again.",
            job=self.name,
            failed=failed,
        )

    # ------------------------------------------------------------------ batch workers
    def published(self) -> list[str]:
        """The keys of the shards whose forks are published under the job, sorted.

        Names published by workers that are not shards of a ``map`` or ``wait`` of this
        job are listed as they are.
        """
        names = self._lease.record.shard_names
        return sorted(names.get(n, n) for n in self._list_published())

    def wait(
        self, shards: Iterable[Any], *, timeout: float | None = None, poll: float = 1.0
    ) -> list[str]:
        """Merge what external workers published for ``shards``, until all are in.

        Workers use :attr:`ticket` and publish each shard's fork with
        ``fork.publish(ticket, name=key)`` where ``key`` is ``str(shard)`` (or
        :meth:`fork_name` of it, if it is not a valid fork name). A shard published twice
        is merged once.

        Parameters
        ----------
        shards
            The shards (or their keys) to wait for.
        timeout
            Give up after this many seconds (None: wait until all are in).
        poll
            Seconds between two listings of what was published.

        Returns
        -------
        list of str
            The keys of the shards still missing when the timeout ran out; empty when all
            are in (and merged into :attr:`session`).

        Raises
        ------
        SessionStateError
            If the job ended.
        InvalidInputError
            For duplicate keys or bad arguments.
        """
        self._check_open("wait")
        checked: tuple[tuple[str, object], ...] = (("timeout", timeout), ("poll", poll))
        for what, value in checked:
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
                or (what == "poll" and value == 0)
            ):
                raise InvalidInputError(
                    f"{what} must be a positive number of seconds, got {short(value)}",
                    kind=ErrorKind.INVALID_ARGUMENT,
                )
        tasks = plan_shards(shards, None, known=self._lease.record.shard_names)
        self._check_base()
        ticket = self._freeze_ticket()
        self._register(tasks)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            published = self._list_published()
            new = [t.name for t in tasks if t.name in published and t.name not in self._merged]
            if new:
                seed = pickle.dumps(self._session.fork(), protocol=pickle.HIGHEST_PROTOCOL)
                self._session.merge(load_published(seed, ticket, new))
                self._merged.update(new)
                self._lease.progress(shards_done=self._shards_done())
            missing = [t.key for t in tasks if t.name not in self._merged]
            if not missing or (deadline is not None and time.monotonic() >= deadline):
                self._lease.write(shards_done=self._shards_done())
                return missing
            pause = float(poll)
            if deadline is not None:
                pause = min(pause, max(deadline - time.monotonic(), 0.0))
            time.sleep(pause)

    def cleanup(self) -> int:
        """Delete the job's published forks and recorded preparation.

        They are deleted by the commit anyway; call this for a job you give up on. A job
        cleaned up before its commit can no longer be resumed from its shards.

        Returns
        -------
        int
            How many objects were deleted.
        """
        self._published = set()
        return sync(delete_published(context_of(self._repo).storage, self.id))

    # ------------------------------------------------------------------ commit
    def commit(
        self,
        message: str,
        *,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
    ) -> str:
        """Commit the job's changes once, with the commit retry loop and solvers.

        The commit's metadata names the job under ``"frazil_job"``: its name, id and
        parameters digest. Afterwards the job is committed: its record says so, its
        published forks are deleted, and ``map`` or ``commit`` again is an error.

        Parameters
        ----------
        message
            The commit message.
        metadata
            More commit metadata (JSON); the key ``"frazil_job"`` is the job's.
        rebase_with
            A conflict solver, if the branch may have moved since the job started.
        rebase_tries
            At most this many rebases.

        Returns
        -------
        str
            The new snapshot id.

        Raises
        ------
        SessionStateError
            With kind ``job-finished`` if the job committed or ended already; if shards
            failed and were not run again.
        ConflictError
            If the branch moved and there is no solver (the job stays resumable), or with
            kind ``job-lease-lost`` if another process took the job over.
        RebaseFailedError
            If the solver could not resolve a conflict.
        NoChangesToCommitError
            If the job changed nothing.
        """
        self._check_open("commit")
        record = self._lease.record
        if record.shards_failed:
            raise SessionStateError(
                f"cannot commit job {record.name!r}: {len(record.shards_failed)} shard(s) "
                f"failed ({', '.join(map(repr, list(record.shards_failed)[:5]))}); run them "
                "again with job.map before committing",
                kind=ErrorKind.COMMIT_NOT_ALLOWED,
            )
        meta = check_commit_metadata(metadata)
        if "frazil_job" in meta:
            raise InvalidInputError(
                "commit metadata key 'frazil_job' is set by the job itself (name, id, "
                "parameters digest); use another key",
                kind=ErrorKind.INVALID_METADATA,
            )
        meta["frazil_job"] = {
            "name": record.name,
            "id": record.id,
            "params_digest": record.params_digest,
        }
        ctx = context_of(self._repo)
        current = sync(read_job(ctx.storage, record.name))
        self._lease.verify(current.record if current is not None else None)
        tip = self._repo.lookup_branch(record.branch)
        earlier = sync(committed_by(ctx.io, tip, record.base_snapshot, record.id))
        if earlier is not None:  # a coordinator this one took over committed after all
            raise SessionStateError(
                f"job {record.name!r} was committed already (snapshot {earlier!r}) by a "
                "coordinator this one took over; a job runs once",
                kind=ErrorKind.JOB_FINISHED,
            )
        snapshot_id = self._session.commit(
            message, metadata=meta, rebase_with=rebase_with, rebase_tries=rebase_tries
        )
        self._ended = "committed"
        self._lease.stop()
        when = now()
        try:
            self._lease.write(
                status="committed",
                snapshot_id=snapshot_id,
                ended_at=when,
                lease_holder=None,
                events=(*self._lease.record.events, f"{stamp(when)} committed {snapshot_id}"),
            )
        except FrazilError as exc:  # the commit stands; a resume finds and records it
            logger.warning(
                "job %r: committed %s but could not record it: %s", self.name, snapshot_id, exc
            )
        try:
            self.cleanup()
        except FrazilError as exc:  # best effort: garbage collection removes leftovers
            logger.warning("job %r: could not delete its published forks: %s", self.name, exc)
        return snapshot_id
