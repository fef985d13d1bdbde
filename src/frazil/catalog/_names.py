"""The name rule of the catalog: ``org/repo``, each part a short lowercase slug.

A part is 1 to 64 characters of lowercase ASCII letters, digits, ``-``, ``_`` and ``.``,
starting and ending with a letter or digit, with no ``..``. Names become storage prefixes
and directory names, so the rule keeps them safe on every object store and file system
(no case-only differences that collide on case-insensitive disks, no path tricks).
"""

from __future__ import annotations

import re

from frazil._errors import ErrorKind, InvalidInputError

__all__ = ["NAME_RULE", "check_nickname", "check_org", "split_name"]

NAME_RULE = (
    "1 to 64 characters of lowercase letters, digits, '-', '_' and '.', starting and ending "
    "with a letter or digit, without '..'"
)

_PART = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")


def _check_part(value: object, *, what: str, full: object = None) -> str:
    shown = full if full is not None else value
    if not isinstance(value, str):
        raise InvalidInputError(
            f"invalid {what} {shown!r}: expected a str", kind=ErrorKind.INVALID_REPO_NAME
        )
    if not _PART.fullmatch(value) or ".." in value:
        hint = ""
        if value and value.lower() != value and _PART.fullmatch(value.lower()):
            hint = f" (did you mean {(shown if isinstance(shown, str) else value).lower()!r}?)"
        raise InvalidInputError(
            f"invalid {what} {shown!r}: each part must be {NAME_RULE}{hint}",
            kind=ErrorKind.INVALID_REPO_NAME,
        )
    return value


def check_org(org: object) -> str:
    """Return ``org`` if it is a valid organisation name, else raise InvalidInputError."""
    return _check_part(org, what="organisation name")


def check_nickname(nickname: object) -> str:
    """Return ``nickname`` if it is a valid bucket config nickname."""
    return _check_part(nickname, what="bucket config nickname")


def split_name(name: object) -> tuple[str, str]:
    """Split a repository name ``org/repo`` into its checked parts.

    Raises
    ------
    InvalidInputError
        With kind ``invalid-repo-name`` for anything but exactly two valid parts.
    """
    if not isinstance(name, str):
        raise InvalidInputError(
            f"invalid repository name {name!r}: expected a str of the form 'org/repo'",
            kind=ErrorKind.INVALID_REPO_NAME,
        )
    parts = name.split("/")
    if len(parts) != 2:
        raise InvalidInputError(
            f"invalid repository name {name!r}: expected exactly one '/', as in 'org/repo'",
            kind=ErrorKind.INVALID_REPO_NAME,
        )
    org, repo = parts
    _check_part(org, what="repository name", full=name)
    _check_part(repo, what="repository name", full=name)
    return org, repo
