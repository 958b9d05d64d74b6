"""Carrier statistics (physics.md §10, §11): Fermi–Dirac occupations, supply functions, the
Fermi–Dirac integral 𝓕_{1/2} and the bulk density of a contact.

One place for these: the finite-temperature currents (:mod:`.thermal`), the electron
density (:mod:`.density`) and the contacts of the layer-stack models all use them. The
constants (k_B, A*) are in :mod:`.constants`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from ..numerics.quadrature import gauss_legendre
from .constants import CM3_PER_NM3, DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2, K_B_EV_PER_K


# --------------------------------------------------------------------------------------
# Occupations and supply functions (physics.md eqs. 10.1–10.4)
# --------------------------------------------------------------------------------------
def fermi(energy, mu, kT):
    """f(E; μ) = 1/(1 + e^{(E−μ)/kT}) (physics.md eq. 10.1), overflow-free."""
    return jax.nn.sigmoid((mu - energy) / kT)


def landauer_window(energy, mu_left, mu_right, kT):
    """f(E; μ_L) − f(E; μ_R); at kT = 0 (a Python 0) the step-function limit."""
    if isinstance(kT, (int, float)) and kT == 0:
        return (energy < mu_left).astype(jnp.float64) - (energy < mu_right).astype(jnp.float64)
    return fermi(energy, mu_left, kT) - fermi(energy, mu_right, kT)


def supply_function(energy, mu_left, mu_right, kT):
    """Tsu–Esaki supply kT·ln[(1 + e^{(μ_L−E)/kT})/(1 + e^{(μ_R−E)/kT})] in eV (softplus form).

    At kT = 0 (a Python 0) the limit (μ_L − E)₊ − (μ_R − E)₊ (physics.md eq. 10.4).
    """
    if isinstance(kT, (int, float)) and kT == 0:
        return jnp.maximum(mu_left - energy, 0.0) - jnp.maximum(mu_right - energy, 0.0)
    return kT * (supply(energy, mu_left, kT) - supply(energy, mu_right, kT))


# --------------------------------------------------------------------------------------
# Fermi–Dirac integral of order 1/2 (physics.md eq. 11.1)
# --------------------------------------------------------------------------------------
_FD_PANELS = 16
_FD_NODES = 12
_FD_CUT = 36.0  # below η − 36 the occupation is 1 to e^{−36} ≈ 2e-16
_FD_TAIL = 40.0  # above η + 40 the integrand is below e^{−40}


def fermi_dirac_half(eta):
    """Normalised Fermi–Dirac integral 𝓕_{1/2}(η) = (2/√π) ∫₀^∞ √t /(1 + e^{t−η}) dt.

    Composite Gauss–Legendre quadrature, accurate to ~1e-13 relative for any real η
    (checked against ``scipy.integrate.quad`` in tests/physics/test_density.py): below
    t₀ = max(η − 36, 0) the occupation is 1 to 2e-16 and the integral is (2/3)t₀^{3/2};
    [t₀, η + 40] is split into 16 equal panels (width ≤ 4.75 k_BT, so the Fermi function's
    poles at distance π are well outside each panel's Bernstein ellipse), integrated with
    12 nodes each in x = √t (which removes the √t singularity at t = 0). Differentiable
    (the derivative of the quadrature is 𝓕_{−1/2} to the same accuracy). Elementwise.
    """
    eta = jnp.asarray(eta, jnp.float64)
    x_gl, w_gl = gauss_legendre(_FD_NODES)
    t0 = jnp.maximum(eta - _FD_CUT, 0.0)
    t1 = jnp.maximum(eta, 0.0) + _FD_TAIL
    edges = t0[..., None] + (t1 - t0)[..., None] * jnp.linspace(0.0, 1.0, _FD_PANELS + 1)
    root = jnp.sqrt(jnp.maximum(edges, 1e-300))  # x = √t; the floor keeps d√t/dt finite at t₀ = 0
    xa, xb = root[..., :-1], root[..., 1:]
    mid, half = 0.5 * (xa + xb), 0.5 * (xb - xa)
    x = mid[..., None] + half[..., None] * x_gl  # (..., panels, nodes)
    t = x * x
    occ = jax.nn.sigmoid(eta[..., None, None] - t)  # 1/(1 + e^{t−η}), overflow-free
    integral = jnp.sum(half[..., None] * w_gl * 2.0 * t * occ, axis=(-2, -1))  # ∫ √t f dt = ∫ 2x² f dx
    return (2.0 / math.sqrt(math.pi)) * ((2.0 / 3.0) * t0**1.5 + integral)


def _fd_half_initial_guess(r):
    """Starting point for inverting 𝓕_{1/2}: Joyce–Dixon for r < 5, Sommerfeld leading term above."""
    log_r = jnp.log(r)
    jd = log_r + r * (0.35355339 + r * (-4.95009e-3 + r * (1.48386e-4 - 4.42563e-6 * r)))
    degenerate = (0.75 * math.sqrt(math.pi) * r) ** (2.0 / 3.0)
    return jnp.where(r < 5.0, jd, degenerate)


@jax.custom_jvp
def inverse_fermi_dirac_half(r):
    """η with 𝓕_{1/2}(η) = r (r > 0), to the accuracy of :func:`fermi_dirac_half`.

    Newton on log 𝓕_{1/2}(η) − log r, which is concave and increasing in η, so from any
    start the iterates reach the left of the root after one step and then increase
    monotonically; 12 steps from a Joyce–Dixon/Sommerfeld start reach round-off for
    1e-12 < r < 1e6. The derivative is 1/𝓕′(η) by a custom JVP (no differentiation
    through the iterations). Elementwise.
    """
    r = jnp.asarray(r, jnp.float64)
    log_r = jnp.log(r)

    def step(eta, _):
        val_, der = jax.jvp(fermi_dirac_half, (eta,), (jnp.ones_like(eta),))
        return eta - (jnp.log(val_) - log_r) * val_ / der, None

    eta, _ = lax.scan(step, _fd_half_initial_guess(r), None, length=12)
    return eta


@inverse_fermi_dirac_half.defjvp
def _inverse_fd_jvp(primals, tangents):
    (r,), (dr,) = primals, tangents
    eta = inverse_fermi_dirac_half(r)
    _, der = jax.jvp(fermi_dirac_half, (eta,), (jnp.ones_like(eta),))
    return eta, dr / der


_AH_A = math.sqrt(1.0 + 15.0 / 4.0 * 1.5 + 1.5**2 / 40.0)
_AH_B = 1.8 + 0.61 * 0.5
_AH_C = 2.0 + (2.0 - math.sqrt(2.0)) * 2.0**-0.5
_AH_K = math.gamma(1.5) * 1.5 * 2.0**1.5


def fermi_dirac_half_fast(eta):
    """Aymerich-Humet, Serra-Mestres & Millán (1981) approximation of 𝓕_{1/2} (≤0.56 % error, measured).

    𝓕_{1/2}(η) ≈ 1/[Γ(3/2)·(3/2)·2^{3/2}/(b + η + (|η − b|^c + a^c)^{1/c})^{3/2} + e^{−η}],
    a = 2.5848, b = 2.105, c = 2.4142. Exact in both limits (e^η and η^{3/2}/Γ(5/2)).
    Used only for the local density response of the predictor–corrector
    (:mod:`.selfconsistent`), where an approximation changes the rate of convergence,
    never the fixed point. Elementwise, smooth.
    """
    d = eta - _AH_B
    root = (jnp.abs(d) ** _AH_C + _AH_A**_AH_C) ** (1.0 / _AH_C)
    return 1.0 / (_AH_K / (_AH_B + eta + root) ** 1.5 + jnp.exp(-eta))


def inverse_fermi_dirac_half_fast(r):
    """η with :func:`fermi_dirac_half_fast` (η) = r; Newton as in :func:`inverse_fermi_dirac_half`."""
    log_r = jnp.log(r)

    def step(eta, _):
        val_, der = jax.jvp(fermi_dirac_half_fast, (eta,), (jnp.ones_like(eta),))
        return eta - (jnp.log(val_) - log_r) * val_ / der, None

    eta, _ = lax.scan(step, _fd_half_initial_guess(r), None, length=8)
    return eta


def thermal_energy_eV(temperature_K):
    """k_B T in eV."""
    return K_B_EV_PER_K * temperature_K


def effective_density_of_states_cm3(m_eff=DEFAULT_M_EFF, temperature_K=300.0):
    """N_c = 2 (m* k_BT/(2πħ²))^{3/2} in cm⁻³ (physics.md eq. 11.1); 4.352e17 for GaAs at 300 K.

    With ħ²/m₀ = 2C₀: m* k_BT/(2πħ²) = m* k_BT/(4π C₀) in nm⁻².
    """
    kT = thermal_energy_eV(temperature_K)
    return 2.0 * (m_eff * kT / (4.0 * math.pi * HBAR2_OVER_2M0_EV_NM2)) ** 1.5 * CM3_PER_NM3


def bulk_density_cm3(eta, m_eff=DEFAULT_M_EFF, temperature_K=300.0):
    """Semi-classical 3-D density N_c 𝓕_{1/2}(η) in cm⁻³, η = (E_F − E_c)/k_BT (physics.md eq. 11.1)."""
    return effective_density_of_states_cm3(m_eff, temperature_K) * fermi_dirac_half(eta)


def fermi_level_from_doping(doping_cm3, m_eff=DEFAULT_M_EFF, temperature_K=300.0):
    """E_F − E_c in eV of a neutral contact: N_D = N_c 𝓕_{1/2}((E_F − E_c)/k_BT) (physics.md eq. 11.1)."""
    r = doping_cm3 / effective_density_of_states_cm3(m_eff, temperature_K)
    return thermal_energy_eV(temperature_K) * inverse_fermi_dirac_half(r)


def transverse_dos_nm2(m_eff, kT):
    """D₂ = m k_BT/(πħ²) = m k_BT/(2π C₀) in nm⁻² (2-D density of states with spin, times k_BT)."""
    return m_eff * kT / (2.0 * math.pi * HBAR2_OVER_2M0_EV_NM2)


def supply(z, mu, kT):
    """Supply function ln(1 + e^{(μ − z)/k_BT}) for real or complex z (|Im z| < πk_BT).

    Evaluated as a softplus that neither overflows nor jumps branch: for Re w > 0,
    w + log1p(e^{−w}), else log1p(e^{w}), with w = (μ − z)/k_BT.
    """
    w = (mu - z) / kT
    if not jnp.iscomplexobj(w):
        return jax.nn.softplus(w)
    pos = jnp.real(w) > 0.0
    safe_pos = jnp.where(pos, w, 0.0)
    safe_neg = jnp.where(pos, 0.0, w)
    return jnp.where(pos, safe_pos + jnp.log1p(jnp.exp(-safe_pos)), jnp.log1p(jnp.exp(safe_neg)))
