"""Virtual chunk containers: where virtual chunks may live and how each is reached."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frazil._config.base import (
    bad,
    check_bool,
    check_instance,
    check_text,
)

__all__ = [
    "ObjectStoreConfig",
    "VirtualChunkContainer",
    "azure_store",
    "check_overlap",
    "containers",
    "fsspec_store",
    "gcs_store",
    "http_store",
    "local_filesystem_store",
    "s3_compatible_store",
    "s3_store",
]


# ---------------------------------------------------------------------- virtual chunk containers
_STORE_SCHEMES: dict[str, tuple[str, ...]] = {
    "local": ("file",),
    "s3": ("s3",),
    "s3_compatible": ("s3",),
    "http": ("http", "https"),
    "gcs": ("gs", "gcs"),
    "azure": ("az", "abfs", "abfss", "azure"),
    "memory": ("memory",),
}


@dataclass(frozen=True, slots=True)
class ObjectStoreConfig:
    """How a virtual chunk container is reached (never credentials: those are given when a
    repository is opened). Build one with :func:`local_filesystem_store`, :func:`s3_store`,
    :func:`http_store`, :func:`gcs_store`, :func:`azure_store` or :func:`fsspec_store`, or
    with the variant classes Icechunk scripts use, which are subclasses of this one:
    ``ObjectStoreConfig.LocalFileSystem(path)``, ``.S3(S3Options(...))``,
    ``.S3Compatible(S3Options(...))``, ``.Http(opts, headers)``, ``.Gcs(opts)``,
    ``.Azure(opts)`` and ``.InMemory()`` (fsspec's in-process ``memory://`` file system).
    Every store is an instance of its variant, so ``isinstance(store,
    ObjectStoreConfig.S3)`` tells what a saved container is."""

    # The variant classes, set below the class (they subclass it).
    InMemory: ClassVar[type[ObjectStoreConfig]]
    LocalFileSystem: ClassVar[type[ObjectStoreConfig]]
    S3: ClassVar[type[ObjectStoreConfig]]
    S3Compatible: ClassVar[type[ObjectStoreConfig]]
    Http: ClassVar[type[ObjectStoreConfig]]
    Gcs: ClassVar[type[ObjectStoreConfig]]
    Azure: ClassVar[type[ObjectStoreConfig]]

    kind: str
    """``local``, ``s3``, ``s3_compatible``, ``http``, ``gcs``, ``azure``, ``memory`` or
    ``fsspec``."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """JSON options of the store (endpoint, region, fsspec protocol and its options...)."""

    def __post_init__(self) -> None:
        if self.kind not in (*_STORE_SCHEMES, "fsspec"):
            raise bad(
                f"unknown virtual chunk container store type {self.kind!r}; build stores with "
                "frazil.local_filesystem_store, s3_store, http_store, gcs_store, azure_store "
                "or fsspec_store"
            )
        if not isinstance(self.options, Mapping):
            raise bad(f"ObjectStoreConfig options must be a dict, got {self.options!r}")
        try:
            text = json.dumps(dict(self.options), sort_keys=True)
        except (TypeError, ValueError):
            raise bad(f"ObjectStoreConfig options must be JSON values: {self.options!r}") from None
        object.__setattr__(self, "options", json.loads(text))

    @property
    def schemes(self) -> tuple[str, ...]:
        """URL schemes this store can reach."""
        if self.kind == "fsspec":
            return (str(self.options["protocol"]),)
        return _STORE_SCHEMES[self.kind]

    def to_json(self) -> dict[str, Any]:
        """The JSON form (for saving the config)."""
        return {"kind": self.kind, "options": dict(self.options)}

    @classmethod
    def from_json(cls, data: Any) -> ObjectStoreConfig:
        """Rebuild from :meth:`to_json` output."""
        if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
            raise bad(f"not a saved ObjectStoreConfig: {data!r}")
        return _store(data["kind"], dict(data.get("options") or {}))

    def __hash__(self) -> int:
        return hash((self.kind, json.dumps(dict(self.options), sort_keys=True)))


def _store(kind: str, options: Mapping[str, Any]) -> ObjectStoreConfig:
    """A store of ``kind`` as an instance of its variant class."""
    cls = _VARIANTS.get(kind, ObjectStoreConfig)
    store = object.__new__(cls)
    ObjectStoreConfig.__init__(store, kind, options)
    return store


def local_filesystem_store(path: str) -> ObjectStoreConfig:
    """A virtual chunk container on the local file system, rooted at ``path``."""
    return _store("local", {"path": check_text("local_filesystem_store path", str(path))})


def _s3_options(
    what: str,
    region: str | None,
    endpoint_url: str | None,
    allow_http: bool,
    anonymous: bool,
    force_path_style: bool,
    network_stream_timeout_seconds: int | None,
    requester_pays: bool,
) -> dict[str, Any]:
    for name, value in (
        ("allow_http", allow_http),
        ("anonymous", anonymous),
        ("force_path_style", force_path_style),
        ("requester_pays", requester_pays),
    ):
        check_bool(f"{what} {name}", value)
    if endpoint_url is not None and endpoint_url.startswith("http://") and not allow_http:
        raise bad(f"{what} endpoint_url {endpoint_url!r} is plain http: pass allow_http=True")
    options = {
        "region": region,
        "endpoint_url": endpoint_url,
        "allow_http": allow_http,
        "anonymous": anonymous,
        "force_path_style": force_path_style,
        "network_stream_timeout_seconds": network_stream_timeout_seconds,
        "requester_pays": requester_pays,
    }
    return {k: v for k, v in options.items() if v not in (None, False)}


def s3_store(
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    anonymous: bool = False,
    s3_compatible: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int | None = None,
    requester_pays: bool = False,
) -> ObjectStoreConfig:
    """A virtual chunk container in S3 or an S3-compatible service."""
    check_bool("s3_store s3_compatible", s3_compatible)
    options = _s3_options(
        "s3_store",
        region,
        endpoint_url,
        allow_http,
        anonymous,
        force_path_style,
        network_stream_timeout_seconds,
        requester_pays,
    )
    return _store("s3_compatible" if s3_compatible else "s3", options)


def s3_compatible_store(
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    anonymous: bool = False,
    force_path_style: bool = False,
) -> ObjectStoreConfig:
    """A virtual chunk container in an S3-compatible service (MinIO, R2, Tigris, ...)."""
    return s3_store(
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        anonymous=anonymous,
        s3_compatible=True,
        force_path_style=force_path_style,
    )


def http_store(
    opts: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> ObjectStoreConfig:
    """A virtual chunk container served over HTTP(S) (read-only byte ranges)."""
    return _store("http", {"opts": dict(opts or {}), "headers": dict(headers or {})})


def gcs_store(opts: Mapping[str, str] | None = None) -> ObjectStoreConfig:
    """A virtual chunk container in Google Cloud Storage (through gcsfs)."""
    return _store("gcs", {"opts": dict(opts or {})})


def azure_store(opts: Mapping[str, str] | None = None) -> ObjectStoreConfig:
    """A virtual chunk container in Azure Blob Storage (through adlfs)."""
    return _store("azure", {"opts": dict(opts or {})})


def fsspec_store(protocol: str, **options: Any) -> ObjectStoreConfig:
    """A virtual chunk container reached through any fsspec protocol that reads byte
    ranges; ``options`` go to ``fsspec.filesystem(protocol, **options)``."""
    return ObjectStoreConfig(
        "fsspec", {"protocol": check_text("fsspec_store protocol", protocol), "fs_options": options}
    )


# ------------------------------------------------------- the variant classes (Icechunk's shape)
_S3_CONNECTION = (
    "region",
    "endpoint_url",
    "allow_http",
    "anonymous",
    "force_path_style",
    "network_stream_timeout_seconds",
    "requester_pays",
)


def _connection(what: str, options: object) -> dict[str, Any]:
    """The connection fields of an ``S3Options``, refusing a bucket or credentials."""
    if not all(hasattr(options, name) for name in _S3_CONNECTION):
        raise bad(f"{what} takes frazil.S3Options(region=..., ...), got {options!r}")
    prefix: object = getattr(options, "prefix", None)
    if getattr(options, "bucket", None) is not None or prefix:
        raise bad(
            f"{what} options name a bucket or prefix: a virtual chunk container's URL "
            "prefix says where its chunks are, so pass S3Options without bucket= or prefix="
        )
    if getattr(options, "has_credentials", False) or getattr(options, "from_env", False):
        raise bad(
            f"{what} options carry credentials, which a repository's config never stores: "
            "give them when opening, with authorize_virtual_chunk_access="
            "containers_credentials({prefix: credentials})"
        )
    values = [getattr(options, name) for name in _S3_CONNECTION]
    return _s3_options(what, *values)


class _InMemory(ObjectStoreConfig):
    __slots__ = ()

    def __init__(self) -> None:
        ObjectStoreConfig.__init__(self, "memory", {})


class _LocalFileSystem(ObjectStoreConfig):
    __slots__ = ()

    def __init__(self, path: str) -> None:
        ObjectStoreConfig.__init__(
            self, "local", {"path": check_text("ObjectStoreConfig.LocalFileSystem path", path)}
        )


class _S3(ObjectStoreConfig):
    __slots__ = ()

    def __init__(self, options: object) -> None:
        ObjectStoreConfig.__init__(self, "s3", _connection("ObjectStoreConfig.S3", options))


class _S3Compatible(ObjectStoreConfig):
    __slots__ = ()

    def __init__(self, options: object) -> None:
        ObjectStoreConfig.__init__(
            self, "s3_compatible", _connection("ObjectStoreConfig.S3Compatible", options)
        )


class _Http(ObjectStoreConfig):
    __slots__ = ()

    def __init__(
        self, opts: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        ObjectStoreConfig.__init__(
            self, "http", {"opts": dict(opts or {}), "headers": dict(headers or {})}
        )


class _Gcs(ObjectStoreConfig):
    __slots__ = ()

    def __init__(self, opts: Mapping[str, str] | None = None) -> None:
        ObjectStoreConfig.__init__(self, "gcs", {"opts": dict(opts or {})})


class _Azure(ObjectStoreConfig):
    __slots__ = ()

    def __init__(self, opts: Mapping[str, str] | None = None) -> None:
        ObjectStoreConfig.__init__(self, "azure", {"opts": dict(opts or {})})


_VARIANTS: dict[str, type[ObjectStoreConfig]] = {}
for _name, _kind, _cls in (
    ("InMemory", "memory", _InMemory),
    ("LocalFileSystem", "local", _LocalFileSystem),
    ("S3", "s3", _S3),
    ("S3Compatible", "s3_compatible", _S3Compatible),
    ("Http", "http", _Http),
    ("Gcs", "gcs", _Gcs),
    ("Azure", "azure", _Azure),
):
    _cls.__name__ = _name
    _cls.__qualname__ = f"ObjectStoreConfig.{_name}"
    setattr(ObjectStoreConfig, _name, _cls)
    _VARIANTS[_kind] = _cls
del _name, _kind, _cls


def _normalized_prefix(url_prefix: object) -> str:
    prefix = check_text("VirtualChunkContainer url_prefix", url_prefix)
    scheme, sep, rest = prefix.partition("://")
    if not sep or not scheme or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise bad(
            f"virtual chunk container prefix {prefix!r} must be a URL with a scheme, like "
            "'s3://bucket/data/' or 'file:///data/netcdf/'"
        )
    if not prefix.endswith("/"):
        raise bad(
            f"virtual chunk container prefix {prefix!r} must end with '/', so that it "
            f"names a folder ({prefix + '/'!r}) and not every name starting with it"
        )
    if any(segment in (".", "..") for segment in rest.split("/")):
        raise bad(f"virtual chunk container prefix {prefix!r} has '.' or '..' segments")
    return prefix


@dataclass(frozen=True, slots=True)
class VirtualChunkContainer:
    """Where virtual chunks may live: a URL prefix and how to reach it.

    Parameters
    ----------
    url_prefix
        A URL ending with ``/``, like ``"s3://bucket/netcdf/"`` or ``"file:///data/"``.
    store
        How to reach it (:func:`s3_store`, :func:`local_filesystem_store`, ...).
    name
        An optional name for people.

    Raises
    ------
    InvalidInputError
        If the prefix does not end with ``/``, has no scheme or has ``..`` segments, or the
        store cannot reach its scheme.
    """

    url_prefix: str
    store: ObjectStoreConfig
    name: str | None = None

    def __post_init__(self) -> None:
        prefix = _normalized_prefix(self.url_prefix)
        check_instance(ObjectStoreConfig)("VirtualChunkContainer store", self.store)
        if self.name is not None:
            check_text("VirtualChunkContainer name", self.name)
        scheme = prefix.partition("://")[0]
        if scheme not in self.store.schemes:
            raise bad(
                f"virtual chunk container {prefix!r} has scheme {scheme!r}, which a "
                f"{self.store.kind!r} store cannot reach (it reaches "
                f"{', '.join(repr(s + '://') for s in self.store.schemes)})"
            )

    def to_json(self) -> dict[str, Any]:
        """The JSON form (for saving the config)."""
        return {"url_prefix": self.url_prefix, "name": self.name, "store": self.store.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> VirtualChunkContainer:
        """Rebuild from :meth:`to_json` output."""
        if not isinstance(data, Mapping):
            raise bad(f"not a saved VirtualChunkContainer: {data!r}")
        return cls(data["url_prefix"], ObjectStoreConfig.from_json(data["store"]), data.get("name"))


def containers(name: str, value: object) -> dict[str, VirtualChunkContainer]:
    items = value.values() if isinstance(value, Mapping) else value
    if isinstance(items, str) or not hasattr(items, "__iter__"):
        raise bad(f"{name} must be a list (or dict by prefix) of VirtualChunkContainer")
    out: dict[str, VirtualChunkContainer] = {}
    for container in items:  # type: ignore[attr-defined,unused-ignore]
        check_instance(VirtualChunkContainer)(f"{name} entry", container)
        check_overlap(out, container)
        out[container.url_prefix] = container
    return out


def check_overlap(
    existing: Mapping[str, VirtualChunkContainer], new: VirtualChunkContainer
) -> None:
    for prefix in existing:
        if prefix != new.url_prefix and (
            prefix.startswith(new.url_prefix) or new.url_prefix.startswith(prefix)
        ):
            raise bad(
                f"virtual chunk container {new.url_prefix!r} overlaps {prefix!r}: a chunk "
                "location would match both, so which one's store and credentials apply is "
                "ambiguous. Use disjoint prefixes (or replace the container with the same "
                "prefix)."
            )
