"""Free-form (neural-network) potentials in the simulator (physics.md §12, eqs. 12.1–12.6)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
import pinn_sciann as pn
from diffsim_jax.models import freeform as ff
from diffsim_jax import observables
from diffsim_jax.design import losses
from diffsim_jax.design import loop
from diffsim_jax.observables import iv_curve_unchecked
from diffsim_jax.design.losses import iv_loss
from diffsim_jax.models.box import BoxModel
from diffsim_jax.physics.shapes import bias_ramp
from diffsim_jax.models.box import original_params
from pinn_sciann.targets import eval_energies, grid_nm, ramp_transmission, rmse

PINN = pn.PINNConfig()
SMALL = ds.DeviceConfig(n_points=60, n_energy=40, n_interp=40)  # a cheap I–V (tests only)


def pinn_model(**fields):
    base = dict(length_nm=PINN.length_nm, m_eff=PINN.m_eff, n_points=PINN.n_fd, window="parabolic",
                frequencies=ff.fourier_frequencies(8, 2.0, 0), hidden=(16, 16), amplitude_eV=PINN.bias_V)
    base.update(fields)
    return ff.FreeformModel(**base)


def small_model(**fields):
    base = dict(frequencies=ff.fourier_frequencies(8, 3.0, 1), hidden=(16, 16), amplitude_eV=0.3)
    base.update(fields)
    return ff.FreeformModel.from_config(SMALL, **base)


def directional(f, p, d, eps=1e-6):
    """(∇f·d, central difference of f along d)."""
    g = jax.grad(f)(p)
    dot = sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(d)))
    shift = lambda s: jax.tree_util.tree_map(lambda a, b: a + s * b, p, d)  # noqa: E731
    return dot, (float(f(shift(eps))) - float(f(shift(-eps)))) / (2 * eps)


def random_direction(p, seed):
    leaves, tree = jax.tree_util.tree_flatten(p)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree_util.tree_unflatten(tree, [jax.random.normal(k, jnp.shape(a)) for k, a in zip(keys, leaves)])


# ------------------------------------------------------------------ the model
def test_ramp_start_gives_the_ramps_potential_and_transmission():
    model = pinn_model()
    p0 = model.init_params(seed=3)
    x = grid_nm(PINN)
    u = model.solver_input(p0, PINN.bias_V).potential_eV
    np.testing.assert_array_equal(np.asarray(u), np.asarray(bias_ramp(jnp.asarray(x), PINN.bias_V, PINN.length_nm)))
    e = eval_energies(PINN)
    t = jax.jit(lambda q: observables.transmission_of(model, q, PINN.bias_V, jnp.asarray(e)))(p0)
    np.testing.assert_allclose(np.asarray(t), ramp_transmission(e, PINN), rtol=1e-11, atol=0)  # same U; jit round-off
    # a random network moves U away from the ramp, but never at the terminals (eq. 12.3)
    p = model.random_params(seed=3)
    u = np.asarray(model.solver_input(p, PINN.bias_V).potential_eV)
    assert np.max(np.abs(u - np.asarray(bias_ramp(jnp.asarray(x), PINN.bias_V, PINN.length_nm)))) > 0.05
    assert u[0] == 0.0 and u[-1] == pytest.approx(-PINN.bias_V, abs=1e-15)
    box = small_model()
    ub = np.asarray(box.solver_input(box.random_params(seed=2), 0.3).potential_eV)
    assert abs(ub[0]) < 1e-5 and abs(ub[-1] + 0.3) < 1e-5  # box window: exp(−x_a/δ) ≈ 3e-7 × network


def test_potential_is_a_function_of_x_not_of_the_grid():
    model = pinn_model()
    p = model.random_params(seed=4)
    fine = model.with_grid(4 * (model.n_points - 1) + 1)
    u, uf = model.solver_input(p, 0.2).potential_eV, fine.solver_input(p, 0.2).potential_eV
    np.testing.assert_allclose(np.asarray(uf[::4]), np.asarray(u), rtol=0, atol=1e-14)


def test_transmission_gradient_wrt_network_weights_matches_central_differences():
    model = pinn_model(n_points=300)
    p = model.random_params(seed=5, scale=0.7)
    e = jnp.linspace(0.02, 0.4, 30)
    c = jnp.linspace(1.0, 2.0, 30)
    f = jax.jit(lambda q: jnp.sum(c * observables.transmission_of(model, q, PINN.bias_V, e)))
    for seed in (0, 1):
        dot, fd = directional(f, p, random_direction(p, seed))
        assert abs(dot) > 1e-3
        assert dot == pytest.approx(fd, rel=1e-6)


def test_current_gradient_wrt_network_weights_and_fermi_level_matches_central_differences():
    model = small_model()
    p = model.random_params(seed=6, scale=0.7, fermi_level_eV=0.08)
    biases = jnp.array([0.05, 0.2, 0.45])
    f = jax.jit(lambda q: jnp.sum(jnp.array([1.0, 0.5, 2.0]) * observables.model_iv_curve(model, q, biases, SMALL)))
    d = random_direction(p, 7)
    dot, fd = directional(f, p, d)
    assert abs(dot) > 1e-3 and dot == pytest.approx(fd, rel=1e-6)
    d_ef = dataclasses.replace(jax.tree_util.tree_map(jnp.zeros_like, p), fermi_level=jnp.asarray(1.0))
    dot, fd = directional(f, p, d_ef)
    assert abs(dot) > 1e-3 and dot == pytest.approx(fd, rel=1e-6)


def test_general_current_reproduces_the_papers_current_for_the_box_model():
    """model_iv_curve(BoxModel) from its SolverInput = the paper's iv_curve (physics.md §5), both quadratures."""
    biases = jnp.linspace(0.0, 0.6, 7)
    for cfg in (ds.DeviceConfig(), ds.DeviceConfig(quadrature="direct", n_interp=40)):
        ours = jax.jit(lambda p: observables.model_iv_curve(BoxModel.from_config(cfg), p, biases, cfg))(original_params())
        paper = jax.jit(lambda p: iv_curve_unchecked(p, biases, cfg))(original_params())
        np.testing.assert_allclose(np.asarray(ours), np.asarray(paper), rtol=1e-12, atol=1e-14)


