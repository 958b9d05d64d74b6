"""Self-consistent Schrödinger–Poisson RTD (physics.md §11, eqs. 11.1–11.5)."""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.physics import density as dn
from diffsim_jax.physics import statistics
from diffsim_jax.physics import poisson as ps
from diffsim_jax.models import selfconsistent as sc
from diffsim_jax.physics.materials import LinearAlloy
from diffsim_jax.physics.layers import Layer, Stack, first_barrier_centre_nm

N = 150
CFG = sc.SolverConfig(n_points=N)
FIELDS = ("thickness_nm", "al_fraction", "doping_cm3")


def rtd(doping=2e18, contact=25.0, barrier_x=0.3) -> Stack:
    return Stack(
        [
            Layer(contact, 0.0, doping),
            Layer(3.0),
            Layer(2.5, barrier_x),
            Layer(4.5),
            Layer(2.5, barrier_x),
            Layer(3.0),
            Layer(contact, 0.0, doping),
        ]
    )


def with_field(stack, field, k, delta):
    arrays = {f: np.asarray(getattr(stack, f), float).copy() for f in FIELDS}
    arrays[field][k] += delta
    return Stack.from_arrays(*(jnp.asarray(arrays[f]) for f in FIELDS))


def plain_residual(sol, stack, bias, config=CFG):
    """max|U_band + U_H[n[U]] − U| recomputed outside the solver (physics.md eq. 11.4)."""
    p = sc.point_inputs(stack, bias, 300.0, config)
    d = dn.density_on_grid(
        sol.potential_eV, p.m_eff, p.length_nm, p.mu_left, p.mu_right, p.kT, p.emitter_mask, sol.grid, config.density
    )
    u_h = ps.solve_poisson(p.eps_r, p.length_nm, p.doping_nm3, d.density_nm3, 0.0, p.u_right - p.band_edge_eV[-1])
    return float(jnp.max(jnp.abs(p.band_edge_eV + u_h - sol.potential_eV)))


@pytest.fixture(scope="module")
def sweep():
    return sc.self_consistent_iv(rtd(), np.linspace(0.0, 0.3, 7), config=CFG, progress=False)


def test_zero_bias_neutral_contacts_zero_current_and_residual(sweep):
    sol = sweep.solutions_up[0]
    assert sol.converged and sol.residual_eV < 1e-6
    assert float(sol.current_density_Acm2) == 0.0  # μ_L = μ_R: the supply functions cancel exactly
    x, n, nd = np.asarray(sol.x_nm), np.asarray(sol.density_cm3), np.asarray(sol.doping_cm3)
    deep = (x < 5.0) | (x > x[-1] - 5.0)  # > 4 screening lengths (λ_s = 4.75 nm) from the spacers
    assert np.max(np.abs(n[deep] / nd[deep] - 1.0)) < 1e-2  # charge neutral deep in the contacts
    # and the device as a whole is neutral (no field at the contacts, Gauss's law)
    assert abs(np.sum(nd - n)) < 1e-3 * np.sum(nd)
    assert plain_residual(sol, rtd(), 0.0) < 1e-6
    # E_F of the contact: N_D = N_c 𝓕_{1/2}(E_F/k_BT)
    assert float(sol.fermi_level_eV) == pytest.approx(float(statistics.fermi_level_from_doping(2e18)), abs=1e-12)
    # at zero bias the undoped spacers are charged by spill-over and the bands bend up there
    assert np.max(np.asarray(sol.hartree_eV)) > 0.005


def test_fixed_point_residual_with_an_independent_density_grid(sweep):
    """The public electron_density (its own adaptive energy grid) + hartree_potential reproduce U."""
    stack = rtd()
    for k in (0, 3, 6):
        sol, bias = sweep.solutions_up[k], float(sweep.biases[k])
        assert sol.residual_eV < 1e-6 and plain_residual(sol, stack, bias) < 1e-6
        n = dn.electron_density(
            sol.potential_eV, sol.fermi_level_eV, bias, float(stack.length_nm), sol.m_eff,
            emitter_end_nm=float(first_barrier_centre_nm(stack)),
        )
        u_h = ps.hartree_potential(sol.eps_r, float(stack.length_nm), sol.doping_cm3, n, bias)
        assert float(jnp.max(jnp.abs(sol.band_edge_eV + u_h - sol.potential_eV))) < 2e-6


def test_sweep_up_down_and_continuation(sweep):
    j_up, j_down = np.asarray(sweep.current_up), np.asarray(sweep.current_down)
    assert np.all(j_up[1:] > 0)
    assert sweep.bistable.shape == (7,) and not np.any(sweep.bistable)  # thin barriers: no hysteresis
    np.testing.assert_allclose(j_down, j_up, rtol=1e-5)
    assert np.all(sweep.iterations_up[1:] <= 20)  # continuation from the previous bias
    assert all(s.converged for s in sweep.solutions_up + sweep.solutions_down)
    assert max(s.quadrature_error for s in sweep.solutions_up) < 1e-3


