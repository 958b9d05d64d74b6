"""Electron density from scattering states (physics.md §11, eqs. 11.1–11.2)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

import diffsim_jax as ds
from diffsim_jax.physics import density as dn
from diffsim_jax.physics import statistics
from diffsim_jax.physics.qtbm import lattice, lead_phase

KT300 = statistics.thermal_energy_eV(300.0)


def fd_half_scipy(eta, order=0.5):
    """Normalised 𝓕_j(η) = (1/Γ(j+1)) ∫₀^∞ t^j/(1 + e^{t−η}) dt by adaptive quadrature (t = x²)."""
    top = math.sqrt(max(eta, 0.0) + 60.0)
    kink = [math.sqrt(eta)] if eta > 0 else None
    val = quad(
        lambda x: 2 * x ** (2 * order + 1) / (1 + math.exp(min(x * x - eta, 700.0))),
        0,
        top,
        points=kink,
        limit=400,
        epsabs=0,
        epsrel=1e-13,
    )[0]
    return val / math.gamma(order + 1)


# --------------------------------------------------------------------------------------
# Fermi–Dirac integral, N_c, Fermi level
# --------------------------------------------------------------------------------------
ETAS = [-30.0, -8.0, -2.0, -0.5, 0.0, 0.7, 2.0, 5.0, 12.0, 35.0, 80.0]


def test_fermi_dirac_half_against_scipy():
    ours = np.asarray(statistics.fermi_dirac_half(jnp.asarray(ETAS)))
    ref = np.array([fd_half_scipy(e) for e in ETAS])
    np.testing.assert_allclose(ours, ref, rtol=1e-11)


def test_fermi_dirac_half_derivative_is_minus_half_order():
    der = np.asarray(jax.vmap(jax.grad(statistics.fermi_dirac_half))(jnp.asarray(ETAS)))
    ref = np.array([fd_half_scipy(e, order=-0.5) for e in ETAS])
    np.testing.assert_allclose(der, ref, rtol=1e-9)


def test_inverse_fermi_dirac_half_and_its_derivative():
    r = jnp.asarray([1e-12, 1e-5, 0.01, 0.5, 1.0, 4.6, 30.0, 1e3, 1e5])
    eta = statistics.inverse_fermi_dirac_half(r)
    np.testing.assert_allclose(np.asarray(statistics.fermi_dirac_half(eta)), np.asarray(r), rtol=1e-12)
    d_inv = jax.vmap(jax.grad(statistics.inverse_fermi_dirac_half))(r)
    d_fwd = jax.vmap(jax.grad(statistics.fermi_dirac_half))(eta)
    np.testing.assert_allclose(np.asarray(d_inv * d_fwd), 1.0, rtol=1e-12)


def test_fast_approximation_accuracy_and_inverse():
    """The Aymerich-Humet form used by the predictor is within 0.6 % (measured maximum 0.56 %)."""
    eta = np.linspace(-20, 60, 401)
    rel = np.asarray(statistics.fermi_dirac_half_fast(jnp.asarray(eta)) / statistics.fermi_dirac_half(jnp.asarray(eta))) - 1
    assert np.max(np.abs(rel)) < 6e-3
    r = jnp.asarray([1e-6, 0.3, 3.0, 300.0])
    np.testing.assert_allclose(np.asarray(statistics.fermi_dirac_half_fast(statistics.inverse_fermi_dirac_half_fast(r))), r, rtol=1e-12)


def test_effective_density_of_states_and_fermi_level():
    assert float(statistics.effective_density_of_states_cm3(0.067, 300.0)) == pytest.approx(4.352e17, rel=2e-4)
    # N_c ∝ (m T)^{3/2}
    ratio = statistics.effective_density_of_states_cm3(0.134, 150.0) / statistics.effective_density_of_states_cm3(0.067, 300.0)
    assert float(ratio) == pytest.approx(1.0, rel=1e-12)
    for nd in (1e16, 2e18, 1e19):
        ef = float(statistics.fermi_level_from_doping(nd, 0.067, 300.0))
        assert float(statistics.bulk_density_cm3(ef / KT300, 0.067, 300.0)) == pytest.approx(nd, rel=1e-11)
    # non-degenerate limit: 𝓕_{1/2}(η) = e^η − e^{2η}/2^{3/2} + …, so η = ln r + r/√8 + O(r²)
    r = 1e14 / float(statistics.effective_density_of_states_cm3(0.067, 300.0))
    ef = float(statistics.fermi_level_from_doping(1e14, 0.067, 300.0))
    assert ef == pytest.approx(KT300 * (math.log(r) + r / math.sqrt(8)), abs=1e-9)


# --------------------------------------------------------------------------------------
# Normalisation: flat, field-free device
# --------------------------------------------------------------------------------------
N_FLAT, L_FLAT = 100, 30.0


@pytest.mark.parametrize("fermi", [-0.1, 0.0, 0.05, 0.12])
def test_flat_band_density_is_bulk_density(fermi):
    """n = N_c 𝓕_{1/2}((E_F − E_c)/k_BT) within 1 % (physics.md §11 normalisation test)."""
    n = np.asarray(dn.electron_density(np.zeros(N_FLAT), fermi, 0.0, L_FLAT))
    ref = float(statistics.bulk_density_cm3(fermi / KT300))
    assert np.max(np.abs(n / ref - 1)) < 1e-2
    # the deviation is the lattice dispersion's O(a²) (a = 0.3 nm here), far below 1 %
    assert np.max(np.abs(n / ref - 1)) < 2e-3


def test_flat_band_with_other_mass_temperature_and_per_site_masses():
    m, temp, fermi = 0.092, 150.0, 0.02
    kt = statistics.thermal_energy_eV(temp)
    ref = float(statistics.bulk_density_cm3(fermi / kt, m, temp))
    n_scalar = np.asarray(dn.electron_density(np.zeros(N_FLAT), fermi, 0.0, L_FLAT, m, temp))
    n_sites = np.asarray(dn.electron_density(np.zeros(N_FLAT), fermi, 0.0, L_FLAT, np.full(N_FLAT, m), temp))
    assert np.max(np.abs(n_scalar / ref - 1)) < 1e-2
    np.testing.assert_allclose(n_sites, n_scalar, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Green's-function columns and their VJPs
# --------------------------------------------------------------------------------------
def _test_system(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 12, n)
    u = 0.25 * ((x > 4) & (x < 5)) + 0.25 * ((x > 7) & (x < 8)) - 0.1 * x / 12 + 0.01 * rng.normal(size=n)
    hop = 9.0 + rng.uniform(-1, 1, n - 1)
    onsite = np.concatenate([[9.0], hop]) + np.concatenate([hop, [9.0]]) + u
    return jnp.asarray(onsite), jnp.asarray(hop)


def test_green_columns_against_dense_inverse():
    onsite, hop = _test_system()
    n = onsite.shape[0]
    z = np.array([0.05, 0.2 + 1e-3j, -0.05 + 0.02j, 0.11])
    sl = -9.0 * np.asarray(lead_phase(jnp.asarray(z + 1e-14j), 0.0, 9.0))
    sr = -9.0 * np.asarray(lead_phase(jnp.asarray(z + 1e-14j), -0.1, 9.0))
    phi_re, phi_im, chi_re, chi_im, s = dn.green_columns(
        onsite, hop, jnp.asarray(z.real), jnp.asarray(z.imag), jnp.asarray(sl), jnp.asarray(sr)
    )
    phi, chi = np.asarray(phi_re + 1j * phi_im), np.asarray(chi_re + 1j * chi_im)
    for m in range(z.size):
        a = np.diag(np.asarray(onsite) - z[m]).astype(complex) - np.diag(hop, 1) - np.diag(hop, -1)
        a[0, 0] += sl[m]
        a[-1, -1] += sr[m]
        g = np.linalg.inv(a)
        np.testing.assert_allclose(phi[:, m] / s[m], g[:, 0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(chi[:, m] / s[m], g[:, -1], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(chi[:, m] * phi[:, m] / s[m], np.diag(g), rtol=1e-10, atol=1e-13)
        assert n == g.shape[0]


def test_left_injected_state_matches_qtbm_wavefunction():
    """|ψ_L|² = |b₀ G_{j0}|² with the qtbm solver's ψ (physics.md §3.7 vs the recurrence)."""
    n, length, e = 60, 15.0, 0.07
    x = np.linspace(0, length, n)
    u = 0.2 * ((x > 5) & (x < 6.5)) - 0.05 * x / length
    sol = ds.solve_qtbm(u, e, length)
    lat = lattice(jnp.asarray(u), length, jnp.full(n, 0.067))
    lam_l = complex(ds.lead_phase(e, 0.0, float(lat.t_left)))
    lam_r = complex(ds.lead_phase(e, u[-1], float(lat.t_right)))
    pr, pi_, _, _, s = dn.green_columns(
        lat.onsite, jnp.broadcast_to(lat.hop, (n - 1,)), jnp.asarray([e]), jnp.zeros(1),
        jnp.asarray([-float(lat.t_left) * lam_l]), jnp.asarray([-float(lat.t_right) * lam_r]),
    )
    b0 = float(lat.t_left) * (1 / lam_l - lam_l)
    psi = b0 * (np.asarray(pr[:, 0]) + 1j * np.asarray(pi_[:, 0])) / complex(s[0])
    np.testing.assert_allclose(psi, np.asarray(sol.psi), rtol=1e-9, atol=1e-12)


