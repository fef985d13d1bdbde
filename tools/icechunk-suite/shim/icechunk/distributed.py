"""``icechunk.distributed``: ``frazil.distributed`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.distributed",), "icechunk.distributed")
