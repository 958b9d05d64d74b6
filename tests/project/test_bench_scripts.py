"""The benchmark scripts run (a benchmark that has rotted is found here, not by a reviewer).

Each script's ``main`` is called with its smallest settings and must write finite numbers
to its JSON file. Nothing here looks at a timing.
"""

import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_main(name: str, argv: list[str], tmp_path) -> dict:
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / f"{name}.json"
    module.main([*argv, "--json", str(out)])
    return json.loads(out.read_text())


def finite_numbers(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from finite_numbers(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from finite_numbers(value)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield tree


@pytest.mark.parametrize(
    "name, argv, key",
    [
        ("bench_simulator", ["--repeats", "1", "--quick"], "iv_grad_over_forward"),
        ("bench_thermal", ["--repeats", "1"], "grad_over_forward"),
        ("bench_freeform", ["--repeats", "1"], "iv_freeform_over_box"),
        ("bench_selfconsistent", ["--points", "150", "--biases", "4", "--vmax", "0.3", "--repeats", "1"],
         "gradient_over_forward_wall"),
    ],
)
def test_benchmark_script_runs(name, argv, key, tmp_path, capsys):
    out = run_main(name, argv, tmp_path)
    capsys.readouterr()
    assert key in out and out[key] > 0
    assert all(math.isfinite(v) for v in finite_numbers(out))
