"""``icechunk.storage``: ``frazil.storage`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.storage",), "icechunk.storage")
