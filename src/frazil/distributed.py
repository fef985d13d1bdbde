"""Helpers for distributed writes with any executor.

Examples
--------
>>> from concurrent.futures import ProcessPoolExecutor
>>> forks = [session.fork() for _ in range(4)]  # doctest: +SKIP
>>> with ProcessPoolExecutor() as pool:  # doctest: +SKIP
...     written = list(pool.map(write_part, forks, range(4)))
>>> session.merge(merge_sessions(*written))  # doctest: +SKIP
>>> session.commit("parallel write")  # doctest: +SKIP
"""

from __future__ import annotations

from frazil._distributed import merge_sessions

__all__ = ["merge_sessions"]
