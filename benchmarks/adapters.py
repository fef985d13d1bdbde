"""One adapter per system under test: frazil (local disk, moto S3), Icechunk, plain Zarr.

Each adapter runs a workload's steps through the system's own API: its sessions, its
``store_dask``, its fork/merge. Plain Zarr has no transactions: its commits are no-ops and
it takes no part in the fork and concurrency workloads.
"""

from __future__ import annotations

import importlib
import os
import pickle
import uuid
from typing import Any

import zarr

__all__ = ["ADAPTERS", "Adapter", "adapter_for"]


class Adapter:
    """The operations a workload needs, for one system."""

    name = "?"
    transactional = True

    def __init__(self, root: str, options: dict[str, Any]) -> None:
        self.root = root
        self.options = options

    # repository life cycle
    def create(self, *, compression: str | None = None) -> None:
        raise NotImplementedError

    def reopen_cold(self) -> None:
        """Drop every cache, as a new process would."""
        raise NotImplementedError

    # sessions
    def writable(self) -> Any:
        raise NotImplementedError

    def store(self, session: Any) -> Any:
        return session.store

    def readonly_store(self) -> Any:
        raise NotImplementedError

    def commit(self, session: Any, message: str) -> None:
        raise NotImplementedError

    def ancestry(self) -> list[Any]:
        raise NotImplementedError

    # distribution
    def fork(self, session: Any) -> Any:
        return session.fork()

    def merge(self, session: Any, forks: list[Any]) -> None:
        session.merge(*forks)

    def merge_tree(self, session: Any, forks: list[Any], fan_in: int) -> None:
        """Merge forks pairwise-up in a tree (``fan_in`` at a time), as a reduction on
        workers would, then into the session."""
        raise NotImplementedError

    def store_dask(self, session: Any, source: Any, path: str) -> None:
        raise NotImplementedError

    def pickled_size(self, obj: Any) -> int:
        return len(pickle.dumps(obj))

    def bulk_refs(self, session: Any, path: str, coords: Any, data: bytes) -> None:
        raise NotImplementedError

    def commit_with_rebase(self, session: Any, message: str) -> int:
        """Commit retrying through a rebase; returns attempts if known (else -1)."""
        raise NotImplementedError

    def storage_ops(self) -> int | None:
        """Storage operations since the last reset, if the system can count them."""
        return None

    def reset_ops(self) -> None:
        return None


def moto_s3_options(options: dict[str, Any]) -> dict[str, Any]:
    """The ``s3_storage`` keywords (frazil's and Icechunk's alike) for the local moto server."""
    return {
        "bucket": options["s3_bucket"],
        "prefix": options["s3_prefix"],
        "region": "us-east-1",
        "endpoint_url": options["s3_endpoint"],
        "allow_http": True,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }


class SessionAdapter(Adapter):
    """frazil and Icechunk share one session API, so one adapter drives both; only the
    package and the storage differ."""

    package = "?"

    def _storage(self) -> Any:
        raise NotImplementedError

    def _module(self, name: str = "") -> Any:
        return importlib.import_module(f"{self.package}{name}")

    def create(self, *, compression: str | None = None) -> None:
        self._module(".dask")  # imported before any timing, as for every system
        self.repo = self._module().Repository.create(self._storage())

    def reopen_cold(self) -> None:
        # a fresh storage object and fresh caches: nothing is shared with before
        self.drop_caches()
        self.repo = self._module().Repository.open(self._storage())

    def drop_caches(self) -> None:
        """Forget what the process caches beyond a Repository object (none by default)."""

    def writable(self) -> Any:
        return self.repo.writable_session("main")

    def readonly_store(self) -> Any:
        return self.repo.readonly_session("main").store

    def commit(self, session: Any, message: str) -> None:
        session.commit(message)

    def commit_with_rebase(self, session: Any, message: str) -> int:
        session.commit(message, rebase_with=self._module().BasicConflictSolver())
        return int(getattr(session, "commit_attempts", -1))

    def ancestry(self) -> list[Any]:
        return list(self.repo.ancestry(branch="main"))

    def store_dask(self, session: Any, source: Any, path: str) -> None:
        fork = session.fork()
        target = zarr.open_array(fork.store, path=path)
        session.merge(self._module(".dask").store_dask(sources=[source], targets=[target]))

    def merge_tree(self, session: Any, forks: list[Any], fan_in: int) -> None:
        merge_sessions = self._module(".distributed").merge_sessions
        level = list(forks)
        while len(level) > 1:
            level = [merge_sessions(*level[i : i + fan_in]) for i in range(0, len(level), fan_in)]
        session.merge(*level)


