"""The layering of docs/architecture.md, checked on the source (AST), not by eye.

* layers: numerics < physics < models < observables < design < cli; a module imports
  project modules only from its own layer or the ones below (validation and _compat are
  the bottom and the side door);
* no import cycle between modules;
* no project import inside a function, except in the CLI (start-up time);
* no ``_private`` name imported from another module;
* at least four subpackages and at most six loose modules at the top of diffsim_jax.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "diffsim_jax"
LAYERS = {"validation": 0, "numerics": 1, "physics": 2, "models": 3, "observables": 4, "design": 5, "cli": 6}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def project_imports(name: str, path: Path):
    """(imported module, imported names, inside a function?) for every project import."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                target = resolve(name, is_package, child)
                if target.startswith("diffsim_jax"):
                    names = [a.name for a in child.names]
                    mods = modules()
                    # "from . import x" imports the module diffsim_jax.x
                    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods]
                    out.append((target, [n for n in names if f"{target}.{n}" not in mods], inner))
                    out.extend((s, [], inner) for s in subs)
            elif isinstance(child, ast.Import):
                out.extend((a.name, [], inner) for a in child.names if a.name.startswith("diffsim_jax"))
            visit(child, inner)

    visit(tree, False)
    return out


def layer(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) < 2:
        return None  # the package's public face
    return LAYERS.get(parts[1])


def test_each_module_imports_only_from_its_layer_or_below():
    bad = []
    for name, path in modules().items():
        own = layer(name)
        if own is None or name.endswith("_compat"):
            continue
        for target, _, _ in project_imports(name, path):
            if target == "diffsim_jax" or target.endswith("__version__"):
                continue  # the version string
            tl = layer(target)
            if tl is None or tl > own:
                bad.append(f"{name} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    mods = modules()
    graph = {name: set() for name in mods}
    for name, path in mods.items():
        for target, _, in_function in project_imports(name, path):
            if target in mods and target != name and not target.startswith(name + "."):
                graph[name].add(target)
    # the package __init__ files import their children by design; a cycle through them is not a cycle
    def edges(n):
        return {t for t in graph[n] if not (mods[t].name == "__init__.py" and n.startswith(t))}

    state: dict[str, int] = {}
    cycle: list[str] = []

    def dfs(n, stack):
        state[n] = 1
        for t in edges(n):
            if mods[t].name == "__init__.py":
                continue  # a package's public face re-exports; importing it is importing its parts
            if state.get(t) == 1:
                cycle.extend(stack[stack.index(t):] + [t])
                return True
            if state.get(t) is None and dfs(t, stack + [t]):
                return True
        state[n] = 2
        return False

    for n in graph:
        if state.get(n) is None and dfs(n, [n]):
            break
    assert not cycle, " -> ".join(cycle)


def test_no_project_import_inside_a_function_outside_the_cli():
    bad = [f"{name}: {target}" for name, path in modules().items() if not name.startswith("diffsim_jax.cli")
           for target, _, inner in project_imports(name, path) if inner]
    assert not bad, "\n".join(bad)


def test_no_private_name_imported_from_another_module():
    bad = [f"{name} imports {target}.{n}" for name, path in modules().items()
           for target, names, _ in project_imports(name, path) for n in names
           if n.startswith("_") and n != "__version__" and not target.endswith("_compat")]
    assert not bad, "\n".join(bad)


def test_the_tree_shows_the_layers():
    loose = sorted(p.name for p in ROOT.glob("*.py"))
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
    assert len(loose) <= 6, loose
    assert len(packages) >= 4, packages


@pytest.mark.parametrize("old, new", [("qtbm", "physics.qtbm"), ("device", "models.box"), ("freeform", "design.loop"),
                                      ("density", "physics.statistics"), ("current", "observables")])
def test_old_import_paths_forward_to_the_new_objects(old, new):
    """0.2 paths keep working (diffsim_jax._compat): same objects, with a DeprecationWarning."""
    import importlib
    import warnings

    new_module = importlib.import_module(f"diffsim_jax.{new}")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        old_module = importlib.import_module(f"diffsim_jax.{old}")
    shared = [n for n in dir(new_module) if not n.startswith("_") and getattr(new_module, n).__class__.__name__
              in ("function", "type", "PjitFunction", "custom_jvp", "custom_vjp")]
    assert shared
    for n in shared:
        if getattr(getattr(new_module, n), "__module__", "") == new_module.__name__:
            assert getattr(old_module, n) is getattr(new_module, n)
    import diffsim_jax as ds

    assert callable(ds.current) and callable(ds.design)  # the package's functions, not the old modules
