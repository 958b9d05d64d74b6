"""Physics of the position-dependent-mass (BenDaniel–Duke) QTBM solver (physics.md §9).

References used here are independent of the code under test: a dense NumPy assembly of
physics.md eqs. 9.3–9.5, the analytic BenDaniel–Duke transmission of a step and of a
barrier (ψ and ψ'/m continuous), and the bound level of a finite well from the
continuum matching condition solved with ``scipy.optimize.brentq``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize_scalar

import diffsim_jax as ds
from diffsim_jax.physics.materials import ALGAAS
from diffsim_jax.physics.layers import Layer, Stack, abrupt_profiles, profiles

C0 = ds.HBAR2_OVER_2M0_EV_NM2
X_B = 0.3  # Al fraction of the barriers
M_W, M_B = ALGAAS.mass(0.0), ALGAAS.mass(X_B)
V_B = ALGAAS.band_edge_eV(X_B)


# --------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------
def _lam(energy, u_s, t_s):
    """Lattice phase factor of a lead, physics.md eq. 9.4 (outgoing or decaying root)."""
    c = 1 - (energy - u_s) / (2 * t_s)
    return complex(c, np.sqrt(1 - c * c)) if abs(c) < 1 else complex(c - np.sqrt(c * c - 1))


def dense_bdd(u, m, energy, length):
    """Dense NumPy QTBM with per-site masses, assembled from physics.md eqs. 9.3–9.5.

    H_jj = t_{j−½} + t_{j+½} + U_j, H_{j,j+1} = −t_{j+½}, t_{j+½} = C₀/(m_{j+½}a²),
    m_{j+½} = (m_j + m_{j+1})/2, leads t_L = C₀/(m_0 a²), t_R = C₀/(m_{N−1} a²),
    Σ_s = −t_s λ_s, b_0 = t_L(1/λ_L − λ_L); T = (t_R Im λ_R)/(t_L Im λ_L)|ψ_{N−1}|²,
    R = |ψ_0 − 1|². Returns (ψ, T, R).
    """
    u, m = np.asarray(u, float), np.broadcast_to(np.asarray(m, float), np.shape(u))
    n = u.size
    c = C0 / (length / (n - 1)) ** 2
    hop = c / (0.5 * (m[1:] + m[:-1]))
    t_l, t_r = c / m[0], c / m[-1]
    lam_l, lam_r = _lam(energy, u[0], t_l), _lam(energy, u[-1], t_r)
    diag = np.concatenate([[t_l], hop]) + np.concatenate([hop, [t_r]]) + u - energy
    mat = np.diag(diag).astype(complex) + np.diag(-hop, 1) + np.diag(-hop, -1)
    mat[0, 0] -= t_l * lam_l
    mat[-1, -1] -= t_r * lam_r
    rhs = np.zeros(n, complex)
    rhs[0] = t_l * (1 / lam_l - lam_l)
    psi = np.linalg.solve(mat, rhs)
    both = lam_l.imag > 0 and lam_r.imag > 0
    trans = (t_r * lam_r.imag) / (t_l * lam_l.imag) * abs(psi[-1]) ** 2 if both else 0.0
    return psi, trans, abs(psi[0] - 1) ** 2


def step_T(energy, m1, m2, v2):
    """Continuum BenDaniel–Duke step (ψ, ψ'/m continuous): T = 4pq/(p+q)², p = k₁/m₁, q = k₂/m₂."""
    p = np.sqrt(m1 * energy / C0) / m1
    q = np.sqrt(m2 * (energy - v2) / C0) / m2
    return 4 * p * q / (p + q) ** 2


def barrier_T(energy, width, m1, m2, v2):
    """Continuum BenDaniel–Duke barrier of height v2, mass m2, thickness ``width`` between
    two regions (0, m1): T = 1/(1 + ¼(p/q ∓ q/p)² sin²/sinh²(k₂d)), p = k₁/m₁, q = k₂/m₂."""
    p = np.sqrt(m1 * energy / C0) / m1
    if energy > v2:
        k2 = np.sqrt(m2 * (energy - v2) / C0)
        q = k2 / m2
        return 1 / (1 + 0.25 * (p / q - q / p) ** 2 * np.sin(k2 * width) ** 2)
    kappa = np.sqrt(m2 * (v2 - energy) / C0)
    q = kappa / m2
    return 1 / (1 + 0.25 * (p / q + q / p) ** 2 * np.sinh(kappa * width) ** 2)


def finite_well_ground_level(width, v0, m_well, m_barrier):
    """Lowest level of a finite square well (BenDaniel–Duke matching, even state):
    (k/m_w)·tan(kw/2) = κ/m_b, k = √(m_w E/C₀), κ = √(m_b (V₀ − E)/C₀)."""

    def mismatch(e):
        k, kappa = np.sqrt(m_well * e / C0), np.sqrt(m_barrier * (v0 - e) / C0)
        return (k / m_well) * np.sin(k * width / 2) - (kappa / m_barrier) * np.cos(k * width / 2)

    e_inf = C0 * (np.pi / width) ** 2 / m_well  # infinite-well level, above the finite-well one
    return brentq(mismatch, 1e-9, min(v0, e_inf) * (1 - 1e-12), xtol=1e-15)


def random_stack(rng, n_layers, x_max=0.44):
    layers = [Layer(rng.uniform(0.6, 4.0), rng.uniform(0.0, x_max)) for _ in range(n_layers)]
    return Stack(layers)


# --------------------------------------------------------------------------------------
# Uniform mass and the dense reference
# --------------------------------------------------------------------------------------
def test_uniform_mass_array_equals_scalar_mass():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 20, 90)
    u = 0.3 * np.exp(-(((x - 8) / 1.2) ** 2)) + 0.25 * np.exp(-(((x - 13) / 0.9) ** 2)) - 0.1 * x / 20
    e = np.sort(rng.uniform(0.001, 0.6, 15))
    for m in (0.067, 0.0919):
        t_scalar = ds.transmission(u, e, 20.0, m)
        t_array = ds.transmission(u, e, 20.0, np.full(x.size, m))
        np.testing.assert_allclose(t_array, t_scalar, rtol=1e-12, atol=1e-15)
        sol_s, sol_a = ds.solve_qtbm(u, e, 20.0, m), ds.solve_qtbm(u, e, 20.0, np.full(x.size, m))
        np.testing.assert_allclose(sol_a.psi, sol_s.psi, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(sol_a.reflection, sol_s.reflection, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("per_site", [False, True])
def test_matches_dense_per_site_mass_reference(per_site):
    """solve_qtbm (ψ, T, R) and transmission against the dense assembly of eqs. 9.3–9.5;
    the scalar path against the same reference with a constant mass."""
    stack = Stack([Layer(4.0), Layer(1.7, 0.35), Layer(3.1, 0.05), Layer(2.2, 0.25), Layer(4.0, 0.12)])
    n = 80
    prof = profiles(stack, n)
    length = float(stack.length_nm)
    u = np.asarray(prof.band_edge_eV) - 0.15 * np.asarray(prof.x_nm) / length  # with a bias ramp
    m = np.asarray(prof.m_eff) if per_site else 0.067
    energies = np.array([-0.1, 0.02, 0.08, 0.13, 0.3, 0.7, 1.5])  # incl. an evanescent lead
    sol = ds.solve_qtbm(u, energies, length, m)
    fast = ds.transmission(u, energies, length, m)
    for i, e in enumerate(energies):
        psi, t_ref, r_ref = dense_bdd(u, m, e, length)
        np.testing.assert_allclose(sol.psi[i], psi, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sol.transmission[i], t_ref, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(fast[i], t_ref, rtol=1e-10, atol=1e-14)
        if e > u[0]:
            np.testing.assert_allclose(sol.reflection[i], r_ref, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------------------
# Unitarity and reciprocity
# --------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_layers=st.integers(2, 6),
    n=st.sampled_from([57, 160]),
    bias=st.floats(0.0, 0.3),
)
def test_unitarity_with_per_site_masses_on_random_stacks(seed, n_layers, n, bias):
    """T + R = 1 and 0 ≤ T ≤ 1 (physics.md §3.4 argument, bond by bond) with different
    masses and potentials in the two leads; T = 0, R = 1 when only the left lead propagates."""
    rng = np.random.default_rng(seed)
    stack = random_stack(rng, n_layers)
    prof = profiles(stack, n)
    length = float(stack.length_nm)
    u = np.asarray(prof.band_edge_eV) - bias * np.asarray(prof.x_nm) / length
    m = np.asarray(prof.m_eff)
    top = max(u[0], u[-1])
    # the last energy lies between the two lead band edges when the left one is lower:
    # there the left lead propagates and the right one is evanescent
    closed = u[0] + 0.5 * (u[-1] - u[0]) if u[-1] - u[0] > 1e-6 else top + 0.05
    energies = np.concatenate([top + rng.uniform(1e-4, 0.8, 10), [top + 1e-7, closed]])
    sol = ds.solve_qtbm(u, energies, length, m)
    assert np.all(sol.transmission >= -1e-13) and np.all(sol.transmission <= 1 + 1e-12)
    np.testing.assert_allclose(sol.transmission + sol.reflection, 1.0, atol=1e-10)
    np.testing.assert_allclose(ds.transmission(u, energies, length, m), sol.transmission, rtol=1e-9, atol=1e-13)
    if closed < u[-1]:
        assert sol.transmission[-1] == 0.0


def test_reciprocity_mirrored_potential_and_masses():
    """T(E) is unchanged when the device — potential AND masses — is mirrored."""
    rng = np.random.default_rng(11)
    for _ in range(3):
        stack = random_stack(rng, 5)
        prof = profiles(stack, 131)
        length = float(stack.length_nm)
        u = np.asarray(prof.band_edge_eV) - 0.2 * np.asarray(prof.x_nm) / length
        m = np.asarray(prof.m_eff)
        assert abs(m[0] - m[-1]) > 1e-3 or abs(u[0] - u[-1]) > 1e-3  # the two leads differ
        e = max(u[0], u[-1]) + np.linspace(1e-3, 0.8, 40)
        t = ds.transmission(u, e, length, m)
        np.testing.assert_allclose(ds.transmission(u[::-1], e, length, m[::-1]), t, rtol=1e-9, atol=1e-14)
        # mirroring only the potential (not the masses) is a different device
        assert np.max(np.abs(ds.transmission(u[::-1], e, length, m) - t)) > 1e-4


# --------------------------------------------------------------------------------------
# Convergence to the continuum BenDaniel–Duke problem
# --------------------------------------------------------------------------------------
SPACINGS = (0.2, 0.1, 0.05, 0.025)  # grid spacings a in nm
N_CONV = 201  # fixed N, device length L = (N − 1)·a: the leads are flat, so L is irrelevant
CONV_ENERGIES = np.array([0.05, 0.15, 0.27, 0.4, 0.6])  # eV; the step uses those above ΔE_c


def _orders(errors):
    errors = np.abs(np.asarray(errors))
    return np.log2(errors[:-1] / errors[1:])


def test_step_second_order_with_interface_at_bond_midpoint():
    """GaAs | Al0.3Ga0.7As step (potential AND mass change) → T = 4pq/(p+q)², p = k₁/m₁, q = k₂/m₂.

    Sites left of the interface take (0, m_GaAs), sites right of it (ΔE_c, m_AlGaAs); the
    interface sits at the midpoint of the bond it cuts, whose mass is the average (eq. 9.3).
    The error is then O(a²): ψ is continuous at the bond midpoint up to
    −(a²/8)(ψ''_R − ψ''_L) and the flux t·Δψ up to O(a²) central-difference errors.
    The default smooth profile (δ = a/2) converges at the same order.
    """
    above = CONV_ENERGIES > V_B
    exact = step_T(CONV_ENERGIES[above], M_W, M_B, V_B)
    errors = {"abrupt": [], "smooth": []}
    for a in SPACINGS:
        half = 0.5 * (N_CONV - 1) * a
        stack = Stack([Layer(half - a / 2), Layer(half + a / 2, X_B)])  # interface at a bond midpoint
        for kind, prof in (("abrupt", abrupt_profiles(stack, N_CONV)), ("smooth", profiles(stack, N_CONV))):
            t = np.asarray(ds.transmission(prof.band_edge_eV, CONV_ENERGIES, 2 * half, prof.m_eff))
            errors[kind].append(t[above] - exact)
    for kind, errs in errors.items():
        rates = _orders(errs)  # per energy and per halving of a
        assert np.all((rates > 1.8) & (rates < 2.2)), (kind, errs, rates)
        assert np.max(np.abs(errs[-1])) < 1e-3, kind


def test_barrier_second_order_with_default_smooth_interfaces():
    """A 2.37 nm Al0.3Ga0.7As barrier at a generic position (interfaces neither on grid points
    nor on bond midpoints) through ``profiles`` with δ = a/2: the max error over energies
    below and above the barrier converges at second order to the continuum
    BenDaniel–Duke result. Abrupt profiles converge at second order only to the barrier
    of rounded thickness n·a."""
    width = 2.37
    exact = np.array([barrier_T(e, width, M_W, M_B, V_B) for e in CONV_ENERGIES])
    errors, errors_rounded = [], []
    for a in SPACINGS:
        length = (N_CONV - 1) * a
        start = 0.5 * (length - width) + 0.0371
        stack = Stack([Layer(start), Layer(width, X_B), Layer(length - start - width)])
        prof = profiles(stack, N_CONV)
        t = np.asarray(ds.transmission(prof.band_edge_eV, CONV_ENERGIES, length, prof.m_eff))
        errors.append(np.max(np.abs(t - exact)))
        # Abrupt site assignment rounds the barrier to n·a (n sites inside it): T then
        # converges, at second order, to the continuum barrier of that rounded thickness,
        # not to the true one — an O(a) thickness error, erratic in a.
        abrupt = abrupt_profiles(stack, N_CONV)
        rounded = a * int(np.sum(np.asarray(abrupt.al_fraction) > 0))
        t = np.asarray(ds.transmission(abrupt.band_edge_eV, CONV_ENERGIES, length, abrupt.m_eff))
        errors_rounded.append(np.max(np.abs(t - [barrier_T(e, rounded, M_W, M_B, V_B) for e in CONV_ENERGIES])))
    for errs in (errors, errors_rounded):
        rates = _orders(errs)
        assert np.all((rates > 1.8) & (rates < 2.2)), (errs, rates)


# --------------------------------------------------------------------------------------
# Resonant tunnelling through a symmetric double barrier
# --------------------------------------------------------------------------------------
def _resonance(trans, e_lo, e_hi, n_scan=2001):
    """Peak of trans(E) on [e_lo, e_hi]: a fine scan, then a bounded 1-D refinement."""
    grid = np.linspace(e_lo, e_hi, n_scan)
    values = np.asarray(trans(grid))
    j = int(np.argmax(values))
    assert 0 < j < n_scan - 1, "no interior maximum in the scan window"
    res = minimize_scalar(
        lambda e: -float(np.asarray(trans(np.array([e])))[0]),
        bounds=(grid[j - 1], grid[j + 1]),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return res.x, -res.fun


def test_double_barrier_resonance_at_the_well_level():
    """GaAs / Al0.3GaAs (b) / GaAs (5 nm) / Al0.3GaAs (b) / GaAs from ``profiles``.

    The symmetric device has a resonance with T → 1. Its energy approaches the ground level
    E₀ of the isolated finite well (BenDaniel–Duke, brentq) as the barriers thicken; the
    shift comes from the coupling through the barriers and decays like e^{−2κb}.
    Stated tolerance: |E_r − E₀| < 1 meV (1.3 % of E₀ ≈ 76 meV) for b = 3 nm, and the
    shift must shrink from b = 3 to 4 nm by at least half the factor e^{2κ·1nm}.
    """
    well, contact, n = 5.0, 8.0, 601
    e0 = finite_well_ground_level(well, V_B, M_W, M_B)
    kappa = np.sqrt(M_B * (V_B - e0) / C0)
    shifts = []
    for b in (3.0, 4.0):
        stack = Stack([Layer(contact), Layer(b, X_B), Layer(well), Layer(b, X_B), Layer(contact)])
        prof = profiles(stack, n)
        length = float(stack.length_nm)
        np.testing.assert_allclose(prof.band_edge_eV, prof.band_edge_eV[::-1], atol=1e-12)  # symmetric on the grid

        def trans(e):
            return ds.transmission(prof.band_edge_eV, e, length, prof.m_eff)

        e_r, t_peak = _resonance(trans, e0 - 0.01, e0 + 0.01)
        assert t_peak > 1 - 1e-8, (b, t_peak)
        assert float(trans(np.array([e_r - 0.01]))[0]) < 0.2 and float(trans(np.array([e_r + 0.01]))[0]) < 0.2
        shifts.append(e_r - e0)
    assert abs(shifts[0]) < 1e-3, shifts
    assert abs(shifts[1]) < abs(shifts[0]) / (0.5 * np.exp(2 * kappa * 1.0)), (shifts, np.exp(2 * kappa))


# --------------------------------------------------------------------------------------
# Gradients through profiles + transmission
# --------------------------------------------------------------------------------------
def _rtd_stack():
    return Stack([Layer(6.0), Layer(2.3, 0.3), Layer(4.6, 0.02), Layer(2.6, 0.28), Layer(6.0, 0.05)])


ENERGIES = jnp.array([0.05, 0.083, 0.12, 0.3])
N_GRID = 160


def _summed_T(stack):
    prof = profiles(stack, N_GRID)
    return jnp.sum(ds.transmission(prof.band_edge_eV, ENERGIES, stack.length_nm, prof.m_eff))


def _central(f, stack, field, k, h):
    def bumped(sign):
        arrays = {name: np.array(getattr(stack, name)) for name in ("thickness_nm", "al_fraction", "doping_cm3")}
        arrays[field][k] += sign * h
        return Stack.from_arrays(*(jnp.asarray(arrays[name]) for name in ("thickness_nm", "al_fraction", "doping_cm3")))

    return (float(f(bumped(+1))) - float(f(bumped(-1)))) / (2 * h)


def test_gradients_wrt_thicknesses_and_compositions():
    stack = _rtd_stack()
    value_and_grad = jax.jit(jax.value_and_grad(_summed_T))
    grad = value_and_grad(stack)[1]
    assert isinstance(grad, Stack)

    def f(s):
        return value_and_grad(s)[0]

    # steps large enough that rounding in T (~1e-14) does not swamp the differences
    for field, h in (("thickness_nm", 1e-4), ("al_fraction", 1e-5)):
        g = np.asarray(getattr(grad, field))
        for k in range(stack.n_layers):
            np.testing.assert_allclose(g[k], _central(f, stack, field, k, h), rtol=1e-5, atol=1e-9, err_msg=f"{field}[{k}]")
    assert np.any(np.abs(np.asarray(grad.thickness_nm)) > 1e-3) and np.any(np.abs(np.asarray(grad.al_fraction)) > 1e-2)
    np.testing.assert_array_equal(grad.doping_cm3, 0.0)  # doping does not enter T without self-consistency


def test_gradients_wrt_per_site_masses():
    prof = profiles(_rtd_stack(), N_GRID)
    u, m, length = prof.band_edge_eV, np.asarray(prof.m_eff), float(_rtd_stack().length_nm)

    def f(m):
        return jnp.sum(ds.transmission(u, ENERGIES, length, m) ** 2)

    g = jax.grad(f)(jnp.asarray(m))
    h = 1e-7
    for j in (0, 1, 40, 41, 80, 120, N_GRID - 1):  # incl. both leads' masses and an interface
        d = np.zeros_like(m)
        d[j] = h
        np.testing.assert_allclose(g[j], (f(m + d) - f(m - d)) / (2 * h), rtol=1e-5, atol=1e-7, err_msg=f"site {j}")
    # forward mode (the Thomas path) agrees with reverse mode along a random direction
    def f_fwd(m):
        return jnp.sum(ds.transmission(u, ENERGIES, length, m, forward_mode=True) ** 2)

    v = np.random.default_rng(5).normal(size=m.size)
    _, dot = jax.jvp(f_fwd, (jnp.asarray(m),), (jnp.asarray(v),))
    np.testing.assert_allclose(dot, np.dot(g, v), rtol=1e-9)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("func", [ds.transmission, ds.solve_qtbm])
def test_bad_masses_are_rejected(func):
    u = np.zeros(30)
    for bad in (np.full(29, 0.067), np.full(31, 0.067), np.full((2, 30), 0.067)):
        with pytest.raises(ValueError, match="m_eff"):
            func(u, 0.1, 10.0, bad)
    for bad in (np.r_[np.full(29, 0.067), -0.067], np.r_[0.0, np.full(29, 0.067)], np.r_[np.nan, np.full(29, 0.067)], -0.067):
        with pytest.raises(ValueError, match="m_eff"):
            func(u, 0.1, 10.0, bad)
