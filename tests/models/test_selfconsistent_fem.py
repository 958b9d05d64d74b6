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


#: The intrinsically bistable RTD of Fig. 9 (4 and 6 nm Al0.35 barriers, 5 nm well, 2e18 contacts): its
#: well resonance (Γ/2 ~ 0.1 meV) is far narrower than the real-axis panels.
BISTABLE = Stack([Layer(30.0, 0.0, 2e18), Layer(5.0), Layer(4.0, 0.35), Layer(5.0), Layer(6.0, 0.35), Layer(5.0),
                  Layer(30.0, 0.0, 2e18)])


def test_bistable_sweep_matches_finite_differences_on_one_switch():
    """self_consistent_iv with a FemSolverConfig: the resonance-adapted grid lets the fixed point converge on a
    device with a narrow well resonance (fixed panels did not: residual 0.17 eV after 60 iterations at 0.08 V),
    and continuation with step halving keeps each sweep on its branch: the up and down sweeps differ on the same
    biases as the finite-difference sweep (N = 1200), and the currents agree within its discretisation error."""
    biases = np.array([0.25, 0.275, 0.3, 0.325, 0.35, 0.375])
    fem_sweep = sc.self_consistent_iv(BISTABLE, biases, 300.0, config=scf.FemSolverConfig(), progress=False)
    fd_sweep = sc.self_consistent_iv(BISTABLE, biases, 300.0, config=sc.SolverConfig(n_points=1200), progress=False)
    assert np.array_equal(fem_sweep.bistable, fd_sweep.bistable)
    assert fem_sweep.bistable[1:5].all() and not fem_sweep.bistable[[0, 5]].any()  # 0.275-0.35 V (measured)
    for a, b in ((fem_sweep.current_up, fd_sweep.current_up), (fem_sweep.current_down, fd_sweep.current_down)):
        a, b = np.asarray(a), np.asarray(b)
        assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < 0.015  # measured 0.3-0.8 % (FD at N = 1200: ~0.5 %)
    assert all(s.converged and s.residual_eV < 1e-6 for s in fem_sweep.solutions_up + fem_sweep.solutions_down)
    assert fem_sweep.solutions_up[0].grid.res_share.max() > 0.1  # the narrow resonance has its own nodes
