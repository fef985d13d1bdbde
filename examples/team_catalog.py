"""A team catalog: repositories by org/name in bucket configs, opened by name from anywhere.

The catalog here is a SQLite file; a team points ``frazil.Client`` (or ``$FRAZIL_CATALOG``)
at PostgreSQL instead and nothing else changes.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import zarr

import frazil


def main() -> int:
    base = pathlib.Path(
        os.environ.get("FRAZIL_EXAMPLE_REPO") or tempfile.mkdtemp(prefix="frazil-catalog-")
    )
    catalog = f"sqlite:///{base / 'catalog.db'}"
    with frazil.Client(catalog) as client:
        # where the team's repositories live, and how credentials are found (never the
        # credentials: an s3:// bucket config would say {"method": "from_env"} or name a
        # registered provider)
        client.create_bucket_config(org="acme", nickname="disk", uri=base.as_uri())
        client.set_default_bucket_config(org="acme", nickname="disk")
        repo = client.create_repo(
            "acme/temps", prefix="repo", description="daily temperatures", metadata={"unit": "K"}
        )
        session = repo.writable_session("main")
        zarr.create_array(session.store, name="t", shape=(8,), chunks=(4,), dtype="f4")[:] = (
            np.linspace(270, 280, 8)
        )
        session.commit("first week")
        client.create_repo("acme/winds", metadata={"unit": "m/s"})
        print("repositories:", [(r.full_name, r.location) for r in client])
        print(
            "in kelvin:", [r.name for r in client.list_repos("acme", filter_metadata={"unit": "K"})]
        )
        print("size of acme:", client.calculate_storage_size("acme"))

    # another process opens the repository by name alone
    code = (
        "import sys, zarr, frazil; "
        "repo = frazil.Client(sys.argv[1]).get_repo('acme/temps'); "
        "t = zarr.open_array(repo.readonly_session(branch='main').store, path='t')[:]; "
        "print('read elsewhere:', [round(float(v), 1) for v in t])"
    )
    subprocess.run([sys.executable, "-c", code, catalog], check=True)

    with frazil.Client(catalog) as client:
        client.update_repo("acme/temps", status="archived")
        try:
            client.get_repo("acme/temps").writable_session("main")
        except frazil.ReadOnlyError as exc:
            print("archived:", exc)
        client.update_repo("acme/temps", status="online")
        client.delete_repo("acme/winds", imsure=True, imreallysure=True)
        print("after deleting winds:", [r.full_name for r in client])
    return 0


if __name__ == "__main__":
    sys.exit(main())
