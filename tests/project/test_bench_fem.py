"""bench/bench_fem.py runs (a subprocess, --quick) and its numbers mean what they say: every
solver it times met the accuracy target against the closed-form T. No timing is asserted."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_fem_quick(tmp_path):
    out = tmp_path / "bench_fem.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_fem.py"), "--quick", "--json", str(out)],
        check=True, cwd=ROOT, env=env, timeout=600, capture_output=True,
    )
    data = json.loads(out.read_text())
    for target, row in data["targets"].items():
        assert row["fd_error"] <= float(target) and row["p3_error"] <= float(target)
        assert row["p3_unknowns"] == 3 * row["p3_elements"] + 1
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, (int, float)))
