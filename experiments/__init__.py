"""The experiments behind ``reproduce.py``: one module per figure group.

Each module has ``FIGURES`` (the figure names it draws) and
``run(profile, out, **options) -> dict`` that writes its figures and data into ``out``
and returns ``{results_key: metrics}`` for ``results.json`` (a metrics dict may carry
"hyperparameters" rows and a "profile_note" for the generated hyperparameter table).

    paper_pinn     fig1–fig3  SciANN PINN inverse transmission (paper §III-A)
    paper_design   fig4–fig5  I–V design with the differentiable simulator (paper §III-B)
    freeform       fig6–fig7  free-form potentials: PINN head-to-head, two-peak I–V, spec design (§12)
    heterostructure  fig8     AlGaAs/GaAs RTD at 0/77/300 K and a design in layer variables
    selfconsistent fig9       the Fig. 8 RTD self-consistently: band, density, J(V) up/down, bistability, design
    qpc            fig10      2-D gate-defined QPCs: Büttiker saddle, split gate 0–4 K / 1 T, gate-array design vs CMA-ES
    fem            fig11      finite elements: convergence against FD on sech², the Fig. 8 RTD with abrupt interfaces
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: module name -> figures it draws, in the order reproduce.py runs them.
MODULES = {
    "paper_design": ("fig4", "fig5"),
    "paper_pinn": ("fig1", "fig2", "fig3"),
    "freeform": ("fig6", "fig7"),
    "heterostructure": ("fig8",),
    "selfconsistent": ("fig9",),
    "qpc": ("fig10",),
    "fem": ("fig11",),
}
FIGURES = tuple(sorted({f for figs in MODULES.values() for f in figs}, key=lambda f: int(f[3:])))


def modules_for(figures) -> list[str]:
    """The experiment modules needed to draw ``figures``, in run order."""
    return [name for name, figs in MODULES.items() if set(figs) & set(figures)]


def load(name: str):
    """Import experiment module ``name`` (imports JAX, and TensorFlow for the PINN, only when called)."""
    return importlib.import_module(f"{__name__}.{name}")


def write_json(path: Path, data) -> None:
    """Write ``data`` as indented JSON, atomically (a temporary file moved into place)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    os.replace(tmp, path)


#: Runs one experiment module in this interpreter and writes its results as JSON (see run()).
_CHILD = (
    "import json, sys; from pathlib import Path; import experiments\n"
    "name, profile, out, dest = sys.argv[1:5]\n"
    "Path(dest).write_text(json.dumps(experiments.load(name).run(profile, Path(out)), default=float))\n"
)


def _one_cpu() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run(name: str, profile: str, out: Path, **options) -> dict:
    """``load(name).run(profile, out, **options)``; a module with ``ONE_CPU = True`` runs in a
    child process pinned to one CPU.

    Why: with two or more threads in XLA's CPU runtime (jaxlib 0.10.2) some 2-D transport
    programs deadlock with every thread idle (experiments/qpc.py documents the reproducer);
    XLA sizes its thread pool from the CPU affinity when the process starts, so the child
    runs them on one thread. Such a module takes no extra options.
    """
    module = load(name)
    if not getattr(module, "ONE_CPU", False):
        return module.run(profile, out, **options)
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "results.json"
        subprocess.run([sys.executable, "-c", _CHILD, name, profile, str(Path(out).resolve()), str(dest)],
                       check=True, cwd=root, env=env, preexec_fn=_one_cpu)
        return json.loads(dest.read_text())

