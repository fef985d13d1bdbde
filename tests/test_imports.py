"""Import hygiene: a cheap ``import frazil``, downward-only layers, complete ``__all__``."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import frazil

SRC = pathlib.Path(frazil.__file__).parent

LAYERS = {
    "_errors": 0,
    "_config": 0,
    "_sync": 0,
    "_checksum": 0,
    "_check": 0,
    "storage": 1,
    "format": 2,
    "_refs": 3,
    "_history": 3,
    "_io": 3,
    "_virtual": 3,
    "_gc": 3,
    "_verify": 3,
    "_zarrmeta": 4,
    "_conflict_types": 4,
    "_changeset": 4,
    "_merge": 4,
    "_workspace": 4,
    "_reindex": 4,
    "_conflicts": 5,
    "_commit": 5,
    "_staging": 5,
    "_store": 6,
    "_session": 7,
    "_repository": 7,
    "_tickets": 5,
    "distributed": 8,
    "_distributed": 8,
    "dask": 8,
    "_dask": 8,
    "xarray": 8,
    "_xarray": 8,
    "testing": 9,
    "cli": 9,
    "__init__": 9,
}


def module_layer(path: pathlib.Path) -> tuple[str, int]:
    rel = path.relative_to(SRC)
    top = rel.parts[0].removesuffix(".py")
    return top, LAYERS[top]


def test_import_frazil_imports_no_heavy_dependencies():
    code = (
        "import sys, frazil, frazil.storage, frazil.format; "
        "heavy = [m for m in ('dask', 'distributed', 'xarray', 's3fs', 'typer', 'hypothesis', "
        "'aiobotocore', 'pytest') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_layers_import_downward_only():
    problems = []
    for path in SRC.rglob("*.py"):
        top, layer = module_layer(path)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("frazil")
            ):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("frazil")]
            for name in names:
                parts = name.split(".")
                if len(parts) < 2:
                    continue
                target = parts[1]
                if target == top or target not in LAYERS:
                    continue
                if LAYERS[target] > layer:
                    problems.append(
                        f"{path.relative_to(SRC)} (L{layer}) imports {name} (L{LAYERS[target]})"
                    )
    assert not problems, "\n".join(problems)


def test_format_and_storage_do_not_import_each_other():
    for sub, other in (("format", "frazil.storage"), ("storage", "frazil.format")):
        for path in (SRC / sub).rglob("*.py"):
            assert other not in path.read_text(), f"{path} imports {other}"


def test_all_is_sorted_and_complete():
    assert list(frazil.__all__) == sorted(frazil.__all__)
    public = {n for n in dir(frazil) if not n.startswith("_")} - {
        "annotations",
        "storage",
        "format",
        "testing",
        "distributed",
        "dask",
        "xarray",
        "cli",
    }
    assert public <= set(frazil.__all__), public - set(frazil.__all__)
    for name in frazil.__all__:
        assert hasattr(frazil, name)
