"""The benchmark harness cannot rot: its quick mode runs every workload, for every system."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
from benchmarks.workloads import WORKLOADS

ROOT = pathlib.Path(__file__).parent.parent


@pytest.mark.slow
def test_quick_benchmarks_run_every_workload(tmp_path):
    out = tmp_path / "quick.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads(out.read_text())
    workloads = {row["workload"] for row in report["rows"]}
    assert workloads == set(WORKLOADS)
    assert {f"W{i}" for i in range(1, 11)} <= workloads
    failed = [row for row in report["rows"] if row["errors"]]
    assert not failed, failed
    systems = {s for row in report["rows"] for s in row["values"]}
    assert {"frazil", "icechunk", "zarr", "frazil-s3", "icechunk-s3"} <= systems
    lost = [row for row in report["rows"] if row["metric"] == "lost writes"]
    assert all(row["values"]["frazil"] == 0 for row in lost)
    assert "frazil/icechunk" in result.stdout
