"""Object ids: 12 random bytes, printed as 20 characters of Crockford base32."""

from __future__ import annotations

import os

from frazil._errors import ErrorKind, InvalidInputError

__all__ = [
    "ID_BYTES",
    "ID_CHARS",
    "decode_id",
    "encode_id",
    "is_id",
    "looks_like_id",
    "new_id",
    "new_id_bytes",
]

ID_BYTES = 12
ID_CHARS = 20
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {ch: i for i, ch in enumerate(_ALPHABET)}


def new_id_bytes() -> bytes:
    """Return 12 fresh random bytes."""
    return os.urandom(ID_BYTES)


def encode_id(raw: bytes) -> str:
    """Print 12 id bytes as 20 Crockford base32 characters."""
    value = int.from_bytes(raw, "big")
    chars = []
    for _ in range(ID_CHARS):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    """Return a fresh random id as text."""
    return encode_id(new_id_bytes())


def is_id(text: object) -> bool:
    """Whether ``text`` is a well-formed id."""
    return (
        isinstance(text, str)
        and len(text) == ID_CHARS
        and all(ch in _DECODE for ch in text)
        and _DECODE[text[0]] < 2  # 20 x 5 bits hold 96 bits only if the top 4 are 0
    )


def looks_like_id(text: object) -> bool:
    """Whether ``text`` is spelled like an id (it may still name no possible object)."""
    return isinstance(text, str) and len(text) == ID_CHARS and all(ch in _DECODE for ch in text)


def decode_id(text: str, *, what: str = "id") -> bytes:
    """Parse a 20-character id back into its 12 bytes.

    Raises
    ------
    InvalidInputError
        If ``text`` is not a well-formed id; the message names it.
    """
    if not is_id(text):
        raise InvalidInputError(
            f"invalid {what} {text!r}: expected 20 characters of Crockford base32 "
            "(digits and upper-case letters without I, L, O, U)",
            kind=ErrorKind.INVALID_SNAPSHOT_ID,
        )
    value = 0
    for ch in text:
        value = (value << 5) | _DECODE[ch]
    return value.to_bytes(ID_BYTES, "big")
