"""bench/bench_2d.py runs (its --quick path, as a subprocess) and reports finite numbers.

Nothing here looks at a timing.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_2d_quick_runs(tmp_path):
    out = tmp_path / "bench_2d.json"
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_2d.py"), "--quick", "--device", "cpu", "--json", str(out)],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "device: cpu" in res.stdout
    data = json.loads(out.read_text())
    for key in ("forward_s", "value_and_grad_s", "grad_over_forward", "exponent_nx", "exponent_ny_top"):
        assert math.isfinite(data[key]) and (key.startswith("exponent") or data[key] > 0), key
