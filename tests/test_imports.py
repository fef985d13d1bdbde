"""Import hygiene and the package map: a cheap ``import frazil``, downward-only layers
through package faces, no import circle, complete ``__all__``, modules of a readable size.

``LAYERS`` is the map of the package: one entry per layer package or foundation module.
The package docstring and ``docs/design/005-layout.md`` say the same; a test below checks
the docstring against it.
"""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

import frazil

SRC = pathlib.Path(frazil.__file__).parent

LAYERS = {
    # L0 foundation: no frazil imports but each other (acyclic)
    "_errors": 0,
    "_config": 0,
    "_sync": 0,
    "_check": 0,
    "_checksum": 0,
    "_logs": 0,
    # L1 storage, L2 format (they never import each other)
    "storage": 1,
    "format": 2,
    # L3 repository mechanics; operations (integrity, expiry, statistics, ops log)
    "_repo": 3,
    "_ops": 3,
    # L4 uncommitted changes, L5 transactions, L6 sessions, L7 the facade
    "_changes": 4,
    "_commit": 5,
    "_session": 6,
    "_repository": 7,
    # L8 integrations: public faces and their bodies; coordinator jobs
    "dask": 8,
    "_dask": 8,
    "xarray": 8,
    "_xarray": 8,
    "distributed": 8,
    "_distributed": 8,
    "virtual": 8,
    "credentials": 8,
    "jobs": 8,
    "session": 8,
    "store": 8,
    "repository": 8,
    "config": 8,
    "conflicts": 8,
    "ops": 8,
    "snapshots": 8,
    # L9 applications and the test kit
    "catalog": 9,
    "cli": 9,
    "testing": 9,
    # the public namespace (lazy; imports everything for type checkers only)
    "__init__": 10,
}


def modules() -> dict[str, pathlib.Path]:
    """Dotted name -> file, for every module of the package."""
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["frazil", *parts])] = path
    return out


MODULES = modules()


def entry_of(module: str) -> str:
    """The LAYERS entry a module belongs to (``frazil`` itself is ``__init__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(module: str, path: pathlib.Path) -> list[str]:
    """Every frazil module ``module`` imports, anywhere in the file (functions and
    TYPE_CHECKING blocks included), resolved to module names."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.split(".")[0] == "frazil")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.split(".")[0] != "frazil":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append(candidate if candidate in MODULES else base)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def test_every_module_is_on_the_map():
    unknown = sorted({entry_of(m) for m in MODULES} - set(LAYERS))
    assert not unknown, f"modules outside the layer map: {unknown}"


def test_import_frazil_imports_no_heavy_dependencies():
    code = (
        "import sys, frazil, frazil.storage, frazil.format; "
        "heavy = [m for m in ('dask', 'distributed', 'xarray', 's3fs', 'typer', 'hypothesis', "
        "'aiobotocore', 'pytest', 'sqlalchemy', 'rich') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_layers_import_downward_only():
    problems = []
    for module, targets in GRAPH.items():
        here = entry_of(module)
        for target in targets:
            there = entry_of(target)
            if there != here and LAYERS[there] > LAYERS[here]:
                problems.append(f"{module} (L{LAYERS[here]}) imports {target} (L{LAYERS[there]})")
    assert not problems, "\n".join(problems)


def test_packages_are_imported_through_their_faces_only():
    """From outside a package only its ``__init__`` is imported, and no private name."""
    problems = []
    for module, path in MODULES.items():
        here = entry_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[tuple[str, list[str]]] = []
            if isinstance(node, ast.Import):
                names = [(a.name, []) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [(node.module, [a.name for a in node.names])]
            for target, imported in names:
                parts = target.split(".")
                if parts[0] != "frazil" or len(parts) < 2 or parts[1] == here:
                    continue
                if len(parts) > 2:
                    problems.append(f"{module} imports {target}, inside package {parts[1]!r}")
                problems.extend(
                    f"{module} imports the private {target}.{name}"
                    for name in imported
                    if name.startswith("_")
                )
    assert not problems, "\n".join(problems)


def test_format_and_storage_do_not_import_each_other():
    for module, targets in GRAPH.items():
        here = entry_of(module)
        for target in targets:
            assert {here, entry_of(target)} != {"format", "storage"}, f"{module} -> {target}"


def test_no_import_circle():
    """Depth-first search over every import (functions and TYPE_CHECKING blocks too)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in GRAPH.get(name, []):
            if target == name or target not in GRAPH:
                continue
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_the_package_docstring_draws_the_same_map():
    doc = frazil.__doc__ or ""
    drawn: dict[str, int] = {}
    for line in doc.splitlines():
        match = re.match(r"\s*L(\d+)\s+\S+(?:\s\S+)?\s{2,}(.*)", line)
        if match:
            for word in re.findall(r"[_a-z]+(?=/|\s|$|\))", match.group(2)):
                drawn.setdefault(word, int(match.group(1)))
    for entry in {entry_of(m) for m in MODULES} - {"__init__"}:
        assert drawn.get(entry) == LAYERS[entry], (
            f"{entry!r} is L{LAYERS[entry]} in the map, L{drawn.get(entry)} in the docstring"
        )


def test_module_and_class_sizes():
    private_top = [p.name for p in SRC.glob("_*.py") if p.name != "__init__.py"]
    assert len(private_top) <= 10, f"too many private modules at the top: {private_top}"
    for module, path in MODULES.items():
        text = path.read_text()
        assert text.count("\n") <= 1000, f"{module} has {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                assert size <= 900, f"class {module}.{node.name} has {size} lines"


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
        "jobs",
        "catalog",
        "credentials",
        "virtual",
        "session",
        "store",
        "repository",
        "config",
        "conflicts",
        "ops",
        "snapshots",
    }
    assert public <= set(frazil.__all__), public - set(frazil.__all__)
    for name in frazil.__all__:
        assert hasattr(frazil, name)


def test_type_checking_reexports_match_the_lazy_table():
    """The names type checkers see are the names the lazy loader serves, from the same
    modules."""
    tree = ast.parse((SRC / "__init__.py").read_text())
    seen = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    assert alias.asname == alias.name, "re-export with 'import X as X'"
                    seen[alias.name] = stmt.module
    lazy = frazil._LAZY
    assert seen == lazy
