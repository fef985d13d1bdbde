"""Icechunk's compiled-module namespace, served from frazil's public modules."""

from icechunk._alias import lookup

__getattr__ = lookup(
    (
        "frazil",
        "frazil.config",
        "frazil.storage",
        "frazil.session",
        "frazil.repository",
        "frazil.testing",  # LatencyStorage, which icechunk.testing imports from here
    ),
    "icechunk._icechunk_python",
)


def _all_error_kinds() -> list[str]:
    """Icechunk's test compares its Python enum with its Rust core's kinds. frazil has no
    native core, so that one comparison fails honestly; the rest of the file still runs."""
    raise NotImplementedError("frazil has no native core whose error kinds could be listed")
