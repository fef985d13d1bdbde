"""frazil under Icechunk's names, for running Icechunk's test suite against frazil."""

from __future__ import annotations

import importlib

import frazil
from icechunk._alias import RENAMES

# Icechunk's tests gate its 2.x API (spec versions, allow_empty, ...) on the version
# number: the shim presents frazil through the Icechunk 2.3 API, so it reports that.
__version__ = "2.3.0"
frazil_version = frazil.__version__

_SUBMODULES = frozenset(
    {
        "config",
        "conflicts",
        "credentials",
        "dask",
        "distributed",
        "ops",
        "repository",
        "session",
        "snapshots",
        "stats",
        "storage",
        "store",
        "testing",
        "types",
        "virtual",
        "xarray",
    }
)


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:  # icechunk.config etc. after a bare "import icechunk"
        return importlib.import_module(f"icechunk.{name}")
    try:
        return getattr(frazil, RENAMES.get(name, name))
    except AttributeError:
        raise AttributeError(f"module 'icechunk' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *dir(frazil), *RENAMES} - set(RENAMES.values()))
