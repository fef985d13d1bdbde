"""Name lookup shared by the shim modules: frazil names seen through Icechunk's spelling."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

RENAMES = {
    "IcechunkStore": "FrazilStore",
    "IcechunkError": "FrazilError",
    "to_icechunk": "to_frazil",
}
"""Icechunk name -> frazil name; every other name is looked up unchanged."""


def lookup(modules: tuple[str, ...], owner: str) -> Callable[[str], object]:
    """A module ``__getattr__`` that finds *name* in the first of *modules* that has it.

    The frazil modules are imported when the shim module is, so a missing frazil module
    fails the import the way a missing Icechunk module would.
    """
    loaded: list[ModuleType] = [importlib.import_module(m) for m in modules]

    def __getattr__(name: str) -> object:
        target = RENAMES.get(name, name)
        for module in loaded:
            try:
                return getattr(module, target)
            except AttributeError:
                continue
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")

    return __getattr__
