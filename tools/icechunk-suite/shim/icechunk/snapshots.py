"""``icechunk.snapshots``: ``frazil.snapshots`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.snapshots",), "icechunk.snapshots")
