"""A stateful version-control test against a plain-Python model: branches, tags, commits,
resets and time travel."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from hypothesis import note, settings, strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import frazil
from conftest import LONG

SIZE = 6
names = st.text("abcdefgh", min_size=1, max_size=4)


class VersionControlMachine(RuleBasedStateMachine):
    commits = Bundle("commits")

    def __init__(self) -> None:
        super().__init__()
        self.repo = frazil.Repository.create(frazil.in_memory_storage())
        self.states: dict[str, np.ndarray] = {}
        self.parents: dict[str, str | None] = {}
        self.branches: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.deleted_tags: set[str] = set()

    @initialize(target=commits)
    def setup(self):
        session = self.repo.writable_session("main")
        zarr.create_array(
            session.store, name="a", shape=(SIZE,), chunks=(1,), dtype="i4", fill_value=0
        )
        sid = session.commit("create")
        root = self.repo.lookup_snapshot(sid).parent_id
        self.states[root] = None  # no array yet
        self.states[sid] = np.zeros(SIZE, dtype="i4")
        self.parents[sid] = root
        self.branches["main"] = sid
        return sid

    @rule(target=commits, data=st.data())
    def commit(self, data):
        branch = data.draw(st.sampled_from(sorted(self.branches)), label="branch")
        index = data.draw(st.integers(0, SIZE - 1), label="index")
        value = data.draw(st.integers(-100, 100), label="value")
        session = self.repo.writable_session(branch)
        zarr.open_array(session.store, path="a")[index] = value
        state = self.states[self.branches[branch]].copy()
        state[index] = value
        sid = session.commit(f"{branch}:{index}={value}", allow_empty=True)
        note(f"commit {sid} on {branch}")
        self.parents[sid] = self.branches[branch]
        self.states[sid] = state
        self.branches[branch] = sid
        return sid

    @rule(name=names, commit=commits)
    def create_branch(self, name, commit):
        if name in self.branches:
            with pytest.raises(frazil.AlreadyExistsError):
                self.repo.create_branch(name, commit)
            return
        self.repo.create_branch(name, commit)
        self.branches[name] = commit

    @rule(data=st.data(), commit=commits)
    def reset_branch(self, data, commit):
        branch = data.draw(st.sampled_from(sorted(self.branches)))
        self.repo.reset_branch(branch, commit)
        self.branches[branch] = commit

    @precondition(lambda self: len(self.branches) > 1)
    @rule(data=st.data())
    def delete_branch(self, data):
        branch = data.draw(st.sampled_from(sorted(set(self.branches) - {"main"})))
        self.repo.delete_branch(branch)
        del self.branches[branch]

    @rule(name=names, commit=commits)
    def create_tag(self, name, commit):
        if name in self.tags or name in self.deleted_tags:
            with pytest.raises(frazil.AlreadyExistsError):
                self.repo.create_tag(name, commit)
            return
        self.repo.create_tag(name, commit)
        self.tags[name] = commit

    @precondition(lambda self: bool(self.tags))
    @rule(data=st.data())
    def delete_tag(self, data):
        tag = data.draw(st.sampled_from(sorted(self.tags)))
        self.repo.delete_tag(tag)
        del self.tags[tag]
        self.deleted_tags.add(tag)

    @rule(commit=commits)
    def time_travel(self, commit):
        session = self.repo.readonly_session(snapshot_id=commit)
        np.testing.assert_array_equal(
            zarr.open_array(session.store, path="a", mode="r")[:], self.states[commit]
        )

    @invariant()
    def refs_match(self):
        assert self.repo.list_branches() == set(self.branches)
        assert self.repo.list_tags() == set(self.tags)
        for tag, sid in self.tags.items():
            assert self.repo.lookup_tag(tag) == sid

    @invariant()
    def branch_tips_and_history_match(self):
        for branch, sid in self.branches.items():
            assert self.repo.lookup_branch(branch) == sid
            session = self.repo.readonly_session(branch)
            np.testing.assert_array_equal(
                zarr.open_array(session.store, path="a", mode="r")[:], self.states[sid]
            )
            expected = []
            cursor: str | None = sid
            while cursor is not None:
                expected.append(cursor)
                cursor = self.parents.get(cursor)
            assert [h.id for h in self.repo.ancestry(branch=branch)] == expected


@pytest.mark.slow
def test_version_control_against_model():
    run_state_machine_as_test(
        VersionControlMachine,
        settings=settings(
            max_examples=100 if LONG else 10, stateful_step_count=50 if LONG else 20, deadline=None
        ),
    )
