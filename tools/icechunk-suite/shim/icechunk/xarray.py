"""``icechunk.xarray``: ``frazil.xarray`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.xarray",), "icechunk.xarray")
