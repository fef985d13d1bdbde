"""What the catalog stores: the SQL tables, and the value objects the client hands out.

Tables (every name starts with ``frazil_`` so a catalog can share a PostgreSQL database
with other applications):

``frazil_catalog_info``
    Key/value facts about the catalog itself (``format``, ``default_root``).
``frazil_bucket_configs``
    One row per ``(org, nickname)``: a storage URL, storage options, how credentials are
    found (never a credential), and whether it is the org's default.
``frazil_repos``
    One row per ``(org, name)``: which bucket config (``NULL`` for the catalog's default
    root), the prefix inside it, the resolved ``location`` (to refuse overlapping
    repositories), description, metadata and status.

The schema is created and migrated by the Alembic revisions in ``_migrations``; the
definitions here describe the head revision.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

__all__ = [
    "BUCKETS",
    "INFO",
    "METADATA",
    "REPOS",
    "BucketConfig",
    "IntegrityReports",
    "RepoModel",
    "RepoStatus",
    "StorageSize",
    "human_size",
    "utc",
]

METADATA = sa.MetaData()

INFO = sa.Table(
    "frazil_catalog_info",
    METADATA,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

BUCKETS = sa.Table(
    "frazil_bucket_configs",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("org", sa.String(64), nullable=False),
    sa.Column("nickname", sa.String(64), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("extra_config", sa.JSON, nullable=False),
    sa.Column("auth_config", sa.JSON, nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("org", "nickname", name="uq_frazil_bucket_configs_org_nickname"),
)

REPOS = sa.Table(
    "frazil_repos",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("org", sa.String(64), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column(
        "bucket_id",
        sa.Integer,
        sa.ForeignKey("frazil_bucket_configs.id", ondelete="RESTRICT"),
        nullable=True,
    ),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("org", "name", name="uq_frazil_repos_org_name"),
    sa.Index("ix_frazil_repos_bucket_id", "bucket_id"),
)


def utc(value: datetime.datetime) -> datetime.datetime:
    """``value`` as an aware UTC time (SQLite hands back naive ones)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


class RepoStatus(StrEnum):
    """The state of a repository in the catalog."""

    ONLINE = "online"
    """Readable and writable."""
    READ_ONLY = "read-only"
    """Opens read-only: writable sessions are refused."""
    ARCHIVED = "archived"
    """Kept for reference; opens read-only."""
    CREATING = "creating"
    """Registered, storage not yet written (a crash here is cleaned by ``delete_repo``)."""
    DELETING = "deleting"
    """Being deleted; a second ``delete_repo`` finishes what a crash interrupted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoModel:
    """A repository's entry in the catalog (see :meth:`frazil.Client.get_repo_object`)."""

    id: str
    """The catalog's id of the entry (random; a re-created name gets a new one)."""
    org: str
    """The organisation."""
    name: str
    """The repository's name inside the organisation (without the ``org/``)."""
    bucket_config_nickname: str | None
    """The bucket config it lives in; ``None`` for the catalog's default location."""
    prefix: str
    """Its prefix inside the bucket config's storage."""
    location: str
    """The storage URL the repository lives at."""
    description: str | None
    """Free text."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """JSON metadata (``list_repos(filter_metadata=...)`` matches on it)."""
    status: RepoStatus
    """``online``, ``read-only``, ``archived`` (or the transient ``creating``/``deleting``)."""
    created: datetime.datetime
    """When it was registered (UTC)."""
    updated: datetime.datetime
    """When its entry last changed (UTC)."""

    @property
    def full_name(self) -> str:
        """``org/name``."""
        return f"{self.org}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketConfig:
    """A named storage location of an organisation (see
    :meth:`frazil.Client.create_bucket_config`).

    It says where repositories live and how credentials are *found*; it never holds one.
    """

    id: int
    """The catalog's id of the entry."""
    org: str
    """The organisation."""
    nickname: str
    """Its name inside the organisation."""
    uri: str
    """``file:///path``, ``s3://bucket/prefix`` or ``memory://name``."""
    platform: str
    """The URL's scheme: ``file``, ``s3`` or ``memory``."""
    bucket: str
    """The bucket (S3), the directory (file) or the store's name (memory)."""
    prefix: str
    """The prefix inside the bucket under which repositories go (may be empty)."""
    extra_config: dict[str, Any] = field(default_factory=dict)
    """Storage options by the keyword names of the storage constructor."""
    auth_config: dict[str, Any] = field(default_factory=dict)
    """How credentials are found: ``{"method": "anonymous" | "from_env" | "provider"}``."""
    is_default: bool
    """Whether new repositories of the org go here when no nickname is given."""
    created: datetime.datetime
    """When it was registered (UTC)."""


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int) -> str:
    """``1395864371`` -> ``"1.3 GiB"`` (binary units, one decimal above bytes)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageSize:
    """How much storage repositories take (see :meth:`frazil.Client.calculate_storage_size`)."""

    bytes: int
    """Total size of every object, in bytes."""
    objects: int
    """How many objects were counted."""
    repos: int
    """How many repositories were counted."""

    @property
    def human(self) -> str:
        """The size in binary units, e.g. ``"1.3 GiB"``."""
        return human_size(self.bytes)

    def __str__(self) -> str:
        return self.human


class IntegrityReports(dict[str, Any]):
    """What :meth:`frazil.Client.check_integrity` found: repository name -> its integrity
    report (``.ok``, ``.findings``, ``.to_json()``), in the order checked."""

    @property
    def ok(self) -> bool:
        """True if no repository had a finding."""
        return all(report.ok for report in self.values())

    @property
    def findings(self) -> list[tuple[str, Any]]:
        """Every finding, with the name of its repository."""
        return [(name, finding) for name, report in self.items() for finding in report.findings]

    def to_json(self) -> str:
        """All reports as one JSON document (``{"ok": ..., "repos": {name: report}}``)."""
        body = {
            "ok": self.ok,
            "repos": {name: json.loads(report.to_json()) for name, report in self.items()},
        }
        return json.dumps(body, indent=2, sort_keys=True)
