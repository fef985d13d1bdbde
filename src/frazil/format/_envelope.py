"""The envelope around every stored metadata object, and the document codec inside it.

Envelope (little-endian)::

    offset size field
    0      4    magic  b"FRZL"
    4      1    format version (1)
    5      1    object kind (ObjectKind)
    6      1    compression (0 none, 1 zstd)
    7      1    reserved, 0
    8      4    crc32c over bytes 0..7, 12..19 and the payload
    12     8    payload length
    20     ...  payload (compressed document)

A document is a JSON header plus named NumPy columns laid out after it, each 8-byte
aligned, so decoding is one decompression and zero-copy ``frombuffer`` views::

    u32 header length | header JSON | padding | column bytes ...
    header = {"doc": {...}, "cols": [[name, dtype, shape, offset, nbytes], ...]}

Only plain numeric dtypes are accepted: nothing stored is ever unpickled.
"""

from __future__ import annotations

import enum
import json
import math
import struct
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import zstandard

from frazil._checksum import crc32c
from frazil._errors import ErrorKind, FormatError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FORMAT_VERSION",
    "Compression",
    "ObjectKind",
    "decode_document",
    "encode_document",
    "envelope_header",
]

FORMAT_VERSION = 1
_MAGIC = b"FRZL"
_HEADER = struct.Struct("<4sBBBBIQ")
_ALLOWED_DTYPES = frozenset({"|u1", "|i1", "|b1", "<u4", "<i4", "<u8", "<i8", "<f8", "<u2"})


class ObjectKind(enum.IntEnum):
    """What an enveloped object holds; a reader refuses a kind it did not ask for."""

    REPO = 1
    CONFIG = 2
    SNAPSHOT = 3
    MANIFEST = 4
    TRANSACTION = 5
    REF = 6
    CHANGESET = 7
    JOB = 8
    UPDATE = 9
    """One entry of the operations log."""
    REPO_INFO = 10


class Compression(enum.IntEnum):
    """Payload compression."""

    NONE = 0
    ZSTD = 1


_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    comp = cache.get(level)
    if comp is None:
        comp = cache[level] = zstandard.ZstdCompressor(level=level)
    return comp


def _decompressor() -> zstandard.ZstdDecompressor:
    dec: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if dec is None:
        dec = _local.decompressor = zstandard.ZstdDecompressor()
    return dec


def encode_document(
    kind: ObjectKind,
    doc: Mapping[str, Any],
    columns: Mapping[str, np.ndarray[Any, Any]] | None = None,
    *,
    compression: Compression = Compression.ZSTD,
    level: int = 3,
) -> bytes:
    """Serialise a JSON document with NumPy columns into an enveloped object."""
    cols: list[list[Any]] = []
    buffers: list[bytes | memoryview] = []
    offset = 0
    for name, array in (columns or {}).items():
        arr = np.ascontiguousarray(array)
        dtype = arr.dtype.str
        if dtype not in _ALLOWED_DTYPES:
            arr = arr.astype(arr.dtype.newbyteorder("<"))
            dtype = arr.dtype.str
        nbytes = arr.nbytes
        cols.append([name, dtype, list(arr.shape), offset, nbytes])
        buffers.append(memoryview(arr).cast("B") if nbytes else b"")
        pad = (-nbytes) % 8
        if pad:
            buffers.append(b"\x00" * pad)
        offset += nbytes + pad
    header = json.dumps(
        {"doc": doc, "cols": cols}, separators=(",", ":"), ensure_ascii=False
    ).encode()
    pad = (-(4 + len(header))) % 8
    payload = b"".join([struct.pack("<I", len(header)), header, b"\x00" * pad, *buffers])
    if compression == Compression.ZSTD:
        payload = _compressor(level).compress(payload)
    head = _HEADER.pack(_MAGIC, FORMAT_VERSION, int(kind), int(compression), 0, 0, len(payload))
    crc = crc32c(head[12:20], crc32c(head[:8]))
    crc = crc32c(payload, crc)
    return head[:8] + struct.pack("<I", crc) + head[12:20] + payload


