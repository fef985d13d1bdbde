"""``icechunk.conflicts``: ``frazil.conflicts`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.conflicts",), "icechunk.conflicts")
