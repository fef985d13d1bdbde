"""``icechunk.stats``: ``frazil.stats`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.stats",), "icechunk.stats")
