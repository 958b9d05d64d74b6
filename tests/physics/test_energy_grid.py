"""Resonance-adapted energy grid (physics.md §10; diffsim_jax/energy_grid.py).

The main test is the convergence study: J from the default grid (160 energies) against a
brute-force reference (composite Gauss–Legendre on uniform panels finer than the narrowest
resonance, itself checked by halving the resolution) on three devices — the paper's
model, a GaAs/Al₀.₃Ga₀.₇As RTD and a thick-barrier Al₀.₄Ga₀.₆As RTD whose resonance is
0.055 meV wide — at 300, 77 and 4 K (and T = 0), at biases including peak and valley.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim_jax as ds
from diffsim_jax.physics import energy_grid as eg
from diffsim_jax.physics import thermal as th
from diffsim_jax.physics.constants import K_B_EV_PER_K
from diffsim_jax.physics.qtbm import transmission_sweep
from diffsim_jax.physics.layers import abrupt_double_barrier

TOL = 5e-3  # physics.md §10: the default grid converges J to 0.5 %


# --------------------------------------------------------------------------------------
# Devices and the brute-force reference
# --------------------------------------------------------------------------------------
rtd = abrupt_double_barrier  # 3/5/3 nm Al0.3 barriers/well between 10 nm GaAs leads, N = 170: (U, L, m)


def thick(bias):
    """5 nm Al₀.₄Ga₀.₆As barriers: a resonance Γ ≈ 0.055 meV wide (N = 192)."""
    return rtd(bias, barrier_nm=5.0, al_fraction=0.4)


def paper(bias):
    """The paper's model device (physics.md §5): L = 20 nm, N = 100, m* = 0.067."""
    return np.asarray(ds.potential(ds.default_params(), bias, ds.DeviceConfig())), 20.0, 0.067


_sweep = jax.jit(transmission_sweep)


def reference_integral(kind, potential, fermi_level, bias, length, m_eff, temperature_K, panel_eV, order=6):
    """Brute force: composite Gauss–Legendre (``order`` points) on uniform panels of width
    ≤ ``panel_eV`` over the whole window (split at the chemical potentials at T = 0)."""
    kT = K_B_EV_PER_K * temperature_K
    mu_l, mu_r = fermi_level, fermi_level - bias
    lo = max(potential[0], potential[-1])
    hi = max(mu_l, mu_r) + 40.0 * kT
    cuts = sorted({lo, hi, *[m for m in (mu_l, mu_r) if lo < m < hi]}) if temperature_K == 0 else [lo, hi]
    x, w = np.polynomial.legendre.leggauss(order)
    total = 0.0
    chunk = 32768
    for a, b in zip(cuts[:-1], cuts[1:]):
        n = max(1, int(np.ceil((b - a) / panel_eV)))
        edges = np.linspace(a, b, n + 1)
        half = 0.5 * np.diff(edges)
        energies = ((edges[:-1] + half)[:, None] + half[:, None] * x).ravel()
        weights = (half[:, None] * w).ravel()
        for s in range(0, energies.size, chunk):
            e = energies[s : s + chunk]
            pad = np.full(chunk, e[-1])
            pad[: e.size] = e
            t = np.asarray(_sweep(jnp.asarray(potential), jnp.asarray(pad), length, jnp.asarray(m_eff)))[: e.size]
            k = np.asarray(th._kernel(kind, jnp.asarray(e), mu_l, mu_r, kT if temperature_K else 0.0))
            total += np.sum(weights[s : s + chunk] * t * k)
    m_t = m_eff if np.ndim(m_eff) == 0 else m_eff[0]
    return total * (th.TSU_ESAKI_A_PER_CM2_EV2 * m_t if kind == "tsu_esaki" else th.CURRENT_UA_PER_EV)


def grid_currents(kind, device, fermi_level, biases, temperature_K, config=None):
    """J (or I) from the adaptive grid for several biases. The public functions jit once per
    (kind, T = 0 or not, grid config, array shapes): k_BT is traced, so every temperature of
    one device shares one compilation."""
    data = [device(v) for v in biases]
    fn = th.current_density if kind == "tsu_esaki" else th.landauer_current
    out = [float(fn(u, fermi_level, v, length, m, temperature_K, grid=config)) for v, (u, length, m) in zip(biases, data)]
    return np.array(out), data


