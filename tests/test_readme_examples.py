"""The README's Python examples run as written (a usage example that raises is a defect).

The blocks of "Using the simulator" are executed in order in one namespace, as a reader
would paste them; the checks below only confirm that they compute what their comments say.
"""

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def simulator_blocks() -> list[str]:
    section = README.split("## Using the simulator", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_simulator_examples_run():
    blocks = simulator_blocks()
    assert len(blocks) >= 4
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # noqa: S102
    # the paper's double barrier: T in [0, 1], and the design recovers the wanted device's I-V
    assert np.all((np.asarray(ns["T"]) >= 0) & (np.asarray(ns["T"]) <= 1 + 1e-12))
    assert ns["result"].rms_percent_of_peak < 1.0
    exec(compile(blocks[1], "README.md", "exec"), ns)  # noqa: S102
    # the grown RTD: a J(V) with an NDR region; the stack design lowers its loss
    j = np.asarray(ns["J"])
    assert np.all(np.isfinite(j)) and j[1] > 0 and np.any(np.diff(j) < 0)  # NDR after the resonance
    history = np.asarray(ns["result"].loss_history)
    assert history.min() < 0.5 * history[0]
    exec(compile(blocks[2], "README.md", "exec"), ns)  # noqa: S102
    # self-consistent solution converged; the sweep ran both ways; the gradient is finite
    assert ns["sol"].converged and ns["sol"].residual_eV < 1e-6
    assert ns["sweep"].current_down is not None
    assert np.all(np.isfinite(jax_leaves(ns["grad"])))
    for block in blocks[3:]:
        exec(compile(block, "README.md", "exec"), ns)  # noqa: S102
    # free-form model at init is the bare ramp: positive current that grows with bias
    current = np.asarray(ns["I"])
    assert np.all(np.isfinite(current)) and current[-1] > current[1] > 0


def jax_leaves(tree):
    import jax

    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in jax.tree_util.tree_leaves(tree)])
