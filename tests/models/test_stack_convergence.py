"""The default spatial grid of a layer stack is converged and says how converged it is
(physics.md §9.4, eqs. 9.11–9.13; issue #16 §1).

For each stack: the default grid (eq. 9.13), refined by the Richardson estimate (eq. 9.12)
until it meets 0.5 % of the first peak, must have a *true* error — against a reference
extrapolated from a grid twice as fine — within that tolerance at every bias, and the
estimate must track the true error. Stacks of two lengths (60 and 150 nm), barriers of
1.5–4 nm, well 4.5–6 nm; the self-consistent pair is in the slow set.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.design.metrics import ndr_figures
from diffsim_jax.models.selfconsistent import SolverConfig, self_consistent_iv
from diffsim_jax.models.stack import StackModel, StackParams, contact_fermi_level
from diffsim_jax.observables import current_density_curve
from diffsim_jax.physics import convergence as cv
from diffsim_jax.physics.layers import Layer, Stack, default_n_points, default_spacing_nm

TOL = cv.DEFAULT_GRID_TOLERANCE
T_K = 300.0


def rtd(length, barrier, well, spacer, al, doping=1e18, barrier2=None):
    """n⁺ contact | spacer | barrier | well | barrier | spacer | n⁺ contact, total ``length`` nm."""
    b2 = barrier if barrier2 is None else barrier2
    contact = 0.5 * (length - 2 * spacer - barrier - b2 - well)
    return Stack([Layer(contact, 0.0, doping), Layer(spacer, 0.0, 0.0), Layer(barrier, al, 0.0), Layer(well, 0.0, 0.0),
                  Layer(b2, al, 0.0), Layer(spacer, 0.0, 0.0), Layer(contact, 0.0, doping)])


#: name -> stack; within a length the default grids coincide (same Al fraction, doping and
#: length), so the J(V) of each grid compiles once per length.
STACKS = {
    "60nm, 2.5 nm Al0.3 barriers, 4.5 nm well": rtd(60.0, 2.5, 4.5, 3.0, 0.3),
    "60nm, 1.5 nm Al0.3 barriers, 6 nm well": rtd(60.0, 1.5, 6.0, 2.0, 0.3),
    "150nm, 3 nm Al0.35 barriers, 5 nm well": rtd(150.0, 3.0, 5.0, 5.0, 0.35),
    "150nm, 4/2.5 nm Al0.35 barriers, 5 nm well": rtd(150.0, 4.0, 5.0, 5.0, 0.35, barrier2=2.5),
}
BIASES = jnp.linspace(0.0, 0.48, 13)


@functools.lru_cache(maxsize=None)
def _jv(n_points):
    model = StackModel(n_points=n_points)
    return jax.jit(lambda p, b: current_density_curve(model, p, b, T_K))


def jv(params, n_points):
    return np.asarray(_jv(n_points)(params, BIASES))


def peak(j):
    return abs(ndr_figures(np.asarray(BIASES), j)["peak"])


@pytest.mark.parametrize("name", list(STACKS))
def test_default_grid_meets_the_tolerance_and_the_estimate_tracks_the_true_error(name):
    stack = STACKS[name]
    params = StackParams(stack, jnp.asarray(contact_fermi_level(stack, T_K)))
    model = StackModel().with_grid(params, T_K)
    assert model.n_points == default_n_points(stack, float(params.fermi_level), T_K) and model.n_points % 2 == 1
    est = cv.error_controlled(lambda n: (jv(params, n), None), model.n_points, TOL, peak)
    assert est.met and est.relative_error <= TOL
    # reference: twice as fine, extrapolated (eq. 9.11); the true error of the returned J(V)
    fine = jv(params, 2 * (est.n_points - 1) + 1)
    reference = fine + (fine - est.values) / 3.0
    true = np.max(np.abs(est.values - reference)) / peak(reference)
    assert true <= TOL, f"{name}: true spatial error {100 * true:.3f} % of the peak"
    assert 0.5 <= est.relative_error / true <= 2.0, (est.relative_error, true)
    # J converges at second order: halving a cuts the largest change by ~4
    assert 2.5 < np.max(np.abs(est.values - est.coarse_values)) / np.max(np.abs(fine - est.values)) < 6.0


def test_the_old_fixed_grid_is_flagged_by_its_own_estimate():
    """N = 170 over a 95 nm RTD (issue #16: peak 5 %, valley 31 % off): the estimate says so."""
    stack = rtd(95.0, 2.5, 4.5, 3.0, 0.3)
    params = StackParams(stack, jnp.asarray(contact_fermi_level(stack, T_K)))
    est = cv.error_controlled(lambda n: (jv(params, n), None), 171, TOL, peak, refine=False)
    assert not est.met and est.relative_error > 10 * TOL


def test_spacing_rule_follows_the_decay_length_and_the_thinnest_layer():
    """eq. 9.13: a ∝ 1/κ_max of the tallest barrier; thin layers get ≥ 8 cells."""
    low, high = rtd(60.0, 2.5, 4.5, 3.0, 0.3), rtd(60.0, 2.5, 4.5, 3.0, 0.4)
    ef = 0.04
    a_low, a_high = default_spacing_nm(low, ef, T_K), default_spacing_nm(high, ef, T_K)
    kappa = lambda x: np.sqrt((0.067 + 0.083 * x) * 0.8355 * x)  # noqa: E731  κ ∝ √(m ΔE_c)
    np.testing.assert_allclose(a_low / a_high, kappa(0.4) / kappa(0.3), rtol=1e-12)
    thin = rtd(60.0, 0.2, 4.5, 3.0, 0.3)
    assert default_spacing_nm(thin, ef, T_K) <= 0.2 / 8 + 1e-15


def test_error_controlled_refines_until_met_on_a_known_second_order_sequence():
    """Q_N = Q + c·a² exactly: the estimate is exact, each refinement doubles N."""
    exact, c = np.array([1.0, 2.0, 3.0]), np.array([0.3, -0.2, 0.1])
    calls = []

    def solve(n):
        calls.append(n)
        return exact + c * (1.0 / (n - 1)) ** 2, n

    est = cv.error_controlled(solve, 11, 1e-6, lambda v: 3.0)
    np.testing.assert_allclose(est.error, np.abs(est.values - exact), rtol=1e-9)
    assert est.met and calls == [6, 11, 21, 41, 81, 161, 321][: len(calls)] and est.refinements == len(calls) - 2
    with pytest.raises(ValueError, match="tolerance"):
        cv.error_controlled(solve, 11, 0.0)


SC_STACKS = {
    "70 nm, 2.5 nm Al0.3 barriers": rtd(70.0, 2.5, 4.5, 3.0, 0.3, doping=2e18),
    "76 nm, 4/6 nm Al0.35 barriers (bistable kind)": rtd(76.0, 4.0, 5.0, 5.0, 0.35, doping=2e18, barrier2=6.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SC_STACKS))
def test_self_consistent_default_grid_meets_the_tolerance(name):
    stack = SC_STACKS[name]
    biases = np.linspace(0.0, 0.4, 9)
    params = StackParams(stack, jnp.asarray(contact_fermi_level(stack, T_K)))
    model = StackModel().with_grid(params, T_K)

    def solve(n):
        sweep = self_consistent_iv(stack, biases, T_K, config=SolverConfig(n_points=n), direction="up", progress=False)
        return np.asarray(sweep.current_up), None

    scale = lambda j: abs(ndr_figures(biases, j)["peak"])  # noqa: E731
    est = cv.error_controlled(solve, model.n_points, TOL, scale)
    assert est.met
    fine = solve(2 * (est.n_points - 1) + 1)[0]
    reference = fine + (fine - est.values) / 3.0
    true = np.max(np.abs(est.values - reference)) / scale(reference)
    assert true <= TOL, f"{name}: true spatial error {100 * true:.3f} % of the peak"
    assert 0.5 <= est.relative_error / true <= 2.0, (est.relative_error, true)
