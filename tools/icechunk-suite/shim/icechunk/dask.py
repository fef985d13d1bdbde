"""``icechunk.dask``: ``frazil.dask`` with Icechunk's names."""

from icechunk._alias import lookup

__getattr__ = lookup(("frazil.dask",), "icechunk.dask")
