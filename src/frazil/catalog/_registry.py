"""The catalog's database operations: each method is one transaction.

Nothing here touches object storage; the client orders database steps and storage steps
so that a crash between them leaves a state the next call can finish (see
``docs/design/009-catalog.md``).
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from frazil._errors import (
    AlreadyExistsError,
    ErrorKind,
    InvalidInputError,
    NotFoundError,
    RepositoryNotFoundError,
)
from frazil.catalog._models import BUCKETS, REPOS, BucketConfig, RepoModel, RepoStatus, utc
from frazil.catalog._storage import Location, location_for, parse_uri

if TYPE_CHECKING:
    from frazil.catalog._db import Database

__all__ = ["Entry", "Registry"]


type Entry = tuple[RepoModel, BucketConfig | None, Location]
"""A repository's entry, its bucket config (None: the default root) and where it lives."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _bucket_of(row: Any) -> BucketConfig:
    loc = parse_uri(row.uri)
    return BucketConfig(
        id=int(row.id),
        org=row.org,
        nickname=row.nickname,
        uri=row.uri,
        platform=loc.scheme,
        bucket=loc.bucket,
        prefix=loc.prefix,
        extra_config=dict(row.extra_config or {}),
        auth_config=dict(row.auth_config or {}),
        is_default=bool(row.is_default),
        created=utc(row.created_at),
    )


def _repo_of(row: Any, nickname: str | None) -> RepoModel:
    return RepoModel(
        id=row.id,
        org=row.org,
        name=row.name,
        bucket_config_nickname=nickname,
        prefix=row.prefix,
        location=row.location,
        description=row.description,
        metadata=dict(row.metadata or {}),
        status=RepoStatus(row.status),
        created=utc(row.created_at),
        updated=utc(row.updated_at),
    )


_REPO_SELECT = sa.select(REPOS, BUCKETS.c.nickname.label("bucket_nickname")).select_from(
    REPOS.outerjoin(BUCKETS, REPOS.c.bucket_id == BUCKETS.c.id)
)


