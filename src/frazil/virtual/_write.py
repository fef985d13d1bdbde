"""Writing VirtualiZarr virtual datasets and kerchunk references into a frazil store."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from frazil._errors import ErrorKind, InvalidInputError
from frazil._session import FrazilStore
from frazil._sync import sync

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["import_kerchunk", "write_virtual_dataset"]

_INLINED = "__inlined__"
"""VirtualiZarr's path of chunks whose bytes are held in the manifest itself."""
_CF_ENCODING = ("units", "calendar", "scale_factor", "add_offset", "_FillValue", "missing_value")
"""Encoding entries that xarray needs back as attributes to decode the values."""


def _bad(message: str) -> InvalidInputError:
    return InvalidInputError(message, kind=ErrorKind.INVALID_ARGUMENT)


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def write_virtual_dataset(
    vds: xr.Dataset,
    store: FrazilStore,
    *,
    group: str | None = None,
    append_dim: str | None = None,
    last_updated_at: datetime.datetime | None = None,
    validate_containers: bool = True,
) -> None:
    """Write a virtual dataset (VirtualiZarr ``ManifestArray`` variables) into ``store``.

    Each virtual variable becomes an array whose chunks are virtual references, recorded
    with one vectorised :meth:`~frazil.FrazilStore.set_virtual_refs_arr` call per
    manifest; other variables (VirtualiZarr's ``loadable_variables``) are written as data.

    Parameters
    ----------
    vds
        What ``virtualizarr.open_virtual_dataset`` returns (or a combination of them).
    store
        A writable session's store.
    group
        The group to write into (default: the root).
    append_dim
        Append along this dimension to arrays written before (their chunk grids must
        end on a whole chunk along it).
    last_updated_at
        Pin every source: reading fails if a file was modified after this time
        (default: one second from now, so files modified later are caught).
    validate_containers
        Refuse references outside the repository's virtual chunk containers.

    Raises
    ------
    InvalidInputError
        If ``store`` is not a frazil store, ``append_dim`` is no dimension of the dataset,
        the arrays to append to do not match, or references fall outside every container.
    """
    import xarray as xr
    import zarr
    from virtualizarr.manifests import ManifestArray

    if not isinstance(store, FrazilStore):
        raise _bad(
            f"write_virtual_dataset writes into a frazil store, got {type(store).__name__!r}"
        )
    if append_dim is not None and append_dim not in vds.dims:
        raise _bad(f"append_dim {append_dim!r} is no dimension of the dataset {tuple(vds.dims)}")
    when = last_updated_at or datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    prefix = (group or "").strip("/")
    root = zarr.open_group(store, path=prefix, mode="a", zarr_format=3)
    virtual = {str(k): v for k, v in vds.variables.items() if isinstance(v.data, ManifestArray)}
    loadable = {k: v for k, v in vds.variables.items() if str(k) not in virtual}
    if loadable:
        xr.Dataset(loadable).to_zarr(
            store,
            group=prefix or None,
            zarr_format=3,
            consolidated=False,
            mode="a" if append_dim is None else None,
            append_dim=append_dim if append_dim is not None else None,
        )
    for name, var in virtual.items():
        _write_variable(store, root, prefix, name, var, append_dim, when, validate_containers)
    root.attrs.update({k: _json_value(v) for k, v in vds.attrs.items()})


