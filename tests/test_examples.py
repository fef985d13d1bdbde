"""The examples stay runnable: each runs at its small size, as a user would run it."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    sorted(p.name for p in EXAMPLES.glob("*.py")),
    ids=lambda name: name.removesuffix(".py"),
)
def test_example_runs(script, tmp_path):
    env = {**os.environ, "FRAZIL_EXAMPLE_SIZE": "small", "FRAZIL_EXAMPLE_REPO": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "repo" / "repo").exists()
