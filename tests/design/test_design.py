"""Inverse I–V design (physics.md §6)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
import optax

from diffsim_jax.design.paper import DesignConfig, make_loss, window_penalty
from diffsim_jax.design import Normalization
from diffsim_jax.design.loop import optimize

CFG = ds.DeviceConfig()
BIASES = ds.default_biases()


def params(h, c, w, ef):
    return ds.BarrierParams(jnp.asarray(h, float), jnp.asarray(c, float), jnp.asarray(w, float), jnp.asarray(ef, float))


def test_design_recovers_reachable_target_from_perturbed_start():
    truth = ds.default_params()
    target = np.asarray(ds.iv_curve(truth, BIASES, CFG))
    start = params([0.33, 0.28], [7.1, 12.9], [2.3, 1.8], 0.09)
    start_rms = 100 * np.sqrt(np.mean((np.asarray(ds.iv_curve(start, BIASES, CFG)) - target) ** 2)) / target.max()
    res = ds.design(BIASES, target, start, CFG, iterations=300, progress=False)
    assert start_rms > 5.0
    assert res.rms_percent_of_peak < 1.0, res.rms_percent_of_peak
    assert res.loss_history[res.best_iteration] < 1e-3 * res.loss_history[0]
    assert res.loss_history.shape == (300,) and res.currents.shape == BIASES.shape
    np.testing.assert_allclose(res.currents, ds.iv_curve(res.params, BIASES, CFG), rtol=1e-10)


def test_normalisation_is_identity_at_zero_and_keeps_bounds():
    p0 = params([0.3, 0.3], [7.4, 12.6], [2.0, 2.0], 0.1)
    norm = Normalization(p0, 0.2)
    back = norm.to_physical(norm.zeros())
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(p0)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    far = jax.tree_util.tree_map(lambda x: jnp.full_like(x, -50.0), norm.zeros())
    phys = norm.to_physical(far)
    assert np.all(np.asarray(phys.widths) > 0) and 0 < float(phys.fermi_level) < 0.2
    far = jax.tree_util.tree_map(lambda x: jnp.full_like(x, 50.0), norm.zeros())
    assert float(norm.to_physical(far).fermi_level) <= 0.2


def test_window_penalty():
    inside = params([0.3, 0.3], [7.4, 12.6], [2.0, 2.0], 0.1)
    assert float(window_penalty(inside, CFG)) == 0.0
    # x_a = 3 nm: a box from 1.5 to 4.5 nm reaches 1.5 nm into the left terminal
    outside = params([0.3, 0.3], [3.0, 12.6], [3.0, 2.0], 0.1)
    np.testing.assert_allclose(float(window_penalty(outside, CFG)), 1.5**2)
    loss = make_loss(jnp.asarray(BIASES), jnp.asarray(ds.iv_curve(inside, BIASES, CFG)), CFG, 1.0)
    assert float(loss(inside)) < 1e-20 and float(loss(outside)) > 2.0


def test_design_never_returns_nan_and_keeps_best():
    """An absurd learning rate cannot produce NaN parameters; the best iterate is returned."""
    truth = ds.default_params()
    target = np.asarray(ds.iv_curve(truth, BIASES, CFG))
    res = ds.design(BIASES, target, truth, CFG, iterations=20, design_config=DesignConfig(learning_rate=50.0), progress=False)
    assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(res.params))
    assert res.loss_history[res.best_iteration] == np.nanmin(res.loss_history)
    assert res.best_iteration == 0  # the start is the exact answer


class _Shift:
    """Toy optimiser coordinates: params = z + offset (a dict pytree)."""

    def __init__(self, start):
        self.start = start

    def zeros(self):
        return {"x": jnp.zeros(2)}

    def to_physical(self, z):
        return {"x": z["x"] + self.start}


def test_non_finite_steps_are_skipped_and_best_finite_iterate_returned():
    """Gradient descent that overshoots (step 0.6 on curvature 2) first steps into a region
    where the loss is NaN (x₀ > 3.3), then its backtracked step lands in a band where the
    value is finite but the gradient is NaN. Such steps are undone (the last good step is
    retried at half, then quarter length), the run converges anyway, and the result is the
    lowest-loss finite iterate."""
    optimum = jnp.array([3.0, -1.0])

    def loss(p):
        x = p["x"]
        value = jnp.sum((x - optimum) ** 2)
        value = jnp.where(x[0] > 3.3, jnp.nan, value)  # undefined beyond x₀ = 3.3
        # finite value, NaN gradient on 1.7 < x₀ < 1.9: d√y/dy = inf at y = 0, times dy/dx = 0
        y = jnp.where((x[0] > 1.7) & (x[0] < 1.9), 0.0 * x[0], 1.0)
        return value + 0.0 * jnp.sqrt(y)

    res = optimize(loss, _Shift(jnp.zeros(2)), optax.sgd(0.6), 60, progress=False)
    nan_loss = ~np.isfinite(res.loss_history)
    assert nan_loss[1], "the first step did not land in the NaN region"
    assert res.skipped[1] and res.skipped[2] and not nan_loss[2], "the NaN-gradient band was not hit"
    # x₀: 0 → 3.6 (NaN loss, undone) → 1.8 (NaN gradient, undone) → 0.9 → 3.42 (NaN, undone) → 2.16 → …
    np.testing.assert_array_equal(np.nonzero(res.skipped)[0], [1, 2, 4])
    assert np.all(np.isfinite(res.loss_history[5:]))
    assert np.all(np.isfinite(res.params["x"]))
    assert res.best_loss == np.nanmin(res.loss_history)
    assert float(loss({"x": jnp.asarray(res.params["x"])})) == pytest.approx(res.best_loss, rel=1e-12)
    np.testing.assert_allclose(res.params["x"], optimum, atol=1e-10)


def test_non_finite_start_is_an_error():
    with pytest.raises(ValueError, match="initial design"):
        optimize(lambda p: jnp.sum(p["x"]) * jnp.nan, _Shift(jnp.zeros(2)), optax.adam(0.1), 5, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(biases=BIASES[:-1]), "same length"),
        (dict(target=np.zeros(25)), "all zero"),
        (dict(target=np.r_[np.ones(24), np.nan]), "target_currents contains NaN"),
        (dict(biases=np.r_[BIASES[:-1], -0.1]), "biases must be >= 0"),
        (dict(biases=np.r_[BIASES[:-1], np.inf]), "biases contains NaN or inf"),
        (dict(init=params([0.3], [7.0], [-1.0], 0.1)), "params.widths must be > 0"),
        (dict(init=params([0.3], [7.0], [1.0], 0.25)), "fermi_level = 0.25 eV lies above the tabulated energy window"),
        (dict(init=params([0.3], [7.0], [1.0], 0.2)), "init_params.fermi_level"),
        (dict(biases=np.r_[BIASES[:-1], 80.0]), "exceed the range of the lattice model"),
        (dict(iterations=0), "iterations must be a positive integer"),
    ],
)
def test_design_rejects_bad_input(kwargs, match):
    biases = kwargs.get("biases", BIASES)
    target = kwargs.get("target", np.ones(25))
    init = kwargs.get("init", ds.default_params())
    with pytest.raises(ValueError, match=match):
        ds.design(biases, target, init, CFG, iterations=kwargs.get("iterations", 5), progress=False)