# (device, E_F, biases [V], panel width of the reference [eV]); biases include peak and valley.
CASES = {
    "paper": (paper, 0.1, [0.1, 0.225, 0.45], 2e-4),  # peak 0.225 V, valley 0.45 V (physics.md §5)
    "rtd": (rtd, 0.05, [0.06, 0.13, 0.15, 0.22], 1e-4),  # peak ≈ 0.13 V, valley ≈ 0.22 V
    "thick": (thick, 0.05, [0.14, 0.22], 2e-5),  # Γ = 0.055 meV; peak ≈ 0.14 V, valley ≈ 0.22 V
}


@pytest.mark.parametrize(
    "name, temperatures",
    [("paper", (300.0, 77.0)), ("rtd", (300.0, 77.0, 4.0)), ("thick", (300.0, 77.0, 4.0, 0.0))],
)
def test_default_grid_converged_against_brute_force(name, temperatures):
    """J(default grid) agrees with a converged brute-force reference to 0.5 % (physics.md §10).

    Measured worst errors over a 0.02 V sweep (0–0.5 V) are ≤ 8.4e-5 on all three devices at
    300/77/4/0 K (final report); the tolerance asserted is the specification's 0.5 %. The
    reference is checked against itself at twice the panel width (its error falls at least
    like h^1.5 — the √(E − E_lo) band edge — so the halving bounds it)."""
    device, ef, biases, panel = CASES[name]
    for temperature_K in temperatures:
        currents, data = grid_currents("tsu_esaki", device, ef, biases, temperature_K)
        for k, (v, j, (u, length, m)) in enumerate(zip(biases, currents, data)):
            ref = reference_integral("tsu_esaki", u, ef, v, length, m, temperature_K, panel)
            if k == 0:  # the reference's own convergence, once per device and temperature
                coarse = reference_integral("tsu_esaki", u, ef, v, length, m, temperature_K, 2 * panel)
                assert abs(coarse / ref - 1) < 1e-4, f"reference not converged at {v} V, {temperature_K} K"
            assert abs(j / ref - 1) < TOL, (name, temperature_K, v, j, ref)


def test_landauer_grid_converged_on_narrow_resonance():
    """The 1-D Landauer current shares the grid: thick barriers at 77 K, at the peak."""
    currents, data = grid_currents("landauer", thick, 0.05, [0.14], 77.0)
    u, length, m = data[0]
    assert abs(currents[0] / reference_integral("landauer", u, 0.05, 0.14, length, m, 77.0, 2e-5) - 1) < TOL


def test_resonance_nodes_are_what_makes_it_converge():
    """Without resonance nodes (n_resonances=0) the same number of energies misses the
    0.055 meV resonance of the thick device at 4 K by far more than 0.5 %."""
    cfg = eg.EnergyGridConfig(n_resonances=0)
    currents, data = grid_currents("tsu_esaki", thick, 0.05, [0.14], 4.0, cfg)
    u, length, m = data[0]
    ref = reference_integral("tsu_esaki", u, 0.05, 0.14, length, m, 4.0, 2e-5)
    assert abs(currents[0] / ref - 1) > 0.05


# --------------------------------------------------------------------------------------
# Resonance search
# --------------------------------------------------------------------------------------
def test_finds_narrow_resonance_position_and_width():
    """The complex zero E_r − iΓ/2 of s(E) = 1/G_{N−1,0} matches the peak and FWHM of 𝒯(E)."""
    u, length, m = thick(0.0)
    u, m = jnp.asarray(u), jnp.asarray(m)
    cfg = eg.EnergyGridConfig()
    locate = jax.jit(lambda uu: eg.locate_resonances(uu, length, m, 0.0, 0.3, (0.05, 0.05), 0.0259, jnp.ones_like, cfg))
    res = locate(u)
    k = int(np.argmin(np.where(np.asarray(res.score) > 0, np.asarray(res.width), np.inf)))
    e_r, gamma = float(res.energy[k]), float(res.width[k])
    energies = np.linspace(e_r - 10 * gamma, e_r + 10 * gamma, 20001)
    t = np.asarray(transmission_sweep(u, jnp.asarray(energies), length, m))
    above = energies[t >= 0.5 * t.max()]
    assert abs(energies[np.argmax(t)] - e_r) < 0.02 * gamma
    assert abs((above[-1] - above[0]) / gamma - 1) < 0.02
    assert 0.04e-3 < gamma < 0.07e-3  # the 5 nm Al₀.₄Ga₀.₆As device: Γ ≈ 0.055 meV
    assert float(res.transmission[k]) > 0.99  # symmetric double barrier at V = 0