def decode_document(
    data: bytes, *, key: str, kind: ObjectKind
) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """Check and decode an enveloped object written by :func:`encode_document`.

    Raises
    ------
    FormatError
        Naming ``key``, if the object is foreign, corrupt, of another kind, or of a format
        version this frazil does not understand.
    """
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        raise FormatError(
            f"object {key!r} is not a frazil object (bad magic bytes)",
            key=key,
            kind=ErrorKind.FOREIGN_OBJECT,
        )
    _, version, found_kind, compression, _reserved, crc, length = _HEADER.unpack_from(data)
    payload = memoryview(data)[_HEADER.size :]
    expected = crc32c(data[12:20], crc32c(data[:8]))
    expected = crc32c(payload, expected)
    if expected != crc or length != len(payload):
        raise FormatError(
            f"object {key!r} is corrupt: checksum mismatch (crc32c) or truncated", key=key
        )
    if version != FORMAT_VERSION:
        raise FormatError(
            f"object {key!r} has format version {version}, but this frazil reads only "
            f"version {FORMAT_VERSION}; upgrade frazil to read it",
            key=key,
            kind=ErrorKind.UNSUPPORTED_FORMAT_VERSION,
        )
    if found_kind != int(kind):
        raise FormatError(
            f"object {key!r} holds a {_kind_name(found_kind)}, expected a {kind.name.lower()}",
            key=key,
        )
    try:
        if compression == Compression.ZSTD:
            raw = _decompressor().decompress(payload)
        elif compression == Compression.NONE:
            raw = bytes(payload)
        else:
            raise FormatError(f"object {key!r} uses unknown compression {compression}", key=key)
        (header_len,) = struct.unpack_from("<I", raw)
        header = json.loads(bytes(raw[4 : 4 + header_len]))
        base = 4 + header_len + ((-(4 + header_len)) % 8)
        columns: dict[str, np.ndarray[Any, Any]] = {}
        for name, dtype, shape, offset, nbytes in header["cols"]:
            if dtype not in _ALLOWED_DTYPES or offset < 0 or base + offset + nbytes > len(raw):
                raise FormatError(f"object {key!r} has a malformed column {name!r}", key=key)
            count = math.prod(shape)
            if count < 0 or not all(isinstance(n, int) for n in shape):
                raise FormatError(f"object {key!r} has a malformed column {name!r}", key=key)
            arr = np.frombuffer(raw, dtype=np.dtype(dtype), count=count, offset=base + offset)
            columns[str(name)] = arr.reshape(shape)
        doc = header["doc"]
        if not isinstance(doc, dict):
            raise FormatError(f"object {key!r} has a malformed header", key=key)
    except FormatError:
        raise
    except (ValueError, KeyError, TypeError, struct.error, zstandard.ZstdError) as exc:
        raise FormatError(f"object {key!r} could not be decoded: {exc}", key=key) from exc
    return doc, columns


def envelope_header(data: bytes) -> dict[str, Any]:
    """What an object's envelope says, for inspection: ``spec_version`` (the format version
    it was written in), ``file_type`` and ``compression``. Nothing is checked here (that is
    :func:`decode_document`'s job); an object too short for an envelope gives ``{}``."""
    if len(data) < _HEADER.size:
        return {}
    _, version, kind, compression, *_ = _HEADER.unpack_from(data)
    try:
        found = ObjectKind(kind)
    except ValueError:
        file_type = f"unknown-{kind}"
    else:  # Icechunk's words where the objects correspond
        file_type = "transaction-log" if found is ObjectKind.TRANSACTION else found.name
        file_type = file_type.lower().replace("_", "-")
    try:
        algorithm = Compression(compression).name.lower()
    except ValueError:
        algorithm = f"unknown-{compression}"
    return {"spec_version": str(version), "file_type": file_type, "compression": algorithm}


def _kind_name(kind: int) -> str:
    try:
        return ObjectKind(kind).name.lower()
    except ValueError:
        return f"object of unknown kind {kind}"
