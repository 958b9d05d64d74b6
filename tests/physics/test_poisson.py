"""Poisson equation for the Hartree potential (physics.md §11, eq. 11.3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax  # noqa: F401  (float64)
from diffsim_jax.physics import poisson as ps
C = ps.Q2_OVER_EPS0_EV_NM  # eV·nm


def test_constants():
    # e/ε₀ in V·m from CODATA 2018, in eV·nm for a charge e
    assert C == pytest.approx(1.602176634e-19 / 8.8541878128e-12 * 1e9, rel=1e-5)
    assert ps.NM3_PER_CM3 == 1e-21


def test_neutral_gives_linear_ramp():
    """n = N_D everywhere and uniform ε: U_H is the straight line 0 → −V (physics.md §4)."""
    n, length, bias = 121, 40.0, 0.37
    x = np.linspace(0, length, n)
    nd = np.full(n, 3e18)
    u = ps.hartree_potential(np.full(n, 12.9), length, nd, nd, bias)
    np.testing.assert_allclose(u, -bias * x / length, atol=1e-14)


def test_charge_free_with_varying_permittivity_has_constant_flux():
    """Without charge ε dU/dx is the same on every bond (the discrete Gauss law)."""
    n, length = 90, 30.0
    x = np.linspace(0, length, n)
    eps = 12.9 - 2.84 * 0.3 / (1 + np.exp(-(x - 15) / 0.3))
    u = np.asarray(ps.hartree_potential(eps, length, np.zeros(n), np.zeros(n), 0.2))
    flux = np.asarray(ps.bond_permittivity(jnp.asarray(eps))) * np.diff(u)
    np.testing.assert_allclose(flux, flux[0], rtol=1e-12)
    assert u[0] == 0.0 and u[-1] == pytest.approx(-0.2, abs=1e-15)


def test_uniform_charge_parabola_is_exact():
    """ε U'' = C(N_D − n) = const has a quadratic solution, which the 3-point scheme reproduces exactly."""
    n, length, bias, eps = 101, 50.0, 0.2, 12.9
    x = np.linspace(0, length, n)
    nd = np.full(n, 1e18)
    u = ps.hartree_potential(np.full(n, eps), length, nd, np.zeros(n), bias)
    rho = C * 1e18 * 1e-21  # C·N_D in eV/nm²
    exact = -bias * x / length - rho / (2 * eps) * x * (length - x)  # ε U'' = ρ > 0
    np.testing.assert_allclose(u, exact, atol=1e-13)
    # positive charge bends the electron potential energy down (a well in the middle)
    assert 40 <= int(np.argmin(u)) <= 65


def test_depletion_region_profile():
    """Depletion approximation of a uniformly doped layer: n = 0 on [0, W), n = N_D beyond.

    U_H(x) = C N_D (W − x)²/(2ε) for x < W and 0 beyond. With the kink on a grid point
    (carrying half the charge, as box integration assigns it) the discrete solution is exact.
    """
    n, length, eps, nd0 = 201, 100.0, 12.9, 5e17
    x = np.linspace(0, length, n)
    j_w = 60
    w = x[j_w]
    dens = np.where(x < w, 0.0, nd0)
    dens[j_w] = 0.5 * nd0
    rho = C * nd0 * 1e-21
    exact = np.where(x < w, rho * (w - x) ** 2 / (2 * eps), 0.0)
    u = ps.hartree_potential(np.full(n, eps), length, np.full(n, nd0), dens, 0.0, u_left=exact[0], u_right=0.0)
    np.testing.assert_allclose(u, exact, atol=1e-12)


def _two_media_exact(x, xi, eps1, eps2, rho, length, bias):
    """ε_k U'' = ρ = C(N_D − n) on each side of x_i, U and εU' continuous, U(0) = 0, U(L) = −V."""
    # U1 = ρx²/(2ε1) + a1 x ; U2 = ρx²/(2ε2) + a2 x + b2
    m = np.array(
        [
            [xi, -xi, -1.0],  # U continuous
            [eps1, -eps2, 0.0],  # flux continuous
            [0.0, length, 1.0],  # U(L) = −V
        ]
    )
    rhs = np.array(
        [rho * xi**2 / (2 * eps2) - rho * xi**2 / (2 * eps1), 0.0, -bias - rho * length**2 / (2 * eps2)]
    )
    a1, a2, b2 = np.linalg.solve(m, rhs)
    return np.where(x <= xi, rho * x**2 / (2 * eps1) + a1 * x, rho * x**2 / (2 * eps2) + a2 * x + b2)


def test_abrupt_permittivity_step_converges_at_second_order():
    """Piecewise ε with the step at a bond midpoint: the harmonic bond mean keeps the flux exact,
    the error against the analytic piecewise-quadratic solution falls as a²."""
    length, bias, eps1, eps2, nd0 = 40.0, 0.1, 12.9, 11.2, 2e18
    rho = C * nd0 * 1e-21
    errors = []
    for n in (41, 81, 161):
        x = np.linspace(0, length, n)
        a = length / (n - 1)
        xi = x[(n - 1) // 2] + 0.5 * a  # a bond midpoint
        eps = np.where(x < xi, eps1, eps2)
        u = ps.hartree_potential(eps, length, np.full(n, nd0), np.zeros(n), bias)
        errors.append(np.max(np.abs(np.asarray(u) - _two_media_exact(x, xi, eps1, eps2, rho, length, bias))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > 1.8), (errors, rates)
    assert errors[-1] < 1e-3


def test_residual_zero_at_solution_and_gradient():
    n, length = 60, 20.0
    rng = np.random.default_rng(3)
    eps = jnp.asarray(12.0 + rng.uniform(0, 1, n))
    nd = jnp.asarray(rng.uniform(0, 2e-3, n))
    dens = jnp.asarray(rng.uniform(0, 2e-3, n))
    u = ps.solve_poisson(eps, length, nd, dens, 0.0, -0.3)
    assert float(jnp.max(jnp.abs(ps.poisson_residual(eps, length, nd, dens, u)))) < 1e-12

    def f(e, d, ln):
        return jnp.sum(jnp.sin(jnp.arange(n)) * ps.solve_poisson(e, ln, nd, d, 0.01, -0.3))

    g = jax.grad(f, argnums=(0, 1, 2))(eps, dens, length)
    h = 1e-6
    for k in (0, 17, 41):
        de = jnp.zeros(n).at[k].set(h)
        fd = (f(eps + de, dens, length) - f(eps - de, dens, length)) / (2 * h)
        assert float(g[0][k]) == pytest.approx(float(fd), rel=1e-6, abs=1e-12)
        dd = jnp.zeros(n).at[k].set(1e-7)
        fd = (f(eps, dens + dd, length) - f(eps, dens - dd, length)) / 2e-7
        assert float(g[1][k]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
    fd = (f(eps, dens, length + 1e-3) - f(eps, dens, length - 1e-3)) / 2e-3
    assert float(g[2]) == pytest.approx(float(fd), rel=1e-5)
