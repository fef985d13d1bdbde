"""``icechunk.config``: ``frazil.config`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.config",), "icechunk.config")