def test_asymmetric_rtd_is_intrinsically_bistable():
    """A thick collector barrier stores charge in the well: between ~0.28 and 0.36 V the up sweep
    stays on resonance (charged well, high J) while the down sweep stays off it (Goldman, Tsui &
    Cunningham, PRL 58, 1256 (1987)); outside that window the two sweeps agree."""
    stack = Stack(
        [Layer(25.0, 0.0, 2e18), Layer(5.0), Layer(4.0, 0.35), Layer(5.0), Layer(6.0, 0.35), Layer(5.0), Layer(25.0, 0.0, 2e18)]
    )
    biases = np.linspace(0.2, 0.42, 12)
    res = sc.self_consistent_iv(stack, biases, config=CFG, progress=False)
    assert all(s.converged for s in res.solutions_up + res.solutions_down)
    j_up, j_down = np.asarray(res.current_up), np.asarray(res.current_down)
    window = (biases > 0.29) & (biases < 0.35)
    assert np.all(res.bistable[window]) and np.all(j_up[window] > 1.2 * j_down[window])
    outside = (biases < 0.25) | (biases > 0.39)
    assert not np.any(res.bistable[outside])
    np.testing.assert_allclose(j_up[outside], j_down[outside], rtol=1e-4)
    # the up branch holds more charge in the well (x ≈ 39.5–44.5 nm) at the same bias
    k = int(np.nonzero(window)[0][0])
    x = np.asarray(res.solutions_up[k].x_nm)
    well = (x > 39.5) & (x < 44.5)
    assert np.sum(np.asarray(res.solutions_up[k].density_cm3)[well]) > 2 * np.sum(np.asarray(res.solutions_down[k].density_cm3)[well])


def test_charge_free_limit_is_the_band_profile_plus_bias_ramp():
    """Undoped stack, E_F far below the bands: U = U_band + the charge-free Poisson solution, which is
    the linear ramp −V x/L when ε_r is uniform (physics.md §11)."""
    undoped = rtd(doping=0.0)
    bias = 0.2
    uniform_eps = LinearAlloy(name="uniform-eps", eps_r_coeffs=(12.9, 0.0))
    sol = sc.solve_self_consistent(undoped, bias, config=CFG, fermi_level_eV=-0.5, materials=uniform_eps)
    x = np.asarray(sol.x_nm)
    np.testing.assert_allclose(sol.potential_eV, np.asarray(sol.band_edge_eV) - bias * x / x[-1], atol=1e-6)
    # with the AlGaAs permittivity the charge-free solution is the constant-flux profile instead
    sol = sc.solve_self_consistent(undoped, bias, config=CFG, fermi_level_eV=-0.5)
    zero = np.zeros(N)
    u_h = ps.hartree_potential(sol.eps_r, x[-1], zero, zero, bias)
    np.testing.assert_allclose(sol.potential_eV, np.asarray(sol.band_edge_eV + u_h), atol=1e-6)
    assert np.max(np.abs(np.asarray(u_h) + bias * x / x[-1])) > 1e-4


def test_implicit_gradients_match_central_differences(sweep):
    """dJ/dθ and d(loss)/dθ by the implicit function theorem vs. central differences of
    fully converged solutions (same frozen energy grid, tolerance 1e-11 eV)."""
    stack, bias = rtd(), float(sweep.biases[4])
    start = sweep.solutions_up[4]
    tight = dataclasses.replace(CFG, tol_eV=1e-11, max_adapt_steps=0)

    def outputs(st):
        sol = sc.solve_self_consistent(st, bias, config=tight, initial=start)
        loss = jnp.mean(sol.hartree_eV**2) + jnp.mean((sol.density_cm3 / 1e18) ** 2) * 1e-3
        return sol.current_density_Acm2, loss

    g_j = jax.grad(lambda st: outputs(st)[0])(stack)
    g_l = jax.grad(lambda st: outputs(st)[1])(stack)
    for field, k, h in (("thickness_nm", 3, 1e-3), ("al_fraction", 2, 1e-4), ("doping_cm3", 0, 1e15)):
        plus, minus = outputs(with_field(stack, field, k, h)), outputs(with_field(stack, field, k, -h))
        for which, grad in ((0, g_j), (1, g_l)):
            fd = (float(plus[which]) - float(minus[which])) / (2 * h)
            ad = float(getattr(grad, field)[k])
            assert ad == pytest.approx(fd, rel=2e-5), (field, k, which, ad, fd)


