"""``icechunk.ops``: ``frazil.ops`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.ops",), "icechunk.ops")
