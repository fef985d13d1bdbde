"""Icechunk's format upgrade, for scripts that call it: frazil has one format to be at."""

from __future__ import annotations

from frazil._check import require_int, short
from frazil._errors import ErrorKind, InvalidInputError
from frazil._repository.repository import Repository

__all__ = ["upgrade_icechunk_repository"]


def upgrade_icechunk_repository(
    repo: Repository,
    *,
    dry_run: bool,
    delete_unused_v1_files: bool = True,
    prefetch_concurrency: int | None = None,
) -> Repository:
    """Bring a repository to the newest format, as Icechunk's function of the same name.

    frazil writes one on-storage format, so every frazil repository is already at the
    newest one: the repository's root object is read again (which checks its format) and
    a freshly opened :class:`Repository` is returned. Nothing is written, with or without
    ``dry_run``, and ``repo`` stays usable.

    Parameters
    ----------
    repo
        The repository to upgrade.
    dry_run
        Icechunk's switch between reporting and upgrading; both do the same here.
    delete_unused_v1_files
        Accepted for Icechunk's signature; frazil has no files of an older format.
    prefetch_concurrency
        Accepted for Icechunk's signature (a positive int or ``None``); nothing is fetched
        beyond the root object.

    Returns
    -------
    Repository
        The repository opened anew, with ``repo``'s configuration, virtual chunk
        authorisation and default commit metadata (and read-only if ``repo`` was a
        read-only view).

    Raises
    ------
    InvalidInputError
        If ``dry_run`` or ``delete_unused_v1_files`` is not a bool, or
        ``prefetch_concurrency`` is not a positive int.
    RepositoryNotFoundError
        If the repository is no longer in its storage.
    FormatError
        If the stored root object is not frazil's format (an Icechunk repository, for
        example: frazil cannot read or convert those).

    Examples
    --------
    >>> import frazil
    >>> repo = frazil.Repository.create(frazil.in_memory_storage())
    >>> frazil.upgrade_icechunk_repository(repo, dry_run=False).spec_version
    <SpecVersion.v1: 1>
    """
    for name, value in (("dry_run", dry_run), ("delete_unused_v1_files", delete_unused_v1_files)):
        if not isinstance(value, bool):
            raise InvalidInputError(
                f"{name} must be True or False, got {short(value)}", kind=ErrorKind.INVALID_ARGUMENT
            )
    if prefetch_concurrency is not None:
        require_int("prefetch_concurrency", prefetch_concurrency, low=1)
    if not isinstance(repo, Repository):
        raise InvalidInputError(
            f"upgrade_icechunk_repository takes a Repository, got {short(repo)}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    fresh = Repository.open(repo.storage, repo.config, dict(repo._ctx.virtual.access))
    fresh._ctx.default_metadata = dict(repo._ctx.default_metadata)
    if repo._read_only_reason is not None:
        return fresh.as_read_only(repo._read_only_reason)
    return fresh
