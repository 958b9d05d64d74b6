"""0 K current and I–V curves (physics.md §4–5)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax.physics.current import catmull_rom
from diffsim_jax.observables import current_unchecked
from diffsim_jax.design.metrics import peak_to_valley_ratio, peak_valley

CFG = ds.DeviceConfig()
P0 = ds.default_params()
BIASES = ds.default_biases()


def test_potential_terminals_and_barrier():
    """U(0) = 0, U(L) = −V, barrier height inside the window (physics.md §4)."""
    for v in (0.0, 0.3):
        u = np.asarray(ds.potential(P0, v, CFG))
        assert abs(u[0]) < 1e-6 and abs(u[-1] + v) < 1e-6
    u = np.asarray(ds.potential(P0, 0.0, CFG))
    x = np.asarray(CFG.grid_nm())
    assert abs(u[np.argmin(abs(x - 7.4))] - 0.3) < 0.01  # in the first barrier
    assert abs(u[np.argmin(abs(x - 10.0))]) < 1e-3  # in the well


def test_zero_bias_gives_zero_current():
    assert float(ds.current(P0, 0.0, CFG)) == 0.0
    assert float(ds.current(P0, 0.0, dataclasses.replace(CFG, quadrature="direct"))) == 0.0


def test_current_is_landauer_integral_of_transmission():
    """I = (2q/h)∫T dE over [max(0, E_F−V), E_F] against an independent fine quadrature."""
    v = 0.15
    u = ds.potential(P0, v, CFG)
    e = np.linspace(0.0, 0.1, 4001)
    ref = ds.CURRENT_UA_PER_EV * np.trapezoid(np.asarray(ds.transmission(u, e, CFG.length_nm)), e)
    for quad in ("hermite", "direct"):
        cfg = dataclasses.replace(CFG, quadrature=quad, n_energy=400, n_interp=400)
        np.testing.assert_allclose(float(ds.current(P0, v, cfg)), ref, rtol=2e-3)


def test_default_rtd_shows_ndr():
    """physics.md §5: peak ≈ 4.2 µA at 0.225 V, valley ≈ 1.6 µA near 0.43 V."""
    i = np.asarray(ds.iv_curve(P0, BIASES, CFG))
    peak, valley = peak_valley(BIASES, i)
    assert abs(BIASES[peak] - 0.225) < 1e-9
    assert abs(i[peak] - 4.2) < 0.1
    assert 0.4 <= BIASES[valley] <= 0.46 and abs(i[valley] - 1.6) < 0.1
    assert peak_to_valley_ratio(BIASES, i) > 2.4
    assert np.all(np.diff(i[: peak + 1]) > 0)  # rises to the peak


def test_quadrature_convergence():
    """I converges as n_E, n_I grow; the paper's 100/100 is within 1 % of 2000/2000 (physics.md §5)."""
    ref = np.asarray(ds.iv_curve(P0, BIASES, dataclasses.replace(CFG, quadrature="direct", n_interp=2000)))
    errs = []
    for n in (25, 50, 100, 200):
        i = np.asarray(ds.iv_curve(P0, BIASES, dataclasses.replace(CFG, n_energy=n, n_interp=n)))
        errs.append(np.max(np.abs(i - ref)) / ref.max())
    assert errs[2] < 0.01
    assert errs[0] > errs[1] > errs[2] > errs[3]


def test_catmull_rom_is_exact_for_quadratics_and_c1():
    x0, dx = 0.0, 0.1
    xs = x0 + dx * np.arange(12)
    f = lambda x: 1 + 2 * x - 3 * x**2  # noqa: E731
    xn = np.linspace(0.1, 1.0, 57)  # away from the one-sided ends
    np.testing.assert_allclose(catmull_rom(jnp.asarray(xn), x0, dx, jnp.asarray(f(xs))), f(xn), atol=1e-12)
    vals = jnp.asarray(np.sin(3 * xs))
    d = jax.vmap(jax.grad(lambda x: catmull_rom(x[None], x0, dx, vals)[0]))
    knot, eps = xs[5], 1e-9
    left, right = d(jnp.array([knot - eps, knot + eps]))
    assert abs(left - right) < 1e-6


def test_current_is_c1_in_fermi_level():
    """dI/dE_F is continuous where an integration node crosses a tabulated energy (physics.md §5)."""
    e_grid = np.asarray(CFG.energy_grid_eV())
    knot = e_grid[33]  # E_F sits here; the top node E_F crosses the knot

    def i_of_ef(ef):
        p = ds.BarrierParams(P0.heights, P0.centers, P0.widths, ef)
        return current_unchecked(p, jnp.asarray(0.2), CFG)

    g = jax.vmap(jax.grad(i_of_ef))(jnp.array([knot - 1e-9, knot + 1e-9]))
    assert abs(float(g[1] - g[0])) < 1e-4 * abs(float(g[0]))
    # and the derivative is right: central difference at the knot
    h = 1e-6
    fd = (i_of_ef(knot + h) - i_of_ef(knot - h)) / (2 * h)
    np.testing.assert_allclose(g[0], fd, rtol=1e-4)


@pytest.mark.parametrize("quadrature", ["hermite", "direct"])
def test_current_gradients_match_finite_differences(quadrature):
    """∂I/∂θ for every parameter and ∂I/∂V, by AD and by central differences."""
    cfg = dataclasses.replace(CFG, quadrature=quadrature)
    p = ds.BarrierParams(jnp.array([0.31, 0.28]), jnp.array([7.3, 12.8]), jnp.array([2.1, 1.9]), jnp.asarray(0.095))
    v = 0.17
    g_p, g_v = jax.grad(current_unchecked, argnums=(0, 1))(p, jnp.asarray(v), cfg)
    h = 1e-6
    leaves, tree = jax.tree_util.tree_flatten(p)
    grads = jax.tree_util.tree_leaves(g_p)
    for k, leaf in enumerate(leaves):
        leaf = np.atleast_1d(np.asarray(leaf, float))
        for j in range(leaf.size):
            bumped = []
            for sign in (1, -1):
                new = leaf.copy()
                new[j] += sign * h
                ls = list(leaves)
                ls[k] = jnp.asarray(new.reshape(np.shape(leaves[k])))
                bumped.append(float(current_unchecked(jax.tree_util.tree_unflatten(tree, ls), jnp.asarray(v), cfg)))
            fd = (bumped[0] - bumped[1]) / (2 * h)
            np.testing.assert_allclose(np.atleast_1d(grads[k])[j], fd, rtol=2e-4, atol=1e-6)
    fd_v = (current_unchecked(p, jnp.asarray(v + h), cfg) - current_unchecked(p, jnp.asarray(v - h), cfg)) / (2 * h)
    np.testing.assert_allclose(g_v, fd_v, rtol=2e-4)


def test_gradient_finite_at_band_edge_and_zero_bias():
    """Every gradient path stays finite: V = 0 (empty range) and V ≥ E_F (node at E = U_L = 0)."""
    for v in (0.0, 0.1, 0.4):
        g = jax.grad(current_unchecked)(P0, jnp.asarray(v), CFG)
        assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(g))


def test_iv_curve_equals_pointwise_current():
    i = ds.iv_curve(P0, BIASES[::6], CFG)
    np.testing.assert_allclose(i, [float(ds.current(P0, v, CFG)) for v in BIASES[::6]], rtol=1e-12)