def _write_variable(
    store: FrazilStore,
    root: Any,
    prefix: str,
    name: str,
    var: xr.Variable,
    append_dim: str | None,
    when: datetime.datetime,
    validate: bool,
) -> None:
    from zarr.core.buffer import default_buffer_prototype

    marr = var.data
    metadata = marr.metadata
    path = f"{prefix}/{name}" if prefix else name
    dims = [str(d) for d in var.dims]
    offset = [0] * len(dims)
    existing = root.get(name) if name in root else None
    if append_dim is not None and append_dim in dims and existing is not None:
        axis = dims.index(append_dim)
        chunk = int(existing.chunks[axis])
        same = (
            existing.dtype == marr.dtype
            and tuple(existing.chunks) == tuple(metadata.chunks)
            and all(
                a == b
                for i, (a, b) in enumerate(zip(existing.shape, marr.shape, strict=True))
                if i != axis
            )
        )
        if not same:
            raise _bad(
                f"cannot append {name!r} along {append_dim!r}: its dtype, chunks or other "
                f"dimensions differ from the stored array's ({existing.dtype}, "
                f"{existing.chunks}, {existing.shape} vs {marr.dtype}, {metadata.chunks}, "
                f"{marr.shape})"
            )
        if existing.shape[axis] % chunk:
            raise _bad(
                f"cannot append to {name!r} along {append_dim!r}: its length "
                f"{existing.shape[axis]} is not a whole number of chunks of {chunk}"
            )
        offset[axis] = existing.shape[axis] // chunk
        shape = list(existing.shape)
        shape[axis] += marr.shape[axis]
        existing.resize(tuple(shape))
    else:
        attrs = {k: _json_value(v) for k, v in var.attrs.items()}
        attrs.update({k: _json_value(var.encoding[k]) for k in _CF_ENCODING if k in var.encoding})
        meta = dataclasses.replace(metadata, dimension_names=tuple(dims), attributes=attrs)
        document = meta.to_buffer_dict(default_buffer_prototype())["zarr.json"]
        sync(store.set(f"{path}/zarr.json", document))
    manifest = marr.manifest
    paths = np.asarray(manifest._paths).reshape(-1)
    if paths.dtype.kind == "T":  # StringDType: to fixed width, vectorised
        width = int(np.strings.str_len(paths).max()) if paths.size else 1
        paths = paths.astype(f"U{max(width, 1)}")
    inlined: dict[tuple[int, ...], bytes] = dict(getattr(manifest, "_inlined", {}) or {})
    if inlined:
        encoding = "/".join  # zarr v3 default chunk keys: c/i/j
        for index, data in inlined.items():  # inlined chunks are few and small
            coords = [int(i) + o for i, o in zip(index, offset, strict=True)]
            key = f"{path}/c/{encoding(str(c) for c in coords)}" if coords else f"{path}/c"
            sync(store.set(key, default_buffer_prototype().buffer.from_bytes(data)))
        paths = np.where(paths == _INLINED, "", paths)
    grid = tuple(int(g) for g in manifest.shape_chunk_grid)
    if not math.prod(grid) or not bool((paths != "").any()):
        return
    failed = store.set_virtual_refs_arr(
        "/" + path,
        grid,
        paths,
        np.asarray(manifest._offsets).reshape(-1),
        np.asarray(manifest._lengths).reshape(-1),
        arr_offset=tuple(offset) if any(offset) else None,
        checksum=when,
        validate_containers=validate,
    )
    if failed:
        raise _bad(
            f"{len(failed)} references of {name!r} point outside every virtual chunk "
            f"container of the repository (first at chunk {failed[0]}); declare their "
            "container with config.set_virtual_chunk_container(...) and save the config"
        )


def _load_refs(refs: object) -> dict[str, Any]:
    if isinstance(refs, dict):
        return refs
    if isinstance(refs, str | os.PathLike):
        where = os.fspath(refs)
        if os.path.isdir(where) or where.endswith((".parq", ".parquet")):
            from fsspec.implementations.reference import LazyReferenceMapper

            mapper = LazyReferenceMapper(where)
            out: dict[str, Any] = {}
            for key in mapper:
                value = mapper[key]
                out[key] = value.decode() if isinstance(value, bytes) else value
            return {"version": 1, "refs": out}
        import fsspec

        with fsspec.open(where, "rt") as f:
            loaded = json.load(f)
        if not isinstance(loaded, dict):
            raise _bad(f"{where!r} holds no kerchunk references (a JSON object)")
        return loaded
    raise _bad(
        f"import_kerchunk takes a reference dict, a JSON file path or a parquet reference "
        f"folder, got {type(refs).__name__!r}"
    )


def import_kerchunk(
    refs: dict[str, Any] | str | os.PathLike[str],
    store: FrazilStore,
    *,
    group: str | None = None,
    last_updated_at: datetime.datetime | None = None,
    validate_containers: bool = True,
) -> None:
    """Write kerchunk references (arrays, attributes and chunk references) into ``store``.

    Parameters
    ----------
    refs
        Kerchunk references: a dict (``{"version": 1, "refs": {...}}`` or the bare
        ``refs`` mapping), a path or URL of a JSON file, or a parquet reference folder.
    store
        A writable session's store.
    group
        The group to write into (default: the root).
    last_updated_at, validate_containers
        As for :func:`write_virtual_dataset`.

    Raises
    ------
    InvalidInputError
        If ``refs`` holds no kerchunk references, or as for :func:`write_virtual_dataset`.
    """
    from virtualizarr.parsers.kerchunk.translator import manifestgroup_from_kerchunk_refs

    loaded = _load_refs(refs)
    if "refs" not in loaded:
        loaded = {"version": 1, "refs": loaded}
    if not isinstance(loaded["refs"], dict) or not loaded["refs"]:
        raise _bad("the kerchunk references hold no 'refs' entries")
    try:
        group_refs = manifestgroup_from_kerchunk_refs(loaded)  # type: ignore[arg-type]
        vds = group_refs.to_virtual_dataset()
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"cannot read these kerchunk references: {exc}") from exc
    write_virtual_dataset(
        vds,
        store,
        group=group,
        last_updated_at=last_updated_at,
        validate_containers=validate_containers,
    )
