"""Branches and tags: named, atomically updated pointers to snapshots.

A branch is one object, ``refs/branch.NAME``, moved by compare-and-swap
(``put(mode=IfMatch(version))``); a tag is created once with ``put(mode="create")`` and,
when deleted, replaced by a tombstone so its name is never reused. Every ref write carries
a random token: a writer whose conditional put landed but whose response was lost reads
the ref back and recognises its own token, instead of reporting a false conflict.
``docs/design/002-refs-and-commit-protocol.md`` explains the choice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from frazil._check import short
from frazil._errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    FrazilError,
    InvalidInputError,
    ObjectNotFoundError,
    PreconditionFailedError,
    RefNotFoundError,
)
from frazil._repo.io import gather_limited
from frazil._repo.opslog import UpdateType, record_update
from frazil.format import RefDoc, layout
from frazil.storage import IfMatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from frazil.storage import Storage

__all__ = [
    "BRANCHES",
    "TAGS",
    "RefFamily",
    "RefState",
    "branch_key",
    "cas_ref",
    "create_named_ref",
    "create_ref",
    "delete_named_ref",
    "list_named_refs",
    "list_refs",
    "named_ref_now",
    "named_ref_state",
    "new_token",
    "read_ref",
    "tag_key",
    "validate_ref_name",
]

_NAME_CHARS = re.compile(r"[A-Za-z0-9._\-/]+")
_NAME_RULE = (
    "names are 1-200 characters of letters, digits, '.', '_', '-' and '/'; they cannot "
    "start or end with '/' or '.', contain '//', a '.' or '..' segment, or end in '.lock'"
)


def validate_ref_name(name: object, *, what: str) -> str:
    """Check a branch or tag name and return it.

    Raises
    ------
    InvalidInputError
        With kind ``invalid-ref-name``, stating the rule the name breaks.
    """
    if not isinstance(name, str):
        raise InvalidInputError(
            f"invalid {what} name {short(name)}: expected a str; {_NAME_RULE}",
            kind=ErrorKind.INVALID_REF_NAME,
        )
    ok = (
        0 < len(name) <= 200
        and _NAME_CHARS.fullmatch(name) is not None
        and not name.startswith(("/", "."))
        and not name.endswith(("/", ".", ".lock"))
        and "//" not in name
        and all(seg not in ("", ".", "..") and not seg.startswith(".") for seg in name.split("/"))
    )
    if not ok:
        raise InvalidInputError(
            f"invalid {what} name {short(name)}: {_NAME_RULE}", kind=ErrorKind.INVALID_REF_NAME
        )
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class RefState:
    """A ref as read: its document and the storage version a CAS compares."""

    doc: RefDoc
    """The ref's content."""
    version: str
    """Storage version of the ref object."""


def new_token() -> str:
    """A fresh random write token."""
    return os.urandom(12).hex()


async def read_ref(storage: Storage, key: str) -> RefState | None:
    """Read a ref, or None if it does not exist."""
    try:
        versioned = await storage.get_versioned(key)
    except ObjectNotFoundError:
        return None
    return RefState(doc=RefDoc.decode(versioned.data, key=key), version=versioned.version)


async def create_ref(storage: Storage, key: str, snapshot_id: str) -> RefState:
    """Create a ref that must not exist yet.

    Raises
    ------
    AlreadyExistsError
        If the key exists and was not written by this very call.
    """
    doc = RefDoc(snapshot_id=snapshot_id, token=new_token())
    try:
        version = await storage.put(key, doc.encode(), mode="create")
    except AlreadyExistsError:
        current = await read_ref(storage, key)
        if current is not None and current.doc.token == doc.token:
            return current  # our own write; its response was lost
        raise
    if version is None:  # pragma: no cover - every conditional backend returns one
        current = await read_ref(storage, key)
        assert current is not None
        return current
    return RefState(doc=doc, version=version)


async def cas_ref(
    storage: Storage,
    key: str,
    doc: RefDoc,
    *,
    expected: RefState,
) -> RefState:
    """Replace a ref if it is still at ``expected``.

    Raises
    ------
    ConflictError
        If another writer moved it (``actual_parent`` names where it points now).
    RefNotFoundError
        If it was deleted meanwhile.
    """
    try:
        version = await storage.put(key, doc.encode(), mode=IfMatch(expected.version))
    except PreconditionFailedError:
        current = await read_ref(storage, key)
        if current is not None and current.doc.token == doc.token:
            return current  # landed; the response was lost and the retry saw our own write
        if current is None:
            raise RefNotFoundError(
                f"ref {key!r} was deleted while it was being updated",
                kind=ErrorKind.REF_NOT_FOUND,
            ) from None
        raise ConflictError(
            expected_parent=expected.doc.snapshot_id, actual_parent=current.doc.snapshot_id
        ) from None
    if version is None:  # pragma: no cover
        current = await read_ref(storage, key)
        assert current is not None
        return current
    return RefState(doc=doc, version=version)


async def list_refs(storage: Storage, prefix: str) -> list[str]:
    """Names of the refs under ``layout.BRANCH_PREFIX`` or ``layout.TAG_PREFIX``."""
    return sorted([info.key.removeprefix(prefix) async for info in storage.list(prefix)])


@dataclass(frozen=True, slots=True)
class RefFamily:
    """Branches or tags: where they live and how their errors are spelled."""

    what: Literal["branch", "tag"]
    """The word used in messages."""
    prefix: str
    """Key prefix of the family's ref objects."""
    layout_key: Callable[[str], str]
    """Key of a (valid) name."""
    not_found: ErrorKind
    """Kind of the error for a missing name."""
    already_exists: ErrorKind
    """Kind of the error for a taken name."""
    tombstones: bool
    """Deleted names leave a tombstone and are never reused (tags)."""

    def key(self, name: object) -> str:
        """Validated key of a name.

        Raises
        ------
        InvalidInputError
            If the name breaks the naming rule.
        """
        return self.layout_key(validate_ref_name(name, what=self.what))


