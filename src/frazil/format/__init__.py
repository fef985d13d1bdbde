"""The on-storage format: ids, keys, envelopes and the stored objects.

Internal: layers above use these names; users do not. ``docs/design/001-format.md``
describes the format and how it evolves.
"""

from __future__ import annotations

from frazil.format import layout
from frazil.format._chunkrefs import (
    ChunkRefs,
    RefIndex,
    RefKind,
    coord_keys,
    locations_from_json,
    locations_to_json,
    pin_location,
    split_location,
)
from frazil.format._envelope import (
    FORMAT_VERSION,
    Compression,
    ObjectKind,
    decode_document,
    encode_document,
    envelope_header,
)
from frazil.format._ids import decode_id, encode_id, is_id, looks_like_id, new_id, new_id_bytes
from frazil.format._objects import (
    ANCESTOR_WINDOW,
    CommitInfo,
    Manifest,
    ManifestRef,
    ManifestSegment,
    NodeRecord,
    RefDoc,
    RepoDoc,
    Snapshot,
    TransactionLog,
    datetime_to_micros,
    micros_to_datetime,
)
from frazil.format._spec import (
    SpecVersion,
    check_spec_version,
    spec_version,
    supported_spec_versions,
)

__all__ = [
    "ANCESTOR_WINDOW",
    "FORMAT_VERSION",
    "ChunkRefs",
    "CommitInfo",
    "Compression",
    "Manifest",
    "ManifestRef",
    "ManifestSegment",
    "NodeRecord",
    "ObjectKind",
    "RefDoc",
    "RefIndex",
    "RefKind",
    "RepoDoc",
    "Snapshot",
    "SpecVersion",
    "TransactionLog",
    "check_spec_version",
    "coord_keys",
    "datetime_to_micros",
    "decode_document",
    "decode_id",
    "encode_document",
    "encode_id",
    "envelope_header",
    "is_id",
    "layout",
    "locations_from_json",
    "locations_to_json",
    "looks_like_id",
    "micros_to_datetime",
    "new_id",
    "new_id_bytes",
    "pin_location",
    "spec_version",
    "split_location",
    "supported_spec_versions",
]
