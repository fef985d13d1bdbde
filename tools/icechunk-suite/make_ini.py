"""Write a pytest.ini from Icechunk's ``[tool.pytest.ini_options]``.

Usage: make_ini.py PYPROJECT OUT_INI

``-n auto`` (pytest-xdist) is dropped from addopts: the runner starts one pytest per file,
one at a time. ``testpaths`` is dropped too; the runner names each file.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

DROPPED = {"testpaths"}


def ini_value(key: str, value: object) -> str:
    if key == "addopts" and isinstance(value, list):
        opts = [str(v) for v in value]
        while "-n" in opts:
            i = opts.index("-n")
            del opts[i : i + 2]
        return " ".join(opts)
    if isinstance(value, list):
        return "".join(f"\n    {v}" for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def main(pyproject: Path, out: Path) -> None:
    options = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]"]
    lines += [f"{k} = {ini_value(k, v)}" for k, v in options.items() if k not in DROPPED]
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