def test_flat_wire_has_no_narrow_resonances():
    """A flat potential has no zeros of s near the axis; the real-axis Newton steps settle only
    on the transit-time widths Γ ~ ħv/L (≥ 10 meV here), which the background resolves."""
    cfg = eg.EnergyGridConfig()
    res = jax.jit(lambda u: eg.locate_resonances(u, 20.0, 0.067, 0.0, 0.5, (0.1, 0.05), 0.0259, jnp.ones_like, cfg))(jnp.zeros(100))
    active = np.asarray(res.score) > 0
    assert np.all(np.asarray(res.width)[active] > 10e-3)


# --------------------------------------------------------------------------------------
# Density, inversion and quadrature
# --------------------------------------------------------------------------------------
def _test_density():
    """A density with a 20 µeV and a 0.1 µeV resonance, a broad one, an empty slot, Fermi
    edges at 300 K and the band-edge component, on [0, 1.1] eV."""
    res = eg.Resonances(jnp.array([0.0123, 0.2, 0.05, -1.0]), jnp.array([2e-5, 3e-3, 1e-7, 1e-3]),
                        jnp.ones(4), jnp.array([1.0, 1.0, 1.0, 0.0]))
    cfg = eg.EnergyGridConfig()
    spacing = eg.background_spacing(0.0, 1.1, (0.1, 0.0), 0.0259, cfg)
    return eg.build_density(0.0, 1.1, res, (0.1, 0.0), 0.0259, spacing, cfg), cfg


@jax.jit
def _inverse_residuals():
    dens, cfg = _test_density()
    u = jnp.asarray(eg.gauss_legendre_panels(cfg.n_nodes, cfg.panel_order)[0])
    e = dens.inverse_cdf(u, cfg.probes, cfg.newton_steps)
    dense = jnp.linspace(1e-9, 1 - 1e-9, 20001)  # also far from the quadrature points
    e_dense = dens.inverse_cdf(dense, cfg.probes, cfg.newton_steps)
    return e, jnp.max(jnp.abs(dens.cdf(e) - u)), jnp.max(jnp.abs(dens.cdf(e_dense) - dense))


def test_inverse_cdf_to_round_off():
    """Bracketing on the component quantiles + 3 Newton steps: |CDF(E_i) − u_i| < 1e-9 even
    with a 0.1 µeV resonance in a 1.1 eV window (≈ 1e-15 on the test devices); nodes sorted."""
    e, res_nodes, res_dense = _inverse_residuals()
    assert float(res_nodes) < 1e-9 and float(res_dense) < 1e-9
    assert np.all(np.diff(np.asarray(e)) > 0)


def test_density_cdf_and_pdf_consistent():
    """CDF(lo) = 0, CDF(hi) = 1, and dCDF/dE = ρ (central differences at scattered energies)."""

    @jax.jit
    def check():
        dens, _ = _test_density()
        ends = dens.cdf(jnp.array([0.0, 1.1]))
        e = jnp.array([1e-4, 0.0122, 0.012301, 0.0124, 0.050001, 0.0999, 0.1, 0.2, 0.201, 0.5, 1.0])
        h = 1e-9
        fd = (dens.cdf(e + h) - dens.cdf(e - h)) / (2 * h)
        return ends, fd, dens.pdf(e)

    ends, fd, rho = check()
    assert abs(float(ends[0])) < 1e-15 and abs(float(ends[1]) - 1.0) < 1e-13
    np.testing.assert_allclose(np.asarray(fd), np.asarray(rho), rtol=1e-5)


