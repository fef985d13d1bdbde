"""``icechunk.virtual``: ``frazil.virtual`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.virtual",), "icechunk.virtual")
