"""What history and inspection return (the same objects as at the top level; Icechunk's
``icechunk.snapshots``)."""

from __future__ import annotations

from frazil._repo import Diff, SnapshotInfo
from frazil._repository import AncestryGraph, ManifestFileInfo

__all__ = ["AncestryGraph", "Diff", "ManifestFileInfo", "SnapshotInfo"]
