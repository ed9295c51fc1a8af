"""The package layout the instruments promise: one package per instrument behind its
``__init__``, instruments independent of the model zoo, and no module reaching into another
package's private module. Read from the source (the AST of every import), so a new import that
breaks a rule fails here."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "deepscope"
INSTRUMENTS = ("curvature", "landscape", "physics", "expressivity", "harmonic", "robustness")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str | None = None, text: str | None = None
             ) -> list[tuple[int, str]]:
    """Every ``deepscope`` module a file imports (absolute names), with its line."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from pkg import _private`` imports a private module too
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names
                      if a.name.startswith("_") and a.name != "__version__"]
    return [(line, t) for line, t in found if t == "deepscope" or t.startswith("deepscope.")]


def _owner(module: str) -> str:
    """The package a module belongs to (``deepscope.curvature._lanczos`` -> ``curvature``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


SOURCES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_instrument_is_a_package_with_private_modules():
    for name in INSTRUMENTS:
        package = ROOT / name
        assert (package / "__init__.py").is_file(), name
        modules = [p.relative_to(package) for p in package.rglob("*.py")
                   if p.name != "__init__.py" and "__pycache__" not in p.parts]
        assert modules, name
        assert all(str(m).startswith("_") for m in modules), (name, modules)
        assert not (ROOT / f"{name}.py").exists(), f"a second public path for {name}"
    assert not (ROOT / "instruments").exists()


def test_no_instrument_imports_the_model_zoo():
    offenders = [f"{p.relative_to(ROOT)}:{line} imports {t}"
                 for p in SOURCES if _owner(_module_name(p)) in INSTRUMENTS
                 for line, t in _imports(p)
                 if t == "deepscope.models" or t.startswith("deepscope.models.")]
    assert not offenders, offenders


def test_no_module_imports_another_packages_private_module():
    offenders = []
    for path in SOURCES:
        here = _module_name(path)
        for line, target in _imports(path):
            parts = target.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")]
            if not private:
                continue
            # the package that owns the private name: everything before it
            owner = ".".join(parts[: private[0]])
            inside = here == owner or here.startswith(owner + ".")
            if owner == "deepscope":  # a private top-level module (e.g. deepscope._x)
                inside = here.count(".") == 1  # only top-level modules of deepscope itself
            if not inside:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not offenders, offenders


def test_benchmarks_use_the_facades():
    """Benchmarks are code a user could write: no instrument's private module (the facades
    export what they measure)."""
    offenders = []
    for path in sorted((ROOT.parents[1] / "benchmarks").glob("*.py")):
        for line, target in _imports(path, f"benchmarks.{path.stem}"):
            parts = target.split(".")
            if len(parts) > 2 and parts[1] in INSTRUMENTS and parts[2].startswith("_"):
                offenders.append(f"{path.name}:{line} imports {target}")
    assert not offenders, offenders


@pytest.mark.parametrize("name", INSTRUMENTS + ("problem",))
def test_facades_export_what_they_list(name):
    module = importlib.import_module(f"deepscope.{name}")
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, missing


def test_the_rule_sees_private_imports():
    # the checker itself, on code that is not in the tree
    path = ROOT / "landscape" / "_example.py"
    lines = _imports(path, "deepscope.landscape._example",
                     "from ..curvature._lanczos import eigenvalues\n"
                     "from ..curvature import _trace\n"
                     "import deepscope.models\n")
    assert lines == [(1, "deepscope.curvature._lanczos"), (2, "deepscope.curvature"),
                     (2, "deepscope.curvature._trace"), (3, "deepscope.models")]
    assert _owner("deepscope.curvature._lanczos") == "curvature"
