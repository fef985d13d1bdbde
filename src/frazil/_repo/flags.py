"""Feature flags: operations a repository's owner can switch off for every writer.

The list of flags is fixed in code (ids and names are Icechunk 2.3's). The info document
stores only explicit settings, as a map from flag id to ``true``/``false``; a flag absent
from it is at its default. Settings for ids this frazil does not know (written by a newer
one) are kept as they are when the document is rewritten. The flags are honoured by
frazil, not enforced by storage: anyone who can write the objects can bypass them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from frazil._errors import ErrorKind, InvalidInputError, SessionStateError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREATE_TAG",
    "DELETE_TAG",
    "MOVE_NODE",
    "FeatureFlag",
    "check_flag_setting",
    "flag_id",
    "flags_of",
    "require_flag",
]

MOVE_NODE = "move_node"
"""Moving and renaming nodes: rearrange sessions, ``Session.move`` and their commits."""
CREATE_TAG = "create_tag"
"""Creating tags."""
DELETE_TAG = "delete_tag"
"""Deleting tags."""

# name -> (id, enabled by default); ids 1 and 2 are Icechunk's, reserved for commit/amend
_FLAGS: dict[str, tuple[int, bool]] = {
    MOVE_NODE: (3, True),
    CREATE_TAG: (4, True),
    DELETE_TAG: (5, True),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureFlag:
    """One feature flag of a repository and its current state.

    Returned by :meth:`Repository.feature_flags`; change a setting with
    :meth:`Repository.set_feature_flag`.
    """

    id: int
    """Stable numeric id (stored in the repository)."""
    name: str
    """Stable name, e.g. ``"create_tag"``."""
    default_enabled: bool
    """Whether the feature is on when nobody set the flag."""
    setting: bool | None = None
    """The explicit setting: True (on), False (off) or None (the default applies)."""

    @property
    def enabled(self) -> bool:
        """Whether the feature is on: the setting, or the default if there is none."""
        return self.default_enabled if self.setting is None else self.setting


FeatureFlag.__module__ = "frazil"


def _known() -> str:
    return ", ".join(repr(n) for n in sorted(_FLAGS))


def flag_id(name: object) -> int:
    """The id of a flag.

    Raises
    ------
    InvalidInputError
        With kind ``invalid-feature-flag`` if no flag has that name.
    """
    if not isinstance(name, str) or name not in _FLAGS:
        raise InvalidInputError(
            f"there is no feature flag named {name!r}; the flags are {_known()} "
            "(repo.feature_flags() lists them)",
            kind=ErrorKind.INVALID_FEATURE_FLAG,
        )
    return _FLAGS[name][0]


def check_flag_setting(setting: object) -> bool | None:
    """``setting`` if it is True, False or None.

    Raises
    ------
    InvalidInputError
        For anything else (``1`` and ``"off"`` included).
    """
    if setting is not None and not isinstance(setting, bool):
        raise InvalidInputError(
            f"a feature flag is set to True (on), False (off) or None (its default), "
            f"got {setting!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return setting


def flags_of(settings: Mapping[int, bool]) -> list[FeatureFlag]:
    """Every known flag with its setting from ``settings`` (id -> bool), sorted by name."""
    return [
        FeatureFlag(id=fid, name=name, default_enabled=default, setting=settings.get(fid))
        for name, (fid, default) in sorted(_FLAGS.items())
    ]


def require_flag(settings: Mapping[int, bool], name: str, what: str) -> None:
    """Refuse ``what`` if the flag ``name`` is disabled in ``settings``.

    Raises
    ------
    SessionStateError
        With kind ``feature-flag-disabled``, naming the flag and how to re-enable it.
    """
    fid, default = _FLAGS[name]
    if settings.get(fid, default):
        return
    raise SessionStateError(
        f"cannot {what}: the repository's feature flag {name!r} is disabled; re-enable it "
        f"with repo.set_feature_flag({name!r}, True), or repo.set_feature_flag({name!r}, "
        "None) for its default",
        kind=ErrorKind.FEATURE_FLAG_DISABLED,
    )
