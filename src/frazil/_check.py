"""Argument checks shared by the public API: typed errors that name the bad value."""

from __future__ import annotations

import datetime
import numbers

from frazil._errors import ErrorKind, InvalidInputError

__all__ = [
    "MAX_JSON_DEPTH",
    "json_depth",
    "require_aware_datetime",
    "require_int",
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
