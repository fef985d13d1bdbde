"""CRC-32C checksums, with the C implementation loaded on first use.

The ``crc32c`` package imports ``importlib.metadata`` when it loads (about 20 ms), so it is
not loaded until the first checksum is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["crc32c"]

_impl: Callable[..., int] | None = None


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C of ``data``, continuing from ``value``."""
    global _impl
    if _impl is None:
        from crc32c import crc32c as impl

        _impl = impl
    return _impl(data, value)
