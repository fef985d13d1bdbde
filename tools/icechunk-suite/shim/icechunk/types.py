"""``icechunk.types``: ``frazil.types`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.types",), "icechunk.types")