def _notch_device(n=80, length=30.0, bias=0.2):
    x = np.linspace(0, length, n)
    u = -bias * x / length - 0.05 * np.exp(-(((x - 10) / 3) ** 2)) + 0.25 * ((x > 12) & (x < 13.5))
    u = u + 0.25 * ((x > 17) & (x < 18.5))
    u[0] = 0.0
    m = 0.067 + 0.03 * ((x > 12) & (x < 13.5))
    return x, jnp.asarray(u), jnp.asarray(m)


SMALL = dn.DensityConfig(n_panels=16, nodes_per_panel=6, contour_panels=6, adapt_swaps=4)


def test_density_vjp_matches_autodiff_through_the_recurrences():
    """The prefix-sum custom VJP equals JAX's own reverse mode through the scans."""
    x, u, m = _notch_device()
    mask = jnp.asarray((x < 12.7).astype(float))
    grid = dn.initial_grid(SMALL, u)
    rng = np.random.default_rng(1)
    nbar, jbar = jnp.asarray(rng.normal(size=x.size)), 0.37e-5

    def ref(u, m, length, mul, mur):
        st = dn._setup(u, m, length, mul, mur, KT300, mask, grid, SMALL)
        out, _ = dn._core_forward(st.m_a, SMALL.nodes_per_panel, st.args, st.weights, st.mask)
        return jnp.sum(out[0] * nbar) + jbar * out[1]

    def ours(u, m, length, mul, mur):
        r = dn.density_on_grid(u, m, length, mul, mur, KT300, mask, grid, SMALL)
        return jnp.sum(r.density_nm3 * nbar) + jbar * r.current_Acm2

    args = (u, m, 30.0, 0.05, -0.15)
    assert float(jax.jit(ours)(*args)) == pytest.approx(float(jax.jit(ref)(*args)), rel=1e-14)
    g_ref = jax.jit(jax.grad(ref, argnums=(0, 1, 2, 3, 4)))(*args)
    g_our = jax.jit(jax.grad(ours, argnums=(0, 1, 2, 3, 4)))(*args)
    for a, b in zip(g_our, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12 * float(jnp.max(jnp.abs(b))))
    # the adjoint operator of the self-consistent solver: exact on the interior sites
    op = jax.jit(lambda *a: dn.density_linearization(*a, KT300, mask, grid, SMALL)[1].apply(nbar, jbar))(*args)
    np.testing.assert_allclose(np.asarray(op)[1:-1], np.asarray(g_ref[0])[1:-1], rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------------------
# Equilibrium contour vs real axis; states below the emitter band edge
# --------------------------------------------------------------------------------------
def _spectral_integral(u, m, length, mu_l, mu_r, mask, config, e_top, real_axis_points=None):
    """D₂/(πa)·Im ∫ G_jj(z) S(z; μ_j) dz from E_floor to e_top: on the contour of the package
    (default) or by brute force on the real axis at E + i·1e-7 (η → 0⁺)."""
    n = u.shape[0]
    lat = lattice(u, length, m)
    hop = jnp.broadcast_to(lat.hop, (n - 1,))
    floor = float(jnp.min(u)) - config.floor_margin_eV
    d2 = statistics.transverse_dos_nm2(float(m[0]), KT300)
    if real_axis_points is None:
        z, w = dn.contour_nodes(floor, e_top, (mu_l, mu_r), KT300, config)
    else:
        e = np.linspace(floor, e_top, real_axis_points)
        z = jnp.asarray(e + 1e-7j)
        w = jnp.full(e.size, (e[1] - e[0]) + 0j)
    sl = -lat.t_left * lead_phase(z, lat.u_left, lat.t_left)
    sr = -lat.t_right * lead_phase(z, lat.u_right, lat.t_right)
    pr, pi_, cr, ci, s = dn.green_columns(lat.onsite, hop, jnp.real(z), jnp.imag(z), sl, sr)
    gjj = (cr + 1j * ci) * (pr + 1j * pi_) / s
    sup = np.where(np.asarray(mask)[:, None] > 0, statistics.supply(z, mu_l, KT300)[None, :], statistics.supply(z, mu_r, KT300)[None, :])
    spacing = length / (n - 1)
    return np.imag(np.sum(np.asarray(gjj) * sup * np.asarray(w)[None, :], axis=1)) * d2 / (math.pi * spacing)


@pytest.mark.parametrize("filling", ["collector", "emitter"])
def test_contour_equals_real_axis_integral(filling):
    """The equilibrium part by the exact contour deformation vs. brute force on a fine real-axis
    grid (a device whose resonances are broad enough for the brute force to resolve)."""
    n, length = 60, 30.0
    x = np.linspace(0, length, n)
    u = -0.2 * x / length - 0.05 * np.exp(-(((x - 10) / 3) ** 2)) + 0.15 * ((x > 12) & (x < 13))
    u[0] = 0.0
    u = jnp.asarray(u)
    mask = jnp.asarray((x < 12.5).astype(float)) if filling == "emitter" else jnp.zeros(n)
    cfg = dn.DensityConfig()
    top = 0.04 + 40 * KT300
    args = (u, jnp.full(n, 0.067), length, 0.04, -0.16, mask, cfg, top)
    contour = _spectral_integral(*args)
    brute = _spectral_integral(*args, real_axis_points=80001)
    assert np.max(np.abs(contour - brute)) < 2e-3 * np.max(np.abs(brute))


def test_flat_band_density_is_all_contour_and_matches_scattering_states():
    """At V = 0 the real-axis part vanishes; the scattering-state sum (eq. 11.2 on a fine real
    grid, both leads) equals the contour result."""
    n, length, ef = 50, 15.0, 0.03
    u = jnp.zeros(n)
    contour = _spectral_integral(u, jnp.full(n, 0.067), length, ef, ef, jnp.zeros(n), dn.DensityConfig(), ef + 40 * KT300)
    t = float(lattice(u, length, jnp.full(n, 0.067)).t_left)
    spacing = length / (n - 1)
    d2 = float(statistics.transverse_dos_nm2(0.067, KT300))

    def supply_of_ka(ka):  # in k: dE/(2πħv) = dk/2π, |ψ|² = 1, E = 2t(1 − cos ka)
        w = (ef - 2 * t * (1 - math.cos(ka))) / KT300
        return w + math.log1p(math.exp(-w)) if w > 0 else math.log1p(math.exp(w))

    both_leads = 2 * quad(supply_of_ka, 0, math.pi, epsabs=0, epsrel=1e-12, limit=200)[0]
    np.testing.assert_allclose(contour, both_leads / (2 * math.pi * spacing) * d2, rtol=1e-10)
    # and the public function, whose real-axis part vanishes at V = 0
    np.testing.assert_allclose(np.asarray(dn.electron_density(np.zeros(n), ef, 0.0, length)) * 1e-21, contour, rtol=1e-10)


def test_emitter_filling_fills_the_accumulation_notch():
    """At bias the notch states below U_L hold far more charge in equilibrium with the emitter
    than when filled from the collector; at zero bias the two treatments coincide."""
    x, u, m = _notch_device()
    notch = (x > 6) & (x < 12)
    common = dict(emitter_end_nm=12.7)
    n_em = np.asarray(dn.electron_density(u, 0.04, 0.2, 30.0, m, config=SMALL, **common))
    coll = dataclasses.replace(SMALL, notch_filling="collector")
    n_co = np.asarray(dn.electron_density(u, 0.04, 0.2, 30.0, m, config=coll, **common))
    assert np.sum(n_em[notch]) > 1.2 * np.sum(n_co[notch])
    np.testing.assert_allclose(n_em[x > 20], n_co[x > 20], rtol=1e-8)
    u0 = u + 0.2 * jnp.asarray(x) / 30.0  # the same device at zero bias (U_R = U_L)
    u0 = u0.at[-1].set(u0[0])
    n_em0 = np.asarray(dn.electron_density(u0, 0.04, 0.0, 30.0, m, config=SMALL, **common))
    n_co0 = np.asarray(dn.electron_density(u0, 0.04, 0.0, 30.0, m, config=coll, **common))
    np.testing.assert_allclose(n_em0, n_co0, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Current on the density grid vs the Tsu–Esaki module, and input validation
# --------------------------------------------------------------------------------------
def test_current_matches_tsu_esaki_module():
    thermal = pytest.importorskip("diffsim_jax.physics.thermal")
    x, u, m = _notch_device()
    _, res, _ = dn.electron_density(u, 0.04, 0.2, 30.0, m, config=SMALL, emitter_end_nm=12.7, return_details=True)
    ref = float(thermal.current_density(np.asarray(u), 0.04, 0.2, 30.0, np.asarray(m), 300.0))
    assert float(res.current_Acm2) == pytest.approx(ref, rel=5e-3)


def test_invalid_inputs_raise():
    u = np.zeros(N_FLAT)
    with pytest.raises(ValueError, match="bias"):
        dn.electron_density(u, 0.05, -0.1, L_FLAT)
    with pytest.raises(ValueError, match="right lead"):
        dn.electron_density(np.linspace(0, 0.1, N_FLAT), 0.05, 0.0, L_FLAT)
    with pytest.raises(ValueError, match="band top"):
        dn.electron_density(np.zeros(5), 0.05, 0.0, L_FLAT)
    with pytest.raises(ValueError, match="temperature"):
        dn.electron_density(u, 0.05, 0.0, L_FLAT, temperature_K=0.0)
    with pytest.raises(ValueError, match="NaN"):
        dn.electron_density(np.full(N_FLAT, np.nan), 0.05, 0.0, L_FLAT)
    with pytest.raises(ValueError, match="notch_filling"):
        dn.DensityConfig(notch_filling="both")
    with pytest.raises(ValueError, match="contour_height"):
        dn.DensityConfig(contour_height_kT=3.5)
