"""``icechunk.session``: ``frazil.session`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.session",), "icechunk.session")
