"""Starting cold within a process."""

from __future__ import annotations

from frazil._repo import forget_contexts, forget_infos

__all__ = ["drop_caches"]


def drop_caches() -> None:
    """Forget what this process has cached of every repository, as a new process would.

    Repository objects opened afterwards read snapshots, manifests and transaction logs
    from storage again, so a measurement after ``drop_caches()`` and
    ``Repository.open(...)`` is a cold one. Sessions and Repository objects already open
    keep their caches.

    Examples
    --------
    >>> import frazil
    >>> from frazil.testing import drop_caches
    >>> storage = frazil.in_memory_storage()
    >>> _ = frazil.Repository.create(storage)
    >>> drop_caches()
    >>> [info.message for info in frazil.Repository.open(storage).ancestry(branch="main")]
    ['Repository initialized']
    """
    forget_contexts()
    forget_infos()
