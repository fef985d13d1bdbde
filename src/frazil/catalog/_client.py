"""AsyncClient: the catalog of repositories by ``org/name``, with bucket configs.

Database steps run in a worker thread (``asyncio.to_thread``), storage steps on the caller's
loop. The synchronous :class:`~frazil.Client` is a one-line shell over each method.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import os
import pathlib
import shutil
import threading
import weakref
from typing import TYPE_CHECKING, Any, Self

from frazil._config import RepositoryConfig
from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
    InvalidInputError,
    ReadOnlyError,
    RepositoryNotFoundError,
    SessionStateError,
    StorageError,
)
from frazil._repository import Repository
from frazil.catalog._db import Database
from frazil.catalog._models import IntegrityReports, RepoStatus, StorageSize
from frazil.catalog._names import check_nickname, check_org, split_name
from frazil.catalog._registry import UNSET, Registry, check_metadata
from frazil.catalog._storage import (
    Tombstone,
    TombstoneStorage,
    check_auth_config,
    check_extra_config,
    local_root,
    parse_uri,
    storage_for,
)
from frazil.storage import s3_storage, validate_key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from frazil.catalog._models import BucketConfig, RepoModel
    from frazil.catalog._registry import Entry
    from frazil.storage import Storage

__all__ = ["AsyncClient"]

_TOMBSTONES: weakref.WeakValueDictionary[str, Tombstone] = weakref.WeakValueDictionary()
_TOMBSTONES_LOCK = threading.Lock()

CREATING_GRACE_S = 120.0
"""An entry younger than this in state ``creating`` belongs to a live ``create_repo``:
``delete_repo`` refuses it (older ones are crashed creations and are removed)."""

_USER_STATUSES = (RepoStatus.ONLINE, RepoStatus.READ_ONLY, RepoStatus.ARCHIVED)


def _check_status(status: object) -> RepoStatus:
    try:
        value = RepoStatus(str(status)) if isinstance(status, str) else None
    except ValueError:
        value = None
    if value not in _USER_STATUSES:
        raise InvalidInputError(
            f"invalid repository status {status!r}: expected one of "
            f"{[s.value for s in _USER_STATUSES]}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    assert value is not None
    return value


def _check_description(description: object) -> str | None:
    if description is not None and not isinstance(description, str):
        raise InvalidInputError(
            f"description must be a str or None, got {type(description).__name__!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return description


def _check_config(config: object) -> RepositoryConfig | None:
    if config is not None and not isinstance(config, RepositoryConfig):
        raise InvalidInputError(
            f"config must be a frazil.RepositoryConfig or None, got {type(config).__name__!r}",
            kind=ErrorKind.INVALID_CONFIG,
        )
    return config


def _check_prefix(prefix: object) -> str | None:
    if prefix is None:
        return None
    if not isinstance(prefix, str):
        raise InvalidInputError(
            f"invalid prefix {prefix!r}: expected a str", kind=ErrorKind.INVALID_PATH
        )
    stripped = prefix.strip("/")
    try:
        validate_key(stripped)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"invalid prefix {prefix!r}: {exc}", kind=ErrorKind.INVALID_PATH
        ) from None
    return stripped


def _confirm(what: str, imsure: bool, imreallysure: bool) -> None:
    if imsure is not True or imreallysure is not True:
        raise InvalidInputError(
            f"refusing to delete {what}: pass imsure=True and imreallysure=True to confirm "
            "(this cannot be undone)",
            kind=ErrorKind.CONFIRMATION_REQUIRED,
        )


def _read_only_reason(name: str, status: RepoStatus, read_only: bool) -> str | None:
    if status in (RepoStatus.READ_ONLY, RepoStatus.ARCHIVED):
        return (
            f"the catalog marks {name} {status.value}; change it with "
            f"client.update_repo({name!r}, status='online')"
        )
    if read_only:
        return f"{name} was opened with read_only=True"
    return None


class AsyncClient:
    """The catalog of repositories, for asyncio code (every method is awaited).

    Same methods as :class:`frazil.Client`; see there for the full description.
    Constructing it connects (and, the first time, creates the schema) synchronously; after
    that every method runs its database work in a worker thread and its storage work on the
    calling loop.

    Parameters
    ----------
    uri
        ``None`` for ``$FRAZIL_CATALOG`` if set, else a SQLite file in the user's data
        directory; ``sqlite:///path``, ``postgresql://user@host/db`` or any SQLAlchemy URL;
        ``memory://name`` for a catalog kept in this process's memory.

    Raises
    ------
    StorageError
        With kind ``catalog-unreachable`` if the database cannot be reached (the message
        names the host).
    FormatError
        With kind ``not-a-catalog`` for a file or database that holds something else (it
        is left untouched), or a catalog written by a newer frazil.
    """

    def __init__(self, uri: str | None = None) -> None:
        self._uri = uri
        self._db: Database | None = None
        self._registry: Registry | None = None
        self._open()

    def _open(self) -> None:
        self._db = Database(self._uri)
        self._registry = Registry(self._db)

    def __repr__(self) -> str:
        where = self._db.description if self._db is not None else repr(self._uri)
        state = "open" if self.is_open else "closed"
        return f"<frazil.AsyncClient {where} ({state})>"

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_open(self) -> bool:
        """Whether the client is open (usable)."""
        return self._db is not None

    @property
    def is_closed(self) -> bool:
        """Whether the client was closed (``async with client`` opens it again)."""
        return self._db is None

    @property
    def url(self) -> str:
        """The catalog database's URL, without a password."""
        return self._reg().db.description

    def close(self) -> None:
        """Close the database connections. The client can be opened again by entering it."""
        if self._db is not None:
            self._db.dispose()
        self._db = None
        self._registry = None

    async def __aenter__(self) -> Self:
        if self._db is None:
            await asyncio.to_thread(self._open)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _reg(self) -> Registry:
        if self._registry is None:
            raise SessionStateError(
                "this catalog client is closed: reopen it with 'with client:' (or 'async with "
                "client:'), or make a new one",
                kind=ErrorKind.CLIENT_CLOSED,
            )
        return self._registry

    # ------------------------------------------------------------------ storage helpers
    def _tombstone(self, repo: RepoModel) -> Tombstone:
        # one per catalog entry in the process: every client's objects of it learn of a
        # deletion made by any client here
        with _TOMBSTONES_LOCK:
            tombstone = _TOMBSTONES.get(repo.id)
            if tombstone is None:
                tombstone = _TOMBSTONES[repo.id] = Tombstone(repo.full_name)
            return tombstone

    def _raw_storage(self, entry: Entry) -> Storage:
        repo, bucket, loc = entry
        return storage_for(loc, repo.prefix, bucket)

    def _user_storage(self, entry: Entry) -> Storage:
        return TombstoneStorage(self._raw_storage(entry), self._tombstone(entry[0]))

    # ------------------------------------------------------------------ repositories
    async def create_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str | None = None,
        prefix: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        config: RepositoryConfig | None = None,
    ) -> Repository:
        """Async version of :meth:`frazil.Client.create_repo`."""
        org, short = split_name(name)
        if bucket_config_nickname is not None:
            check_nickname(bucket_config_nickname)
        prefix = _check_prefix(prefix)
        description = _check_description(description)
        metadata = check_metadata(metadata)
        config = _check_config(config)
        entry: Entry = await asyncio.to_thread(
            self._reg().register,
            org=org,
            name=short,
            nickname=bucket_config_nickname,
            prefix=prefix,
            description=description,
            metadata=metadata,
        )
        repo_model = entry[0]
        ours = False  # True once the location is known empty: what is there then is ours
        try:
            raw = self._raw_storage(entry)
            if not raw.supports_writes:
                auth = entry[1].auth_config if entry[1] is not None else {}
                raise ReadOnlyError(
                    f"cannot create {name}: bucket config {repo_model.bucket_config_nickname!r} "
                    f"gives read-only access (auth_config {auth}); use {{'method': 'from_env'}} "
                    "or a credential provider to write to it",
                    kind=ErrorKind.READ_ONLY_STORAGE,
                )
            root = local_root(raw)
            if root is not None and await asyncio.to_thread(_occupied, root):
                raise AlreadyExistsError(
                    f"cannot create {name} at {repo_model.location!r}: that path already "
                    "exists and is not an empty directory; choose another prefix",
                    kind=ErrorKind.REPOSITORY_ALREADY_EXISTS,
                )
            async for info in raw.list(""):
                raise AlreadyExistsError(
                    f"cannot create {name} at {repo_model.location!r}: that location already "
                    f"holds objects (e.g. {info.key!r}); choose another prefix or remove them",
                    kind=ErrorKind.REPOSITORY_ALREADY_EXISTS,
                )
            ours = True
            repo = await Repository.create_async(self._user_storage(entry), config)
        except BaseException:
            if ours:  # remove what the failed creation wrote, then free the name
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._wipe(entry))
            await asyncio.shield(asyncio.to_thread(self._reg().unregister, repo_model.id))
            raise
        await asyncio.to_thread(self._reg().finish_creating, repo_model.id, name)
        return repo

    async def get_repo(
        self, name: str, *, read_only: bool = False, config: RepositoryConfig | None = None
    ) -> Repository:
        """Async version of :meth:`frazil.Client.get_repo`."""
        org, short = split_name(name)
        config = _check_config(config)
        entry: Entry = await asyncio.to_thread(self._reg().entry, org, short)
        return await self._open_entry(entry, read_only=read_only, config=config)

    async def _open_entry(
        self, entry: Entry, *, read_only: bool, config: RepositoryConfig | None
    ) -> Repository:
        repo_model = entry[0]
        name = repo_model.full_name
        if repo_model.status in (RepoStatus.CREATING, RepoStatus.DELETING):
            raise RepositoryNotFoundError(
                f"repository {name} is {repo_model.status.value} and cannot be opened; if an "
                f"earlier call crashed, remove it with client.delete_repo({name!r}, "
                "imsure=True, imreallysure=True)",
                kind=ErrorKind.REPOSITORY_NOT_FOUND,
            )
        repo = await Repository.open_async(self._user_storage(entry), config)
        reason = _read_only_reason(name, repo_model.status, read_only)
        return repo.as_read_only(reason) if reason is not None else repo

    async def get_or_create_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str | None = None,
        prefix: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        config: RepositoryConfig | None = None,
    ) -> Repository:
        """Async version of :meth:`frazil.Client.get_or_create_repo`."""
        org, short = split_name(name)
        deadline = asyncio.get_running_loop().time() + 30.0
        while True:
            try:
                entry: Entry = await asyncio.to_thread(self._reg().entry, org, short)
            except RepositoryNotFoundError:
                try:
                    return await self.create_repo(
                        name,
                        bucket_config_nickname=bucket_config_nickname,
                        prefix=prefix,
                        description=description,
                        metadata=metadata,
                        config=config,
                    )
                except AlreadyExistsError as exc:
                    # registered by another caller meanwhile: open it; if not (an occupied
                    # location), the error stands
                    try:
                        entry = await asyncio.to_thread(self._reg().entry, org, short)
                    except RepositoryNotFoundError:
                        raise exc from None
            if entry[0].status is not RepoStatus.CREATING:
                return await self._open_entry(entry, read_only=False, config=config)
            if asyncio.get_running_loop().time() > deadline:  # a crashed creation
                return await self._open_entry(entry, read_only=False, config=config)
            await asyncio.sleep(0.05)  # another caller is creating it right now

    async def get_repo_object(self, name: str) -> RepoModel:
        """Async version of :meth:`frazil.Client.get_repo_object`."""
        org, short = split_name(name)
        entry: Entry = await asyncio.to_thread(self._reg().entry, org, short)
        return entry[0]

    async def list_repos(
        self, org: str, *, filter_metadata: dict[str, Any] | None = None
    ) -> list[RepoModel]:
        """Async version of :meth:`frazil.Client.list_repos`."""
        check_org(org)
        if filter_metadata is not None:
            filter_metadata = check_metadata(filter_metadata)
        repos: list[RepoModel] = await asyncio.to_thread(self._reg().repos, org)
        if filter_metadata:
            repos = [
                r
                for r in repos
                if all(k in r.metadata and r.metadata[k] == v for k, v in filter_metadata.items())
            ]
        return repos

    async def list_all_repos(self) -> list[RepoModel]:
        """Async version of :meth:`frazil.Client.list_all_repos`."""
        result: list[RepoModel] = await asyncio.to_thread(self._reg().repos, None)
        return result

    async def __aiter__(self) -> AsyncIterator[RepoModel]:
        for repo in await self.list_all_repos():
            yield repo

    async def update_repo(
        self,
        name: str,
        *,
        description: str | type[UNSET] | None = UNSET,
        metadata: dict[str, Any] | type[UNSET] = UNSET,
        status: str | type[UNSET] = UNSET,
    ) -> RepoModel:
        """Async version of :meth:`frazil.Client.update_repo`."""
        org, short = split_name(name)
        if description is not UNSET:
            description = _check_description(description)
        if metadata is not UNSET:
            metadata = check_metadata(metadata)
        new_status: RepoStatus | type[UNSET] = UNSET
        if status is not UNSET:
            new_status = _check_status(status)
        result: RepoModel = await asyncio.to_thread(
            self._reg().update,
            org,
            short,
            description=description,
            metadata=metadata,
            status=new_status,
        )
        return result

    async def delete_repo(
        self, name: str, *, imsure: bool = False, imreallysure: bool = False
    ) -> None:
        """Async version of :meth:`frazil.Client.delete_repo`."""
        org, short = split_name(name)
        _confirm(f"repository {name}", imsure, imreallysure)
        entry: Entry = await asyncio.to_thread(
            self._reg().mark_deleting, org, short, CREATING_GRACE_S
        )
        repo_model = entry[0]
        self._tombstone(repo_model).reason = "deleted with client.delete_repo"
        await self._wipe(entry)
        await asyncio.to_thread(self._reg().unregister, repo_model.id)

    async def _wipe(self, entry: Entry) -> None:
        """Delete every object under a repository's prefix (its directory, for local ones)."""
        raw = self._raw_storage(entry)
        root = local_root(raw)
        if root is not None:  # the repository's directory, with its lock files
            await asyncio.to_thread(_remove_tree, root, pathlib.Path(entry[2].bucket))
        else:
            keys = [info.key async for info in raw.list("")]
            if keys:
                await raw.delete_many(keys)

    # ------------------------------------------------------------------ bucket configs
    async def create_bucket_config(
        self,
        *,
        org: str,
        nickname: str,
        uri: str,
        extra_config: dict[str, Any] | None = None,
        auth_config: dict[str, Any] | None = None,
    ) -> BucketConfig:
        """Async version of :meth:`frazil.Client.create_bucket_config`."""
        check_org(org)
        check_nickname(nickname)
        loc = parse_uri(uri)
        extra = check_extra_config(loc.scheme, extra_config)
        auth = check_auth_config(loc.scheme, auth_config)
        if loc.scheme == "s3":  # the options must make a storage (no request is sent)
            try:
                s3_storage(bucket=loc.bucket, prefix=loc.prefix, **extra)
            except TypeError as exc:
                raise InvalidInputError(
                    f"invalid extra_config for {uri!r}: {exc}", kind=ErrorKind.STORAGE_CONFIG
                ) from None
        result: BucketConfig = await asyncio.to_thread(
            self._reg().add_bucket, org=org, nickname=nickname, uri=uri, extra=extra, auth=auth
        )
        return result

    async def set_default_bucket_config(self, *, org: str, nickname: str) -> None:
        """Async version of :meth:`frazil.Client.set_default_bucket_config`."""
        check_org(org)
        check_nickname(nickname)
        await asyncio.to_thread(self._reg().set_default, org, nickname)

    async def get_bucket_config(self, *, org: str, nickname: str) -> BucketConfig:
        """Async version of :meth:`frazil.Client.get_bucket_config`."""
        check_org(org)
        check_nickname(nickname)
        result: BucketConfig = await asyncio.to_thread(self._reg().bucket, org, nickname)
        return result

    async def list_bucket_configs(self, org: str) -> list[BucketConfig]:
        """Async version of :meth:`frazil.Client.list_bucket_configs`."""
        check_org(org)
        result: list[BucketConfig] = await asyncio.to_thread(self._reg().buckets, org)
        return result

    async def list_repos_for_bucket_config(self, *, org: str, nickname: str) -> list[RepoModel]:
        """Async version of :meth:`frazil.Client.list_repos_for_bucket_config`."""
        check_org(org)
        check_nickname(nickname)
        result: list[RepoModel] = await asyncio.to_thread(
            self._reg().repos_for_bucket, org, nickname
        )
        return result

    async def delete_bucket_config(
        self, *, org: str, nickname: str, imsure: bool = False, imreallysure: bool = False
    ) -> None:
        """Async version of :meth:`frazil.Client.delete_bucket_config`."""
        check_org(org)
        check_nickname(nickname)
        _confirm(f"bucket config {nickname!r} of org {org!r}", imsure, imreallysure)
        await asyncio.to_thread(self._reg().remove_bucket, org, nickname)

    # ------------------------------------------------------------------ storage conveniences
    async def _select(self, name: str | None) -> list[Entry]:
        """The entries ``name`` means: one repository (``org/repo``), an org, or all."""
        if name is None:
            entries: list[Entry] = await asyncio.to_thread(self._reg().entries, None)
            return entries
        if not isinstance(name, str):
            raise InvalidInputError(
                f"expected a repository name 'org/repo', an org or None, got {name!r}",
                kind=ErrorKind.INVALID_REPO_NAME,
            )
        if "/" in name:
            org, short = split_name(name)
            return [await asyncio.to_thread(self._reg().entry, org, short)]
        check_org(name)
        return await asyncio.to_thread(self._reg().entries, name)

    async def calculate_storage_size(self, name: str | None = None) -> StorageSize:
        """Async version of :meth:`frazil.Client.calculate_storage_size`."""
        total = objects = 0
        entries = await self._select(name)
        for entry in entries:
            async for info in self._raw_storage(entry).list(""):
                total += info.size
                objects += 1
        return StorageSize(bytes=total, objects=objects, repos=len(entries))

    async def check_integrity(
        self,
        level: int = 1,
        *,
        stop_on_error: bool = True,
        to_file: bool | str | os.PathLike[str] = False,
        repo: str | None = None,
    ) -> IntegrityReports:
        """Async version of :meth:`frazil.Client.check_integrity`."""
        if isinstance(level, bool) or level not in (1, 2, 3, 4):
            raise InvalidInputError(
                f"invalid integrity level {level!r}: expected 1, 2, 3 or 4",
                kind=ErrorKind.INVALID_ARGUMENT,
            )
        reports = IntegrityReports()
        for entry in await self._select(repo):
            model = entry[0]
            if model.status in (RepoStatus.CREATING, RepoStatus.DELETING):
                continue
            opened = await self._open_entry(entry, read_only=True, config=None)
            # Repository.check_integrity (the operations layer); its async twin if present
            check_async = getattr(opened, "check_integrity_async", None)
            if check_async is not None:
                report = await check_async(level=level, stop_on_error=stop_on_error)
            else:
                check = getattr(opened, "check_integrity")  # noqa: B009 -- see above
                report = await asyncio.to_thread(check, level=level, stop_on_error=stop_on_error)
            reports[model.full_name] = report
            if stop_on_error and not report.ok:
                break
        if to_file is not False:
            await asyncio.to_thread(_write_reports, reports, to_file)
        return reports

    async def clear_locks(self, repo: str | None = None) -> int:
        """Async version of :meth:`frazil.Client.clear_locks`."""
        removed = 0
        for entry in await self._select(repo):
            root = local_root(self._raw_storage(entry))
            if root is not None:
                removed += await asyncio.to_thread(_clear_lock_files, root / ".locks")
        return removed


