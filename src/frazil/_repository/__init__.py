"""L7, the Repository façade: one class composed of focused parts.

``repository`` creates, opens and configures; ``refs`` (branches, tags), ``history``
(snapshots, ancestry, diffs), ``sessions`` (sessions, transactions, tickets),
``maintenance`` (housekeeping) and ``jobs`` (records of coordinator jobs) each hold one
area of the public API as ``x`` / ``x_async`` pairs over the layers below. A new area of the API is a new part, mixed into
:class:`Repository`.
"""

from __future__ import annotations

from frazil._repository.base import context_of
from frazil._repository.inspect import AncestryGraph, ManifestFileInfo
from frazil._repository.repository import Repository
from frazil._repository.upgrade import upgrade_icechunk_repository

__all__ = [
    "AncestryGraph",
    "ManifestFileInfo",
    "Repository",
    "context_of",
    "upgrade_icechunk_repository",
]