def test_penalties_match_their_definitions():
    """P = w_s·mean(L²·U'')² + w_a·mean relu(|U| − U_max)² (eq. 12.4), checked on a constant network
    output N = A·b in the parabolic window: U = 4ξ(1 − ξ)·A·b, L²U'' = −8·A·b."""
    model = pinn_model(smoothness_weight=2.0, amplitude_weight=3.0, max_amplitude_eV=0.1)
    p0 = model.init_params(0)
    assert float(jax.jit(model.penalty)(p0)) == 0.0
    b = 0.4
    w, _ = p0.layers[-1]
    p = dataclasses.replace(p0, layers=p0.layers[:-1] + ((w, jnp.array([b])),))
    a = model.amplitude_eV * b
    x = np.asarray(model.grid_nm())
    xi = x / model.length_nm
    u = 4 * xi * (1 - xi) * a
    expected = 2.0 * (8 * a) ** 2 + 3.0 * np.mean(np.maximum(np.abs(u) - 0.1, 0.0) ** 2)
    assert float(jax.jit(model.penalty)(p)) == pytest.approx(expected, rel=1e-9)
    assert float(pinn_model().penalty(p)) == 0.0  # default weights: no penalty


def test_model_validation():
    with pytest.raises(ValueError, match="window"):
        pinn_model(window="gaussian")
    with pytest.raises(ValueError, match="activation"):
        pinn_model(activation="relu6")
    with pytest.raises(ValueError, match="n_points"):
        pinn_model(n_points=2)
    with pytest.raises(ValueError, match="frequencies"):
        pinn_model(frequencies=(1.0, float("nan")))
    with pytest.raises(ValueError, match="fermi_level_eV"):
        small_model().init_params(0, fermi_level_eV=0.3)
    with pytest.raises(ValueError, match="smoothness_weight"):
        pinn_model(smoothness_weight=-1.0)
    p = small_model().random_params(1)
    assert ff.FreeformParams.from_dict(p.to_dict()).n_weights == p.n_weights
    hash(small_model())  # static numerics are hashable


# ------------------------------------------------------------------ optimisation
def test_reachable_freeform_iv_is_recovered():
    """The I–V of a known random network potential, fitted from the bare ramp (another seed's
    hidden layers, so every layer must move), is recovered to its I–V."""
    model = small_model()
    truth = model.random_params(seed=11, scale=0.8, fermi_level_eV=0.08)
    biases = jnp.linspace(0.0, 0.5, 9)
    target = jax.jit(lambda q: observables.model_iv_curve(model, q, biases, SMALL))(truth)
    start = model.init_params(seed=0, fermi_level_eV=0.08)
    def rms(i):
        return float(100 * np.sqrt(np.mean((np.asarray(i) - np.asarray(target)) ** 2)) / np.max(target))

    iv = jax.jit(lambda q: observables.model_iv_curve(model, q, biases, SMALL))
    assert rms(iv(start)) > 20.0
    loss = losses.fixed_fermi_level(iv_loss(model, observables.iv_observable(SMALL), biases, target, 1.0), 0.08)
    res = loop.fit(loss, model.normalization(start), loop.FitConfig(adabelief_steps=0, lbfgs_steps=250), progress=False)
    fitted = jax.tree_util.tree_map(jnp.asarray, res.params)
    assert rms(iv(fitted)) < 0.5


