"""A coordinator's lease on its job: the job record, rewritten by compare-and-swap.

The coordinator that holds a job writes its record on every change (shards done, ticket,
end of the job) and, from a heartbeat thread, every few seconds. A write that finds the
record changed by someone else means another process took the job over (``Job.resume``
with ``force=True``): the lease is lost, and this coordinator may no longer commit.

Whether a running job's coordinator is alive is judged from the record: its heartbeat is
fresh (younger than :data:`LEASE_SECONDS`), and, when it ran on this host, its process
still exists (so a coordinator killed on this machine can be resumed at once).
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import logging
import os
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from frazil._errors import ConflictError, ErrorKind, FrazilError, PreconditionFailedError
from frazil._repo import replace_job
from frazil._sync import sync

if TYPE_CHECKING:
    from frazil._repo import JobRecord, JobState
    from frazil.storage import Storage

__all__ = [
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "Lease",
    "coordinator_alive",
    "git_commit",
    "host_name",
    "now",
    "stamp",
    "user_name",
]

logger = logging.getLogger("frazil.jobs")

LEASE_SECONDS = 30.0
"""A running job whose record is younger than this holds its lease."""
HEARTBEAT_SECONDS = 5.0
"""How often a coordinator rewrites its record while it holds the lease."""
_PROGRESS_SECONDS = 0.5
"""Progress (shards done) is written at most this often; the end of a map always."""


def now() -> datetime.datetime:
    """The current time, UTC."""
    return datetime.datetime.now(datetime.UTC)


def stamp(when: datetime.datetime) -> str:
    """A time as shown in a record's events."""
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def user_name() -> str:
    """Who runs this process."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def host_name() -> str:
    """This host's name."""
    return socket.gethostname()


def git_commit() -> str | None:
    """The commit checked out in the working directory's git work tree, if there is one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip()
    if done.returncode != 0 or not head or any(c not in "0123456789abcdef" for c in head):
        return None
    return head


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or we cannot tell: assume alive)
    # a killed process that its parent has not reaped yet is dead too
    with (
        contextlib.suppress(OSError, IndexError),
        open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat,
    ):
        return stat.read().rpartition(")")[2].split()[0] != "Z"
    return True


def coordinator_alive(record: JobRecord, *, lease_seconds: float) -> bool:
    """Whether a running job's coordinator may still be working on it."""
    if record.status != "running" or record.lease_holder is None:
        return False
    age = (now() - record.heartbeat_at).total_seconds()
    if age >= lease_seconds:
        return False
    if record.host == host_name() and record.pid != os.getpid():
        return _process_exists(record.pid)
    return True


class Lease:
    """This coordinator's hold on a job: its latest record and the heartbeat thread."""

    def __init__(
        self, storage: Storage, state: JobState, *, heartbeat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self._storage = storage
        self._state = state
        self._holder = state.record.lease_holder
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat_seconds = heartbeat_seconds
        self._pending: dict[str, Any] = {}
        self._written_at = time.monotonic()
        self.lost: str | None = None
        """Why the lease was lost (another process took the job over), if it was."""

    @property
    def record(self) -> JobRecord:
        """The record as this coordinator last wrote it."""
        return self._state.record

    # ------------------------------------------------------------------ writes
    def write(self, **changes: Any) -> JobRecord:
        """Rewrite the record with ``changes`` (and any progress not yet written).

        Raises
        ------
        ConflictError
            With kind ``job-lease-lost``, if another process took the job over.
        """
        with self._lock:
            self._check_held()
            changes = {**self._pending, **changes}
            record = self._state.record.evolve(heartbeat_at=now(), **changes)
            try:
                self._state = sync(replace_job(self._storage, record, expected=self._state))
            except PreconditionFailedError:
                self.lost = (
                    f"the record of job {record.name!r} was changed by another process: "
                    "the job was taken over (Job.resume with force=True)"
                )
                self._check_held()
            self._pending = {}
            self._written_at = time.monotonic()
            return self._state.record

    def progress(self, **changes: Any) -> None:
        """Note progress; written now if the last write is older than half a second, else
        by the heartbeat thread once it is."""
        with self._lock:
            self._pending.update(changes)
            due = time.monotonic() - self._written_at >= _PROGRESS_SECONDS
        if due:
            self.write()
        else:
            self._wake.set()

    def _check_held(self) -> None:
        if self.lost is not None:
            raise ConflictError(
                message=f"{self.lost}; this coordinator may no longer map or commit",
                kind=ErrorKind.JOB_LEASE_LOST,
            )

    def verify(self, read: JobRecord | None) -> None:
        """Check a freshly read record still names this coordinator as the holder.

        Raises
        ------
        ConflictError
            With kind ``job-lease-lost`` if it does not.
        """
        if read is None or read.lease_holder != self._holder:
            with self._lock:
                self.lost = self.lost or "another process took the job over"
        self._check_held()

    # ------------------------------------------------------------------ heartbeat
    def start(self) -> None:
        """Start the heartbeat thread."""
        self._thread = threading.Thread(
            target=self._beat, name=f"frazil-job-{self.record.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat (the job ended, or its lease was lost)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _beat(self) -> None:
        while True:
            woken = self._wake.wait(self._heartbeat_seconds)
            if self._stop.is_set():
                return
            if woken:  # progress to write: as soon as the write rate allows
                self._wake.clear()
                delay = _PROGRESS_SECONDS - (time.monotonic() - self._written_at)
                if delay > 0 and self._stop.wait(delay):
                    return
            try:
                self.write()
            except ConflictError:
                logger.warning("job %r: %s", self.record.name, self.lost)
                return
            except FrazilError as exc:  # transient trouble: the next beat tries again
                logger.warning("job %r: heartbeat failed: %s", self.record.name, exc)
