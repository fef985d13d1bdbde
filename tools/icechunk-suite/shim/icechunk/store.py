"""``icechunk.store``: ``frazil.store`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.store",), "icechunk.store")
