"""Physics of the discrete QTBM transmission (physics.md §3)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import diffsim_jax as ds
from diffsim_jax.physics.analytic import poschl_teller_transmission
from diffsim_jax.physics import qtbm
from diffsim_jax.physics.qtbm import _thomas, green_last_first

C = ds.kinetic_prefactor(0.067)


def smooth_potential(x, amps, centers, widths, bias):
    """A few Gaussian bumps/wells on a linear bias ramp (eV)."""
    u = -bias * x / x[-1]
    for a, c, w in zip(amps, centers, widths):
        u = u + a * np.exp(-(((x - c) / w) ** 2))
    return u


def dense_qtbm(u, energy, length):
    """Independent reference: assemble physics.md §3's A and b densely and solve with NumPy."""
    n = u.size
    a = length / (n - 1)
    t = C / a**2

    def lam(us):
        c = 1 - (energy - us) / (2 * t)
        return complex(c, np.sqrt(1 - c * c)) if abs(c) < 1 else c - np.sqrt(c * c - 1)

    lam_l, lam_r = lam(u[0]), lam(u[-1])
    mat = np.diag(2 * t + u - energy).astype(complex)
    mat += np.diag(-t * np.ones(n - 1), 1) + np.diag(-t * np.ones(n - 1), -1)
    mat[0, 0] -= t * lam_l
    mat[-1, -1] -= t * lam_r
    b = np.zeros(n, complex)
    b[0] = t * (1 / lam_l - lam_l)
    psi = np.linalg.solve(mat, b)
    trans = lam_r.imag / lam_l.imag * abs(psi[-1]) ** 2 if lam_l.imag > 0 and np.imag(lam_r) > 0 else 0.0
    return psi, trans


def poschl_teller_T(energy, u0, alpha):
    return poschl_teller_transmission(energy, u0, alpha, 0.067)


# --------------------------------------------------------------------------------------
def test_free_wire_is_transparent():
    for n in (3, 10, 100, 1000):
        top = float(qtbm.band_top_eV(np.zeros(n), 20.0))  # 4t: the lattice band top
        e = np.linspace(1e-4, 0.999 * top, 37)
        t = ds.transmission(np.zeros(n), e, 20.0)
        np.testing.assert_allclose(t, 1.0, atol=1e-12)


def test_free_wire_wavefunction_is_lattice_plane_wave():
    """ψ_j = λ^j = e^{ikx_j} for U ≡ 0 (physics.md §2 sanity case, discrete form)."""
    n, length, e = 50, 10.0, 0.2
    sol = ds.solve_qtbm(np.zeros(n), e, length)
    t = C / (length / (n - 1)) ** 2
    lam = complex(ds.lead_phase(e, 0.0, t))
    np.testing.assert_allclose(sol.psi, lam ** np.arange(n), atol=1e-12)
    assert sol.reflection < 1e-24


def test_lead_phase_branches():
    t = 10.0
    lam = complex(ds.lead_phase(0.5, 0.0, t))  # propagating
    assert abs(abs(lam) - 1) < 1e-14 and lam.imag > 0
    lam = complex(ds.lead_phase(-0.5, 0.0, t))  # below band edge: decaying, 0 < λ < 1
    assert lam.imag == 0 and 0 < lam.real < 1
    assert complex(ds.lead_phase(0.0, 0.0, t)) == 1.0  # band edge
    # the gradient is finite on both sides of and exactly at the band edge
    for e in (-1e-9, 0.0, 1e-9):
        g = jax.grad(lambda e: jnp.real(ds.lead_phase(e, 0.0, t)) + jnp.imag(ds.lead_phase(e, 0.0, t)))(e)
        assert np.isfinite(g)


