"""Inverse I–V design (physics.md §6)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax.design import DesignConfig, Normalization, make_loss, window_penalty

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
