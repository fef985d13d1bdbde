"""Fork tickets: distributed writes for batch jobs that cannot return Python objects.

A coordinator turns its writable session into a *ticket*, a short string safe to pass on
a command line. Each batch worker opens the repository, makes a fork from the ticket,
writes, and *publishes* the fork to storage under the ticket's job. The coordinator then
fetches every published fork of the job and merges them.

Keys::

    forks/<job>/_parent      the coordinator's uncommitted changes at ticket time
    forks/<job>/<name>       one published fork (republishing the same name replaces it)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from frazil._changes import ChangeSet
from frazil._check import short
from frazil._errors import ErrorKind, InvalidInputError, ObjectNotFoundError, RefNotFoundError
from frazil._repo import validate_ref_name
from frazil.format import ObjectKind, decode_document, encode_document, is_id, layout

if TYPE_CHECKING:
    import numpy as np

    from frazil._repo import RepoIO
    from frazil.storage import Storage

__all__ = [
    "PARENT",
    "Ticket",
    "decode_publication",
    "delete_publications",
    "encode_publication",
    "new_job_name",
    "publish",
    "read_parent",
    "read_publications",
    "validate_job",
]

PARENT = "_parent"
_PREFIX = "frz1."
_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def validate_job(job: object, *, what: str = "job") -> str:
    """Check a job (or fork name): 1-100 letters, digits, '.', '_', '-', starting alnum."""
    if not isinstance(job, str) or not _JOB.fullmatch(job) or ".." in job:
        raise InvalidInputError(
            f"invalid {what} name {short(job)}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            kind=ErrorKind.INVALID_TICKET,
        )
    return job


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    """What a ticket string carries."""

    repo_id: str
    branch: str
    snapshot_id: str
    job: str
    has_parent: bool

    def encode(self) -> str:
        """The ticket as a command-line-safe string."""
        doc = {
            "r": self.repo_id,
            "b": self.branch,
            "s": self.snapshot_id,
            "j": self.job,
            "p": int(self.has_parent),
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: object) -> Ticket:
        """Parse a ticket string.

        Raises
        ------
        InvalidInputError
            If the string is not a frazil ticket.
        """
        if not isinstance(text, str) or not text.startswith(_PREFIX):
            raise InvalidInputError(
                f"invalid fork ticket {short(text)}: tickets start with {_PREFIX!r} "
                "(make one with session.ticket())",
                kind=ErrorKind.INVALID_TICKET,
            )
        body = text[len(_PREFIX) :]
        try:
            doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            ticket = cls(
                repo_id=str(doc["r"]),
                branch=str(doc["b"]),
                snapshot_id=str(doc["s"]),
                job=validate_job(doc["j"]),
                has_parent=bool(doc["p"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"invalid fork ticket {short(text)}: it is truncated or corrupted "
                f"({short(str(exc))})",
                kind=ErrorKind.INVALID_TICKET,
            ) from exc
        if not is_id(ticket.snapshot_id) or not is_id(ticket.repo_id):
            raise InvalidInputError(
                f"invalid fork ticket {short(text)}: malformed ids",
                kind=ErrorKind.INVALID_TICKET,
            )
        try:
            validate_ref_name(ticket.branch, what="branch")
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"invalid fork ticket {short(text)}: {exc.message}", kind=ErrorKind.INVALID_TICKET
            ) from None
        return ticket

    def key(self, name: str) -> str:
        """Storage key of a publication of this job."""
        return layout.fork_key(self.job, name)


def new_job_name() -> str:
    """A random job name."""
    return "job-" + os.urandom(6).hex()


def encode_publication(
    *, repo_id: str, branch: str, snapshot_id: str, name: str, changes: ChangeSet
) -> bytes:
    """A change set as a stored object (never pickled)."""
    doc, columns = changes.to_state()
    header = {
        "repo_id": repo_id,
        "branch": branch,
        "snapshot_id": snapshot_id,
        "name": name,
        "changes": doc,
    }
    return encode_document(ObjectKind.CHANGESET, header, columns)


def decode_publication(data: bytes, *, key: str) -> tuple[dict[str, Any], ChangeSet]:
    """Parse a published change set; returns (header, change set)."""
    header, columns = decode_document(data, key=key, kind=ObjectKind.CHANGESET)
    cols: dict[str, np.ndarray[Any, Any]] = dict(columns)
    changes = ChangeSet.from_state(header["changes"], cols, key=key)
    return header, changes


async def publish(storage: Storage, ticket: Ticket, name: str, changes: ChangeSet) -> None:
    """Store ``changes`` under the ticket's job as ``name`` (replacing an earlier one)."""
    data = encode_publication(
        repo_id=ticket.repo_id,
        branch=ticket.branch,
        snapshot_id=ticket.snapshot_id,
        name=name,
        changes=changes,
    )
    await storage.put(ticket.key(name), data)


async def read_parent(
    storage: Storage, ticket: Ticket, *, required: bool = True
) -> ChangeSet | None:
    """The coordinator's changes stored with the ticket, or None if it stored none.

    Raises
    ------
    RefNotFoundError
        If they were stored but are gone and ``required`` is true.
    """
    if not ticket.has_parent:
        return None
    key = ticket.key(PARENT)
    try:
        data = await storage.get(key)
    except ObjectNotFoundError:
        if not required:
            return None
        raise RefNotFoundError(
            f"the changes stored with job {ticket.job!r} are gone (garbage-collected?); "
            "make a new ticket",
            kind=ErrorKind.FORKS_NOT_FOUND,
        ) from None
    _, changes = decode_publication(data, key=key)
    return changes


async def read_publications(io: RepoIO, ticket: Ticket) -> list[tuple[str, ChangeSet]]:
    """Every fork published under the ticket's job: (name, changes), in name order.

    Each change set inherits the coordinator's stored changes (for reading); merging uses
    only its own.

    Raises
    ------
    InvalidInputError
        If a publication was made against another snapshot or branch.
    """
    storage = io.storage
    keys = sorted(
        [
            info.key
            async for info in storage.list(layout.fork_prefix(ticket.job))
            if info.key != ticket.key(PARENT)
        ]
    )
    parent, blobs = await asyncio.gather(
        read_parent(storage, ticket, required=False),
        io.read_many([partial(storage.get, k) for k in keys]),
    )
    out = []
    for key, data in zip(keys, blobs, strict=True):
        header, changes = decode_publication(data, key=key)
        if (header["repo_id"], header["snapshot_id"], header["branch"]) != (
            ticket.repo_id,
            ticket.snapshot_id,
            ticket.branch,
        ):
            raise InvalidInputError(
                f"published fork {key!r} was made against snapshot "
                f"{header['snapshot_id']!r} of branch {header['branch']!r}, not the "
                f"ticket's {ticket.snapshot_id!r}; it cannot be merged",
                kind=ErrorKind.FOREIGN_FORK,
            )
        changes.inherited = parent
        out.append((str(header["name"]), changes))
    return out


async def delete_publications(storage: Storage, ticket: Ticket) -> int:
    """Remove everything stored under the ticket's job; returns how many objects went."""
    keys = [info.key async for info in storage.list(layout.fork_prefix(ticket.job))]
    await storage.delete_many(keys)
    return len(keys)
