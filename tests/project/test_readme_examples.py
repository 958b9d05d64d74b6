"""The Python examples of README.md and docs/api.md run as written, each block on its own
in a fresh interpreter, from an empty working directory (a usage example that raises, or
that needs a name defined in another block, is a defect; none may write into figures/).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = {"README.md": ROOT / "README.md", "docs/api.md": ROOT / "docs" / "api.md"}


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


BLOCKS = [(doc, k, block) for doc, path in DOCS.items() for k, block in enumerate(python_blocks(path))]


def test_there_are_examples_for_every_use():
    readme = "\n".join(b for d, _, b in BLOCKS if d == "README.md")
    for name in ("ds.design(", "ds.current_density_curve(", "ds.solve_self_consistent(", "ds.FreeformModel",
                 "pn.train_inverse("):
        assert name in readme, name


@pytest.mark.parametrize("doc, k, block", BLOCKS, ids=[f"{d}-{k}" for d, k, _ in BLOCKS])
def test_example_runs_alone(doc, k, block, tmp_path):
    before = sorted(p.name for p in (ROOT / "figures").rglob("*"))
    run = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{doc} block {k} failed:\n{run.stderr[-3000:]}"
    assert sorted(p.name for p in (ROOT / "figures").rglob("*")) == before, "an example wrote into figures/"