class Registry:
    """The catalog's rows, read and written in one transaction per call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # read once, outside every later transaction (an in-memory catalog has a single
        # connection, which cannot open a second transaction inside the first)
        self.default_root: Location = parse_uri(db.default_root())
        """Where repositories without a bucket config live."""

    def _not_found(self, org: str, name: str) -> RepositoryNotFoundError:
        return RepositoryNotFoundError(
            f"no repository {org}/{name!s} in the catalog {self.db.description!r}: list them "
            f"with client.list_repos({org!r}), or create it with client.create_repo",
            kind=ErrorKind.REPOSITORY_NOT_FOUND,
        )

    # ------------------------------------------------------------------ buckets
    def _bucket_row(self, conn: sa.Connection, org: str, nickname: str) -> Any:
        row = conn.execute(
            sa.select(BUCKETS).where(BUCKETS.c.org == org, BUCKETS.c.nickname == nickname)
        ).one_or_none()
        if row is None:
            known = conn.execute(
                sa.select(BUCKETS.c.nickname).where(BUCKETS.c.org == org)
            ).scalars()
            raise NotFoundError(
                f"no bucket config {nickname!r} in org {org!r} (the org has "
                f"{sorted(known) or 'none'}); create it with client.create_bucket_config",
                kind=ErrorKind.BUCKET_CONFIG_NOT_FOUND,
            )
        return row

    def add_bucket(
        self, *, org: str, nickname: str, uri: str, extra: dict[str, Any], auth: dict[str, Any]
    ) -> BucketConfig:
        """Register a bucket config."""
        now = _now()
        try:
            with self.db.transaction(write=True) as conn:
                exists = conn.execute(
                    sa.select(BUCKETS.c.id).where(
                        BUCKETS.c.org == org, BUCKETS.c.nickname == nickname
                    )
                ).first()
                if exists is not None:
                    raise AlreadyExistsError(
                        f"bucket config {nickname!r} already exists in org {org!r}: pick "
                        "another nickname, or delete it first",
                        kind=ErrorKind.BUCKET_CONFIG_ALREADY_EXISTS,
                    )
                conn.execute(
                    sa.insert(BUCKETS).values(
                        org=org,
                        nickname=nickname,
                        uri=uri,
                        extra_config=extra,
                        auth_config=auth,
                        is_default=False,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return _bucket_of(self._bucket_row(conn, org, nickname))
        except sa_exc.IntegrityError:  # pragma: no cover - the check above runs under the lock
            raise AlreadyExistsError(
                f"bucket config {nickname!r} already exists in org {org!r}",
                kind=ErrorKind.BUCKET_CONFIG_ALREADY_EXISTS,
            ) from None

    def bucket(self, org: str, nickname: str) -> BucketConfig:
        """One bucket config."""
        with self.db.transaction(write=False) as conn:
            return _bucket_of(self._bucket_row(conn, org, nickname))

    def buckets(self, org: str) -> list[BucketConfig]:
        """The org's bucket configs, by nickname."""
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(BUCKETS).where(BUCKETS.c.org == org).order_by(BUCKETS.c.nickname)
            ).all()
        return [_bucket_of(r) for r in rows]

    def set_default(self, org: str, nickname: str) -> None:
        """Make one bucket config the org's default."""
        with self.db.transaction(write=True) as conn:
            row = self._bucket_row(conn, org, nickname)
            conn.execute(sa.update(BUCKETS).where(BUCKETS.c.org == org).values(is_default=False))
            conn.execute(
                sa.update(BUCKETS)
                .where(BUCKETS.c.id == row.id)
                .values(is_default=True, updated_at=_now())
            )

    def remove_bucket(self, org: str, nickname: str) -> None:
        """Unregister a bucket config no repository uses."""
        with self.db.transaction(write=True) as conn:
            row = self._bucket_row(conn, org, nickname)
            users = conn.execute(
                sa.select(REPOS.c.org, REPOS.c.name)
                .where(REPOS.c.bucket_id == row.id)
                .order_by(REPOS.c.org, REPOS.c.name)
            ).all()
            if users:
                names = [f"{u.org}/{u.name}" for u in users]
                shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
                raise InvalidInputError(
                    f"bucket config {nickname!r} of org {org!r} is used by {len(names)} "
                    f"repositor{'y' if len(names) == 1 else 'ies'} ({shown}): delete them "
                    "first",
                    kind=ErrorKind.BUCKET_CONFIG_IN_USE,
                )
            conn.execute(sa.delete(BUCKETS).where(BUCKETS.c.id == row.id))

    def repos_for_bucket(self, org: str, nickname: str) -> list[RepoModel]:
        """The repositories in one bucket config."""
        with self.db.transaction(write=False) as conn:
            row = self._bucket_row(conn, org, nickname)
            rows = conn.execute(
                _REPO_SELECT.where(REPOS.c.bucket_id == row.id).order_by(REPOS.c.name)
            ).all()
        return [_repo_of(r, r.bucket_nickname) for r in rows]

    # ------------------------------------------------------------------ repositories
    def _location_of(self, bucket: BucketConfig | None) -> Location:
        return self.default_root if bucket is None else parse_uri(bucket.uri)

    def _entry(self, conn: sa.Connection, org: str, name: str) -> Entry:
        row = conn.execute(
            _REPO_SELECT.where(REPOS.c.org == org, REPOS.c.name == name)
        ).one_or_none()
        if row is None:
            raise self._not_found(org, name)
        bucket = None
        if row.bucket_id is not None:
            bucket = _bucket_of(
                conn.execute(sa.select(BUCKETS).where(BUCKETS.c.id == row.bucket_id)).one()
            )
        return _repo_of(row, row.bucket_nickname), bucket, self._location_of(bucket)

    def entry(self, org: str, name: str) -> Entry:
        """A repository's entry, bucket config and location."""
        with self.db.transaction(write=False) as conn:
            return self._entry(conn, org, name)

    def register(
        self,
        *,
        org: str,
        name: str,
        nickname: str | None,
        prefix: str | None,
        description: str | None,
        metadata: dict[str, Any],
    ) -> Entry:
        """Insert a repository in state ``creating``.

        Raises AlreadyExistsError for a registered name or a location that overlaps another
        repository's.
        """
        now = _now()
        with self.db.transaction(write=True) as conn:
            existing = conn.execute(
                sa.select(REPOS.c.status).where(REPOS.c.org == org, REPOS.c.name == name)
            ).scalar_one_or_none()
            if existing is not None:
                raise AlreadyExistsError(
                    f"repository {org}/{name} already exists in the catalog"
                    + _status_hint(org, name, RepoStatus(existing)),
                    kind=ErrorKind.REPOSITORY_ALREADY_EXISTS,
                )
            bucket: BucketConfig | None = None
            if nickname is not None:
                bucket = _bucket_of(self._bucket_row(conn, org, nickname))
            else:
                row = conn.execute(
                    sa.select(BUCKETS).where(BUCKETS.c.org == org, BUCKETS.c.is_default)
                ).first()
                bucket = _bucket_of(row) if row is not None else None
            if prefix is None:
                prefix = f"{org}/{name}"
            loc = self._location_of(bucket)
            location = location_for(loc, prefix)
            clash = conn.execute(
                sa.select(REPOS.c.org, REPOS.c.name, REPOS.c.location).where(
                    sa.or_(
                        REPOS.c.location.in_([location, *_ancestors(location)]),
                        REPOS.c.location.startswith(location + "/", autoescape=True),
                    )
                )
            ).first()
            if clash is not None:
                raise AlreadyExistsError(
                    f"cannot create {org}/{name} at {location!r}: it overlaps repository "
                    f"{clash.org}/{clash.name} at {clash.location!r}; choose another prefix",
                    kind=ErrorKind.REPOSITORY_ALREADY_EXISTS,
                )
            repo_id = uuid.uuid4().hex
            conn.execute(
                sa.insert(REPOS).values(
                    id=repo_id,
                    org=org,
                    name=name,
                    bucket_id=bucket.id if bucket is not None else None,
                    prefix=prefix,
                    location=location,
                    description=description,
                    metadata=metadata,
                    status=RepoStatus.CREATING.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            return self._entry(conn, org, name)

    def finish_creating(self, repo_id: str, full_name: str) -> None:
        """Move a new repository from ``creating`` to ``online``."""
        with self.db.transaction(write=True) as conn:
            done = conn.execute(
                sa.update(REPOS)
                .where(REPOS.c.id == repo_id, REPOS.c.status == RepoStatus.CREATING.value)
                .values(status=RepoStatus.ONLINE.value, updated_at=_now())
            ).rowcount
        if done != 1:
            raise RepositoryNotFoundError(
                f"repository {full_name} was deleted from the catalog while it was being "
                "created; create it again",
                kind=ErrorKind.REPOSITORY_DELETED,
            )

    def mark_deleting(self, org: str, name: str, creating_grace_s: float) -> Entry:
        """Put a repository in state ``deleting``; an entry in state ``creating`` younger
        than ``creating_grace_s`` belongs to a live creation and is refused."""
        with self.db.transaction(write=True) as conn:
            repo, _bucket, _loc = self._entry(conn, org, name)
            age = (_now() - repo.updated).total_seconds()
            if repo.status is RepoStatus.CREATING and age < creating_grace_s:
                raise InvalidInputError(
                    f"repository {org}/{name} is being created right now ({age:.0f} s ago); "
                    "delete it after its creation finished (if the creating process crashed, "
                    f"the entry can be removed after {creating_grace_s:.0f} s)",
                    kind=ErrorKind.INVALID_ARGUMENT,
                )
            conn.execute(
                sa.update(REPOS)
                .where(REPOS.c.id == repo.id)
                .values(status=RepoStatus.DELETING.value, updated_at=_now())
            )
            return self._entry(conn, org, name)

    def unregister(self, repo_id: str) -> None:
        """Remove a repository's row."""
        with self.db.transaction(write=True) as conn:
            conn.execute(sa.delete(REPOS).where(REPOS.c.id == repo_id))

    def update(
        self,
        org: str,
        name: str,
        *,
        description: str | type[_Unset] | None,
        metadata: dict[str, Any] | type[_Unset],
        status: RepoStatus | type[_Unset],
    ) -> RepoModel:
        """Change a repository's description, metadata or status."""
        with self.db.transaction(write=True) as conn:
            repo, _, _ = self._entry(conn, org, name)
            if repo.status in (RepoStatus.CREATING, RepoStatus.DELETING):
                raise InvalidInputError(
                    f"repository {org}/{name} is {repo.status.value}; only online, read-only "
                    "and archived repositories can be updated"
                    + _status_hint(org, name, repo.status),
                    kind=ErrorKind.INVALID_ARGUMENT,
                )
            values: dict[str, Any] = {"updated_at": _now()}
            if description is not _Unset:
                values["description"] = description
            if metadata is not _Unset:
                values["metadata"] = metadata
            if status is not _Unset:
                assert isinstance(status, RepoStatus)
                values["status"] = status.value
            conn.execute(sa.update(REPOS).where(REPOS.c.id == repo.id).values(**values))
            return self._entry(conn, org, name)[0]

    def repos(self, org: str | None) -> list[RepoModel]:
        """Every repository of ``org`` (of every org for None), by org and name."""
        query = _REPO_SELECT.order_by(REPOS.c.org, REPOS.c.name)
        if org is not None:
            query = query.where(REPOS.c.org == org)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).all()
        return [_repo_of(r, r.bucket_nickname) for r in rows]

    def entries(self, org: str | None) -> list[Entry]:
        """Every repository's entry with its bucket config and location."""
        buckets: dict[int, BucketConfig] = {}
        query = _REPO_SELECT.order_by(REPOS.c.org, REPOS.c.name)
        if org is not None:
            query = query.where(REPOS.c.org == org)
        default = self.default_root
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).all()
            for row in conn.execute(sa.select(BUCKETS)).all():
                buckets[int(row.id)] = _bucket_of(row)
        out: list[Entry] = []
        for row in rows:
            bucket = buckets.get(row.bucket_id) if row.bucket_id is not None else None
            loc = default if bucket is None else parse_uri(bucket.uri)
            out.append((_repo_of(row, row.bucket_nickname), bucket, loc))
        return out


