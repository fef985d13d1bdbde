"""A new repository's first objects: the initial snapshot, its log, the root object, main.

The order makes creation safe against a second creator: the initial snapshot and its
transaction log are written under fresh ids first (invisible until referenced), then the
``repo`` root object is created with put-if-absent, which exactly one creator wins, and
only the winner creates ``main``.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from frazil._errors import AlreadyExistsError, ErrorKind, InvalidInputError, ReadOnlyError
from frazil._repo.opslog import UpdateType, record_update
from frazil._repo.refs import create_ref
from frazil.format import (
    CommitInfo,
    RepoDoc,
    Snapshot,
    TransactionLog,
    datetime_to_micros,
    layout,
    new_id,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from frazil._repo.io import RepoIO
    from frazil.storage import ObjectInfo

__all__ = ["INITIAL_MESSAGE", "bootstrap", "frazil_version"]

INITIAL_MESSAGE = "Repository initialized"
"""The message of every repository's first snapshot."""


def frazil_version() -> str:
    """The installed frazil version (recorded in the root object of new repositories)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("frazil")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


async def _nothing() -> AsyncIterator[ObjectInfo]:
    return
    yield


async def bootstrap(io: RepoIO, *, check_clean_root: bool = True) -> RepoDoc:
    """Create a repository in the empty storage behind ``io``; returns its root document.

    Raises
    ------
    ReadOnlyError
        If the storage cannot make atomic conditional writes.
    AlreadyExistsError
        If a repository exists there (also when another process created one at the same
        moment).
    InvalidInputError
        If the location holds other objects (unless ``check_clean_root`` is False).
    """
    storage = io.storage
    if not io.raw_storage.supports_conditional_writes:
        raise ReadOnlyError(
            f"cannot create a repository in {storage.describe()}: it cannot make atomic "
            "conditional writes, which branches need",
            kind=ErrorKind.READ_ONLY_STORAGE,
        )
    if await storage.exists(layout.REPO_KEY):
        raise AlreadyExistsError(
            f"a frazil repository already exists at {storage.describe()}; open it with "
            "Repository.open (or use Repository.open_or_create)",
            kind=ErrorKind.REPOSITORY_ALREADY_EXISTS,
        )
    async for info in storage.list("") if check_clean_root else _nothing():
        if not info.key.startswith((layout.STAGING_PREFIX, layout.FORKS_PREFIX)):
            raise InvalidInputError(
                f"cannot create a repository at {storage.describe()}: the location is not "
                f"empty (found {info.key!r}). Choose an empty directory or prefix.",
                kind=ErrorKind.INVALID_PATH,
            )
        break
    now = datetime.datetime.now(datetime.UTC)
    initial = Snapshot(
        info=CommitInfo(
            id=new_id(),
            parent_id=None,
            written_at=datetime_to_micros(now),
            message=INITIAL_MESSAGE,
            metadata={},
        ),
        ancestors=(),
        nodes={},
    )
    await io.write_snapshot(initial)
    await io.write_transaction(TransactionLog(snapshot_id=initial.id, parent_id=None))
    doc = RepoDoc(
        repo_id=new_id(),
        created_at=datetime_to_micros(now),
        initial_snapshot_id=initial.id,
        writer=frazil_version(),
    )
    try:
        await storage.put(layout.REPO_KEY, doc.encode(), mode="create")
    except AlreadyExistsError:
        existing = await storage.get(layout.REPO_KEY)
        if existing != doc.encode():
            raise AlreadyExistsError(
                f"another process created a repository at {storage.describe()} at the "
                "same time; open it with Repository.open",
                kind=ErrorKind.REPOSITORY_ALREADY_EXISTS,
            ) from None
    await create_ref(storage, layout.branch_key("main"), initial.id)
    await record_update(storage, UpdateType.RepoInitialized, name="main", new=initial.id)
    return doc
