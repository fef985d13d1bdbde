"""``icechunk.repository``: ``frazil.repository`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.repository",), "icechunk.repository")