def _ancestors(location: str) -> list[str]:
    """``s3://b/x/y`` -> ``["s3://b/x", "s3://b"]``: the locations that would contain it."""
    scheme, _, path = location.partition("://")
    parts = path.split("/")
    return [f"{scheme}://{'/'.join(parts[:i])}" for i in range(len(parts) - 1, 0, -1)]


class _Unset:
    """Marks an argument of ``update_repo`` that was not passed."""


def _status_hint(org: str, name: str, status: RepoStatus) -> str:
    match status:
        case RepoStatus.DELETING:
            return (
                f" and is being deleted (an earlier deletion was interrupted): finish it with "
                f"client.delete_repo('{org}/{name}', imsure=True, imreallysure=True)"
            )
        case RepoStatus.CREATING:
            return (
                " and is being created (if its creation crashed, remove the entry with "
                f"client.delete_repo('{org}/{name}', imsure=True, imreallysure=True))"
            )
        case _:
            return ""


def check_metadata(metadata: object) -> dict[str, Any]:
    """Check that repository metadata is a JSON object and return a copy."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise InvalidInputError(
            f"repository metadata must be a dict with str keys, got {metadata!r}",
            kind=ErrorKind.INVALID_METADATA,
        )
    try:
        return dict(json.loads(json.dumps(metadata)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"repository metadata must be JSON-serialisable: {exc}",
            kind=ErrorKind.INVALID_METADATA,
        ) from None


UNSET = _Unset
