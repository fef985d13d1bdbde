"""Turning the REPO argument of a command into a Repository: a path, an S3 URL or a
catalog name."""

from __future__ import annotations

import importlib
import pathlib
import re
from typing import TYPE_CHECKING

from frazil._errors import ErrorKind, InvalidInputError
from frazil._repository import Repository
from frazil.storage import local_filesystem_storage, s3_storage

if TYPE_CHECKING:
    from frazil.storage import Storage

__all__ = ["open_repository", "storage_for"]

_CATALOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def storage_for(
    arg: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    anonymous: bool = False,
    allow_http: bool = False,
) -> Storage:
    """The storage a path or ``s3://bucket/prefix`` URL names.

    Raises
    ------
    InvalidInputError
        For a URL of a scheme frazil cannot open here.
    """
    scheme = _SCHEME.match(arg)
    if scheme is None:
        if arg.startswith("file:"):
            arg = arg.removeprefix("file:")
        return local_filesystem_storage(pathlib.Path(arg).expanduser())
    match scheme.group(1).lower():
        case "file":
            return local_filesystem_storage(arg.removeprefix(scheme.group(0)))
        case "s3":
            bucket, _, prefix = arg.removeprefix(scheme.group(0)).partition("/")
            return s3_storage(
                bucket=bucket,
                prefix=prefix.strip("/") or None,
                region=region,
                endpoint_url=endpoint_url,
                allow_http=allow_http,
                anonymous=anonymous,
            )
        case other:
            raise InvalidInputError(
                f"cannot open repository {arg!r}: unknown scheme {other!r}; use a local path, "
                "file://PATH, s3://BUCKET/PREFIX or a catalog name ORG/REPO",
                kind=ErrorKind.INVALID_PATH,
            )


def _is_catalog_name(arg: str) -> bool:
    return (
        _SCHEME.match(arg) is None
        and _CATALOG_NAME.fullmatch(arg) is not None
        and not pathlib.Path(arg).expanduser().exists()
    )


def open_repository(
    arg: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    anonymous: bool = False,
    allow_http: bool = False,
    create: bool = False,
) -> Repository:
    """Open (or with ``create``, create) the repository ``arg`` names.

    ``arg`` is a local path, ``file://PATH``, ``s3://BUCKET/PREFIX`` (with the S3 options),
    or a catalog name ``ORG/REPO`` (not an existing path), resolved by
    ``frazil.Client().get_repo(name)``.

    Raises
    ------
    InvalidInputError
        For an unknown URL scheme, or a catalog name when the catalog is not available.
    RepositoryNotFoundError
        If there is no repository there (and ``create`` is False).
    """
    if _is_catalog_name(arg) and not create:
        frazil = importlib.import_module("frazil")
        client_type = getattr(frazil, "Client", None) if "Client" in frazil.__all__ else None
        if client_type is None:
            raise InvalidInputError(
                f"{arg!r} looks like a catalog name (ORG/REPO) but this frazil has no "
                "catalog; give a path or an s3:// URL",
                kind=ErrorKind.INVALID_PATH,
            )
        repo = client_type().get_repo(arg)
        if not isinstance(repo, Repository):  # pragma: no cover - the catalog's contract
            raise InvalidInputError(f"the catalog returned no repository for {arg!r}")
        return repo
    storage = storage_for(
        arg,
        endpoint_url=endpoint_url,
        region=region,
        anonymous=anonymous,
        allow_http=allow_http,
    )
    if create:
        return Repository.create(storage)
    return Repository.open(storage)
