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
from typing import TYPE_CHECKING

from frazil._check import short
from frazil._errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    InvalidInputError,
    ObjectNotFoundError,
    PreconditionFailedError,
    RefNotFoundError,
)
from frazil.format import RefDoc, layout
from frazil.storage import IfMatch

if TYPE_CHECKING:
    from frazil.storage import Storage

__all__ = [
    "RefState",
    "cas_ref",
    "create_ref",
    "list_refs",
    "read_ref",
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
                kind=ErrorKind.BRANCH_NOT_FOUND,
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


def branch_key(name: str) -> str:
    """Validated key of a branch."""
    return layout.branch_key(validate_ref_name(name, what="branch"))


def tag_key(name: str) -> str:
    """Validated key of a tag."""
    return layout.tag_key(validate_ref_name(name, what="tag"))
