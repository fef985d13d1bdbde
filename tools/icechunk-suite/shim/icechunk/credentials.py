"""``icechunk.credentials``: ``frazil.credentials`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.credentials",), "icechunk.credentials")
