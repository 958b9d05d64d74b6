"""Resonance-adapted energy grids for integrals over the transmission (physics.md §10).

This is the grid of the *current* integrals (:mod:`.thermal`): real energies only, a
static node count (it is built inside ``jit`` for every bias), its node distribution a
:class:`NodeDensity`. The electron density (:mod:`.density`) has its own grid,
:class:`~diffsim_jax.physics.density.DensityGrid`, because its integral is split
differently — an exact contour in the upper half plane for the equilibrium part, and
real-axis panels that are split and merged *between* fixed-point iterations (a changing
shape that a traced grid cannot have). Both locate resonances with :func:`pole_step`.

Currents (and the scattering-state electron density, physics.md §11) are integrals
∫ g(E) dE whose integrand contains 𝒯(E) or |ψ(x; E)|². In a real AlGaAs/GaAs double
barrier 𝒯 has Lorentzian resonances of width Γ ~ 0.01–5 meV, far narrower than a
uniform grid affordable per bias. This module builds, with a *static* number of
energies (so that everything jits and vmaps), a quadrature adapted to them.

**1. Resonances** (:func:`find_resonances`). G_{N−1,0}(E) = 1/s(E), where
s(E) = (d₀ − E + Σ_L)φ₀ − t_½φ₁ from the transfer recurrence (``qtbm.phi_pass``) is an
analytic function of E between the band edges — smooth even where 𝒯 has a sharp peak.
Its complex zeros E_r − iΓ_r/2 are the resonances (poles of the retarded Green's
function continued below the axis). A *real-axis Newton step*

    z = E − s(E)/s′(E)

estimates the nearest zero; repeating it from E = Re z converges quadratically to
z* = E_r − iΓ_r/2 without ever evaluating s at a complex energy (E − z* → iΓ/2 while the
error is O(|E − z*|²·s″/s′)). s is computed on ``n_coarse`` real energies (one value pass;
s′ by 3-point differences, s being smooth), one step is taken from each, the 2R best
distinct estimates get ``refine_steps`` steps with the exact s′ (forward-mode JVP through
the recurrence, including dΣ_s/dE), and the R = ``n_resonances`` best distinct poles are
kept. "Best" is the quadrature error a resonance would cause if unresolved,
score = 𝒯(E_r)·K(E_r)·h(E_r)·e^{−(Γ/3h)²} (K the occupation kernel, h the background node
spacing; 𝒯(E_r) ≈ 𝒯(E)|E − z|²/(Im z)² from the same pass). Poles whose last step moved
more than Γ/2 are discarded (a flat wire has none). All of this is under
``stop_gradient``: it only decides where the nodes go.

**2. Node density** (:func:`build_density`). On [e_lo, e_hi],

    ρ(E) = p_bg·ρ_bg + Σ_r s_r·[(1−τ)·Lor(E; E_r, κΓ_r/2) + τ·Ash(E; E_r, κΓ_r/2)]
                     + Σ_μ q_μ·Ash(E; μ, k_BT) + q_e·ρ_e(E),

    Lor(E; c, γ) = (γ/π)/((E − c)² + γ²),    Ash(E; c, w) ∝ 1/sqrt((E − c)² + w²),
    ρ_e ∝ 1/(sqrt(x)(1 + x)), x = (E − e_lo)/ℓ,   ρ_bg ∝ σ((μ_max − E)/(β k_BT)),

all normalised on the window (closed-form CDFs: arctan, asinh, arctan√x, softplus):

* ρ_bg: a plateau up to the highest chemical potential and an exponential tail of length
  β·k_BT (``tail_factor``); uniform at T = 0.
* Resonances: with κ = ``width_factor`` = 1 the Lorentzian has the resonance's own shape,
  so g/ρ is flat across it; the asinh part (fraction τ = ``resonance_tail``) grades the
  nodes geometrically from Γ out to the window, where the resonance's 1/(E − E_r)² tails
  meet the background (without it the mapped integrand has a sharp knee there).
  s_r = ``resonance_share``·a_r/max(Σa, 2), a_r = e^{−(Γ_r/3h)²} (0 for empty slots):
  continuous in Γ_r, fading out once the background resolves the resonance.
* Fermi edges (finite T): asinh clusters of core width ``edge_width``·k_BT at μ_L, μ_R,
  share ``edge_share``·h/(h + k_BT) (they vanish when the background resolves k_BT).
  At T = 0 the same clusters, with width ``kink_width``·window, sit at the kink of the
  Tsu–Esaki kernel at min μ (a Lorentzian cluster there would leave a sharp dip in g/ρ).
* Band edge: 𝒯 ∝ sqrt(E − e_lo); ρ_e ∝ 1/sqrt(E − e_lo) near it (share
  ``band_edge_share``, ℓ = ``band_edge_width``·window) makes g/ρ polynomial in u there
  (the substitution E = e_lo + s²) and hands over smoothly (∝ x^{−3/2}) to the background.

**3. Nodes and weights** (:func:`grid_from_density`). E_i = CDF⁻¹(u_i) at the composite
Gauss–Legendre points u_i of [0, 1] (``panel_order`` points per panel), w_i = W_i/ρ(E_i),
since ∫ g dE = ∫₀¹ g(E(u))/ρ(E(u)) du. CDF⁻¹ without bisection: the CDF is tabulated at
the closed-form quantiles of every component (``probes`` each, plus the background's
1 − 2^{−k}), the bracket found by ``searchsorted``, a cubic Hermite guess (slopes 1/ρ)
refined by ``newton_steps`` safeguarded Newton steps (|CDF(E_i) − u_i| ≈ 1e-15).

**4. Gradients.** The grid is built in x = (E − e_lo)/(e_hi − e_lo) under
``stop_gradient`` and mapped back affinely, E_i = e_lo + (e_hi − e_lo)x_i,
w_i = (e_hi − e_lo)ω_i, e_lo and e_hi differentiable. The AD derivative is then the same
quadrature applied to ∂g/∂θ plus the exact Leibniz terms of the moving ends — at finite T
the integrand vanishes at both ends, so this approximates the exact derivative to the
grid's accuracy, and costs no derivative of the search. With ``differentiable_nodes=True``
the nodes get a final implicit Newton polish E ← E_sg − (CDF(E_sg) − u)/ρ(E_sg), making the
gradient the exact derivative of the computed quadrature with respect to the window, μ and
k_BT (not the frozen resonance positions); it costs ~1.7× in the gradient and changes
the U/L/m derivatives by nothing measurable (they are dominated by the frozen poles), so
it is off by default. Measured: AD and central differences of J agree to ≤ 6e-6 (∂/∂U_j,
E_F, V, L, m on the three devices at 300/77/4/0 K), and AD matches the derivative of the
brute-force integral to ≤ 1e-6 on the 0.055 meV resonance (tests/physics/test_thermal.py).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .qtbm import lattice, lead_phases, phi_pass

#: Default number of quadrature energies, from the convergence study (worst relative error of
#: J against brute force over 0–0.5 V at 300/77/4/0 K on the three test devices: 64 nodes
#: 1.5e-2, 96: 1.7e-3, 128: 1.8e-4, 160: 8.4e-5; without resonance nodes 13 (1300 %);
#: tests/physics/test_energy_grid.py).
DEFAULT_N_NODES = 160


@dataclasses.dataclass(frozen=True)
class EnergyGridConfig:
    """Static parameters of the adaptive energy grid (physics.md §10). Frozen and hashable.

    Attributes (module docstring for the symbols):
      n_nodes: quadrature energies per integral (transmission solves); a multiple of
        ``panel_order``.
      panel_order: Gauss–Legendre points per panel in the mapped coordinate u.
      n_coarse: energies of the resonance search (one value pass of the recurrence).
      n_resonances: R, the number of resonances that can get their own nodes.
      refine_steps: real-axis Newton steps (each one JVP of the recurrence, ≈ 2.5 solves)
        for the 2R best candidates.
      width_factor: κ, the node density's Lorentzian half-width is κ·Γ/2 (1: the
        resonance's own shape).
      resonance_share: fraction of the nodes for the resonances together (at most half of
        it for any one).
      resonance_tail: τ, the part of each resonance's share graded geometrically (asinh)
        from its core out to the window, for the 1/(E − E_r)² tails of 𝒯.
      edge_share: fraction of the nodes for the Fermi edges (finite T; × h/(h + k_BT)) or
        for the kink of the Tsu–Esaki kernel (T = 0).
      band_edge_share, band_edge_width: share and scale ℓ/window of the component
        ρ_e ∝ 1/(sqrt(x)(1 + x)), x = (E − e_lo)/ℓ, for 𝒯 ∝ sqrt(E − e_lo).
      tail_factor: β, the background density decays as e^{−(E − μ_max)/(β k_BT)}.
      edge_width: core width of the Fermi-edge clusters, in k_BT.
      kink_width: core width of the T = 0 kink cluster, relative to the window.
      search_tail_factor: β for the search energies (reaches resonances to ~15 k_BT above μ_max).
      probes: closed-form quantiles per component in the CDF table.
      newton_steps: Newton steps polishing each node after the Hermite guess.
      differentiable_nodes: implicit Newton polish of the nodes (module docstring, item 4).

    Default chosen by the convergence study (``DEFAULT_N_NODES``); cost in
    bench/bench_thermal.py.
    """

    n_nodes: int = DEFAULT_N_NODES
    panel_order: int = 8
    n_coarse: int = 48
    n_resonances: int = 4
    refine_steps: int = 2
    width_factor: float = 1.0
    resonance_share: float = 0.4
    resonance_tail: float = 0.7
    edge_share: float = 0.2
    band_edge_share: float = 0.05
    band_edge_width: float = 0.01
    tail_factor: float = 3.0
    edge_width: float = 1.0
    kink_width: float = 1e-6
    search_tail_factor: float = 5.0
    probes: int = 8
    newton_steps: int = 3
    differentiable_nodes: bool = False

    def __post_init__(self):
        ints = {"n_nodes": 2, "panel_order": 1, "n_coarse": 2, "n_resonances": 0,
                "refine_steps": 0, "probes": 2, "newton_steps": 1}
        for name, minimum in ints.items():
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"EnergyGridConfig.{name} must be an integer >= {minimum}, got {value!r}")
        if self.n_nodes % self.panel_order:
            raise ValueError(
                f"EnergyGridConfig.n_nodes ({self.n_nodes}) must be a multiple of panel_order ({self.panel_order})"
            )
        for name in ("width_factor", "tail_factor", "search_tail_factor", "edge_width", "kink_width",
                     "band_edge_width"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"EnergyGridConfig.{name} must be a finite number > 0, got {value!r}")
        shares = (self.resonance_share, self.edge_share, self.band_edge_share)
        if not (isinstance(self.resonance_tail, (int, float)) and 0.0 <= self.resonance_tail <= 1.0):
            raise ValueError(f"EnergyGridConfig.resonance_tail must be in [0, 1], got {self.resonance_tail!r}")
        if not all(isinstance(v, (int, float)) and 0.0 <= v < 1.0 for v in shares) or sum(shares) >= 0.9:
            raise ValueError(
                "EnergyGridConfig.resonance_share, edge_share and band_edge_share must be in [0, 1) with a sum below 0.9, "
                f"got {shares!r}"
            )

    def replace(self, **changes) -> "EnergyGridConfig":
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------------------
# Resonance search: complex zeros of s(E) = 1/G_{N−1,0}(E)
# --------------------------------------------------------------------------------------
class Resonances(NamedTuple):
    """R resonance estimates E_r − iΓ_r/2 (static R; inactive slots have ``score`` 0).

    Attributes:
      energy: (R,) E_r in eV.
      width: (R,) Γ_r in eV (FWHM of the Lorentzian peak of 𝒯).
      transmission: (R,) 𝒯(E_r).
      score: (R,) importance used for the selection (≥ 0; 0 for an empty slot).
    """

    energy: jax.Array
    width: jax.Array
    transmission: jax.Array
    score: jax.Array


def _lattice_sg(potential, length, m_eff):
    return lattice(*(lax.stop_gradient(jnp.asarray(v, jnp.float64)) for v in (potential, length, m_eff)))


def _transmission_from_s(lat, lam_l, lam_r, s):
    """𝒯 = 4 t_L t_R Im λ_L Im λ_R / |s|² (physics.md eq. 9.5 with G_{N−1,0} = 1/s)."""
    both = (lam_l.imag > 0.0) & (lam_r.imag > 0.0)
    abs_s2 = jnp.maximum(jnp.abs(s) ** 2, 1e-300)
    return jnp.where(both, 4.0 * lat.t_left * lat.t_right * lam_l.imag * lam_r.imag / abs_s2, 0.0)


def s_values(potential, length, m_eff, energies):
    """(s(E), 𝒯(E)) at real ``energies`` (M,), s = 1/G_{N−1,0} from ``qtbm.phi_pass``; no gradient."""
    lat = _lattice_sg(potential, length, m_eff)
    energies = lax.stop_gradient(energies)
    lam_l, lam_r = lead_phases(lat, energies)
    s, _, _ = phi_pass(lat.onsite, lat.hop, energies, -lat.t_left * lam_l, -lat.t_right * lam_r)
    return s, _transmission_from_s(lat, lam_l, lam_r, s)


def pole_step(potential, length, m_eff, energies):
    """One real-axis Newton step towards the zeros of s(E) = 1/G_{N−1,0}(E) (physics.md §10).

    Returns (z, 𝒯) with z = E − s(E)/s′(E) (complex, (M,)) and 𝒯(E), for real ``energies``
    at which both leads propagate. s′ comes from a forward-mode JVP through the transfer
    recurrence ``qtbm.phi_pass``, including dΣ_s/dE. No gradient flows.
    """
    lat = _lattice_sg(potential, length, m_eff)
    energies = lax.stop_gradient(energies)

    def s_of(e):
        lam_l, lam_r = lead_phases(lat, e)
        s, _, _ = phi_pass(lat.onsite, lat.hop, e, -lat.t_left * lam_l, -lat.t_right * lam_r)
        return s, (lam_l, lam_r)

    (s, (lam_l, lam_r)), (ds, _) = jax.jvp(s_of, (energies,), (jnp.ones_like(energies),))
    return _newton(energies, s, ds), _transmission_from_s(lat, lam_l, lam_r, s)


def _newton(e, s, ds):
    ok = jnp.isfinite(s) & jnp.isfinite(ds) & (jnp.abs(ds) > 1e-300)
    return jnp.where(ok, e - s / jnp.where(ok, ds, 1.0), jnp.nan + 0j)


def _slopes(e, s):
    """ds/dE on a sorted non-uniform grid: 3-point Lagrange derivative (one-sided at the ends)."""
    h = jnp.diff(e)
    h = jnp.where(h > 0.0, h, 1e-300)
    d = jnp.diff(s) / h
    inner = (h[1:] * d[:-1] + h[:-1] * d[1:]) / (h[:-1] + h[1:])
    return jnp.concatenate([d[:1], inner, d[-1:]])


def _clip_inside(e, e_lo, e_hi):
    """Clip real energies to the open window (both leads propagate strictly inside)."""
    span = e_hi - e_lo
    return jnp.clip(jnp.nan_to_num(e), e_lo + 1e-9 * span, e_hi - 1e-9 * span)


def _peak_transmission(e, z, trans):
    """𝒯(E_r) from 𝒯(E) and the pole z: |s(E)|² ≈ |s′|²|E − z|², so 𝒯_r ≈ 𝒯(E)|E − z|²/(Im z)² (≤ 1)."""
    ratio = jnp.abs(e - z) ** 2 / jnp.maximum(jnp.imag(z) ** 2, 1e-300)
    return jnp.clip(jnp.nan_to_num(trans * ratio), 0.0, 1.0)


def _greedy(z, score, radius, count):
    """The ``count`` best distinct estimates: (indices, fresh). An estimate within ``radius`` (+ the
    chosen one's radius) of a chosen one is a duplicate; ``fresh`` is False for picks made after
    every remaining candidate was a duplicate or had score 0 (the slot stays empty)."""
    re = jnp.real(z)

    def body(i, carry):
        score, picked, fresh = carry
        k = jnp.argmax(score)
        dup = jnp.abs(re - re[k]) <= radius + radius[k]
        return jnp.where(dup, -1.0, score), picked.at[i].set(k), fresh.at[i].set(score[k] > 0.0)

    init = (score, jnp.zeros((count,), jnp.argmax(score).dtype), jnp.zeros((count,), bool))
    _, picked, fresh = lax.fori_loop(0, count, body, init)
    return picked, fresh


def find_resonances(potential, length, m_eff, e_lo, e_hi, search_energies, importance, spacing, config):
    """The ``config.n_resonances`` most important resonances in [e_lo, e_hi] (physics.md §10).

    1. s(E_k) on the sorted ``search_energies`` (one value pass, no JVP), slopes by 3-point
       finite differences (s is smooth), one Newton step each: z_k = E_k − s_k/s′_k.
    2. The 2R best distinct estimates are refined by ``refine_steps`` real-axis Newton
       steps with exact s′ (JVP), z ← Re z − s(Re z)/s′(Re z).
    3. The R best distinct refined poles are returned.

    Args:
      search_energies: (n_coarse,) sorted starting energies inside the window.
      importance: callable E → K(E) ≥ 0, the occupation kernel of the integral.
      spacing: callable E → h(E), the background node spacing (eV).
    Returns:
      :class:`Resonances`, all under ``stop_gradient``.
    """
    sg = lax.stop_gradient
    e_lo, e_hi = sg(e_lo), sg(e_hi)
    n_res = config.n_resonances
    if n_res == 0:
        zeros = jnp.zeros((0,))
        return Resonances(zeros, zeros, zeros, zeros)
    e = sg(search_energies)
    s, trans = s_values(potential, length, m_eff, e)
    z = _newton(e, s, _slopes(e, s))
    score = _score(z, _peak_transmission(e, z, trans), importance, spacing, e_lo, e_hi)
    step = jnp.nan_to_num(jnp.abs(z - e), nan=0.0)
    n_cand = min(2 * n_res, e.shape[0])
    radius = jnp.maximum(-jnp.imag(jnp.nan_to_num(z)), 0.0) + step  # uncertainty of each estimate
    idx, fresh_c = _greedy(z, score, radius, n_cand)
    z_c = z[idx]
    e_c = _clip_inside(jnp.real(z_c), e_lo, e_hi)
    trans_c = trans[idx] * 0.0

    def body(_, carry):
        z_c, e_c, trans_c = carry
        e_new = _clip_inside(jnp.real(z_c), e_lo, e_hi)
        z_new, t_new = pole_step(potential, length, m_eff, e_new)
        ok = jnp.isfinite(z_new)
        return jnp.where(ok, z_new, z_c), e_new, jnp.where(ok, t_new, trans_c)

    if config.refine_steps:
        z_c, e_c, trans_c = lax.fori_loop(0, config.refine_steps, body, (z_c, e_c, trans_c))
    else:
        trans_c = trans[idx]
        e_c = e[idx]
    peak = _peak_transmission(e_c, z_c, trans_c)
    # A converged pole moved by less than its half-width on the last step; wandering
    # estimates (no zero nearby, e.g. a flat potential) are dropped.
    settled = jnp.abs(jnp.real(z_c) - e_c) <= jnp.abs(jnp.imag(z_c))
    score_c = jnp.where(fresh_c & settled, _score(z_c, peak, importance, spacing, e_lo, e_hi), 0.0)
    gamma_c = jnp.nan_to_num(-2.0 * jnp.imag(z_c))
    # Refined duplicates agree to round-off; distinct resonances are ≳ Γ apart.
    sel, fresh = _greedy(z_c, score_c, 0.25 * jnp.maximum(gamma_c, 0.0) + 1e-12 * (e_hi - e_lo), n_res)
    z_r = z_c[sel]
    score_r = jnp.where(fresh, score_c[sel], 0.0)
    return Resonances(jnp.nan_to_num(jnp.real(z_r)), jnp.nan_to_num(-2.0 * jnp.imag(z_r)), peak[sel], score_r)


def _score(z, trans, importance, spacing, e_lo, e_hi):
    """Estimated quadrature error of an unresolved resonance: 𝒯·K·h·exp(−(Γ/3h)²); 0 if invalid."""
    e_r = jnp.nan_to_num(jnp.real(z))
    gamma = -2.0 * jnp.nan_to_num(jnp.imag(z), nan=-1.0)
    h = spacing(e_r)
    valid = jnp.isfinite(z) & (gamma > 0.0) & (e_r > e_lo) & (e_r < e_hi)
    s = trans * importance(e_r) * h * _fade(gamma, h)
    return jnp.where(valid & jnp.isfinite(s), s, 0.0)


def _fade(gamma, h):
    """Smooth switch-off of a resonance's own nodes once the background resolves it (Γ ≳ 3h)."""
    return jnp.exp(-((gamma / (3.0 * h)) ** 2))


# --------------------------------------------------------------------------------------
# The node density: background + Lorentzians, closed-form CDFs
# --------------------------------------------------------------------------------------
class NodeDensity(NamedTuple):
    """The density of quadrature nodes (not of electrons): ρ(E) = p_bg·ρ_bg(E) + Σ_j s_j·Lor(E; c_j, γ_j) + Σ_k q_k·ρ_log(E; e_k, w_k) on [lo, hi].

    Build with :func:`make_density` (module docstring). ``uniform`` (a Python bool) selects a
    uniform background, otherwise ρ_bg ∝ σ((plateau − E)/tail). ρ_log ∝ 1/sqrt((E − e_k)² + w_k²)
    (CDF ∝ asinh) has a smooth core of width w_k and grades the nodes geometrically towards
    e_k (a Fermi edge or a kink) from the window size down to w_k. The remaining fields are
    derived constants.
    """

    lo: jax.Array
    hi: jax.Array
    plateau: jax.Array
    tail: jax.Array
    centers: jax.Array  # Lorentzians
    hwhm: jax.Array
    shares: jax.Array
    g_centers: jax.Array  # log-graded components
    g_width: jax.Array
    g_shares: jax.Array
    th_lo: jax.Array  # atan((lo − c_j)/γ_j)
    th_hi: jax.Array
    g_flo: jax.Array  # Φ_k(lo), Φ_k(E) = asinh((E − e_k)/w_k)
    g_norm: jax.Array  # Φ_k(hi) − Φ_k(lo)
    sqrt_share: jax.Array  # share of the band-edge component ρ_e ∝ 1/(sqrt(x)(1 + x)), x = (E − lo)/ℓ
    sqrt_scale: jax.Array  # ℓ
    sqrt_norm: jax.Array  # atan(sqrt((hi − lo)/ℓ))
    p_bg: jax.Array  # 1 − Σ_j s_j·(in-window mass of Lorentzian j) − Σ_k q_k − sqrt_share
    bg_norm: jax.Array  # ∫_lo^hi of the unnormalised background
    uniform: bool

    def _bg_raw(self, e):
        """(unnormalised background CDF from lo, unnormalised background density) at e."""
        if self.uniform:
            return e - self.lo, jnp.ones_like(e)
        x = (self.plateau - e) / self.tail
        return self.tail * (jax.nn.softplus((self.plateau - self.lo) / self.tail) - jax.nn.softplus(x)), jax.nn.sigmoid(x)

    def cdf_pdf(self, e):
        """(CDF(E), ρ(E)) for E of shape (M,)."""
        raw_cdf, raw_pdf = self._bg_raw(e)
        x = (e[:, None] - self.centers) / self.hwhm
        lor_cdf = (jnp.arctan(x) - self.th_lo) @ self.shares / jnp.pi
        lor_pdf = (1.0 / (self.hwhm * (1.0 + x * x))) @ self.shares / jnp.pi
        d = e[:, None] - self.g_centers
        log_cdf = ((jnp.arcsinh(d / self.g_width) - self.g_flo) / self.g_norm) @ self.g_shares
        log_pdf = (1.0 / (jnp.sqrt(d * d + self.g_width**2) * self.g_norm)) @ self.g_shares
        # band-edge component: ρ ∝ 1/(sqrt(x)(1 + x)), x = (E − lo)/ℓ; CDF ∝ atan(sqrt(x))
        x = jnp.maximum(e - self.lo, 1e-300 * self.sqrt_scale) / self.sqrt_scale
        sq = jnp.sqrt(x)
        scale = self.p_bg / self.bg_norm
        cdf = scale * raw_cdf + lor_cdf + log_cdf + self.sqrt_share * jnp.arctan(sq) / self.sqrt_norm
        pdf = scale * raw_pdf + lor_pdf + log_pdf + self.sqrt_share / (2.0 * self.sqrt_scale * self.sqrt_norm * sq * (1.0 + x))
        return cdf, pdf

    def pdf(self, e):
        return self.cdf_pdf(e)[1]

    def cdf(self, e):
        return self.cdf_pdf(e)[0]

    def bg_quantile(self, v):
        """Inverse of the normalised background CDF at levels v (closed form)."""
        if self.uniform:
            return self.lo + v * (self.hi - self.lo)
        y = jax.nn.softplus((self.plateau - self.lo) / self.tail) - v * self.bg_norm / self.tail
        y = jnp.maximum(y, 1e-300)  # y = softplus((plateau − E)/τ) > 0
        inv_sp = y + jnp.log(-jnp.expm1(-y))  # softplus⁻¹(y)
        return jnp.clip(self.plateau - self.tail * inv_sp, self.lo, self.hi)

    def probes(self, n):
        """Closed-form quantiles of every component at levels (k + ½)/n, plus lo and hi, sorted."""
        v = (jnp.arange(n) + 0.5) / n
        th = self.th_lo[:, None] + v[None, :] * (self.th_hi - self.th_lo)[:, None]
        lor = self.centers[:, None] + self.hwhm[:, None] * jnp.tan(th)
        y = self.g_flo[:, None] + v[None, :] * self.g_norm[:, None]
        graded = self.g_centers[:, None] + self.g_width[:, None] * jnp.sinh(y)
        edge = self.lo + self.sqrt_scale * jnp.tan(v * self.sqrt_norm) ** 2
        # the background's exponential tail: its quantiles 1 − 2^{−k} too (the last nodes sit there)
        v_bg = jnp.concatenate([v, 1.0 - 0.5 ** jnp.arange(1.0, 17.0)])
        pts = jnp.concatenate([self.lo[None], self.hi[None], self.bg_quantile(v_bg), lor.ravel(), graded.ravel(), edge])
        return jnp.sort(jnp.clip(pts, self.lo, self.hi))

    def inverse_cdf(self, u, n_probes, newton_steps):
        """E with CDF(E) = u for u (M,) in [0, 1]: bracket on the probe table, then safeguarded Newton."""
        e_tab = self.probes(n_probes)
        f_tab, rho_tab = self.cdf_pdf(e_tab)
        f_tab = f_tab.at[0].set(0.0).at[-1].set(1.0)
        k = jnp.clip(jnp.searchsorted(f_tab, u), 1, e_tab.shape[0] - 1)
        e0, e1, f0, f1 = e_tab[k - 1], e_tab[k], f_tab[k - 1], f_tab[k]
        # Initial guess: cubic Hermite interpolation of the inverse CDF, slopes dE/du = 1/ρ.
        df = f1 - f0
        t = jnp.clip(jnp.where(df > 0.0, (u - f0) / jnp.where(df > 0.0, df, 1.0), 0.5), 0.0, 1.0)
        s0 = jnp.minimum(df / jnp.maximum(rho_tab[k - 1], 1e-300), 3.0 * (e1 - e0))
        s1 = jnp.minimum(df / jnp.maximum(rho_tab[k], 1e-300), 3.0 * (e1 - e0))
        t2, t3 = t * t, t * t * t
        e = (2 * t3 - 3 * t2 + 1) * e0 + (t3 - 2 * t2 + t) * s0 + (3 * t2 - 2 * t3) * e1 + (t3 - t2) * s1
        e = jnp.clip(e, e0, e1)

        def newton(_, carry):
            e, lo, hi = carry
            f, rho = self.cdf_pdf(e)
            r = f - u
            lo = jnp.where(r < 0, e, lo)
            hi = jnp.where(r > 0, e, hi)
            e_new = e - r / jnp.maximum(rho, 1e-300)
            inside = (e_new >= lo) & (e_new <= hi)
            e_next = jnp.where(inside, e_new, 0.5 * (lo + hi))  # bisect if Newton leaves the bracket
            # Converged to round-off: stay (a rounding-level step just outside a bracket whose
            # other end is still far must not trigger a bisection).
            return jnp.where(jnp.abs(r) <= 1e-15, e, e_next), lo, hi

        return lax.fori_loop(0, newton_steps, newton, (e, e0, e1))[0]


def make_density(lo, hi, plateau, tail, centers, hwhm, shares, g_centers, g_width, g_shares, uniform: bool,
                 sqrt_share=0.0, sqrt_scale=1.0) -> NodeDensity:
    """:class:`NodeDensity` with its derived constants (in-window masses, p_bg, normalisations)."""
    f64 = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
    lo, hi, plateau, tail = map(f64, (lo, hi, plateau, tail))
    centers, hwhm, shares, g_centers, g_width, g_shares = map(f64, (centers, hwhm, shares, g_centers, g_width, g_shares))
    th_lo = jnp.arctan((lo - centers) / hwhm)
    th_hi = jnp.arctan((hi - centers) / hwhm)
    g_flo = jnp.arcsinh((lo - g_centers) / g_width)
    g_norm = jnp.maximum(jnp.arcsinh((hi - g_centers) / g_width) - g_flo, 1e-300)
    sqrt_share = f64(sqrt_share)
    sqrt_scale = jnp.maximum(f64(sqrt_scale), 1e-300)
    sqrt_norm = jnp.maximum(jnp.arctan(jnp.sqrt(jnp.maximum(hi - lo, 0.0) / sqrt_scale)), 1e-300)
    p_bg = 1.0 - jnp.sum(shares * (th_hi - th_lo)) / jnp.pi - jnp.sum(g_shares) - sqrt_share
    if uniform:
        norm = hi - lo
    else:
        norm = tail * (jax.nn.softplus((plateau - lo) / tail) - jax.nn.softplus((plateau - hi) / tail))
    norm = jnp.maximum(norm, 1e-300)
    return NodeDensity(lo, hi, plateau, tail, centers, hwhm, shares, g_centers, g_width, g_shares,
                   th_lo, th_hi, g_flo, g_norm, sqrt_share, sqrt_scale, sqrt_norm, p_bg, norm, uniform)


def gauss_legendre_panels(n_nodes, order):
    """Composite Gauss–Legendre rule on [0, 1]: ``n_nodes/order`` equal panels (NumPy, static)."""
    x, w = np.polynomial.legendre.leggauss(order)
    panels = n_nodes // order
    left = np.arange(panels) / panels
    u = (left[:, None] + (x[None, :] + 1.0) / (2.0 * panels)).ravel()
    wu = np.tile(w / (2.0 * panels), panels)
    return u, wu


# --------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------
def _finite_temperature(kT) -> bool:
    """kT is a traced value (assumed > 0) or a concrete number > 0 (0 selects the T = 0 forms)."""
    return not isinstance(kT, (int, float)) or kT > 0


def occupation_importance(chemical_potentials, kT):
    """Default selection kernel K(E) = Σ_s f(E; μ_s) (step functions at T = 0)."""
    mus = tuple(chemical_potentials)

    def k(e):
        if not mus:
            return jnp.ones_like(e)
        if _finite_temperature(kT):
            return sum(jax.nn.sigmoid((mu - e) / kT) for mu in mus)
        return sum((e <= mu).astype(e.dtype) for mu in mus)

    return k


def _background_params(e_lo, e_hi, chemical_potentials, kT, tail_factor):
    """(lo, hi, plateau, tail, uniform): plateau to max μ and tail β·k_BT, or uniform at T = 0."""
    lo, hi = jnp.asarray(e_lo, jnp.float64), jnp.asarray(e_hi, jnp.float64)
    if chemical_potentials and _finite_temperature(kT):
        plateau = jnp.max(jnp.stack([jnp.asarray(m, jnp.float64) for m in chemical_potentials]))
        return lo, hi, plateau, tail_factor * jnp.asarray(kT, jnp.float64), False
    return lo, hi, hi, jnp.ones(()), True


def background_density(e_lo, e_hi, chemical_potentials, kT, tail_factor) -> NodeDensity:
    """The background alone (no Lorentzians): plateau to max μ, tail β·k_BT (uniform at T = 0)."""
    lo, hi, plateau, tail, uniform = _background_params(e_lo, e_hi, chemical_potentials, kT, tail_factor)
    empty, ones = jnp.zeros((0,)), jnp.ones((0,))
    return make_density(lo, hi, plateau, tail, empty, ones, empty, empty, ones, empty, uniform)


def search_energies(e_lo, e_hi, chemical_potentials, kT, config: EnergyGridConfig):
    """The ``n_coarse`` starting energies of the resonance search: midpoint quantiles of a
    background density with the wider tail ``search_tail_factor``·k_BT."""
    dens = background_density(e_lo, e_hi, chemical_potentials, kT, config.search_tail_factor)
    return dens.bg_quantile((jnp.arange(config.n_coarse) + 0.5) / config.n_coarse)


def background_spacing(e_lo, e_hi, chemical_potentials, kT, config):
    """h(E) = 1/(n_bg·ρ_bg(E)), the node spacing the background alone would give at E."""
    bg = background_density(e_lo, e_hi, chemical_potentials, kT, config.tail_factor)
    n_bg = config.n_nodes * (1.0 - config.resonance_share - config.edge_share - config.band_edge_share)

    def h(e):
        return bg.bg_norm / (n_bg * jnp.maximum(bg._bg_raw(e)[1], 1e-300))

    return h


def build_density(e_lo, e_hi, resonances: Resonances | None, chemical_potentials, kT, spacing, config, kinks=()) -> NodeDensity:
    """The node density ρ of the module docstring on [e_lo, e_hi].

    Log-graded components sit at every chemical potential (finite T, width
    ``edge_width``·k_BT) or at every point of ``kinks`` (T = 0, width ``kink_width``·window),
    sharing ``edge_share``.
    """
    lo, hi, plateau, tail, uniform = _background_params(e_lo, e_hi, chemical_potentials, kT, config.tail_factor)
    centers, hwhm, shares = jnp.zeros((0,)), jnp.ones((0,)), jnp.zeros((0,))
    if resonances is not None and config.n_resonances > 0:
        gamma = jnp.maximum(resonances.width, 1e-12)
        active = (resonances.score > 0.0).astype(jnp.float64)
        centers = resonances.energy
        hwhm = 0.5 * config.width_factor * gamma
        # The share is split among the resonances that need nodes (weight a_r, continuous in
        # Γ_r), but no resonance gets more than resonance_share/2.
        a = active * _fade(gamma, spacing(resonances.energy))
        total = config.resonance_share * a / jnp.maximum(jnp.sum(a), 2.0)
        shares = (1.0 - config.resonance_tail) * total
    g_centers, g_width, g_shares = jnp.zeros((0,)), jnp.ones((0,)), jnp.zeros((0,))
    finite_t = chemical_potentials and _finite_temperature(kT)
    points = chemical_potentials if finite_t else kinks
    cs, ws, qs = [], [], []
    if resonances is not None and config.n_resonances > 0 and config.resonance_tail > 0:
        # The Lorentzian tails of 𝒯 (∝ 1/(E − E_r)²) reach far beyond where the node density's
        # Lorentzian falls below the background: grade nodes geometrically out to the window.
        cs.append(centers), ws.append(hwhm), qs.append(config.resonance_tail * total)
    if points and config.edge_share > 0:
        pts = jnp.stack([jnp.asarray(m, jnp.float64) for m in points])
        q = jnp.full(pts.shape, config.edge_share / len(points))
        if finite_t:
            # Only where the background does not already resolve the Fermi edge (h ≳ k_BT).
            h = spacing(pts)
            cs.append(pts), ws.append(config.edge_width * kT * jnp.ones(pts.shape)), qs.append(q * h / (h + kT))
        else:
            cs.append(pts), ws.append(jnp.ones(pts.shape) * config.kink_width * jnp.maximum(hi - lo, 1e-300)), qs.append(q)
    if cs:
        g_centers, g_width, g_shares = jnp.concatenate(cs), jnp.concatenate(ws), jnp.concatenate(qs)
    # 𝒯 ∝ sqrt(E − e_lo) at the band edge: ρ_sqrt makes g/ρ a polynomial in u there.
    return make_density(lo, hi, plateau, tail, centers, hwhm, shares, g_centers, g_width, g_shares, uniform,
                        config.band_edge_share, config.band_edge_width * (hi - lo))


def grid_from_density(density: NodeDensity, config: EnergyGridConfig, n_nodes=None):
    """(nodes, weights) of the mapped composite Gauss–Legendre rule for ``density`` (no stop_gradient)."""
    n = config.n_nodes if n_nodes is None else n_nodes
    u, wu = gauss_legendre_panels(n, config.panel_order)
    u, wu = jnp.asarray(u), jnp.asarray(wu)
    e = density.inverse_cdf(u, config.probes, config.newton_steps)
    if config.differentiable_nodes:
        e_sg = lax.stop_gradient(e)
        f, rho = density.cdf_pdf(e_sg)
        e = e_sg - (f - u) / rho
    return e, wu / density.pdf(e)


def adaptive_energy_grid(
    potential,
    length,
    m_eff,
    e_lo,
    e_hi,
    n_nodes=None,
    *,
    chemical_potentials=(),
    kT=0.0,
    importance: Callable | None = None,
    resonances: Resonances | None = None,
    config: EnergyGridConfig | None = None,
):
    """Quadrature (nodes, weights) for ∫_{e_lo}^{e_hi} g(E) dE adapted to the resonances of 𝒯 (physics.md §10).

    No validation; jit/vmap-safe. ``n_nodes`` (static) defaults to ``config.n_nodes``.

    Args:
      potential, length, m_eff: the device as for ``qtbm.transmission_sweep`` (U (N,) eV,
        L nm, mass scalar or (N,)).
      e_lo, e_hi: the window in eV. Both leads must propagate inside it (e_lo ≥ the higher
        lead band edge), and e_hi must lie below the lattice band top.
      chemical_potentials: tuple of μ_s (eV, may be traced): plateau end of the background,
        centres of the Fermi-edge components.
      kT: k_B·T in eV (0: uniform background, no Fermi-edge components).
      importance: E → K(E) ≥ 0, the occupation kernel used to rank resonances
        (default Σ_s f(E; μ_s)).
      resonances: precomputed :func:`find_resonances` output (else searched here).
      config: :class:`EnergyGridConfig` (default ``EnergyGridConfig()``).
    Returns:
      nodes (n,) in eV and weights (n,) in eV with Σ w g(E) ≈ ∫ g dE for integrands shaped like
      𝒯(E)×occupation (Σ w ≈ e_hi − e_lo only approximately: 1/ρ dips at the clusters).
      Differentiable with respect to e_lo, e_hi (and, with ``differentiable_nodes``, μ and kT);
      the resonance positions are frozen (module docstring).
    """
    config = EnergyGridConfig() if config is None else config
    mus = tuple(chemical_potentials)
    if importance is None:
        importance = occupation_importance(mus, kT)
    if resonances is None:
        resonances = locate_resonances(potential, length, m_eff, e_lo, e_hi, mus, kT, importance, config)
    return mapped_grid(e_lo, e_hi, resonances, mus, kT, config, n_nodes)


def locate_resonances(potential, length, m_eff, e_lo, e_hi, chemical_potentials, kT, importance, config):
    """:func:`find_resonances` with the default search energies and spacing for this window."""
    sg = lax.stop_gradient
    lo, hi = sg(jnp.asarray(e_lo, jnp.float64)), sg(jnp.asarray(e_hi, jnp.float64))
    mus = tuple(sg(jnp.asarray(m, jnp.float64)) for m in chemical_potentials)
    kT = kT if isinstance(kT, (int, float)) else sg(kT)
    starts = search_energies(lo, hi, mus, kT, config)
    spacing = background_spacing(lo, hi, mus, kT, config)
    return find_resonances(potential, length, m_eff, lo, hi, starts, importance, spacing, config)


def mapped_grid(e_lo, e_hi, resonances, mus, kT, config, n_nodes=None, kinks=()):
    """Build the grid in x = (E − e_lo)/(e_hi − e_lo) under stop_gradient and map it affinely."""
    e_lo = jnp.asarray(e_lo, jnp.float64)
    e_hi = jnp.asarray(e_hi, jnp.float64)
    span = e_hi - e_lo
    if config.differentiable_nodes:
        spacing = background_spacing(e_lo, e_hi, mus, kT, config)
        dens = build_density(e_lo, e_hi, resonances, mus, kT, spacing, config, kinks)
        return grid_from_density(dens, config, n_nodes)
    sg = lax.stop_gradient
    lo, hi = sg(e_lo), sg(e_hi)
    # Guard a degenerate (empty) window: build on a unit-length stand-in, weights × 0 below.
    width = jnp.maximum(hi - lo, 1e-12)
    mus_sg = tuple(sg(jnp.asarray(m, jnp.float64)) for m in mus)
    kT = kT if isinstance(kT, (int, float)) else sg(kT)
    spacing = background_spacing(lo, lo + width, mus_sg, kT, config)
    kinks_sg = tuple(sg(jnp.asarray(k, jnp.float64)) for k in kinks)
    dens = build_density(lo, lo + width, resonances, mus_sg, kT, spacing, config, kinks_sg)
    e, w = grid_from_density(dens, config, n_nodes)
    x, omega = sg((e - lo) / width), sg(w / width)
    return e_lo + span * x, span * omega
