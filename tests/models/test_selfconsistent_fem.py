"""Self-consistent Schrödinger–Poisson on finite elements (physics.md §14.11): convergence of the fixed
point, neutral contacts, Gauss's law, and agreement with the finite-difference solver (physics.md §11)
as its grid refines."""

import numpy as np
import pytest

from diffsim_jax.models import selfconsistent as sc
from diffsim_jax.models import selfconsistent_fem as scf
from diffsim_jax.physics.layers import Layer, Stack
from diffsim_jax.physics.poisson import NM3_PER_CM3, Q2_OVER_EPS0_EV_NM

STACK = Stack([Layer(30, 0, 1e18), Layer(5, 0, 0), Layer(3, 0.3, 0), Layer(5, 0, 0), Layer(30, 0, 1e18)])
INTERFACES = np.array([30.0, 35.0, 38.0, 43.0])


@pytest.fixture(scope="module")
def fem_solutions():
    s0 = scf.solve_self_consistent_fem(STACK, 0.0, 300.0)
    s1 = scf.solve_self_consistent_fem(STACK, 0.1, 300.0, initial=s0, mesh=s0.mesh)
    return s0, s1


def test_fixed_point_converges_with_neutral_contacts_and_gauss_law(fem_solutions):
    for s in fem_solutions:
        assert s.converged and s.residual_eV < 1e-6 and s.iterations <= 10
        n = np.asarray(s.density_cm3)
        # the outer 5 nm of both contacts are nearly neutral (measured 3.8e-3 at 0 V, 1.3e-2 at 0.1 V;
        # the finite-difference solver leaves the same: 1.3e-2 at 0.1 V, N = 293)
        x = np.asarray(s.x_nm)
        outer = (x < 5.0) | (x > float(STACK.length_nm) - 5.0)
        np.testing.assert_allclose(n[outer], 1e18, rtol=2e-2)
    # Gauss: the sheet charge ∫(N_D − n) dx vanishes when both contact fields vanish (to the contact tails)
    s = fem_solutions[1]
    from diffsim_jax.physics import fem
    w = fem.reference_element(s.order).weights
    nodes = np.asarray(s.x_nm)  # quadrature points; element lengths from the mesh
    ends = np.asarray(fem.mesh_nodes(s.mesh, STACK.length_nm, STACK.interfaces_nm))
    doping = np.where((nodes < 30.0) | (nodes > 43.0), 1e18, 0.0)
    sheet = np.sum((doping - np.asarray(s.density_cm3)) * w[None, :] * (0.5 * np.diff(ends))[:, None]) * NM3_PER_CM3
    assert abs(Q2_OVER_EPS0_EV_NM * sheet) < 2e-4  # eV/nm: field left in the contacts × ε_r


def test_agrees_with_finite_differences_as_the_grid_refines(fem_solutions):
    """FD (smooth interfaces of width a/2, same emitter filling) → FEM (abrupt) at second order: U_H at
    every node, n away from the interfaces (where the FD smoothing moves charge at O(a))."""
    for s in fem_solutions:
        xn, uh = np.asarray(s.nodes_nm), np.asarray(s.hartree_nodes_eV)
        x, n = np.asarray(s.x_nm).ravel(), np.asarray(s.density_cm3).ravel()
        far = np.min(np.abs(x[:, None] - INTERFACES[None]), axis=1) > 2.0
        d_u, d_n, d_j = [], [], []
        for n_points in (147, 293):
            f = sc.solve_self_consistent(STACK, float(s.mu_left_eV - s.mu_right_eV), 300.0, config=sc.SolverConfig(n_points=n_points))
            xf = np.asarray(f.x_nm)
            d_u.append(np.max(np.abs(np.interp(xn, xf, np.asarray(f.hartree_eV)) - uh)))
            d_n.append(np.max(np.abs(np.interp(x, xf, np.asarray(f.density_cm3)) - n)[far]) / 1e18)
            if s.current_density_Acm2 != 0.0:
                d_j.append(abs(float(f.current_density_Acm2) / s.current_density_Acm2 - 1.0))
        assert d_u[0] / d_u[1] > 3.0 and d_u[1] < 3e-4, d_u
        assert d_n[0] / d_n[1] > 3.0, d_n
        if d_j:  # J (Tsu–Esaki, same potential): measured 1.1e-2, 6.4e-4 at 0.1 V
            assert d_j[0] / d_j[1] > 3.0 and d_j[1] < 2e-3, d_j


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="notch_filling"):
        scf.FemSolverConfig(notch_filling="both")
    with pytest.raises(ValueError, match="order"):
        scf.FemSolverConfig(order=0)
    with pytest.raises(ValueError, match="bias"):
        scf.solve_self_consistent_fem(STACK, -0.1)
    undoped = Stack([Layer(30, 0, 0), Layer(3, 0.3, 0), Layer(30, 0, 0)])
    with pytest.raises(ValueError, match="doping"):
        scf.solve_self_consistent_fem(undoped, 0.0)
