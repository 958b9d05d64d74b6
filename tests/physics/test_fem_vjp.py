"""The custom derivative rules of the finite-element condensation (physics.md §14.3, eq. 14.5)
against the plain composition they replace: autodiff through the eigendecomposition of the
element interiors (``fem.condensed_rational``) and the shared corner-Green recurrence
(``qtbm.corner_green``). Values and gradients agree to ≤ 1e-10 relative, under jit, vmap and
grad, with respect to every input the device models differentiate (potential, masses, node
positions through the breakpoints and L, energies, leads). Central differences of the same
gradients are in test_fem.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax.physics import fem
from diffsim_jax.physics.qtbm import corner_green

M_W, M_B = 0.067, 0.092  # GaAs well, AlGaAs barrier masses (m0)
LENGTH = 40.0
ENERGIES = np.linspace(0.03, 0.32, 11)  # above both band edges: both leads open
TOL = 1e-10


def plain_transmission(nodes, u_q, c_q, leads, energies, order):
    """T (eq. 14.4) by the un-customised composition: condensed_rational → corner_green (both leads open)."""
    k_el, m_el = fem.element_matrices(nodes, u_q, c_q, order)
    diag, off = fem.condensed_rational(k_el, m_el, nodes, energies)
    u_l, u_r, m_l, m_r = leads
    flux_l, _ = fem.lead_flux(energies, u_l, m_l)
    flux_r, _ = fem.lead_flux(energies, u_r, m_r)
    g = corner_green(diag, -off, jnp.zeros_like(energies), -1j * flux_l, -1j * flux_r)
    return 4.0 * flux_l * flux_r * jnp.abs(g) ** 2


def device(theta):
    """An abrupt double barrier with a mass step, a bias ramp and a lead offset (physics.md §14.7).

    theta = (barrier height eV, barrier mass, first interface nm, well width nm, bias V, L nm).
    """
    height, m_barrier, z0, well, bias, length = theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]
    bp = jnp.stack([z0, z0 + 3.0, z0 + 3.0 + well, z0 + 6.0 + well])

    def layer(x):
        return jnp.sum(x[..., None] > bp, axis=-1)

    def u(x):
        inside = (layer(x) == 1) | (layer(x) == 3)
        return jnp.where(inside, height, 0.0) - bias * x / length

    def m(x):
        return jnp.where((layer(x) == 1) | (layer(x) == 3), m_barrier, M_W)

    return u, m, bp, length


THETA0 = np.array([0.3, M_B, 12.0, 5.0, 0.05, LENGTH])


def problem(theta, energies, order, mesh):
    u, m, bp, length = device(theta)
    return fem.prepare(u, energies, length, m, order, breakpoints_nm=bp, mesh=mesh)


#: Graded-mesh tolerance per order. p = 1 gets a coarser mesh: at 1e-6 it has ~5·10⁴ elements of
#: ~10⁻³ nm, where each element's gradient is a second difference of nearly equal cotangents and
#: the rounding of either path (1e-8 relative) exceeds the 1e-10 under test.
MESH_TOL = {1: 1e-3, 2: 1e-6, 3: 1e-6, 4: 1e-6}


def reference_mesh(order):
    u, m, bp, length = device(jnp.asarray(THETA0))
    return fem.fem_mesh(u, ENERGIES, float(length), m, order, breakpoints_nm=np.asarray(bp), tol=MESH_TOL[order])


def relative(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_transmission_gradients_match_the_plain_composition(order):
    """The gradients of Σ w T w.r.t. every array of :func:`fem.transmission_on_mesh` (nodes, U and C₀/m at
    the quadrature points, the leads, the energies) from the custom reverse pass equal autodiff of the
    plain composition to 1e-10; T itself to round-off."""
    mesh = reference_mesh(order)
    weights = jnp.asarray(np.linspace(1.0, 2.0, ENERGIES.size))
    p = problem(jnp.asarray(THETA0), ENERGIES, order, mesh)
    raw = (p.nodes, p.u_q, p.c_q, p.leads, p.energies)
    (v_new, g_new), (v_ref, g_ref) = [
        jax.value_and_grad(lambda *a, f=f: jnp.sum(weights * f(*a, order)), argnums=(0, 1, 2, 3, 4))(*raw)
        for f in (fem.transmission_on_mesh, plain_transmission)]
    assert float(v_new) == pytest.approx(float(v_ref), rel=1e-14)
    for new, ref in zip(jax.tree_util.tree_leaves(g_new), jax.tree_util.tree_leaves(g_ref)):
        assert float(jnp.max(jnp.abs(ref))) > 0  # every input matters: the comparison is not vacuous
        assert relative(new, ref) < TOL


def test_vmapped_gradients_over_biases_match_the_plain_composition():
    """The Fig. 8 pattern: jit of the value and gradient of a sum over a vmap of biases, w.r.t. the device
    parameters (barrier height and mass, interface positions, well width, L: node positions move)."""
    order = 3
    mesh = reference_mesh(order)
    biases = jnp.asarray([0.0, 0.08, 0.16])

    def loss(f):
        def at_bias(theta, bias):
            p = problem(theta.at[4].set(bias), jnp.asarray(ENERGIES) + 0.5 * bias, order, mesh)
            return jnp.sum(f(p.nodes, p.u_q, p.c_q, p.leads, p.energies, order))
        return jax.jit(jax.value_and_grad(lambda theta: jnp.sum(jax.vmap(lambda b: at_bias(theta, b))(biases) ** 2)))

    theta = jnp.asarray(THETA0)
    (v_new, g_new), (v_ref, g_ref) = loss(fem.transmission_on_mesh)(theta), loss(plain_transmission)(theta)
    assert float(v_new) == pytest.approx(float(v_ref), rel=1e-14)
    assert relative(g_new, g_ref) < TOL
    assert float(jnp.min(jnp.abs(g_ref[jnp.asarray([0, 1, 2, 3, 5])]))) > 0  # θ[4], the bias, is set per bias


@pytest.mark.parametrize("order", [2, 4])
def test_condensation_jvp_and_vjp_match_autodiff_for_complex_energies(order):
    """condensed's custom JVP (used forward by the FEM resonance search, transposed by the FEM density's
    gradients) against autodiff of condensed_rational, on the complex contour energies of §14.9."""
    mesh = reference_mesh(order)
    p = problem(jnp.asarray(THETA0), ENERGIES, order, mesh)
    z = jnp.asarray(ENERGIES + 0.02j * (1.0 + ENERGIES))
    probe_d = jnp.asarray(np.cos(np.arange(mesh.n_elements + 1)))[:, None] * (1.0 + 0.5j)

    def entries(f, nodes, u_q, c_q, energies):
        diag, off = f(*fem.element_matrices(nodes, u_q, c_q, order), nodes, energies)
        return diag, off

    f_ref = fem.condensed_rational
    # forward mode in the energy (pole_step_on_mesh) and in the mesh arrays together
    tangents = (jnp.ones_like(p.nodes) * 0.01, jnp.sin(p.u_q), jnp.cos(p.c_q) * 0.1, jnp.ones_like(z))
    out_new, dot_new = jax.jvp(lambda *a: entries(fem.condensed, *a), (p.nodes, p.u_q, p.c_q, z), tangents)
    out_ref, dot_ref = jax.jvp(lambda *a: entries(f_ref, *a), (p.nodes, p.u_q, p.c_q, z), tangents)
    for new, ref in zip(out_new + dot_new, out_ref + dot_ref):
        assert relative(new, ref) < TOL

    # reverse mode: a real loss of the complex entries, real and complex cotangent paths
    def loss(f):
        def of(nodes, u_q, c_q, energies):
            diag, off = entries(f, nodes, u_q, c_q, energies)
            return jnp.real(jnp.sum(probe_d * jnp.sin(diag)) + jnp.sum(jnp.exp(0.1j * off)))
        return jax.grad(of, argnums=(0, 1, 2, 3))

    for new, ref in zip(loss(fem.condensed)(p.nodes, p.u_q, p.c_q, z), loss(f_ref)(p.nodes, p.u_q, p.c_q, z)):
        assert relative(new, ref) < TOL
