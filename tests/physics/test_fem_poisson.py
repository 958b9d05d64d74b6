"""Galerkin Poisson equation on the finite-element mesh (physics.md §14.10): convergence orders on a
manufactured solution, exactness for abrupt permittivity steps, Gauss's law, agreement with the
finite-difference solver, gradients, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax.physics import fem
from diffsim_jax.physics import fem_density as fd
from diffsim_jax.physics import fem_poisson as fp
from diffsim_jax.physics.poisson import (
    NM3_PER_CM3,
    Q2_OVER_EPS0_EV_NM,
    hartree_potential,
)

L = 10.0


def eps_smooth(x):
    return 12.0 + 2.0 * jnp.sin(x / 3.0)


def u_exact(x):
    return jnp.sin(x / 2.0) + x**2 / 50.0


def source(x):
    """s = d/dx[ε dU/dx] for the manufactured U and ε."""
    du = 0.5 * jnp.cos(x / 2.0) + x / 25.0
    d2u = -0.25 * jnp.sin(x / 2.0) + 1.0 / 25.0
    return (2.0 / 3.0) * jnp.cos(x / 3.0) * du + eps_smooth(x) * d2u


def orders(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_manufactured_solution_converges_at_p_plus_1_inside_and_2p_at_element_ends(p):
    inner, ends = [], []
    ns = (4, 8, 16) if p == 4 else (4, 8, 16, 32)
    for n in ns:
        nodes = fem.mesh_nodes(fem.uniform_mesh(n, L), L)
        xq = fem.quadrature_points(nodes, p)
        nodal = fp.solve_poisson_on_mesh(nodes, eps_smooth(xq), source(xq), p, u_exact(0.0), u_exact(L))
        u, _ = fd.evaluate(nodal, nodes, p, fem.reference_element(p).points)
        inner.append(float(jnp.max(jnp.abs(u - u_exact(xq)))))
        ends.append(float(jnp.max(jnp.abs(nodal[:, 0] - u_exact(nodes[:-1])))))
    assert np.all(np.abs(orders(inner) - (p + 1)) < 0.15), inner
    ends = [e for e in ends if e > 1e-11]  # p = 4 reaches round-off (1.6e-13) at n = 16
    assert np.all(np.abs(orders(ends) - 2 * p) < 0.2), ends


@pytest.mark.parametrize("p", [2, 3])
def test_abrupt_permittivity_steps_are_exact(p):
    """Piecewise-constant ε with steps at element ends and a constant charge: the exact U_H is piecewise
    quadratic with ε U′ continuous, which the degree-p space contains — reproduced to round-off."""
    bps = np.array([3.0, 6.5])
    eps_vals, s0 = np.array([12.9, 12.05, 12.4]), 0.3

    def eps(x):
        return jnp.where(x < bps[0], eps_vals[0], jnp.where(x < bps[1], eps_vals[1], eps_vals[2]))

    # exact: ε U′ = s0·x + c on each layer (flux continuous), U continuous, U(0) = 0, U(L) = −0.2
    def integral(x, c):  # ∫0^x (s0 t + c)/ε(t) dt, piecewise
        edges = np.concatenate([[0.0], bps, [L]])
        total = 0.0
        for k in range(3):
            a, b = edges[k], np.clip(x, edges[k], edges[k + 1])
            total = total + ((0.5 * s0 * (b**2 - a**2) + c * (b - a)) / eps_vals[k]) * (x > a)
        return total

    c = (-0.2 - integral(L, 0.0)) / (integral(L, 1.0) - integral(L, 0.0))
    mesh = fem.uniform_mesh(9, L, bps)
    nodes = fem.mesh_nodes(mesh, L, jnp.asarray(bps))
    xq = fem.quadrature_points(nodes, p)
    nodal = fp.solve_poisson_on_mesh(nodes, eps(xq), jnp.full(xq.shape, s0), p, 0.0, -0.2)
    u, du = fd.evaluate(nodal, nodes, p, fem.reference_element(p).points)
    np.testing.assert_allclose(np.asarray(u), integral(np.asarray(xq), c), atol=1e-13)
    np.testing.assert_allclose(np.asarray(eps(xq) * du), s0 * np.asarray(xq) + c, atol=1e-12)


def test_gauss_law_and_agreement_with_finite_differences():
    """ε_r U_H′ jumps by (q²/ε₀)∫(N_D − n) across the device (Gauss); the FD solver (physics.md §11.1)
    converges to the FEM U_H at second order."""
    length = 40.0

    def doping(x):
        return 1e18 * (1.0 - 0.9 * jnp.exp(-(((x - 20.0) / 6.0) ** 2)))

    def density(x):
        return 8e17 + 1e17 * jnp.sin(x / 5.0)

    def eps(x):
        return 12.9 - 0.5 * jnp.exp(-(((x - 20.0) / 3.0) ** 2))

    _, _, du = fp.hartree_potential_fem(eps, doping, density, length, order=4, n_elements=40, u_left=0.0, u_right=-0.1,
                                        points=np.array([0.0, 1.0]))
    flux_jump = float(eps(length) * du[-1, 1] - eps(0.0) * du[0, 0])
    xs = np.linspace(0.0, length, 20001)
    charge = np.trapezoid(np.asarray(doping(jnp.asarray(xs)) - density(jnp.asarray(xs))), xs) * NM3_PER_CM3
    np.testing.assert_allclose(flux_jump, Q2_OVER_EPS0_EV_NM * charge, rtol=1e-6)  # pointwise U′ at the ends: O(h^p)
    diffs = []
    for n_fd in (81, 161, 321):
        xg = jnp.linspace(0.0, length, n_fd)
        u_fd = np.asarray(hartree_potential(eps(xg), length, doping(xg), density(xg), 0.1))
        k_sub = (n_fd - 1) // 40
        _, u_fem, _ = fp.hartree_potential_fem(eps, doping, density, length, order=4, n_elements=40, u_left=0.0,
                                               u_right=-0.1, points=np.arange(k_sub) / k_sub)
        diffs.append(np.max(np.abs(u_fd[:-1] - np.asarray(u_fem).reshape(-1))))
    assert np.all(np.abs(orders(diffs) - 2.0) < 0.1), diffs


def test_gradient_through_the_condensed_solve():
    """d/dθ of ∫U_H² through the condensation, gtsv and back-substitution, against central differences."""
    nodes = fem.mesh_nodes(fem.uniform_mesh(12, L), L)
    xq = fem.quadrature_points(nodes, 3)
    w = jnp.asarray(fem.reference_element(3).weights)

    @jax.jit
    def f(theta):
        nodal = fp.solve_poisson_on_mesh(nodes, eps_smooth(xq) * theta[0], source(xq) * theta[1], 3, theta[2], -0.1)
        u, _ = fd.evaluate(nodal, nodes, 3, fem.reference_element(3).points)
        return jnp.sum(u**2 * w * (0.5 * (nodes[1:] - nodes[:-1]))[:, None])

    theta = jnp.array([1.1, 0.9, 0.05])
    g = np.asarray(jax.grad(f)(theta))
    h = 1e-6
    num = np.array([(f(theta.at[i].add(h)) - f(theta.at[i].add(-h))) / (2 * h) for i in range(3)])
    np.testing.assert_allclose(g, num, rtol=1e-7)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="order"):
        fp.hartree_potential_fem(12.9, 1e18, 1e18, 10.0, order=0)
    with pytest.raises(ValueError, match="n_elements"):
        fp.hartree_potential_fem(12.9, 1e18, 1e18, 10.0, n_elements=0)
    with pytest.raises(ValueError, match="length_nm"):
        fp.hartree_potential_fem(12.9, 1e18, 1e18, -1.0)
    with pytest.raises(ValueError, match="eps_r"):
        fp.hartree_potential_fem(-1.0, 1e18, 1e18, 10.0)
    with pytest.raises(ValueError, match="doping_cm3"):
        fp.hartree_potential_fem(12.9, lambda x: jnp.ones(3), 1e18, 10.0)