def _write_reports(reports: IntegrityReports, to_file: bool | str | os.PathLike[str]) -> None:
    if isinstance(to_file, bool):
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = pathlib.Path.cwd() / f"frazil-integrity-{stamp}.json"
    else:
        path = pathlib.Path(os.fspath(to_file))
    path.write_text(reports.to_json() + "\n")


def _occupied(root: pathlib.Path) -> bool:
    """Whether a local repository path holds anything (hidden files count, unlike in a
    storage listing)."""
    if not root.exists() and not root.is_symlink():
        return False
    return not root.is_dir() or root.is_symlink() or any(root.iterdir())


def _remove_tree(root: pathlib.Path, base: pathlib.Path) -> None:
    """Remove a local repository's directory, then the folders above it that this left
    empty, up to (not including) the bucket config's directory."""
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():  # something could not be removed: report it, keep the entry
        leftover = next(root.rglob("*"), root)
        raise StorageError(
            f"could not delete everything under {str(root)!r} (e.g. {str(leftover)!r}); fix "
            "the permissions and call delete_repo again to finish",
            kind=ErrorKind.STORAGE_IO,
        )
    parent = root.parent
    while parent != base and base in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def _clear_lock_files(directory: pathlib.Path) -> int:
    """Remove the lock files no process holds; return how many were removed."""
    removed = 0
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return 0
    for path in entries:
        if not path.name.endswith(".lock"):
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process holds it
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)
    return removed
