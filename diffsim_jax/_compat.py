"""Old import paths of the flat 0.2 layout, kept working (docs/architecture.md).

Version 0.3 moved the modules into layers (``physics/``, ``models/``, ``design/``,
``cli/``). ``import diffsim_jax.physics.qtbm`` and ``from diffsim_jax.models.box import BoxModel``
still work: :class:`MovedModules` answers for the old names with a thin module that
forwards every attribute to the modules that hold it now (the same function and class
objects: there is one copy of each), with a :class:`DeprecationWarning` that names the
new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

#: old module (under diffsim_jax) -> the new modules (under diffsim_jax) that now hold its
#: names, searched in order (the first is where the module itself went).
MOVED = {
    "constants": ("physics.constants",),
    "materials": ("physics.materials",),
    "qtbm": ("physics.qtbm",),
    "density": ("physics.density", "physics.statistics", "physics.constants"),
    "thermal": ("physics.thermal", "physics.statistics", "physics.constants"),
    "energy_grid": ("physics.energy_grid", "numerics.quadrature"),
    "poisson": ("physics.poisson", "physics.constants"),
    "current": ("physics.current", "observables"),
    "stack": ("physics.layers", "physics.shapes"),
    "device": ("models.box", "physics.shapes"),
    "heterostructure": ("models.stack", "observables"),
    "selfconsistent": ("models.selfconsistent", "numerics.anderson", "numerics.gmres"),
    "freeform": ("models.freeform", "design.loop", "design.losses", "observables"),
    "paper_devices": ("models.box",),
    "spec_design": ("design.spec",),
    "metrics": ("design.metrics",),
    "cli_spec": ("cli.spec",),
    "cli_stack": ("cli.stack",),
    "cli_plot": ("cli.plot",),
    "io": ("cli.io",),
    "stack_io": ("cli.stack_io",),
}

PACKAGE = __name__.rpartition(".")[0]


def _forwarding_module(old: str, targets: tuple[str, ...]) -> types.ModuleType:
    """A thin module ``diffsim_jax.<old>`` whose attributes are those of ``targets`` (first hit wins)."""
    modules = [importlib.import_module(f"{PACKAGE}.{t}") for t in targets]
    alias = types.ModuleType(f"{PACKAGE}.{old}", f"Moved: use {', '.join(m.__name__ for m in modules)}.")

    def __getattr__(name):
        for module in modules:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {PACKAGE}.{old} (moved to {modules[0].__name__}) has no attribute {name!r}")

    def __dir__():
        return sorted({n for m in modules for n in dir(m)})

    alias.__getattr__ = __getattr__
    alias.__dir__ = __dir__
    return alias


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Meta-path finder and loader for the old ``diffsim_jax.<module>`` paths."""

    @staticmethod
    def targets(name: str) -> tuple[str, ...] | None:
        head, _, leaf = name.rpartition(".")
        return MOVED.get(leaf) if head == PACKAGE else None

    def find_spec(self, name, path=None, target=None):
        if self.targets(name) is None:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        targets = self.targets(spec.name)
        warnings.warn(f"{spec.name} moved to {PACKAGE}.{targets[0]}; import from there (or from {PACKAGE})",
                      DeprecationWarning, stacklevel=2)
        return _forwarding_module(spec.name.rpartition(".")[2], targets)

    def exec_module(self, module):
        pass


def install() -> None:
    """Install the finder once (idempotent).

    An old module whose name is also a public name of the package (``diffsim_jax.physics.current``
    vs the function ``diffsim_jax.physics.current``) is registered at once: importing it later
    through the finder would make the import system rebind ``diffsim_jax.physics.current`` to the
    module.
    """
    if any(isinstance(f, MovedModules) for f in sys.meta_path):
        return
    sys.meta_path.append(MovedModules())
    package = sys.modules[PACKAGE]
    for old, targets in MOVED.items():
        name = f"{PACKAGE}.{old}"
        if name not in sys.modules and hasattr(package, old):
            sys.modules[name] = _forwarding_module(old, targets)
