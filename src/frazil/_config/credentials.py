"""Credentials for object stores: what a Repository object may present to reach data.

Credentials are never saved in a repository. They are given when a repository is opened
(``authorize_virtual_chunk_access={url_prefix: credentials}``) or when a storage is built
(``s3_storage(..., credentials=...)``), and live in that object only. The names and shapes
follow Icechunk's (``S3StaticCredentials``, ``S3Credentials.Static``, ``Credentials.S3``,
``s3_static_credentials(...)``, ``containers_credentials(...)``), so scripts port unchanged.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from frazil._errors import ErrorKind, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "AnyCredential",
    "AnyS3Credential",
    "Credentials",
    "HttpAccess",
    "LocalFileSystemAccess",
    "S3Credentials",
    "S3StaticCredentials",
    "check_credentials",
    "containers_credentials",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
    "s3fs_credential_options",
]


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, kind=ErrorKind.INVALID_CREDENTIALS)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(f"{name} must be a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class S3StaticCredentials:
    """An access key, its secret, and optionally a session token and an expiry.

    Parameters
    ----------
    access_key_id
        The access key id.
    secret_access_key
        The secret.
    session_token
        A temporary session token, if the key is temporary.
    expires_after
        When the key expires (timezone-aware); refreshable credentials are asked again
        after it.

    Raises
    ------
    InvalidInputError
        If a field has the wrong type.
    """

    access_key_id: str
    """The access key id."""
    secret_access_key: str
    """The secret."""
    session_token: str | None = None
    """A temporary session token."""
    expires_after: datetime.datetime | None = None
    """When the key expires."""

    def __post_init__(self) -> None:
        _text("access_key_id", self.access_key_id)
        _text("secret_access_key", self.secret_access_key)
        if self.session_token is not None:
            _text("session_token", self.session_token)
        if self.expires_after is not None and not isinstance(self.expires_after, datetime.datetime):
            raise _bad(f"expires_after must be a datetime, got {self.expires_after!r}")

    def __repr__(self) -> str:  # never show the secret
        return f"S3StaticCredentials(access_key_id={self.access_key_id!r}, secret_access_key=***)"

    def expired(self, now: datetime.datetime | None = None) -> bool:
        """Whether :attr:`expires_after` has passed."""
        if self.expires_after is None:
            return False
        expires = self.expires_after
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
        return (now or datetime.datetime.now(datetime.UTC)) >= expires


class S3Credentials:
    """The kinds of S3 credentials (Icechunk's ``S3Credentials.FromEnv`` and friends)."""

    @dataclass(frozen=True, slots=True)
    class FromEnv:
        """Take credentials from the environment (botocore's default chain)."""

    @dataclass(frozen=True, slots=True)
    class Anonymous:
        """Send unsigned requests (public buckets only)."""

    @dataclass(frozen=True, slots=True)
    class Static:
        """A fixed access key."""

        credentials: S3StaticCredentials
        """The key."""

        def __post_init__(self) -> None:
            if not isinstance(self.credentials, S3StaticCredentials):
                raise _bad(
                    "S3Credentials.Static takes an S3StaticCredentials, got "
                    f"{type(self.credentials).__name__!r}"
                )

    @dataclass(frozen=True, slots=True)
    class Refreshable:
        """A function called for a new key whenever the last one expires."""

        pickled_function: Callable[[], S3StaticCredentials]
        """Returns an :class:`S3StaticCredentials` (must pickle to reach Dask workers)."""
        current: S3StaticCredentials | None = None
        """The first key, if it was fetched already (``scatter_initial_credentials``)."""

        def __post_init__(self) -> None:
            if not callable(self.pickled_function):
                raise _bad(
                    "S3Credentials.Refreshable takes a function returning "
                    f"S3StaticCredentials, got {self.pickled_function!r}"
                )
            if self.current is not None and not isinstance(self.current, S3StaticCredentials):
                raise _bad(f"current must be S3StaticCredentials, got {self.current!r}")

        def fetch(self) -> S3StaticCredentials:
            """Call the function and check what it returned."""
            key = self.pickled_function()
            if not isinstance(key, S3StaticCredentials):
                raise _bad(
                    "the get_credentials function must return frazil.credentials."
                    f"S3StaticCredentials, it returned {type(key).__name__!r}"
                )
            return key


type AnyS3Credential = (
    S3Credentials.FromEnv
    | S3Credentials.Anonymous
    | S3Credentials.Static
    | S3Credentials.Refreshable
)
_S3_KINDS = (
    S3Credentials.FromEnv,
    S3Credentials.Anonymous,
    S3Credentials.Static,
    S3Credentials.Refreshable,
)


class Credentials:
    """Credentials of one kind of store (Icechunk's ``Credentials.S3``)."""

    @dataclass(frozen=True, slots=True)
    class S3:
        """S3 credentials of a container or storage."""

        credentials: AnyS3Credential
        """Which kind."""

        def __post_init__(self) -> None:
            if not isinstance(self.credentials, _S3_KINDS):
                raise _bad(
                    "Credentials.S3 takes S3 credentials (frazil.credentials.s3_static_"
                    "credentials(...), s3_anonymous_credentials(), ...), got "
                    f"{type(self.credentials).__name__!r}"
                )

    @dataclass(frozen=True, slots=True)
    class LocalFileSystemAccess:
        """Authorises a ``file://`` container, which needs no credentials (use the
        :data:`LocalFileSystemAccess` instance)."""

    @dataclass(frozen=True, slots=True)
    class HttpAccess:
        """Authorises an ``http(s)://`` container, which needs no credentials (use the
        :data:`HttpAccess` instance)."""


type AnyCredential = Credentials.S3 | Credentials.LocalFileSystemAccess | Credentials.HttpAccess

LocalFileSystemAccess = Credentials.LocalFileSystemAccess()
"""Authorises a ``file://`` virtual chunk container; the same as ``None`` for it."""

HttpAccess = Credentials.HttpAccess()
"""Authorises an ``http(s)://`` virtual chunk container; the same as ``None`` for it."""

_NO_AUTH = (Credentials.LocalFileSystemAccess, Credentials.HttpAccess)


def s3_static_credentials(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    expires_after: datetime.datetime | None = None,
) -> S3Credentials.Static:
    """Fixed S3 credentials.

    Parameters
    ----------
    access_key_id, secret_access_key, session_token, expires_after
        See :class:`S3StaticCredentials`.

    Returns
    -------
    S3Credentials.Static
    """
    return S3Credentials.Static(
        S3StaticCredentials(access_key_id, secret_access_key, session_token, expires_after)
    )


def s3_anonymous_credentials() -> S3Credentials.Anonymous:
    """Unsigned S3 requests (public buckets)."""
    return S3Credentials.Anonymous()


def s3_from_env_credentials() -> S3Credentials.FromEnv:
    """S3 credentials from the environment (``AWS_ACCESS_KEY_ID``, profiles, instance
    roles: botocore's default chain)."""
    return S3Credentials.FromEnv()


def s3_refreshable_credentials(
    get_credentials: Callable[[], S3StaticCredentials],
    scatter_initial_credentials: bool = False,
) -> S3Credentials.Refreshable:
    """S3 credentials fetched by calling ``get_credentials`` whenever the last expire.

    Parameters
    ----------
    get_credentials
        A function returning :class:`S3StaticCredentials`.
    scatter_initial_credentials
        Call it now, so copies sent to other processes carry a key already.

    Returns
    -------
    S3Credentials.Refreshable
    """
    if not isinstance(scatter_initial_credentials, bool):
        raise _bad(
            f"scatter_initial_credentials must be a bool, got {scatter_initial_credentials!r}"
        )
    creds = S3Credentials.Refreshable(get_credentials)
    if scatter_initial_credentials:
        creds = S3Credentials.Refreshable(get_credentials, creds.fetch())
    return creds


def s3_credentials(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: datetime.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], S3StaticCredentials] | None = None,
    scatter_initial_credentials: bool = False,
) -> AnyS3Credential:
    """S3 credentials of whichever kind the arguments describe.

    Exactly one of: a key (``access_key_id`` and ``secret_access_key``),
    ``anonymous=True``, ``from_env=True`` or ``get_credentials``; with none, the
    environment is used.

    Raises
    ------
    InvalidInputError
        If the arguments describe more than one kind.
    """
    chosen = [
        name
        for name, on in (
            ("access_key_id", access_key_id is not None or secret_access_key is not None),
            ("anonymous", bool(anonymous)),
            ("from_env", bool(from_env)),
            ("get_credentials", get_credentials is not None),
        )
        if on
    ]
    if len(chosen) > 1:
        raise _bad(f"s3_credentials takes one kind of credentials, got {', '.join(chosen)}")
    if anonymous:
        return s3_anonymous_credentials()
    if get_credentials is not None:
        return s3_refreshable_credentials(get_credentials, scatter_initial_credentials)
    if access_key_id is not None or secret_access_key is not None:
        return s3_static_credentials(
            access_key_id=access_key_id,  # type: ignore[arg-type]  # checked in the class
            secret_access_key=secret_access_key,  # type: ignore[arg-type]
            session_token=session_token,
            expires_after=expires_after,
        )
    return s3_from_env_credentials()


