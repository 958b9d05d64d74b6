"""A non-editable install (what ``pip install .`` gives a user) contains every module and
the ``qtbm`` command, and nothing else at the top level: ``make``'s editable install would
hide a subpackage missing from the package list."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_every_module_and_the_command(tmp_path):
    wheels, site, src = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    # build from a copy: setuptools' build/ folder in the checkout could carry stale modules
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "figures", "_build",
                                                             "__pycache__", "jupyter_execute", "generated"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(src)], check=True, cwd=tmp_path, capture_output=True)
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, cwd=tmp_path, capture_output=True)
    top = sorted(p.name for p in site.iterdir() if (p / "__init__.py").exists())
    assert top == ["diffsim_jax", "pinn_sciann"], top
    assert (site / "bin" / "qtbm").exists()
    check = (
        "import importlib, pkgutil, sys, diffsim_jax, pinn_sciann\n"
        "for pkg in (diffsim_jax, pinn_sciann):\n"
        "    assert pkg.__file__.startswith(sys.argv[1]), pkg.__file__\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "from diffsim_jax.cli import main\n"
        "assert main(['--version']) == 0\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run([sys.executable, "-c", check, str(site)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
