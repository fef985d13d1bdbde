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
