"""frazil under Icechunk's names, for running Icechunk's test suite against frazil."""

from __future__ import annotations

import importlib

import frazil
from icechunk._alias import RENAMES

__version__ = frazil.__version__

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