def check_credentials(where: str, value: object) -> AnyCredential | None:
    """``value`` as container credentials (S3 kinds are wrapped in ``Credentials.S3``).

    Raises
    ------
    InvalidInputError
        If it is not credentials (or None).
    """
    if value is None or isinstance(value, (Credentials.S3, *_NO_AUTH)):
        return value
    if isinstance(value, _S3_KINDS):
        return Credentials.S3(value)
    raise _bad(
        f"credentials for {where} must be frazil.credentials objects "
        "(s3_static_credentials(...), s3_anonymous_credentials(), s3_from_env_credentials(), "
        "s3_refreshable_credentials(fn), LocalFileSystemAccess, HttpAccess) or None, got "
        f"{type(value).__name__!r}"
    )


def containers_credentials(
    m: Mapping[str, object] | None = None, **kwargs: object
) -> dict[str, AnyCredential | None]:
    """Credentials by virtual chunk container prefix, for
    ``Repository.open(..., authorize_virtual_chunk_access=...)``.

    Parameters
    ----------
    m
        ``{url_prefix: credentials or None}``; :data:`LocalFileSystemAccess` and
        :data:`HttpAccess` say "no credentials" for ``file://`` and ``http(s)://``
        containers as ``None`` does (frazil keeps ``None`` working without a warning).
    **kwargs
        More entries (prefixes that are valid Python names only).

    Returns
    -------
    dict
        Each S3 credential wrapped in :class:`Credentials.S3`.

    Raises
    ------
    InvalidInputError
        If a prefix is not a string or a value is not credentials.
    """
    out: dict[str, AnyCredential | None] = {}
    for prefix, value in {**dict(m or {}), **kwargs}.items():
        if not isinstance(prefix, str):
            raise _bad(f"container prefixes must be strings, got {prefix!r}")
        out[prefix] = check_credentials(f"container {prefix!r}", value)
    return out


def s3fs_credential_options(
    credentials: AnyCredential | AnyS3Credential | None,
) -> tuple[dict[str, Any], S3StaticCredentials | None]:
    """Keyword arguments for ``s3fs.S3FileSystem`` that present ``credentials``, and the
    key they hold (whose :meth:`~S3StaticCredentials.expired` says when to ask again).

    ``None`` and :class:`S3Credentials.FromEnv` leave botocore's default chain in charge.
    """
    if isinstance(credentials, Credentials.S3):
        credentials = credentials.credentials
    match credentials:
        case S3Credentials.Anonymous():
            return {"anon": True}, None
        case S3Credentials.Static(credentials=static):
            return _key_options(static), static
        case S3Credentials.Refreshable(current=current):
            fresh = current if current is not None and not current.expired() else None
            fresh = fresh or credentials.fetch()
            return _key_options(fresh), fresh
    return {}, None


def _key_options(key: S3StaticCredentials) -> dict[str, Any]:
    return {
        "anon": False,
        "key": key.access_key_id,
        "secret": key.secret_access_key,
        "token": key.session_token,
    }