class FrazilAdapter(SessionAdapter):
    name = "frazil"
    package = "frazil"

    def __init__(self, root: str, options: dict[str, Any]) -> None:
        super().__init__(root, options)
        # one S3 prefix per repository, kept across reopenings (and across processes)
        self.options.setdefault("s3_prefix", f"bench-{uuid.uuid4().hex[:12]}")
        self.counting: Any = None
        self._testing()

    def drop_caches(self) -> None:
        # frazil shares a repository's caches among all its Repository objects in a
        # process, so a new object alone would read warm
        self._testing().drop_caches()

    @staticmethod
    def _testing() -> Any:
        # loaded when the adapter is made, so that no timed step that reopens a
        # repository pays for the import
        import frazil.testing

        return frazil.testing

    def _storage(self) -> Any:
        import frazil

        if "s3_endpoint" in self.options:
            inner = frazil.s3_storage(**moto_s3_options(self.options))
        else:
            inner = frazil.local_filesystem_storage(self.root)
        self.counting = None
        if self.options.get("count_ops"):
            from frazil.testing import CountingStorage

            self.counting = CountingStorage(inner)
            return self.counting
        return inner

    def bulk_refs(self, session: Any, path: str, coords: Any, data: bytes) -> None:
        from frazil.testing import bulk_chunk_refs

        bulk_chunk_refs(session, "/" + path, coords, data)

    def storage_ops(self) -> int | None:
        return int(self.counting.total()) if self.counting is not None else None

    def reset_ops(self) -> None:
        if self.counting is not None:
            self.counting.reset()


class FrazilS3Adapter(FrazilAdapter):
    name = "frazil-s3"


class IcechunkAdapter(SessionAdapter):
    name = "icechunk"
    package = "icechunk"

    def _storage(self) -> Any:
        import icechunk

        return icechunk.local_filesystem_storage(self.root)

    def bulk_refs(self, session: Any, path: str, coords: Any, data: bytes) -> None:
        from icechunk import VirtualChunkSpec

        specs = [
            VirtualChunkSpec(
                index=list(c), location="file:///nonexistent", offset=0, length=len(data)
            )
            for c in coords.tolist()
        ]
        session.store.set_virtual_refs(path, specs, validate_containers=False)


class IcechunkS3Adapter(IcechunkAdapter):
    """Icechunk on the same local moto S3 server as ``frazil-s3``."""

    name = "icechunk-s3"

    def __init__(self, root: str, options: dict[str, Any]) -> None:
        super().__init__(root, options)
        self.options.setdefault("s3_prefix", f"bench-ic-{uuid.uuid4().hex[:12]}")

    def _storage(self) -> Any:
        import icechunk

        return icechunk.s3_storage(**moto_s3_options(self.options), force_path_style=True)


class ZarrAdapter(Adapter):
    name = "zarr"
    transactional = False

    def create(self, *, compression: str | None = None) -> None:

        os.makedirs(self.root, exist_ok=True)

    def reopen_cold(self) -> None:
        return None

    def writable(self) -> Any:
        return None

    def store(self, session: Any) -> Any:
        return zarr.storage.LocalStore(self.root)

    def readonly_store(self) -> Any:
        return zarr.storage.LocalStore(self.root, read_only=True)

    def commit(self, session: Any, message: str) -> None:
        return None

    def store_dask(self, session: Any, source: Any, path: str) -> None:
        import dask.array as da

        da.store(source, zarr.open_array(self.store(None), path=path), lock=False)


ADAPTERS: dict[str, type[Adapter]] = {
    "frazil": FrazilAdapter,
    "frazil-s3": FrazilS3Adapter,
    "icechunk": IcechunkAdapter,
    "icechunk-s3": IcechunkS3Adapter,
    "zarr": ZarrAdapter,
}


def adapter_for(system: str, root: str, options: dict[str, Any]) -> Adapter:
    """The adapter of a system."""
    return ADAPTERS[system](root, options)
