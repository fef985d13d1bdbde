"""A repository's availability status (online or read-only), stored in its info document
and recorded in the operations log when it changes."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any

from frazil._errors import InvalidInputError
from frazil.format import datetime_to_micros, micros_to_datetime

__all__ = ["RepoAvailability", "RepoStatus"]


class RepoAvailability(enum.Enum):
    """Whether a repository accepts writes."""

    online = 0
    """Reads and writes."""
    read_only = 1
    """Reads only: writable sessions, commits and ref changes are refused."""


RepoAvailability.__module__ = "frazil"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True, slots=True)
class RepoStatus:
    """A repository's availability, when it was set, and why.

    Parameters
    ----------
    availability
        :attr:`RepoAvailability.online` or :attr:`RepoAvailability.read_only`.
    set_at
        When the status was set (timezone-aware; default: now).
    limited_availability_reason
        Why the repository is not online (shown in the errors of refused writes).
    """

    availability: RepoAvailability
    """Online or read-only."""
    set_at: datetime.datetime = field(default_factory=_now)
    """When the status was set."""
    limited_availability_reason: str | None = None
    """Why the repository is not online."""

    def __post_init__(self) -> None:
        if not isinstance(self.availability, RepoAvailability):
            raise InvalidInputError(
                "RepoStatus availability must be RepoAvailability.online or "
                f"RepoAvailability.read_only, got {self.availability!r}"
            )
        set_at: object = self.set_at
        if not isinstance(set_at, datetime.datetime) or set_at.tzinfo is None:
            raise InvalidInputError(
                f"RepoStatus set_at must be a timezone-aware datetime, got {set_at!r}"
            )
        reason = self.limited_availability_reason
        if reason is not None and not isinstance(reason, str):
            raise InvalidInputError(
                f"RepoStatus limited_availability_reason must be a str or None, got {reason!r}"
            )

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        return self.availability is RepoAvailability.read_only

    def describe(self) -> str:
        """One line for error messages."""
        when = self.set_at.isoformat(timespec="seconds")
        why = f": {self.limited_availability_reason}" if self.limited_availability_reason else ""
        return f"{self.availability.name.replace('_', '-')} since {when}{why}"

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "availability": self.availability.name,
            "set_at": datetime_to_micros(self.set_at),
            "reason": self.limited_availability_reason,
        }

    @classmethod
    def from_json(cls, data: Any) -> RepoStatus:
        """Rebuild from :meth:`to_json` output."""
        return cls(
            RepoAvailability[data["availability"]],
            micros_to_datetime(int(data["set_at"])),
            data.get("reason"),
        )


RepoStatus.__module__ = "frazil"