def test_quasi_bound_emitter_states_filling():
    """States below the emitter band edge (physics.md §11): in equilibrium with the emitter
    (default) the accumulation notch is filled and the emitter contact stays neutral; filled
    only from the collector (pure coherent scattering states) the emitter loses the electrons
    below U_L wherever its band bends down, depletes and the solution is unphysical."""
    stack, bias = rtd(), 0.3
    em = sc.solve_self_consistent(stack, bias, config=CFG)
    co_cfg = dataclasses.replace(
        CFG, contact_tolerance_kT=1e9, density=dataclasses.replace(CFG.density, notch_filling="collector")
    )
    co = sc.solve_self_consistent(stack, bias, config=co_cfg)
    x = np.asarray(em.x_nm)
    spacer = (x > 20.0) & (x < 28.0)  # emitter accumulation layer before the first barrier
    assert np.min(np.asarray(em.potential_eV)[spacer]) < 0.0  # a notch below the emitter band edge
    assert np.sum(np.asarray(em.density_cm3)[spacer]) > 1.5 * np.sum(np.asarray(co.density_cm3)[spacer])
    inner = (x > 2.0) & (x < 5.0)
    assert np.all(np.abs(np.asarray(em.density_cm3)[inner] / 2e18 - 1) < 0.03)
    assert np.all(np.asarray(co.density_cm3)[inner] / 2e18 < 0.8)  # the depleted emitter
    with pytest.raises(ValueError, match="too short to be charge-neutral"):  # which the contact check catches
        sc.solve_self_consistent(stack, bias, config=dataclasses.replace(co_cfg, contact_tolerance_kT=0.25))


def test_bad_inputs_raise_clear_errors():
    good = rtd()
    bad_doping = Stack.from_arrays(good.thickness_nm, good.al_fraction, good.doping_cm3.at[1].set(-1e17))
    with pytest.raises(ValueError, match="doping"):
        sc.solve_self_consistent(bad_doping, 0.1, config=CFG)
    with pytest.raises(ValueError, match="undoped"):
        sc.solve_self_consistent(rtd(doping=0.0), 0.1, config=CFG)
    with pytest.raises(ValueError, match="too short"):
        sc.solve_self_consistent(rtd(contact=3.0), 0.1, config=CFG)
    with pytest.raises(ValueError, match="bias"):
        sc.solve_self_consistent(good, -0.1, config=CFG)
    with pytest.raises(ValueError, match="temperature"):
        sc.solve_self_consistent(good, 0.1, 0.0, config=CFG)
    with pytest.raises(ValueError, match="on_failure"):
        sc.SolverConfig(on_failure="ignore")
    with pytest.raises(ValueError, match="increasing"):
        sc.self_consistent_iv(good, [0.2, 0.1], config=CFG, progress=False)
    with pytest.raises(ValueError, match="direction"):
        sc.self_consistent_iv(good, [0.1, 0.2], config=CFG, direction="sideways", progress=False)
    # non-convergence is never silent: an error by default, a flag plus a warning on request
    short = dataclasses.replace(CFG, tol_eV=1e-30)  # unreachable: the iteration stalls at round-off
    with pytest.raises(RuntimeError, match="did not converge"):
        sc.solve_self_consistent(good, 0.2, config=short)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = sc.solve_self_consistent(good, 0.2, config=dataclasses.replace(short, on_failure="warn"))
    assert not sol.converged and sol.residual_eV < 1e-12  # converged to round-off, not to 1e-30
    assert any(issubclass(w.category, RuntimeWarning) and "did not converge" in str(w.message) for w in caught)
    assert np.all(np.isfinite(np.asarray(sol.potential_eV)))


def test_failed_continuation_restarts_and_never_passes_silently(sweep):
    """A start the fixed point cannot converge from (NaN potential) falls through the
    continuation starts to the default guess — or raises when restarts are off."""
    good = sweep.solutions_up[2]
    poisoned = good._replace(potential_eV=jnp.full_like(good.potential_eV, jnp.nan))
    sol = sc.solve_self_consistent(rtd(), 0.1, config=CFG, initial=poisoned)
    assert sol.converged and sol.attempts == 3  # shifted start, re-adapted grid, default guess
    assert plain_residual(sol, rtd(), 0.1) < 1e-5
    assert float(jnp.max(jnp.abs(sol.potential_eV - sweep.solutions_up[2].potential_eV))) < 1e-5
    with pytest.raises(RuntimeError, match="from each of 2 starting points"):
        sc.solve_self_consistent(rtd(), 0.1, config=CFG, initial=poisoned, fresh_restart=False)


def test_sweep_recovers_where_the_secant_start_locks_into_a_two_cycle():
    """Regression: on this asymmetric RTD the secant start at 0.0375 V locks the fixed point
    into a period-2 cycle (residual 0.018 eV after 150 iterations); the sweep must still
    converge (restart from the un-extrapolated start) and stay on the branch."""
    stack = Stack([Layer(30.0, 0.0, 2e18), Layer(5.0), Layer(4.0, 0.35), Layer(5.0), Layer(6.0, 0.35),
                   Layer(5.0), Layer(30.0, 0.0, 2e18)])
    config = sc.SolverConfig(n_points=300)
    biases = np.linspace(0.0, 0.6, 49)[:5]
    res = sc.self_consistent_iv(stack, biases, config=config, direction="up", progress=False)
    assert all(s.converged and s.residual_eV < config.tol_eV for s in res.solutions_up)
    for s, v in zip(res.solutions_up, biases):
        assert plain_residual(s, stack, v, config) < 1e-5
