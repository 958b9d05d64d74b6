"""Physics of the finite-element QTBM (physics.md §14): convergence orders, unitarity,
interfaces, agreement with finite differences, exact gradients, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim_jax.physics import fem
from diffsim_jax.physics.analytic import poschl_teller_transmission
from diffsim_jax.physics.constants import HBAR2_OVER_2M0_EV_NM2 as C0
from diffsim_jax.physics.qtbm import corner_green, transmission

M_GAAS = 0.067

# Pöschl–Teller barrier U0/cosh²(α(x − L/2)) on [0, 60] nm (physics.md §3.4)
U0, ALPHA, L_PT = 0.25, 0.6, 60.0
E_PT = np.array([0.08, 0.15, 0.2, 0.3])


def sech2(x, u0=U0, alpha=ALPHA):
    return u0 / jnp.cosh(alpha * (x - L_PT / 2)) ** 2


def poschl_teller_T(energy, u0=U0, alpha=ALPHA):
    return poschl_teller_transmission(energy, u0, alpha, M_GAAS)


def layered_T(energies, interfaces, u, m):
    """Exact T of piecewise-constant layers, BenDaniel–Duke (ψ and ψ'/m continuous), by transfer matrices.

    ``u``, ``m``: one value per layer, the first and last being the leads.
    """
    out = []
    for e in np.atleast_1d(energies):
        k = np.sqrt((np.asarray(m) * (e - np.asarray(u))).astype(complex) / C0)

        def basis(j, z):  # rows (ψ, ψ'/m) of e^{±ik_j z}
            ep, em = np.exp(1j * k[j] * z), np.exp(-1j * k[j] * z)
            return np.array([[ep, em], [1j * k[j] / m[j] * ep, -1j * k[j] / m[j] * em]])

        coef = np.array([1.0, 0.0], complex)  # outgoing wave in the right lead
        for j in range(len(u) - 1, 0, -1):
            coef = np.linalg.solve(basis(j - 1, interfaces[j - 1]), basis(j, interfaces[j - 1]) @ coef)
        if e <= u[0] or e <= u[-1]:
            out.append(0.0)
            continue
        out.append((k[-1].real / m[-1]) / (k[0].real / m[0]) * abs(1.0 / coef[0]) ** 2)
    return np.array(out)


def piecewise(bounds, values):
    """Callable x ↦ values[j] on the j-th layer between ``bounds`` (abrupt; traceable in the bounds)."""

    def f(x):
        out = jnp.full(jnp.shape(x), values[-1], dtype=jnp.float64)
        for b, v in zip(bounds[::-1], values[-2::-1]):
            out = jnp.where(x < b, v, out)
        return out

    return f


# an abrupt barrier with a mass step and a lower right lead
SQ_BP, SQ_U, SQ_M, SQ_L = (8.0, 11.0), (0.0, 0.3, -0.05), (0.067, 0.092, 0.075), 19.0
SQ_E = np.array([0.05, 0.2, 0.35])


def measured_orders(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("order, meshes", [(2, (60, 120, 240)), (3, (60, 120, 240))])
def test_order_2p_on_poschl_teller(order, meshes):
    """Smooth potential: max |T − T_exact| ∝ h^{2p} (physics.md §14.6)."""
    exact = poschl_teller_T(E_PT)
    errors = [np.max(np.abs(fem.transmission_fem(sech2, E_PT, L_PT, order=order, n_elements=n) - exact)) for n in meshes]
    assert np.all(np.abs(measured_orders(errors) - 2 * order) < 0.5), (errors, measured_orders(errors))


@pytest.mark.parametrize("order", [2, 3])
def test_abrupt_mass_step_costs_no_order(order):
    """Abrupt band and mass steps on element ends: still h^{2p} to the exact BenDaniel–Duke T."""
    exact = layered_T(SQ_E, SQ_BP, SQ_U, SQ_M)
    u, m = piecewise(SQ_BP, SQ_U), piecewise(SQ_BP, SQ_M)
    errors = [
        np.max(np.abs(fem.transmission_fem(u, SQ_E, SQ_L, m, order, n, SQ_BP) - exact)) for n in (12, 24, 48)
    ]
    assert np.all(np.abs(measured_orders(errors) - 2 * order) < 0.5), (errors, measured_orders(errors))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_unitarity_at_every_order(order):
    """T (corner recurrence) + R (Thomas solve of the same system) = 1 to round-off, even on a coarse mesh."""
    u = lambda x: 0.2 * jnp.exp(-(((x - 9.0) / 2.5) ** 2)) - 0.04 * x / 20.0  # noqa: E731
    m = lambda x: 0.067 + 0.02 * jnp.exp(-(((x - 11.0) / 3.0) ** 2))  # noqa: E731
    e = np.linspace(0.01, 0.4, 9)
    sol = fem.solve_fem(u, e, 20.0, m, order, 12, error_estimate=False)
    np.testing.assert_allclose(sol.transmission + sol.reflection, 1.0, atol=1e-12)
    assert np.min(sol.transmission) < 0.1 and np.max(sol.transmission) > 0.9  # both T and R matter


def test_defaults_converged_and_order_independent():
    """The default graded meshes meet their tolerance on an abrupt double barrier with a resonance,
    agree across p, and the halved-mesh error estimate brackets the true error."""
    bp, uu, mm = (10.0, 13.0, 18.0, 21.0), (0.0, 0.25, 0.0, 0.25, -0.1), (0.067, 0.09, 0.067, 0.09, 0.07)
    e = np.linspace(0.02, 0.4, 40)
    exact = layered_T(e, bp, uu, mm)
    answers = []
    for order in (3, 4):
        sol = fem.solve_fem(piecewise(bp, uu), e, 31.0, piecewise(bp, mm), order, breakpoints_nm=bp)
        err = np.abs(sol.transmission - exact)
        assert np.max(err) < fem.DEFAULT_TOL, (order, np.max(err))
        assert np.max(sol.error_estimate) < fem.DEFAULT_TOL
        assert np.max(err) < 3 * np.max(sol.error_estimate) + 1e-12
        answers.append(sol.transmission)
    np.testing.assert_allclose(answers[0], answers[1], atol=2 * fem.DEFAULT_TOL)


def test_finite_differences_converge_to_the_fem_answer():
    """Smooth potential, uniform mass: T_FD(a) − T_FEM ∝ a², and Richardson-extrapolated FD meets FEM."""
    length = 20.0
    u = lambda x: 0.3 * jnp.exp(-(((x - 10.0) / 2.0) ** 2)) - 0.05 * x / length  # noqa: E731
    e = np.array([0.1, 0.2, 0.32])
    t_fem = np.asarray(fem.transmission_fem(u, e, length))
    t_fd = []
    for n in (201, 401):
        x = np.linspace(0.0, length, n)
        t_fd.append(np.asarray(transmission(np.asarray(u(x)), e, length)))
    d1, d2 = t_fd[0] - t_fem, t_fd[1] - t_fem
    np.testing.assert_allclose(d1 / d2, 4.0, rtol=0.05)
    richardson = (4 * t_fd[1] - t_fd[0]) / 3
    assert np.max(np.abs(richardson - t_fem)) < 0.05 * np.max(np.abs(d2))


def test_thickness_gradient_is_exact():
    """d T/d(barrier thickness) with moving element ends: equal to central differences of the same
    (abrupt) model, and to central differences of the exact transfer-matrix T."""
    e = jnp.array([0.1, 0.2, 0.28])
    uu, mm = (0.0, 0.3, 0.0, 0.3, 0.0), (0.067, 0.092, 0.067, 0.092, 0.067)

    def bounds(d):
        return jnp.stack([8.0, 8.0 + d, 13.0 + d, 13.0 + 2 * d])

    mesh = fem.fem_mesh(piecewise(bounds(3.0), uu), e, 30.0, piecewise(bounds(3.0), mm), breakpoints_nm=bounds(3.0))

    @jax.jit
    def t_of(d):
        b = bounds(d)
        return fem.transmission_fem(piecewise(b, uu), e, 30.0, piecewise(b, mm), breakpoints_nm=b, mesh=mesh)

    jac = jax.jacrev(t_of)(3.0)
    h = 1e-4
    fd_model = (t_of(3.0 + h) - t_of(3.0 - h)) / (2 * h)
    np.testing.assert_allclose(jac, fd_model, rtol=1e-6, atol=1e-9)
    exact = (layered_T(e, np.asarray(bounds(3.0 + h)), uu, mm) - layered_T(e, np.asarray(bounds(3.0 - h)), uu, mm)) / (2 * h)
    np.testing.assert_allclose(jac, exact, rtol=1e-5, atol=1e-7)
    assert np.max(np.abs(jac)) > 1e-2


def test_gradients_wrt_potential_parameters_mass_energies_and_length():
    """grad through a callable closure (U0, α), a constant mass, the energies and L vs central differences."""
    e0 = jnp.array([0.1, 0.2, 0.3])
    weights = jnp.array([1.0, -0.5, 2.0])

    @jax.jit
    def f(params, m, e, length):
        u0, alpha = params
        u = lambda x: u0 / jnp.cosh(alpha * (x - 30.0)) ** 2  # noqa: E731
        return weights @ fem.transmission_fem(u, e, length, m, 3, mesh=mesh)

    p0, m0, l0 = jnp.array([0.25, 0.6]), 0.067, 60.0
    mesh = fem.uniform_mesh(40, l0)  # fixed topology: the element ends stretch with L
    grads = jax.grad(f, argnums=(0, 1, 2, 3))(p0, m0, e0, l0)
    h = 1e-6
    for i in range(2):
        d = h * np.eye(2)[i]
        np.testing.assert_allclose(grads[0][i], (f(p0 + d, m0, e0, l0) - f(p0 - d, m0, e0, l0)) / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(grads[1], (f(p0, m0 + h, e0, l0) - f(p0, m0 - h, e0, l0)) / (2 * h), rtol=1e-6)
    for i in range(3):
        d = h * np.eye(3)[i]
        np.testing.assert_allclose(grads[2][i], (f(p0, m0, e0 + d, l0) - f(p0, m0, e0 - d, l0)) / (2 * h), rtol=1e-6)
    # with fixed element counts the mesh stretches with L: T moves with the leads' extent of the barrier's tails
    h = 1e-3
    np.testing.assert_allclose(grads[3], (f(p0, m0, e0, l0 + h) - f(p0, m0, e0, l0 - h)) / (2 * h), rtol=1e-5, atol=1e-12)


def test_vmap_over_potential_parameters():
    heights = jnp.array([0.1, 0.2, 0.3])
    t = jax.vmap(lambda u0: fem.transmission_fem(lambda x: sech2(x, u0), E_PT, L_PT, order=3, n_elements=80))(heights)
    np.testing.assert_allclose(t, np.stack([poschl_teller_T(E_PT, u0) for u0 in (0.1, 0.2, 0.3)]), atol=1e-6)


def test_shared_corner_green_with_energy_resolved_coefficients():
    """The FEM path's corner_green form (onsite (N, M), hop (N−1, M)) gives the FD form's values and,
    summed over energies, its cotangents (physics.md §3.9, §14.5)."""
    rng = np.random.default_rng(3)
    n, energies = 30, jnp.array([0.05, 0.1, 0.2])
    onsite = jnp.asarray(2.0 + 0.1 * rng.standard_normal(n))
    hop = jnp.asarray(1.0 + 0.05 * rng.standard_normal(n - 1))
    sl, sr = -1j * jnp.array([0.5, 0.6, 0.7]), -1j * jnp.array([0.4, 0.5, 0.8])

    @jax.jit
    def fd(o, t):
        return jnp.sum(jnp.abs(corner_green(o, t, energies, sl, sr)) ** 2)

    @jax.jit
    def resolved(o, t):
        o2 = o[:, None] - energies
        t2 = jnp.broadcast_to(t[:, None], (n - 1, energies.size))
        return jnp.sum(jnp.abs(corner_green(o2, t2, jnp.zeros_like(energies), sl, sr)) ** 2)

    np.testing.assert_allclose(resolved(onsite, hop), fd(onsite, hop), rtol=1e-14)
    for a, b in zip(jax.jit(jax.grad(resolved, (0, 1)))(onsite, hop), jax.jit(jax.grad(fd, (0, 1)))(onsite, hop)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(order=0), "order"),
        (dict(order=9), "order"),
        (dict(order=2.0), "order"),
        (dict(n_elements=0), "n_elements"),
        (dict(breakpoints_nm=(5.0, 3.0)), "breakpoints_nm"),
        (dict(breakpoints_nm=(0.0, 3.0)), "breakpoints_nm"),
        (dict(breakpoints_nm=(3.0, 20.0)), "breakpoints_nm"),
        (dict(length_nm=0.0), "length_nm"),
        (dict(length_nm=-1.0), "length_nm"),
        (dict(m_eff=-0.067), "m_eff"),
        (dict(m_eff=lambda x: 0.067 - 0.01 * x), "m_eff"),
        (dict(m_eff=lambda x: jnp.full(3, 0.067)), "m_eff"),
        (dict(potential=lambda x: jnp.sum(x)), "potential"),
        (dict(potential=lambda x: jnp.log(x - 1.0)), "potential"),
        (dict(potential=np.zeros(5)), "potential"),
        (dict(energies=np.array([0.1, np.nan])), "energies"),
        (dict(n_elements=2, energies=np.array([2.0])), "n_elements"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, name):
    args = dict(potential=lambda x: 0.1 * jnp.ones_like(x), energies=np.array([0.2]), length_nm=20.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        fem.transmission_fem(**args)
