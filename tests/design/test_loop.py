"""The one optimisation loop (diffsim_jax.design.loop; physics.md §6, §12).

The box (Fig. 5), stack, self-consistent, free-form (Fig. 7) and spec designs all run
through :func:`optimize`. Merging the two former loops (``design.optimize`` and
``freeform.fit``) must not have moved any result: the Fig. 5 design is re-run here and
its loss history compared with the committed one (figures/design_result.json, written by
the 0.2 loop) — bit-identical on the machine that wrote it, and to 1e-9 relative across
machines (docs/results.md, "Reproducibility").
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import diffsim_jax as ds
from diffsim_jax.design import Stage, adabelief, lbfgs, optimize
from diffsim_jax.models.box import modified_params, original_params

ROOT = Path(__file__).resolve().parents[2]


class Identity:
    """Optimiser coordinates equal to the parameters, starting at ``start``."""

    def __init__(self, start):
        self.start = jnp.asarray(start, jnp.float64)

    def zeros(self):
        return jnp.zeros_like(self.start)

    def to_physical(self, z):
        return self.start + z


def test_fig5_design_loss_history_is_unchanged_by_the_loop_merge():
    committed = json.loads((ROOT / "figures" / "design_result.json").read_text())
    cfg = ds.DeviceConfig()
    biases = ds.default_biases()
    target = ds.iv_curve(modified_params(), biases, cfg)
    res = ds.design(biases, target, original_params(), cfg, len(committed["loss_history"]), progress=False)
    np.testing.assert_allclose(res.loss_history, committed["loss_history"], rtol=1e-9, atol=0)


def test_bare_transformation_runs_as_one_stage_and_tracks_the_best_iterate():
    loss = lambda p: jnp.sum((p - 3.0) ** 2)  # noqa: E731
    res = optimize(loss, Identity([0.0, 1.0]), optax.sgd(0.1), 50, progress=False)
    assert res.loss_history.shape == (50,) and res.stage_starts == {"adabelief": 0}
    assert res.best_loss == pytest.approx(np.min(res.loss_history)) and res.best_loss < 1e-8
    assert not res.skipped.any()


def test_lbfgs_stage_starts_from_the_best_iterate_and_polishes_to_round_off():
    """An AdaBelief stage that ends badly (a large last step) hands L-BFGS its best iterate."""
    rosen = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2  # noqa: E731
    res = optimize(rosen, Identity([-1.2, 1.0]), [adabelief(100, 0.05), lbfgs(200)], progress=False)
    assert res.stage_starts == {"adabelief": 0, "lbfgs": 100}
    first_lbfgs = res.loss_history[100]
    assert first_lbfgs == pytest.approx(np.min(res.loss_history[:100]), rel=1e-12)
    np.testing.assert_allclose(res.params, [1.0, 1.0], atol=1e-6)


def test_target_loss_stops_early_and_evaluate_final_returns_the_last_iterate():
    loss = lambda p: jnp.sum(p**2)  # noqa: E731
    res = optimize(loss, Identity([1.0]), [Stage("gd", optax.sgd(0.25), 100)], target_loss=1e-6, progress=False)
    assert res.loss_history[-1] <= 1e-6 and len(res.loss_history) < 100
    res = optimize(loss, Identity([1.0]), optax.sgd(0.25), 3, evaluate_final=True, progress=False)
    assert res.best_iteration == -1 and res.best_loss == pytest.approx(0.5**6)  # p = (1 − 2·0.25)³ = 1/8, loss p²


def test_infinite_first_step_is_refused():
    with pytest.raises(ValueError, match="not finite at the initial design"):
        optimize(lambda p: jnp.sum(p) / 0.0, Identity([1.0]), optax.sgd(0.1), 3, progress=False)


def test_step_times_and_evaluation_counts_are_those_the_loop_made():
    """``evaluations`` counts every value-and-gradient evaluation (counted here by a callback
    the compiled loss makes each time it runs, line-search loops included) and
    ``step_seconds`` is the wall time at each step."""
    calls = []
    scale = jnp.asarray([1.0, 10.0, 100.0])

    def loss(p):
        jax.debug.callback(lambda: calls.append(1))
        return jnp.sum(scale * (p - 1.0) ** 2) + jnp.sum((p - 1.0) ** 4)

    for stages in ([adabelief(12, 0.1)], [adabelief(5, 0.1), lbfgs(15)]):
        calls.clear()
        res = optimize(loss, Identity([3.0, -2.0, 0.5]), stages)
        assert res.evaluations.shape == res.loss_history.shape == res.step_seconds.shape
        assert int(res.evaluations.sum()) == len(calls)
        assert np.all(np.diff(res.step_seconds) >= 0) and res.step_seconds[-1] <= res.seconds
    assert res.evaluations[res.stage_starts["lbfgs"]:].sum() > 15  # the line search's evaluations are counted
