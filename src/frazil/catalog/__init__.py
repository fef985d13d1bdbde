"""L9, the catalog: repositories by ``org/name`` and bucket configs, in a SQL database.

:class:`Client` (and :class:`AsyncClient`, the same methods awaited) keeps the catalog in
an embedded SQLite file by default and in PostgreSQL (or any SQLAlchemy database) for a
team; the schema is versioned and migrated forward with Alembic on open. Bucket configs
name where repositories live and how credentials are found, never a credential: secrets
come from the environment or from a provider registered with
:func:`register_credential_provider`.

The ``frazil repo`` and ``frazil bucket`` commands are the typer apps ``repo_app`` and
``bucket_app`` (loaded on first use, so importing the catalog does not import typer).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from frazil.catalog._client import AsyncClient
from frazil.catalog._models import (
    BucketConfig,
    IntegrityReports,
    RepoModel,
    RepoStatus,
    StorageSize,
)
from frazil.catalog._names import NAME_RULE
from frazil.catalog._storage import CredentialProvider, register_credential_provider
from frazil.catalog._sync_client import Client

if TYPE_CHECKING:
    from frazil.catalog._cli import bucket_app as bucket_app, repo_app as repo_app

__all__ = [
    "NAME_RULE",
    "AsyncClient",
    "BucketConfig",
    "Client",
    "CredentialProvider",
    "IntegrityReports",
    "RepoModel",
    "RepoStatus",
    "StorageSize",
    "bucket_app",
    "register_credential_provider",
    "repo_app",
]

_CLI_NAMES = frozenset({"bucket_app", "repo_app"})


def __getattr__(name: str) -> object:
    """The typer apps load on first use (typer is the ``cli`` extra)."""
    if name in _CLI_NAMES:
        return getattr(importlib.import_module("frazil.catalog._cli"), name)
    raise AttributeError(f"module 'frazil.catalog' has no attribute {name!r}")


for _name in (
    "BucketConfig",
    "IntegrityReports",
    "RepoModel",
    "RepoStatus",
    "StorageSize",
):
    globals()[_name].__module__ = "frazil.catalog"
AsyncClient.__module__ = Client.__module__ = "frazil"
