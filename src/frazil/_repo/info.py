"""The repository's info document: user metadata, availability status, feature flags.

One enveloped JSON document, ``info`` (``ObjectKind.REPO_INFO``), absent until first
written. It is created with ``put(mode="create")`` and then replaced by compare-and-swap
(``put(mode=IfMatch(version))``); a change is a function of the current document, applied
again on a fresh read when another writer got there first, so two concurrent
``update_metadata`` calls both land. Every write carries a fresh random token, so a writer
whose conditional put landed but whose response was lost recognises its own write when it
reads the document back (as refs do).

A repository whose status is read-only refuses writable sessions, commits, ref changes and
configuration saves in every process, because each of them reads this document first. The
same read answers whether a feature flag (``flags.py``) allows the operation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frazil._check import check_commit_metadata
from frazil._errors import (
    AlreadyExistsError,
    ConflictError,
    ErrorKind,
    FormatError,
    FrazilError,
    InvalidInputError,
    InvalidTypeError,
    ObjectNotFoundError,
    PreconditionFailedError,
    ReadOnlyError,
)
from frazil._repo.flags import check_flag_setting, flag_id, require_flag
from frazil._repo.refs import new_token
from frazil._repo.status import RepoAvailability, RepoStatus
from frazil.format import (
    ObjectKind,
    decode_document,
    encode_document,
    layout,
)
from frazil.storage import IfMatch, backoff_delay

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from frazil._config import StorageRetriesSettings
    from frazil.storage import PutMode, Storage

__all__ = [
    "RepoAvailability",
    "RepoInfo",
    "RepoInfoState",
    "RepoStatus",
    "check_feature_flag",
    "check_online",
    "check_online_now",
    "merge_metadata",
    "read_repo_info",
    "replace_feature_flag",
    "replace_metadata",
    "replace_status",
    "update_repo_info",
]


_ONLINE_SINCE_EVER = RepoStatus(
    RepoAvailability.online, datetime.datetime.fromtimestamp(0, datetime.UTC)
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoInfo:
    """The contents of the info document."""

    metadata: dict[str, Any] = field(default_factory=dict)
    """User metadata of the repository (JSON)."""
    status: RepoStatus = _ONLINE_SINCE_EVER
    """Availability."""
    feature_flags: Mapping[int, bool] = field(default_factory=dict)
    """Explicit feature flag settings, flag id -> on/off (absent: the flag's default)."""
    token: str = ""
    """Random token of the write that stored this version."""

    def encode(self) -> bytes:
        """Serialise (``feature_flags`` only when a flag was set, so documents without
        settings are the same bytes as before flags existed)."""
        doc: dict[str, Any] = {
            "metadata": self.metadata,
            "status": self.status.to_json(),
            "token": self.token,
        }
        if self.feature_flags:
            doc["feature_flags"] = {str(k): v for k, v in sorted(self.feature_flags.items())}
        return encode_document(ObjectKind.REPO_INFO, doc)

    @classmethod
    def decode(cls, data: bytes) -> RepoInfo:
        """Parse and check.

        Raises
        ------
        FormatError
            If the object is not a valid info document.
        """
        key = layout.REPO_INFO_KEY
        doc, _ = decode_document(data, key=key, kind=ObjectKind.REPO_INFO)
        try:
            return cls(
                metadata=dict(doc["metadata"]),
                status=RepoStatus.from_json(doc["status"]),
                feature_flags=_decode_flags(doc.get("feature_flags", {})),
                token=str(doc["token"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"object {key!r} is not a valid repository info document: {exc}", key=key
            ) from exc


def _decode_flags(value: object) -> dict[int, bool]:
    if not isinstance(value, dict):
        raise TypeError("feature_flags is not an object")
    flags = {}
    for key, setting in value.items():
        if not isinstance(setting, bool):
            raise TypeError(f"feature flag {key!r} is set to {setting!r}, not a boolean")
        flags[int(key)] = setting
    return flags


@dataclass(frozen=True, slots=True)
class RepoInfoState:
    """The info document and the version a compare-and-swap compares (None: absent)."""

    info: RepoInfo
    version: str | None


async def read_repo_info(storage: Storage) -> RepoInfoState:
    """The current info document (the defaults, with version None, if never written)."""
    try:
        versioned = await storage.get_versioned(layout.REPO_INFO_KEY)
    except ObjectNotFoundError:
        return RepoInfoState(RepoInfo(), None)
    return RepoInfoState(RepoInfo.decode(versioned.data), versioned.version)


def repo_info_now(storage: Storage) -> RepoInfoState | None:
    """:func:`read_repo_info` in the calling thread, if the storage reads it at once
    (:meth:`Storage.get_now`), else None."""
    try:
        versioned = storage.get_now(layout.REPO_INFO_KEY)
    except ObjectNotFoundError:
        return RepoInfoState(RepoInfo(), None)
    if versioned is None:
        return None
    try:
        return RepoInfoState(RepoInfo.decode(versioned.data), versioned.version)
    except FrazilError:
        return None  # the awaited read reports it


def _refusal(status: RepoStatus, what: str) -> ReadOnlyError:
    return ReadOnlyError(
        f"cannot {what}: the repository status is {status.describe()}; it can be read, "
        "not written. Bring it back with "
        "repo.set_status(RepoStatus(RepoAvailability.online))",
        kind=ErrorKind.READ_ONLY_REPOSITORY,
    )


async def check_online(storage: Storage, what: str, *, flag: str | None = None) -> None:
    """Refuse a write if the repository's status is read-only, or if ``flag`` (a feature
    flag's name) is disabled; one read of the document answers both.

    Raises
    ------
    ReadOnlyError
        With kind ``read-only-repository``, naming the status, when it was set and why.
    SessionStateError
        With kind ``feature-flag-disabled`` if ``flag`` is disabled.
    """
    _require_online(await read_repo_info(storage), what, flag)


def _require_online(state: RepoInfoState, what: str, flag: str | None) -> None:
    """The refusals of :func:`check_online`, given the document it read."""
    if state.info.status.read_only:
        raise _refusal(state.info.status, what)
    if flag is not None:
        require_flag(state.info.feature_flags, flag, what)


def check_online_now(storage: Storage, what: str, *, flag: str | None = None) -> bool:
    """:func:`check_online` in the calling thread: True when checked, False when the
    document cannot be read at once (then await :func:`check_online`).

    Raises
    ------
    ReadOnlyError, SessionStateError
        As :func:`check_online`.
    """
    state = repo_info_now(storage)
    if state is None:
        return False
    _require_online(state, what, flag)
    return True


async def check_feature_flag(storage: Storage, flag: str, what: str) -> None:
    """Refuse ``what`` if the feature flag ``flag`` is disabled (the status is not checked:
    for changes that stay in a session until it commits).

    Raises
    ------
    SessionStateError
        With kind ``feature-flag-disabled``.
    """
    require_flag((await read_repo_info(storage)).info.feature_flags, flag, what)


async def update_repo_info(
    storage: Storage,
    change: Callable[[RepoInfo], RepoInfo],
    *,
    retries: StorageRetriesSettings,
    what: str,
    refuse_when_read_only: bool = True,
) -> RepoInfo:
    """Apply ``change`` to the current info document and store the result atomically.

    ``change`` is called again on a fresh read whenever another writer changed the document
    first, at most ``retries.max_tries`` times, with backoff between attempts.

    Raises
    ------
    ReadOnlyError
        If ``refuse_when_read_only`` and the status read is read-only.
    ConflictError
        With kind ``update-attempts-exhausted`` if every attempt lost its race.
    """
    for attempt in range(retries.max_tries):
        current = await read_repo_info(storage)
        if refuse_when_read_only and current.info.status.read_only:
            raise _refusal(current.info.status, what)
        new = dataclasses.replace(change(current.info), token=new_token())
        mode: PutMode = "create" if current.version is None else IfMatch(current.version)
        try:
            await storage.put(layout.REPO_INFO_KEY, new.encode(), mode=mode)
        except (AlreadyExistsError, PreconditionFailedError):
            again = await read_repo_info(storage)
            if again.info.token == new.token:
                return new  # landed; the response was lost and the retry saw our own write
            if attempt + 1 < retries.max_tries:
                await asyncio.sleep(
                    backoff_delay(
                        attempt, retries.initial_backoff_ms / 1000, retries.max_backoff_ms / 1000
                    )
                )
            continue
        return new
    raise ConflictError(
        message=(
            f"could not {what}: other writers changed the repository's info document on each "
            f"of {retries.max_tries} attempts; try again, or raise "
            "RepositoryConfig.repo_update_retries"
        ),
        kind=ErrorKind.UPDATE_ATTEMPTS_EXHAUSTED,
    )


def replace_metadata(metadata: object) -> Callable[[RepoInfo], RepoInfo]:
    """A change that replaces the metadata (validated now, before anything is read)."""
    checked = _check_metadata(metadata)
    return lambda info: dataclasses.replace(info, metadata=checked)


def merge_metadata(metadata: object) -> Callable[[RepoInfo], RepoInfo]:
    """A change that sets the given keys over the current metadata."""
    checked = _check_metadata(metadata)
    return lambda info: dataclasses.replace(info, metadata={**info.metadata, **checked})


def replace_status(status: object) -> Callable[[RepoInfo], RepoInfo]:
    """A change that sets the status."""
    if not isinstance(status, RepoStatus):
        raise InvalidInputError(
            f"set_status takes a frazil.RepoStatus, got {type(status).__name__!r}; e.g. "
            "RepoStatus(RepoAvailability.read_only, limited_availability_reason='why')"
        )
    return lambda info: dataclasses.replace(info, status=status)


def replace_feature_flag(name: object, setting: object) -> Callable[[RepoInfo], RepoInfo]:
    """A change that sets one feature flag (True, False, or None for its default); the
    settings of other flags, known or not, are kept.

    Raises
    ------
    InvalidInputError
        If there is no such flag or ``setting`` is not True, False or None (checked now,
        before anything is read).
    """
    fid = flag_id(name)
    value = check_flag_setting(setting)

    def change(info: RepoInfo) -> RepoInfo:
        flags = {k: v for k, v in info.feature_flags.items() if k != fid}
        if value is not None:
            flags[fid] = value
        return dataclasses.replace(info, feature_flags=flags)

    return change


def _check_metadata(metadata: object) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise InvalidTypeError(
            f"repository metadata must be a dict, got {type(metadata).__name__!r}",
            kind=ErrorKind.INVALID_METADATA,
        )
    try:
        return check_commit_metadata(metadata)
    except InvalidInputError as exc:
        raise type(exc)(
            exc.message.replace("commit metadata", "repository metadata"),
            kind=ErrorKind.INVALID_METADATA,
        ) from None
