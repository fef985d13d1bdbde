"""Job records: what a coordinator job is, stored where every process can read it.

A job's record is one enveloped document, ``jobs/NAME`` (names follow the branch-name
rule), created once with ``put(mode="create")`` and then replaced by compare-and-swap
(``put(mode=IfMatch(version))``) as the job's shards finish, as its coordinator's
heartbeat ticks, and when it ends. The record *is* the job's lease: a running record
names the coordinator that holds it (``lease_holder``) and when it last wrote
(``heartbeat_at``); taking a job over is a compare-and-swap of the record, so of two
processes that try at once exactly one wins. Every write carries a fresh random token, so
a writer whose conditional put landed but whose response was lost recognises its own
write when it reads the record back (as refs do). ``docs/design/006-jobs.md`` explains the
protocol.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
    FormatError,
    InvalidInputError,
    NotFoundError,
    ObjectNotFoundError,
    PreconditionFailedError,
)
from frazil._repo.history import require_snapshot
from frazil._repo.io import gather_limited
from frazil._repo.refs import list_refs, new_token, validate_ref_name
from frazil.format import (
    ObjectKind,
    datetime_to_micros,
    decode_document,
    encode_document,
    layout,
    micros_to_datetime,
)
from frazil.storage import IfMatch

if TYPE_CHECKING:
    import datetime

    from frazil._repo.io import RepoIO
    from frazil.storage import Storage

__all__ = [
    "JOB_STATUSES",
    "JobRecord",
    "JobState",
    "JobStatus",
    "create_job",
    "job_for_snapshot",
    "job_record_key",
    "list_job_records",
    "read_job",
    "replace_job",
    "require_job",
    "validate_job_name",
]

type JobStatus = Literal["running", "committed", "failed", "abandoned"]

JOB_STATUSES: tuple[JobStatus, ...] = ("running", "committed", "failed", "abandoned")
"""Every status a job can have, in lifecycle order."""

_DOC_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """The stored record of a coordinator job: which run wrote what, with which parameters.

    Get one from :meth:`Repository.job`, :meth:`Repository.list_jobs`,
    :meth:`Repository.job_for_snapshot` or :attr:`Job.record`. Records are visible to every
    process that opens the repository, while the job runs and after it ended.
    """

    name: str
    """The job's name (unique in the repository; the branch-name rule)."""
    id: str
    """A random id of the job (20 characters); published shard forks live under it."""
    status: JobStatus
    """``"running"``, ``"committed"``, ``"failed"`` or ``"abandoned"``."""
    branch: str
    """The branch the job commits to."""
    base_snapshot: str
    """The snapshot the coordinator session started from."""
    params: dict[str, Any]
    """The job's parameters (JSON), as given to :meth:`Job.create`."""
    params_digest: str
    """SHA-256 (hex) of the parameters' canonical JSON; the commit metadata carries it."""
    user: str
    """Who started the job (the coordinator's user name)."""
    host: str
    """Host name of the current (or last) coordinator process."""
    pid: int
    """Process id of the current (or last) coordinator."""
    frazil_version: str
    """Version of frazil the coordinator ran."""
    git_commit: str | None
    """The commit of the coordinator's working directory's git work tree, if any."""
    started_at: datetime.datetime
    """When the job was created (UTC)."""
    ended_at: datetime.datetime | None
    """When it was committed, failed or abandoned; None while it runs."""
    heartbeat_at: datetime.datetime
    """When the coordinator last wrote the record (its heartbeat while it runs)."""
    shards_total: int
    """Shards known to the job (every ``map`` and ``wait`` adds theirs)."""
    shards_done: int
    """Shards whose forks are published (their work survives the coordinator)."""
    shards_failed: dict[str, str] = field(default_factory=dict)
    """Shard key -> error of its last attempt, for shards that failed for good."""
    snapshot_id: str | None = None
    """The snapshot the job committed, once it did."""
    error: str | None = None
    """Why the job failed (the exception that left its ``with`` block)."""
    ticket: str | None = None
    """The job's fork ticket, once ``map``, ``wait`` or ``job.ticket`` made it: batch
    workers can read it from here."""
    events: tuple[str, ...] = ()
    """What happened to the job, one line each, oldest first (created, resumed and from
    which coordinator, failed, abandoned, committed)."""
    lease_holder: str | None = field(default=None, repr=False)
    """Internal: the random token of the coordinator holding the lease (None once the job
    ended)."""
    session_token: str = field(default="", repr=False)
    """Internal: the coordinator session's token (its staging area survives a resume)."""
    shard_names: dict[str, str] = field(default_factory=dict, repr=False)
    """Internal: published fork name -> shard key, for every shard of the job."""
    write_token: str = field(default="", repr=False)
    """Internal: random per write (a lost response is recognised by reading it back)."""

    @property
    def running(self) -> bool:
        """Whether the job has not ended (its coordinator may be alive or dead)."""
        return self.status == "running"

    def to_dict(self) -> dict[str, Any]:
        """The public fields as JSON values (times as ISO 8601 strings)."""
        return {
            "name": self.name,
            "id": self.id,
            "status": self.status,
            "branch": self.branch,
            "base_snapshot": self.base_snapshot,
            "params": self.params,
            "params_digest": self.params_digest,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "frazil_version": self.frazil_version,
            "git_commit": self.git_commit,
            "started_at": self.started_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "shards_total": self.shards_total,
            "shards_done": self.shards_done,
            "shards_failed": dict(self.shards_failed),
            "snapshot_id": self.snapshot_id,
            "error": self.error,
            "ticket": self.ticket,
            "events": list(self.events),
        }

    def evolve(self, **changes: Any) -> JobRecord:
        """A copy with ``changes`` applied and a fresh write token."""
        return dataclasses.replace(self, write_token=new_token(), **changes)

    # ------------------------------------------------------------------ stored form
    def encode(self) -> bytes:
        """The record as an enveloped document."""
        doc = {
            "v": _DOC_VERSION,
            **self.to_dict(),
            "started_at": datetime_to_micros(self.started_at),
            "ended_at": None if self.ended_at is None else datetime_to_micros(self.ended_at),
            "heartbeat_at": datetime_to_micros(self.heartbeat_at),
            "lease_holder": self.lease_holder,
            "session_token": self.session_token,
            "shard_names": self.shard_names,
            "write_token": self.write_token,
        }
        return encode_document(ObjectKind.JOB, doc)

    @classmethod
    def decode(cls, data: bytes, *, key: str) -> JobRecord:
        """Parse and check a stored record.

        Raises
        ------
        FormatError
            Naming ``key``, if the object is not a well-formed job record.
        """
        doc, _ = decode_document(data, key=key, kind=ObjectKind.JOB)
        try:
            status = str(doc["status"])
            if status not in JOB_STATUSES:
                raise ValueError(f"unknown status {status!r}")
            ended = doc.get("ended_at")
            return cls(
                name=str(doc["name"]),
                id=str(doc["id"]),
                status=status,
                branch=str(doc["branch"]),
                base_snapshot=str(doc["base_snapshot"]),
                params=dict(doc["params"]),
                params_digest=str(doc["params_digest"]),
                user=str(doc["user"]),
                host=str(doc["host"]),
                pid=int(doc["pid"]),
                frazil_version=str(doc["frazil_version"]),
                git_commit=None if doc.get("git_commit") is None else str(doc["git_commit"]),
                started_at=micros_to_datetime(int(doc["started_at"])),
                ended_at=None if ended is None else micros_to_datetime(int(ended)),
                heartbeat_at=micros_to_datetime(int(doc["heartbeat_at"])),
                shards_total=int(doc["shards_total"]),
                shards_done=int(doc["shards_done"]),
                shards_failed={str(k): str(v) for k, v in doc["shards_failed"].items()},
                snapshot_id=None if doc.get("snapshot_id") is None else str(doc["snapshot_id"]),
                error=None if doc.get("error") is None else str(doc["error"]),
                ticket=None if doc.get("ticket") is None else str(doc["ticket"]),
                events=tuple(str(e) for e in doc.get("events", ())),
                lease_holder=None if doc.get("lease_holder") is None else str(doc["lease_holder"]),
                session_token=str(doc.get("session_token", "")),
                shard_names={str(k): str(v) for k, v in doc.get("shard_names", {}).items()},
                write_token=str(doc.get("write_token", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(
                f"object {key!r} holds a malformed job record: {exc}", key=key
            ) from exc


JobRecord.__module__ = "frazil"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobState:
    """A record as read: its content and the storage version a compare-and-swap expects."""

    record: JobRecord
    """The record's content."""
    version: str
    """Storage version of the record object."""


def validate_job_name(name: object) -> str:
    """Check a job name (the branch-name rule) and return it.

    Raises
    ------
    InvalidInputError
        With kind ``invalid-ref-name``, stating the rule the name breaks.
    """
    return validate_ref_name(name, what="job")


def job_record_key(name: object) -> str:
    """Validated key of a job's record."""
    return layout.job_key(validate_job_name(name))


async def read_job(storage: Storage, name: str) -> JobState | None:
    """A job's record, or None if there is no job of that name."""
    key = job_record_key(name)
    try:
        versioned = await storage.get_versioned(key)
    except ObjectNotFoundError:
        return None
    return JobState(record=JobRecord.decode(versioned.data, key=key), version=versioned.version)


async def _job_names(storage: Storage) -> list[str]:
    return await list_refs(storage, layout.JOBS_PREFIX)


async def require_job(storage: Storage, name: str) -> JobState:
    """A job's record.

    Raises
    ------
    NotFoundError
        With kind ``job-not-found``, listing the jobs that exist.
    """
    state = await read_job(storage, name)
    if state is None:
        names = await _job_names(storage)
        shown = ", ".join(repr(n) for n in names[:20]) or "none"
        raise NotFoundError(
            f"no job named {name!r} in this repository (jobs: {shown}); start one with "
            "frazil.Job.create(repo, name)",
            kind=ErrorKind.JOB_NOT_FOUND,
        )
    return state


async def create_job(storage: Storage, record: JobRecord) -> JobState:
    """Store a new job's record; exactly one of two racing creators of a name wins.

    Raises
    ------
    AlreadyExistsError
        With kind ``job-already-exists``, if a job of that name exists (the message says
        in which state, and what to do), or the name is a folder of job names or lies in
        one (as for branches).
    """
    key = job_record_key(record.name)
    for existing in await _job_names(storage):
        if existing.startswith(record.name + "/") or record.name.startswith(existing + "/"):
            raise AlreadyExistsError(
                f"cannot create job {record.name!r}: job {existing!r} exists, and a name "
                "cannot be both a job and a folder of jobs (as for branches); choose "
                "another name",
                kind=ErrorKind.JOB_ALREADY_EXISTS,
            )
    try:
        version = await storage.put(key, record.encode(), mode="create")
    except AlreadyExistsError:
        current = await read_job(storage, record.name)
        if current is not None and current.record.write_token == record.write_token:
            return current  # our own write; its response was lost
        raise AlreadyExistsError(
            _taken_message(record.name, current), kind=ErrorKind.JOB_ALREADY_EXISTS
        ) from None
    if version is None:  # pragma: no cover - every conditional backend returns one
        current = await read_job(storage, record.name)
        assert current is not None
        return current
    return JobState(record=record, version=version)


def _taken_message(name: str, current: JobState | None) -> str:
    if current is None:  # pragma: no cover - it was just there
        return f"job {name!r} already exists"
    found = current.record
    match found.status:
        case "running":
            hint = (
                f"it is running (coordinator pid {found.pid} on {found.host!r}); resume it "
                f"with frazil.Job.resume(repo, {name!r}) if that coordinator died"
            )
        case "committed":
            hint = f"it committed snapshot {found.snapshot_id!r}; choose another name"
        case _:
            hint = f"it {found.status}; continue it with frazil.Job.resume(repo, {name!r})"
    return f"job {name!r} already exists: {hint}"


async def replace_job(storage: Storage, record: JobRecord, *, expected: JobState) -> JobState:
    """Replace a record if it is still at ``expected`` (compare-and-swap).

    ``record`` must carry a fresh write token (:meth:`JobRecord.evolve` gives one).

    Raises
    ------
    PreconditionFailedError
        If another process wrote the record meanwhile (it took the job over).
    NotFoundError
        With kind ``job-not-found``, if the record was deleted.
    """
    key = job_record_key(record.name)
    try:
        version = await storage.put(key, record.encode(), mode=IfMatch(expected.version))
    except PreconditionFailedError:
        current = await read_job(storage, record.name)
        if current is not None and current.record.write_token == record.write_token:
            return current  # landed; the response was lost and the retry saw our own write
        if current is None:
            raise NotFoundError(
                f"the record of job {record.name!r} was deleted while it was being updated",
                kind=ErrorKind.JOB_NOT_FOUND,
            ) from None
        raise PreconditionFailedError(
            f"the record of job {record.name!r} was changed by another process", key=key
        ) from None
    if version is None:  # pragma: no cover
        current = await read_job(storage, record.name)
        assert current is not None
        return current
    return JobState(record=record, version=version)


async def list_job_records(
    storage: Storage, *, status: object = None, limit: int = 64
) -> list[JobRecord]:
    """Every job's record (optionally only those of one status), oldest first.

    Raises
    ------
    InvalidInputError
        If ``status`` is not None or one of :data:`JOB_STATUSES`.
    """
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInputError(
            f"status must be None or one of {list(JOB_STATUSES)}, got {status!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    names = await _job_names(storage)
    states = await gather_limited([partial(read_job, storage, n) for n in names], limit)
    records = [s.record for s in states if s is not None]
    if status is not None:
        records = [r for r in records if r.status == status]
    return sorted(records, key=lambda r: (r.started_at, r.name))


async def job_for_snapshot(io: RepoIO, snapshot_id: str) -> JobRecord | None:
    """The job that committed ``snapshot_id``, or None if no job did.

    The commit's metadata names the job (``"frazil_job"``); its record is read directly.

    Raises
    ------
    SnapshotNotFoundError
        If the snapshot does not exist.
    InvalidInputError
        If the id is malformed.
    """
    snapshot = await require_snapshot(io, snapshot_id)
    named = snapshot.info.metadata.get("frazil_job")
    if not isinstance(named, dict) or not isinstance(named.get("name"), str):
        return None
    try:
        state = await read_job(io.storage, named["name"])
    except InvalidInputError:
        return None  # metadata written by hand with an impossible name
    if state is None or state.record.id != named.get("id"):
        return None
    return state.record
