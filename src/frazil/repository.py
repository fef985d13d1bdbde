"""The repository and the records it returns (the same objects as at the top level;
Icechunk's ``icechunk.repository``)."""

from __future__ import annotations

from frazil._config import RepositoryConfig, StorageSettings
from frazil._repo import (
    Diff,
    FeatureFlag,
    GCSummary,
    RepoAvailability,
    RepoStatus,
    SnapshotInfo,
)
from frazil._repository import AncestryGraph, ManifestFileInfo, Repository
from frazil._session import FrazilStore, Session
from frazil.format import SpecVersion
from frazil.storage import Storage

__all__ = [
    "AncestryGraph",
    "Diff",
    "FeatureFlag",
    "FrazilStore",
    "GCSummary",
    "ManifestFileInfo",
    "RepoAvailability",
    "RepoStatus",
    "Repository",
    "RepositoryConfig",
    "Session",
    "SnapshotInfo",
    "SpecVersion",
    "Storage",
    "StorageSettings",
]
