"""Branches and tags of the Repository façade: each operation one helper for both."""

from __future__ import annotations

from frazil._errors import (
    ConflictError,
    ErrorKind,
    SessionStateError,
)
from frazil._repo import (
    BRANCHES,
    CREATE_TAG,
    DELETE_TAG,
    TAGS,
    UpdateType,
    cas_ref,
    new_token,
    record_update,
    require_snapshot,
)
from frazil._repository.base import RepositoryBase
from frazil._sync import sync
from frazil.format import (
    RefDoc,
)

__all__ = ["RefsMixin"]


class RefsMixin(RepositoryBase):
    """Branches and tags."""

    # ------------------------------------------------------------------ branches
    async def create_branch_async(self, branch: str, snapshot_id: str) -> None:
        """Async version of :meth:`create_branch`."""
        await self._create_ref(BRANCHES, branch, snapshot_id)

    def create_branch(self, branch: str, snapshot_id: str) -> None:
        """Create a branch pointing at a snapshot.

        Raises
        ------
        AlreadyExistsError
            If the branch exists (exactly one of two racing creators succeeds).
        InvalidInputError
            If the name breaks the naming rules.
        SnapshotNotFoundError
            If the snapshot does not exist.
        """
        sync(self.create_branch_async(branch, snapshot_id))

    async def list_branches_async(self) -> set[str]:
        """Async version of :meth:`list_branches`."""
        return await self._list_refs(BRANCHES)

    def list_branches(self) -> set[str]:
        """The names of all branches."""
        return sync(self.list_branches_async())

    async def lookup_branch_async(self, branch: str) -> str:
        """Async version of :meth:`lookup_branch`."""
        return await self._lookup_ref(BRANCHES, branch)

    def lookup_branch(self, branch: str) -> str:
        """The snapshot id at the tip of a branch.

        Raises
        ------
        RefNotFoundError
            If the branch does not exist.
        """
        return self._lookup_ref_now(BRANCHES, branch)

    async def reset_branch_async(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        """Async version of :meth:`reset_branch`."""
        await self._require_online(f"reset branch {branch!r}")
        state = await self._ref_state(BRANCHES, branch)
        await require_snapshot(self._io, snapshot_id)
        if from_snapshot_id is not None and state.doc.snapshot_id != from_snapshot_id:
            raise ConflictError(
                message=f"branch update conflict: branch {branch!r} is at "
                f"{state.doc.snapshot_id!r}, not at from_snapshot_id={from_snapshot_id!r}; "
                "it was not reset",
                expected_parent=from_snapshot_id,
                actual_parent=state.doc.snapshot_id,
                kind=ErrorKind.BRANCH_UPDATE_CONFLICT,
            )
        doc = RefDoc(snapshot_id=snapshot_id, token=new_token())
        await cas_ref(self._ctx.storage, BRANCHES.key(branch), doc, expected=state)
        previous = state.doc.snapshot_id
        await record_update(
            self._ctx.storage,
            UpdateType.BranchReset,
            name=branch,
            previous=previous,
            new=snapshot_id,
        )

    def reset_branch(
        self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None
    ) -> None:
        """Point a branch at another snapshot (rewriting its history).

        Parameters
        ----------
        branch
            The branch to move.
        snapshot_id
            Where it should point.
        from_snapshot_id
            Only reset if the branch is currently there (a guard against races).

        Raises
        ------
        ConflictError
            If ``from_snapshot_id`` does not match, or another writer moved the branch
            during the reset.
        """
        sync(self.reset_branch_async(branch, snapshot_id, from_snapshot_id=from_snapshot_id))

    async def delete_branch_async(self, branch: str) -> None:
        """Async version of :meth:`delete_branch`."""
        if branch == "main":
            raise SessionStateError(
                "the main branch cannot be deleted", kind=ErrorKind.CANNOT_DELETE_MAIN
            )
        await self._delete_ref(BRANCHES, branch)

    def delete_branch(self, branch: str) -> None:
        """Delete a branch (its snapshots stay until garbage collection).

        Raises
        ------
        SessionStateError
            For ``main``.
        RefNotFoundError
            If the branch does not exist.
        """
        sync(self.delete_branch_async(branch))

    # ------------------------------------------------------------------ tags
    async def create_tag_async(self, tag: str, snapshot_id: str) -> None:
        """Async version of :meth:`create_tag`."""
        await self._create_ref(TAGS, tag, snapshot_id, flag=CREATE_TAG)

    def create_tag(self, tag: str, snapshot_id: str) -> None:
        """Create an immutable tag pointing at a snapshot.

        Raises
        ------
        AlreadyExistsError
            If the tag exists or existed (deleted names are never reused).
        SessionStateError
            With kind ``feature-flag-disabled`` if the repository's ``create_tag`` feature
            flag is disabled (:meth:`set_feature_flag`).
        """
        sync(self.create_tag_async(tag, snapshot_id))

    async def list_tags_async(self) -> set[str]:
        """Async version of :meth:`list_tags`."""
        return await self._list_refs(TAGS)

    def list_tags(self) -> set[str]:
        """The names of all (not deleted) tags."""
        return sync(self.list_tags_async())

    async def lookup_tag_async(self, tag: str) -> str:
        """Async version of :meth:`lookup_tag`."""
        return await self._lookup_ref(TAGS, tag)

    def lookup_tag(self, tag: str) -> str:
        """The snapshot a tag points at.

        Raises
        ------
        RefNotFoundError
            If the tag does not exist (or was deleted).
        """
        return self._lookup_ref_now(TAGS, tag)

    async def delete_tag_async(self, tag: str) -> None:
        """Async version of :meth:`delete_tag`."""
        await self._delete_ref(TAGS, tag, flag=DELETE_TAG)

    def delete_tag(self, tag: str) -> None:
        """Delete a tag; its name can never be used again.

        Raises
        ------
        RefNotFoundError
            If the tag does not exist.
        SessionStateError
            With kind ``feature-flag-disabled`` if the repository's ``delete_tag`` feature
            flag is disabled (:meth:`set_feature_flag`).
        """
        sync(self.delete_tag_async(tag))