def test_grid_integrates_lorentzian_and_polynomial():
    """Mapped Gauss–Legendre: ∫f(E; μ)dE of a Fermi function to round-off (background alone)
    and to 1e-9 with the Fermi-edge and band-edge components;
    with a 20 µeV resonance component the grid integrates a Lorentzian of that width there
    (the same number of nodes without the component misses it by > 10 %)."""
    g, e_r = 2e-5, 0.0123
    res = eg.Resonances(jnp.array([e_r]), jnp.array([g]), jnp.ones(1), jnp.ones(1))
    cfg = eg.EnergyGridConfig(n_resonances=1)
    plain = cfg.replace(edge_share=0.0, band_edge_share=0.0)
    grids = jax.jit(lambda: (eg.mapped_grid(0.0, 0.3, res, (0.1, 0.05), 0.00259, cfg),
                             eg.mapped_grid(0.0, 0.3, None, (0.1, 0.05), 0.00259, cfg),
                             eg.mapped_grid(0.0, 0.3, None, (0.1, 0.05), 0.00259, plain)))
    (nodes, w), (nodes0, w0), (nodes1, w1) = grids()
    kT = 0.00259
    fermi_integral = kT * (np.logaddexp(0, 0.1 / kT) - np.logaddexp(0, (0.1 - 0.3) / kT))
    assert abs(float(jnp.sum(w1 * jax.nn.sigmoid((0.1 - nodes1) / kT))) / fermi_integral - 1) < 1e-10
    assert abs(float(jnp.sum(w0 * jax.nn.sigmoid((0.1 - nodes0) / kT))) / fermi_integral - 1) < 1e-9
    exact = (g / 2) * (np.arctan((0.3 - e_r) / (g / 2)) - np.arctan(-e_r / (g / 2)))

    def lorentz(e):
        return (g / 2) ** 2 / ((e - e_r) ** 2 + (g / 2) ** 2)

    assert abs(float(jnp.sum(w * lorentz(nodes))) / exact - 1) < 1e-4
    assert abs(float(jnp.sum(w0 * lorentz(nodes0))) / exact - 1) > 0.1


def test_adaptive_energy_grid_public_function():
    """adaptive_energy_grid(U, L, m, e_lo, e_hi) returns n_nodes energies inside the window whose
    weights sum to its width; it jits, and a narrow resonance of the device gets nodes."""
    u, length, m = thick(0.0)
    f = jax.jit(lambda uu: eg.adaptive_energy_grid(uu, length, jnp.asarray(m), 0.0, 0.15, chemical_potentials=(0.05, 0.05), kT=0.00663))
    nodes, w = f(jnp.asarray(u))
    assert nodes.shape == (eg.DEFAULT_N_NODES,)
    assert float(jnp.min(nodes)) > 0.0 and float(jnp.max(nodes)) < 0.15
    assert abs(float(jnp.sum(w)) - 0.15) < 1e-6
    e_r = 0.0805  # the thick device's resonance (Γ = 0.055 meV)
    assert int(jnp.sum(jnp.abs(nodes - e_r) < 5 * 0.055e-3)) >= 8


def test_j_is_continuous_in_fermi_level():
    """The grid moves continuously with the parameters: on a fine E_F sweep the third
    differences of J stay far below the second (a jump would dominate both; thick device, 77 K)."""
    u, length, m = thick(0.1)
    j = np.array([float(th.current_density(u, ef, 0.1, length, m, 77.0)) for ef in np.linspace(0.04, 0.06, 41)])
    d2, d3 = np.diff(j, 2), np.diff(j, 3)
    assert np.all(d2 > 0)  # J grows like e^{E_F/k_BT} here
    assert np.all(np.abs(d3) < 0.25 * d2[:-1])


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------
def test_config_is_frozen_hashable_and_validated():
    cfg = eg.EnergyGridConfig()
    assert hash(cfg) == hash(eg.EnergyGridConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_nodes = 10
    assert cfg.replace(n_nodes=64).n_nodes == 64
    for bad, word in [
        (dict(n_nodes=100), "n_nodes"),  # not a multiple of panel_order
        (dict(n_nodes=0), "n_nodes"),
        (dict(n_resonances=-1), "n_resonances"),
        (dict(width_factor=0.0), "width_factor"),
        (dict(resonance_share=0.6, edge_share=0.3), "resonance_share"),
        (dict(resonance_tail=1.5), "resonance_tail"),
        (dict(panel_order=True), "panel_order"),
    ]:
        with pytest.raises(ValueError, match=word):
            eg.EnergyGridConfig(**bad)
