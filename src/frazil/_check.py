"""Argument checks shared by the public API: typed errors that name the bad value."""

from __future__ import annotations

import datetime
import json
import numbers
from typing import Any

from frazil._errors import ErrorKind, InvalidInputError, InvalidTypeError

__all__ = [
    "MAX_JSON_DEPTH",
    "check_commit_metadata",
    "json_depth",
    "require_aware_datetime",
    "require_int",
    "require_int_sequence",
    "require_text",
    "short",
]

MAX_JSON_DEPTH = 100
"""How deeply commit metadata may nest (JSON parsers differ in how deep they go)."""

_SHOWN = 120


def short(value: object) -> str:
    """``repr(value)``, cut to a length that fits in an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 15]}... ({len(text)} chars)"


def require_int(name: str, value: object, *, low: int = 0, high: int = 2**63 - 1) -> int:
    """``value`` as an int if it is an integer (NumPy's too; not a bool) in ``[low, high]``.

    Raises
    ------
    InvalidInputError
        Naming ``name``, the allowed range and the value given.
    """
    if not isinstance(value, bool) and isinstance(value, numbers.Integral):
        number = int(value)
        if low <= number <= high:
            return number
    raise InvalidInputError(
        f"{name} must be an integer in [{low}, {high}], got {short(value)}",
        kind=ErrorKind.INVALID_ARGUMENT,
    )


def require_text(name: str, value: object, *, empty: bool = True) -> str:
    """``value`` if it is a str that UTF-8 can encode (and non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value):
        kind = "a str" if empty else "a non-empty str"
        raise InvalidInputError(
            f"{name} must be {kind}, got {short(value)}", kind=ErrorKind.INVALID_ARGUMENT
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{name} {short(value)} cannot be stored as UTF-8: {exc.reason} at position "
            f"{exc.start}",
            kind=ErrorKind.INVALID_ARGUMENT,
        ) from None
    return value


def json_depth(value: object, *, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of lists and dicts in ``value`` (iterative; stops past ``limit``)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def require_aware_datetime(name: str, value: object) -> datetime.datetime:
    """``value`` if it is a timezone-aware datetime, else InvalidInputError."""
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        kind = "a naive datetime" if isinstance(value, datetime.datetime) else short(value)
        raise InvalidInputError(
            f"{name} must be a timezone-aware datetime (e.g. datetime.now(datetime.UTC)), "
            f"got {kind}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return value


def require_int_sequence(
    name: str, values: object, *, low: int, high: int, ndim: int, path: str, kind: ErrorKind
) -> list[int]:
    """One int per dimension of the array at ``path`` (a str or a lone int is refused).

    Raises
    ------
    InvalidInputError
        Naming ``name`` and what was wrong: not a sequence, an entry out of range (kind
        ``invalid-argument``), or the wrong number of entries (kind ``kind``).
    """
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise InvalidInputError(
            f"{name} must be a sequence of integers, got {short(values)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    ints = [require_int(f"each entry of {name}", v, low=low, high=high) for v in values]
    if len(ints) != ndim:
        raise InvalidInputError(
            f"{name} {tuple(ints)} has {len(ints)} entries but array {path!r} has {ndim} "
            "dimensions",
            kind=kind,
        )
    return ints


def check_commit_metadata(metadata: object) -> dict[str, Any]:
    """Commit metadata as a plain JSON dict (a copy); ``None`` means no metadata.

    Raises
    ------
    InvalidInputError
        If it is not a dict of JSON values, nests more than :data:`MAX_JSON_DEPTH` levels
        or holds text UTF-8 cannot encode.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidTypeError(
            f"commit metadata must be a dict, got {type(metadata).__name__}",
            kind=ErrorKind.INVALID_METADATA,
        )
    if json_depth(metadata) > MAX_JSON_DEPTH:
        raise InvalidInputError(
            f"commit metadata nests more than {MAX_JSON_DEPTH} levels deep; flatten it",
            kind=ErrorKind.INVALID_METADATA,
        )
    try:
        text = json.dumps(metadata, ensure_ascii=False)
        text.encode("utf-8")
        return dict(json.loads(text))
    except (TypeError, ValueError, RecursionError) as exc:
        # UnicodeEncodeError (lone surrogates) is a ValueError
        error = InvalidTypeError if isinstance(exc, TypeError) else InvalidInputError
        raise error(
            f"commit metadata must hold JSON values (str, numbers, bools, None, lists and "
            f"dicts, nested less than ~1000 deep, text encodable as UTF-8): "
            f"{short(str(exc) or type(exc).__name__)}",
            kind=ErrorKind.INVALID_METADATA,
        ) from None