def test_fit_undoes_nonfinite_steps_and_monitors():
    """A loss that is NaN beyond a wall the first steps overshoot: the optimiser must come back
    and still converge to the minimum in front of the wall."""

    @dataclasses.dataclass(frozen=True)
    class Identity:
        def zeros(self):
            return jnp.zeros(3)

        def to_physical(self, z):
            return z

    target = jnp.array([1.5, -0.5, 0.8])

    def loss(z):
        value = jnp.sum((z - target) ** 2)
        return jnp.where(z[0] > 1.7, jnp.nan, value)

    calls = []
    fit_cfg = loop.FitConfig(adabelief_steps=200, lbfgs_steps=20, learning_rate=0.6, monitor_every=10)
    res = loop.fit(loss, Identity(), fit_cfg,
                 monitor=lambda z: calls.append(1) or {"z0": z[0]}, progress=False)
    assert res.skipped_steps > 0
    np.testing.assert_allclose(res.params, target, atol=1e-6)
    assert len(res.monitor["step"]) == len(calls) and np.all(np.diff(res.monitor["seconds"]) >= 0)


def test_fixed_fermi_level_freezes_it():
    model = small_model()
    p = model.random_params(2, fermi_level_eV=0.12)
    biases = jnp.array([0.1, 0.3])
    obs = observables.iv_observable(SMALL)
    total = jax.jit(lambda q: jnp.sum(obs(model, q, biases)))
    loss = losses.fixed_fermi_level(total, 0.05)
    value, g = jax.jit(jax.value_and_grad(loss))(p)
    assert float(g.fermi_level) == 0.0 and float(jnp.max(jnp.abs(g.layers[-1][0]))) > 0.0
    assert float(value) == pytest.approx(float(total(dataclasses.replace(p, fermi_level=jnp.asarray(0.05)))), rel=1e-12)
    assert float(value) != pytest.approx(float(total(p)), rel=1e-3)


# ------------------------------------------------------------------ the experiment (quick profile)
def test_quick_profile_smoke_run(tmp_path):
    from experiments import freeform as exp  # noqa: PLC0415

    results = exp.run("quick", tmp_path)
    assert set(results) == set(exp.FIGURES)
    for name in ("fig6_freeform_transmission.png", "fig7_freeform_iv.png", "fig6/result.npz",
                 "fig6/network_params.json", "fig7/result.npz", "fig7/designs.json"):
        assert (tmp_path / name).stat().st_size > 1000, name
    fig6, fig7 = results["fig6"], results["fig7"]
    for key in ("diffsim_rmse_fd_vs_target", "diffsim_seconds", "diffsim_rmse_fine_grid", "pinn_rmse_fd_vs_target",
                "pinn_seconds", "speedup_at_pinn_accuracy", "acceptance", "seeds"):
        assert key in fig6, key
    for key in ("freeform_rms_percent_of_peak", "double_barrier_rms_percent_of_peak", "spec_targets", "spec_achieved",
                "acceptance", "seeds"):
        assert key in fig7, key
    assert all(fig6["acceptance"].values()), fig6["acceptance"]
    assert all(fig7["acceptance"].values()), fig7["acceptance"]

    # the saved potential really gives the reported error with the validated solver (physics, not bookkeeping)
    with np.load(tmp_path / "fig6" / "result.npz") as d:
        x, u, e, t_star = d["x"], d["potential"], d["energies"], d["target_transmission"]
    np.testing.assert_allclose(t_star, pn.target_transmission(eval_energies(PINN), PINN), rtol=0, atol=1e-15)
    assert u[0] == 0.0 and u[-1] == pytest.approx(-PINN.bias_V, abs=1e-12) and x[-1] == PINN.length_nm
    t = np.asarray(ds.transmission(u, e, PINN.length_nm, m_eff=PINN.m_eff))
    assert rmse(t, t_star) == pytest.approx(fig6["diffsim_rmse_fd_vs_target"], rel=1e-9)
    assert rmse(t, t_star) < 0.1 * rmse(ramp_transmission(e, PINN), t_star)
    assert math.isfinite(fig6["speedup_at_pinn_accuracy"]) and fig6["speedup_at_pinn_accuracy"] > 1.0
