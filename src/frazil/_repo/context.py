"""Per-process repository contexts: the object I/O and caches that sessions share.

Every :class:`~frazil.Repository` object, and every session or fork unpickled in a worker,
finds its context with :func:`context_for`. Contexts are shared by everything in one process
that names the same storage, configuration and repository id, so a worker that receives
many forks decodes each snapshot and manifest once.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frazil._check import check_commit_metadata
from frazil._repo.io import RepoIO
from frazil._repo.virtual import VirtualReader

if TYPE_CHECKING:
    from collections.abc import Mapping

    from frazil._config import RepositoryConfig
    from frazil.storage import Storage

__all__ = ["RepoContext", "context_for", "forget_contexts"]


@dataclass(slots=True, eq=False, weakref_slot=True)
class RepoContext:
    """What sessions need from their repository; shared by all sessions of one process."""

    io: RepoIO
    """Encoded object I/O and its caches."""
    repo_id: str
    """The repository's random id."""
    virtual: VirtualReader
    """Authorised reads of virtual chunks (the containers this context may read)."""
    default_metadata: dict[str, Any] = field(default_factory=dict)
    """Metadata merged into every commit (``Repository.set_default_commit_metadata``)."""

    @property
    def storage(self) -> Storage:
        """The (retrying) storage."""
        return self.io.storage

    @property
    def config(self) -> RepositoryConfig:
        """The repository configuration."""
        return self.io.config

    def commit_metadata(self, metadata: object) -> dict[str, Any]:
        """The metadata of a commit: the defaults, overridden key by key by ``metadata``.

        Raises
        ------
        InvalidInputError
            If ``metadata`` is not a dict of JSON values.
        """
        return {**self.default_metadata, **check_commit_metadata(metadata)}


_CONTEXTS: weakref.WeakValueDictionary[tuple[Any, ...], RepoContext] = weakref.WeakValueDictionary()
_CONTEXTS_LOCK = threading.Lock()
_KEEP_ALIVE: list[RepoContext] = []
"""The most recently used contexts stay alive between sessions (their caches are warm)."""


def forget_contexts() -> None:
    """Forget every context of this process: the next :func:`context_for` starts one with
    empty caches. Sessions already open keep theirs."""
    with _CONTEXTS_LOCK:
        _CONTEXTS.clear()
        _KEEP_ALIVE.clear()


def context_for(
    storage: Storage,
    config: RepositoryConfig,
    repo_id: str,
    virtual_access: Mapping[str, object] | None = None,
    *,
    fingerprint: str | None = None,
) -> RepoContext:
    """The process-wide context (and caches) of a repository, created on first use.

    ``fingerprint`` is ``config.fingerprint()`` when the caller knows it already (a
    session copy carries its original's): it is the costly part of finding the context.

    Repository objects given different virtual chunk authorisations
    (``virtual_access``, ``{url_prefix: credentials or None}``) get different contexts:
    credentials belong to the objects that were given them, never to the process.

    Raises
    ------
    InvalidInputError
        If ``virtual_access`` names no declared container or holds no credentials.
    """
    reader = VirtualReader(
        config.virtual_chunk_containers,
        virtual_access,
        concurrency=config.max_concurrent_requests,
    )
    if fingerprint is None:
        fingerprint = config.fingerprint()
    key = (storage, fingerprint, repo_id, os.getpid(), reader.key())
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            context = RepoContext(io=RepoIO(storage, config), repo_id=repo_id, virtual=reader)
            _CONTEXTS[key] = context
            _KEEP_ALIVE.append(context)
            del _KEEP_ALIVE[:-16]
    return context