BRANCHES = RefFamily(
    "branch",
    layout.BRANCH_PREFIX,
    layout.branch_key,
    ErrorKind.REF_NOT_FOUND,
    ErrorKind.BRANCH_ALREADY_EXISTS,
    tombstones=False,
)
TAGS = RefFamily(
    "tag",
    layout.TAG_PREFIX,
    layout.tag_key,
    ErrorKind.REF_NOT_FOUND,
    ErrorKind.TAG_ALREADY_EXISTS,
    tombstones=True,
)


def branch_key(name: str) -> str:
    """Validated key of a branch."""
    return BRANCHES.key(name)


def tag_key(name: str) -> str:
    """Validated key of a tag."""
    return TAGS.key(name)


async def list_named_refs(storage: Storage, family: RefFamily, *, limit: int = 64) -> set[str]:
    """The live names of a family (deleted tags, whose tombstones remain, excluded); tags
    are read at most ``limit`` at a time."""
    names = await list_refs(storage, family.prefix)
    if not family.tombstones:
        return set(names)
    states = await gather_limited(
        [partial(read_ref, storage, family.layout_key(n)) for n in names], limit
    )
    return {n for n, s in zip(names, states, strict=True) if s is not None and not s.doc.deleted}


async def named_ref_state(storage: Storage, family: RefFamily, name: str) -> RefState:
    """The current state of a live branch or tag.

    Raises
    ------
    RefNotFoundError
        If it does not exist (or is a deleted tag); for branches the message lists the
        existing ones.
    """
    state = await read_ref(storage, family.key(name))
    if state is None or state.doc.deleted:
        known = ""
        if not family.tombstones:
            known = f"; existing branches: {sorted(await list_named_refs(storage, family))}"
        raise RefNotFoundError(f"{family.what} {name!r} not found{known}", kind=family.not_found)
    return state


def named_ref_now(storage: Storage, family: RefFamily, name: str) -> RefState | None:
    """The state of a live branch or tag, read in the calling thread if the storage can
    do that at once (:meth:`Storage.get_now`); None otherwise, and for a missing, deleted
    or unreadable ref, whose error the awaited :func:`named_ref_state` reports.

    Raises
    ------
    InvalidInputError
        If the name breaks the naming rule (as :func:`named_ref_state` would).
    """
    key = family.key(name)
    try:
        versioned = storage.get_now(key)
        if versioned is None:
            return None
        doc = RefDoc.decode(versioned.data, key=key)
    except FrazilError:
        return None
    return None if doc.deleted else RefState(doc=doc, version=versioned.version)


async def _check_not_nested(storage: Storage, family: RefFamily, name: str) -> None:
    """As in git, ``a`` and ``a/b`` cannot both exist (a file system holds refs as files,
    so one would have to be a file and a directory at once)."""
    for existing in await list_refs(storage, family.prefix):
        if existing.startswith(name + "/") or name.startswith(existing + "/"):
            raise AlreadyExistsError(
                f"cannot create {family.what} {name!r}: {family.what} {existing!r} exists, and "
                "a name cannot be both a ref and a folder of refs (as in git); choose another "
                "name",
                kind=family.already_exists,
            )


async def create_named_ref(
    storage: Storage, family: RefFamily, name: str, snapshot_id: str
) -> RefState:
    """Create a branch or tag (the caller has checked that the snapshot exists).

    Raises
    ------
    AlreadyExistsError
        If the name exists (exactly one of two racing creators wins), is a folder of refs
        or lies inside one, or is a deleted tag's name.
    """
    key = family.key(name)
    await _check_not_nested(storage, family, name)
    try:
        state = await create_ref(storage, key, snapshot_id)
    except AlreadyExistsError:
        if family.tombstones:
            current = await read_ref(storage, key)
            if current is not None and current.doc.deleted:
                raise AlreadyExistsError(
                    f"{family.what} {name!r} was deleted, and deleted {family.what} names "
                    "cannot be reused; choose another name",
                    kind=ErrorKind.TAG_PREVIOUSLY_DELETED,
                ) from None
            hint = "tags are immutable"
        else:
            hint = "use reset_branch to move it"
        raise AlreadyExistsError(
            f"{family.what} {name!r} already exists; {hint}", kind=family.already_exists
        ) from None
    created = UpdateType.TagCreated if family.tombstones else UpdateType.BranchCreated
    await record_update(storage, created, name=name, new=snapshot_id)
    return state


async def delete_named_ref(storage: Storage, family: RefFamily, name: str) -> RefState:
    """Delete a branch (its object goes) or a tag (a tombstone keeps its name taken).

    Returns the state it had.

    Raises
    ------
    RefNotFoundError
        If it does not exist.
    ConflictError
        If a tag was changed while it was being deleted.
    """
    state = await named_ref_state(storage, family, name)
    key = family.key(name)
    if family.tombstones:
        tombstone = RefDoc(snapshot_id=state.doc.snapshot_id, token=new_token(), deleted=True)
        await cas_ref(storage, key, tombstone, expected=state)
    else:
        await storage.delete(key)
    deleted = UpdateType.TagDeleted if family.tombstones else UpdateType.BranchDeleted
    await record_update(storage, deleted, name=name, previous=state.doc.snapshot_id)
    return state