def test_matches_dense_solve():
    x = np.linspace(0, 20, 80)
    u = smooth_potential(x, [0.3, -0.1], [8, 13], [1.0, 2.0], 0.2)
    energies = np.array([-0.1, 0.01, 0.05, 0.13, 0.4, 1.5])
    sol = ds.solve_qtbm(u, energies, 20.0)
    fast = ds.transmission(u, energies, 20.0)
    for i, e in enumerate(energies):
        psi, t_ref = dense_qtbm(u, e, 20.0)
        np.testing.assert_allclose(sol.psi[i], psi, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sol.transmission[i], t_ref, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(fast[i], t_ref, rtol=1e-10, atol=1e-14)


def test_thomas_solver_against_numpy():
    rng = np.random.default_rng(1)
    n = 30
    diag = rng.normal(size=n) + 4 + 1j * rng.normal(size=n)
    off = rng.normal(size=n - 1) + 0.3j
    rhs = rng.normal(size=n) + 1j * rng.normal(size=n)
    mat = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
    np.testing.assert_allclose(_thomas(jnp.array(diag), jnp.array(off), jnp.array(rhs)), np.linalg.solve(mat, rhs), rtol=1e-12)


def test_green_last_first_against_inverse_and_its_gradient():
    rng = np.random.default_rng(2)
    n, t = 40, 1.3
    onsite = rng.normal(size=n) + 2.0
    sl, sr = -0.4 - 0.7j, -0.2 - 0.5j
    diag = onsite.astype(complex)
    diag[0] += sl
    diag[-1] += sr
    inv = np.linalg.inv(np.diag(diag) + np.diag(-t * np.ones(n - 1), 1) + np.diag(-t * np.ones(n - 1), -1))
    np.testing.assert_allclose(green_last_first(jnp.array(onsite), sl, sr, t), inv[-1, 0], rtol=1e-12)

    def f(onsite, sl, sr, t):
        return jnp.abs(green_last_first(onsite, sl, sr, t)) ** 2

    g_on, g_sl, g_sr, g_t = jax.grad(f, argnums=(0, 1, 2, 3))(jnp.array(onsite), sl, sr, t)
    h = 1e-6
    for j in (0, 7, n - 1):
        e = np.zeros(n)
        e[j] = h
        fd = (f(onsite + e, sl, sr, t) - f(onsite - e, sl, sr, t)) / (2 * h)
        np.testing.assert_allclose(g_on[j], fd, rtol=1e-6)
    np.testing.assert_allclose(g_t, (f(onsite, sl, sr, t + h) - f(onsite, sl, sr, t - h)) / (2 * h), rtol=1e-6)
    # complex inputs: JAX returns the conjugate-convention gradient ∂f/∂Re − i·∂f/∂Im
    for g, bump in ((g_sl, lambda d: (sl + d, sr)), (g_sr, lambda d: (sl, sr + d))):
        for unit, part in ((1.0, np.real), (1j, lambda z: -np.imag(z))):
            fd = (f(onsite, *bump(unit * h), t) - f(onsite, *bump(-unit * h), t)) / (2 * h)
            np.testing.assert_allclose(part(g), fd, rtol=1e-6)
    # forward mode agrees with reverse mode
    np.testing.assert_allclose(jax.jacfwd(f)(jnp.array(onsite), sl, sr, t), g_on, rtol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    amps=st.lists(st.floats(-0.3, 0.6), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
    bias=st.floats(0.0, 0.5),
    n=st.integers(20, 200),
)
def test_unitarity_on_random_smooth_potentials(amps, seed, bias, n):
    """T + R = 1 and 0 ≤ T ≤ 1 whenever the left lead propagates (physics.md §3)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 20, n)
    u = smooth_potential(x, amps, rng.uniform(4, 16, len(amps)), rng.uniform(0.8, 3, len(amps)), bias)
    energies = u[0] + np.concatenate([rng.uniform(1e-4, 0.8, 12), [1e-6, 0.5 * bias]])
    sol = ds.solve_qtbm(u, energies, 20.0)
    assert np.all(sol.transmission >= -1e-13) and np.all(sol.transmission <= 1 + 1e-12)
    np.testing.assert_allclose(sol.transmission + sol.reflection, 1.0, atol=1e-10)
    np.testing.assert_allclose(ds.transmission(u, energies, 20.0), sol.transmission, rtol=1e-9, atol=1e-13)


def test_flat_wire_at_band_edge_is_finite():
    """At E = U_L = U_R the flat-wire matrix is singular; T = 0 and R = 1 must stay finite,
    value and gradient (physics.md §3: no NaN may reach an optimiser)."""
    sol = ds.solve_qtbm(np.zeros(20), 0.0, 20.0)
    assert sol.transmission == 0.0 and sol.reflection == 1.0 and np.all(np.isfinite(sol.psi))
    g = jax.grad(lambda u: ds.transmission(u, 0.0, 20.0))(jnp.zeros(20))
    assert np.all(np.isfinite(g))


def test_evanescent_lead_gives_zero_transmission():
    x = np.linspace(0, 20, 60)
    u = -0.3 * x / 20  # U_L = 0, U_R = −0.3
    t = ds.transmission(u, np.array([-0.2, -0.05, -1e-9]), 20.0)  # left lead evanescent
    assert np.all(t == 0.0)
    t = ds.transmission(u[::-1], np.array([-0.2, -0.05]), 20.0)  # now the right lead is
    assert np.all(t == 0.0)


def test_reciprocity_mirrored_potential():
    """T(E) is the same for left and right injection, i.e. for the mirrored device."""
    x = np.linspace(0, 20, 120)
    u = smooth_potential(x, [0.35, 0.2], [6, 14], [1.0, 1.7], 0.25)
    e = np.linspace(0.001, 0.8, 50)
    np.testing.assert_allclose(ds.transmission(u, e, 20.0), ds.transmission(u[::-1], e, 20.0), rtol=1e-9, atol=1e-14)


def test_gauge_invariance():
    """Shifting U and E by the same constant leaves T unchanged."""
    x = np.linspace(0, 20, 90)
    u = smooth_potential(x, [0.3, 0.3], [7.4, 12.6], [1.0, 1.0], 0.3)
    e = np.linspace(0.001, 0.5, 40)
    for shift in (-0.7, 0.25, 3.0):
        np.testing.assert_allclose(ds.transmission(u + shift, e + shift, 20.0), ds.transmission(u, e, 20.0), rtol=1e-9, atol=1e-13)


def test_second_order_convergence_to_poschl_teller():
    """T_N → T_exact with error ∝ a² for the smooth barrier U0/cosh²(αx)."""
    u0, alpha, length = 0.25, 0.6, 60.0
    e = np.array([0.08, 0.15, 0.2, 0.3])
    exact = poschl_teller_T(e, u0, alpha)
    errors = []
    ns = (151, 301, 601)
    for n in ns:
        x = np.linspace(-length / 2, length / 2, n)
        errors.append(np.max(np.abs(ds.transmission(u0 / np.cosh(alpha * x) ** 2, e, length) - exact)))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > 1.85) and np.all(rates < 2.15), (errors, rates)
    assert errors[-1] < 2e-4


def test_transmission_composes_with_jit_vmap_grad():
    x = np.linspace(0, 20, 64)
    u = jnp.asarray(smooth_potential(x, [0.3], [10], [2.0], 0.1))
    e = jnp.linspace(0.02, 0.4, 7)
    direct = ds.transmission(u, e, 20.0)
    np.testing.assert_allclose(jax.jit(ds.transmission)(u, e, 20.0), direct, rtol=1e-12)
    per_e = jax.vmap(lambda ei: ds.transmission(u, ei, 20.0))(e)
    np.testing.assert_allclose(per_e, direct, rtol=1e-12)
    batch = jax.vmap(lambda uu: ds.transmission(uu, e, 20.0))(jnp.stack([u, u + 0.01]))
    np.testing.assert_allclose(batch[0], direct, rtol=1e-12)
    assert direct.dtype == jnp.float64


def test_gradients_match_finite_differences():
    """∂T/∂U_j, ∂T/∂E and ∂T/∂L against central differences; forward = reverse mode."""
    x = np.linspace(0, 20, 70)
    u = smooth_potential(x, [0.3, 0.25], [7, 13], [1.0, 1.2], 0.15)
    e = np.array([0.03, 0.09, 0.21])

    def f(u, e, length):
        return jnp.sum(ds.transmission(u, e, length) ** 2)

    gu, ge, gl = jax.grad(f, argnums=(0, 1, 2))(jnp.asarray(u), jnp.asarray(e), 20.0)
    h = 1e-6
    for j in (0, 3, 35, 69):
        d = np.zeros_like(u)
        d[j] = h
        np.testing.assert_allclose(gu[j], (f(u + d, e, 20.0) - f(u - d, e, 20.0)) / (2 * h), rtol=1e-5, atol=1e-9)
    for i in range(e.size):
        d = np.zeros_like(e)
        d[i] = h
        np.testing.assert_allclose(ge[i], (f(u, e + d, 20.0) - f(u, e - d, 20.0)) / (2 * h), rtol=1e-5)
    np.testing.assert_allclose(gl, (f(u, e, 20.0 + h) - f(u, e, 20.0 - h)) / (2 * h), rtol=1e-5)
    # forward mode (the custom-JVP path) agrees with reverse mode (the recomputing custom VJP)
    def f_fwd(u, e, length):
        return jnp.sum(ds.transmission(u, e, length, forward_mode=True) ** 2)

    fwd = jax.jacfwd(f_fwd)(jnp.asarray(u), jnp.asarray(e), 20.0)
    np.testing.assert_allclose(fwd, gu, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ds.transmission(u, e, 20.0, forward_mode=True), ds.transmission(u, e, 20.0))
