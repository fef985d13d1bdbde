"""Spec versions: the version of frazil's on-storage format, in Icechunk's shape.

frazil writes one format, version 1 (:data:`FORMAT_VERSION` in every object's envelope).
Icechunk numbers its formats 1 and 2; both of those numbers are accepted where a spec
version is asked for and mean frazil's format 1, the only one this frazil writes (the
mapping is documented in ``docs/from-icechunk.md``).
"""

from __future__ import annotations

import enum

from frazil._errors import ErrorKind, InvalidInputError
from frazil.format._envelope import FORMAT_VERSION

__all__ = ["SpecVersion", "check_spec_version", "spec_version", "supported_spec_versions"]


class SpecVersion(enum.IntEnum):
    """A version of frazil's on-storage format.

    ``SpecVersion.v1`` is frazil's format 1, the one this frazil writes and reads.
    ``SpecVersion.v2`` is the same member under Icechunk's number for its current format,
    so Icechunk scripts that name it keep working; ``SpecVersion(2)`` gives it too.
    """

    v1 = 1
    """frazil's format 1 (every object's envelope carries this number)."""
    v2 = 1
    """Icechunk's number for its current format: the same as :attr:`v1` here."""

    @classmethod
    def _missing_(cls, value: object) -> SpecVersion | None:
        if value == 2:  # Icechunk's format 2
            return cls.v1
        return None

    @staticmethod
    def current() -> SpecVersion:
        """The version this frazil writes."""
        return SpecVersion(FORMAT_VERSION)


def spec_version() -> SpecVersion:
    """The version of the on-storage format this frazil writes.

    Returns
    -------
    SpecVersion
    """
    return SpecVersion.current()


def supported_spec_versions() -> list[SpecVersion]:
    """Every format version this frazil reads and can create, newest first.

    Returns
    -------
    list of SpecVersion
    """
    return [SpecVersion.v1]


def check_spec_version(value: object, what: str = "spec_version") -> SpecVersion:
    """The :class:`SpecVersion` asked for (``None``: the current one).

    Raises
    ------
    InvalidInputError
        With kind ``unsupported-spec-version`` if the value names no version this frazil
        writes (frazil's 1, or Icechunk's 1 and 2, which map to it).
    """
    if value is None:
        return SpecVersion.current()
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            f"{what} must be a frazil.SpecVersion or an int, got {value!r}",
            kind=ErrorKind.UNSUPPORTED_SPEC_VERSION,
        )
    try:
        return SpecVersion(value)
    except ValueError:
        raise InvalidInputError(
            f"Unsupported version {value!r}: {what}={value!r} is not a format this frazil "
            "can write; supported: 1 (frazil's format; Icechunk's 1 and 2 map to it)",
            kind=ErrorKind.UNSUPPORTED_SPEC_VERSION,
        ) from None


SpecVersion.__module__ = "frazil"
