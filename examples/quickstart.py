"""Version control for a Zarr array: create, write, commit, branch, tag, time-travel, rearrange."""

from __future__ import annotations

import datetime
import os
import sys
import tempfile

import numpy as np
import zarr

import frazil


def main() -> int:
    path = os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-quickstart-")
    repo = frazil.Repository.create(frazil.local_filesystem_storage(os.path.join(path, "repo")))

    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="temperature", shape=(4, 6), chunks=(2, 3), dtype="f4"
    )
    array[:] = 20.0
    first = session.commit("initial temperatures")

    repo.create_tag("v1", first)
    repo.create_branch("experiment", first)

    with repo.transaction("experiment", message="heat wave") as store:
        zarr.open_array(store, path="temperature")[1:3, :] = 35.0

    session = repo.writable_session("main")
    zarr.open_array(session.store, path="temperature")[0, 0] = 19.5
    session.commit("calibration fix")

    def read(**selector: str) -> np.ndarray:
        ro = repo.readonly_session(**selector)
        return np.asarray(zarr.open_array(ro.store, path="temperature", mode="r")[:])

    assert read(tag="v1").max() == 20.0
    assert read(branch="experiment").max() == 35.0
    assert read(branch="main")[0, 0] == 19.5
    print("main:", [i.message for i in repo.ancestry(branch="main")])
    print("experiment:", [i.message for i in repo.ancestry(branch="experiment")])
    print("diff v1 -> experiment:", repo.diff(from_tag="v1", to_branch="experiment").updated_chunks)

    # rearranging moves references, never bytes: rename the array (its node id stays),
    # then drop the first row of chunks and shift the rest up
    node_id = repo.readonly_session("main").get_node_id("/temperature")
    session = repo.rearrange_session("main")
    session.move("/temperature", "/air_temperature")
    session.commit("rename")
    session = repo.writable_session("main")
    assert session.get_node_id("/air_temperature") == node_id
    session.shift_array("/air_temperature", [-1, 0])
    session.commit("drop the oldest rows")
    shifted = repo.readonly_session("main")
    rows = np.asarray(zarr.open_array(shifted.store, path="air_temperature", mode="r")[:])
    assert (rows[:2] == 20.0).all()
    assert (rows[2:] == 0.0).all()
    print("after shift:", shifted.chunk_type("/air_temperature", [1, 0]))

    # nothing is garbage yet: every snapshot is reachable from a branch or tag
    now = datetime.datetime.now(datetime.UTC)
    print("garbage:", repo.garbage_collect(now, dry_run=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
