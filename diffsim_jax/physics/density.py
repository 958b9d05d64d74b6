"""Electron density of an open device from its scattering states (physics.md §11).

3-D electron density with spin, from the states injected by the two contacts
(physics.md eq. 11.2):

    n(x) = Σ_{s=L,R} ∫dE_z |ψ_s(x;E_z)|²/(2π ħv_s) · D_2,s · ln(1 + e^{(μ_s−E_z)/k_BT}),

with ψ_s injected from contact s with unit amplitude, ħv_s = 2t_s a sin(k_s a) on the
lattice, D_2,s = m_s k_BT/(πħ²) = m_s k_BT/(2π C₀) the transverse (2-D, spin-degenerate)
density of states times k_BT, μ_L = E_F and μ_R = E_F − V. With ψ_L = b₀ G_{j,0},
|b₀|² = 4t_L² sin²(k_L a) this is the Green's-function form

    |ψ_L(x_j)|²/(2πħv_L) = Γ_L |G_{j,0}|²/(2π a),   Γ_s = 2t_s sin(k_s a),

and likewise Γ_R |G_{j,N−1}|² for the right contact. The two columns come from the
division-free three-term recurrences of physics.md §3.5–3.6 (φ from the transmitted
side, χ from the injection side; G_{j,0} = φ_j/s, G_{j,N−1} = χ_j/s, G_{jj} = χ_jφ_j/s,
one common s), run for the whole energy sweep at once on (re, im) pairs.

Energy integration: equilibrium part on a contour, non-equilibrium part on the real axis
(the decomposition of NEGF codes, e.g. Brandbyge et al., PRB 65, 165401 (2002)). With the
spectral function A_jj = 2 Im(A⁻¹)_jj = Γ_L|G_{j0}|² + Γ_R|G_{j,N−1}|² (+ δ-peaks of bound
states), each site j takes a reference contact r(j) — the emitter (μ_L) on the emitter
side of the first barrier (``emitter_mask``), the collector (μ_R) elsewhere — and

    n_j = D₂/(πa)·Im ∮ G_jj(z) S(z; μ_r) dz
          + Σ_{E ≥ U_L} [Γ_L|G_{j0}|² (if r = R) or −Γ_R|G_{j,N−1}|² (if r = L)]·(D₂,L S_L − D₂,R S_R)/(2πa),

S(z; μ) = ln(1 + e^{(μ−z)/k_BT}). For E ≥ U_L this is exactly eq. 11.2. Below U_L only
right-injected states propagate and A_jj = Γ_R|G_{j,N−1}|² (plus the true bound states
below U_R); these are filled with μ_r, i.e. *the quasi-bound states of the emitter
accumulation notch are in equilibrium with the emitter* (``notch_filling="emitter"``,
default), as scattering would make them; ``"collector"`` uses r = R everywhere, the pure
coherent scattering-state model, in which states below U_L are filled only from the
collector.

* **Contour** (exact deformation, physics.md §11): G(z) is analytic in the upper half plane
  and S(z; μ) for Im z < πk_BT, so the real-axis integral from E_floor (below min U) to
  E_top = μ_max + 40 k_BT equals the integral over the rectangle E_floor → E_floor + ih →
  E_top + ih → E_top, h = 2k_BT. There every resonance — also the quasi-bound notch and
  well states, whose widths are far below any grid — is broadened to ~h: composite
  Gauss–Legendre panels suffice (breakpoints clustered at each μ, where the supply
  function's branch points μ + iπk_BT come closest). At V = 0 the density is the contour
  alone.
* **Real axis**, E ∈ [U_L, μ_L + 40 k_BT] (both leads propagate): Gauss–Legendre panels in
  σ ∈ [0, 1], E = U_L + Wσ² (the substitution removes the 1/√(E − U_L) edge singularity),
  adapted to the integrand by a split/merge step driven by a spectral error indicator per
  panel (static panel count) — the resonances of the double barrier inside the bias
  window are resolved there. The Tsu–Esaki current J (eq. 10.3) uses the same nodes.

Units: energies eV, lengths nm, densities returned in cm⁻³ (1 cm⁻³ = 1e-21 nm⁻³).
Everything is jit/vmap/grad-safe in float64.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import validation as val
from ..numerics.quadrature import gauss_legendre, legendre_error_matrix
from .constants import CM3_PER_NM3, DEFAULT_M_EFF, K_B_EV_PER_K, RICHARDSON_A_PER_CM2_K2
from .energy_grid import pole_step
from .qtbm import band_top_eV, check_mass, lattice, lead_phase, lead_phase_from_offset
from .statistics import supply, thermal_energy_eV, transverse_dos_nm2

# --------------------------------------------------------------------------------------
# Configuration and the adaptive energy grid
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DensityConfig:
    """Static (hashable) settings of the density integration (physics.md §11).

    Attributes:
      n_panels: Gauss–Legendre panels on range A (E ≥ U_L); static count.
      nodes_per_panel: Gauss–Legendre nodes per panel.
      window_kT: range A ends at μ_L + window_kT·k_BT.
      contour_height_kT: height h of the equilibrium contour in units of k_BT; must stay
        below π (the first branch point of the supply function).
      contour_panels: uniform Gauss–Legendre panels along the long side of the contour.
      contour_nodes_per_panel: nodes per contour panel.
      contour_mu_offsets: extra contour breakpoints at μ + offset·k_BT for each μ.
      floor_margin_eV: the contour starts this far below min(U) (no states there).
      notch_filling: "emitter" (states below the emitter band edge on the emitter side
        of the first barrier are filled with μ_L) or "collector" (pure scattering
        states: filled with μ_R everywhere). See the module docstring.
      adapt_swaps: panels split (and merged) per adaptation step.
      adapt_rounds: adaptation steps in :func:`electron_density` (the self-consistent
        solver adapts once per iteration instead).
      merge_factor: a merge is accepted when merge_factor·(e_p + e_{p+1}) is below
        ``accept_ratio`` times the error of the panel split in exchange.
      accept_ratio: see ``merge_factor``.
      current_floor_Acm2: absolute current scale below which the current's error does
        not drive the adaptation.
      error_floor: panels whose relative error indicator is below this (round-off level)
        are never split.
      n_resonances: R, resonances of the double barrier (poles of G) that get their own
        share of the real-axis coordinate (:class:`DensityGrid`); located with
        :func:`.energy_grid.locate_resonances` while the grid adapts.
      resonance_share: total share of u given to resonances narrower than the panels.
      resonance_width_factor: κ, the coordinate's Lorentzian half-width is κΓ/2.
    """

    n_panels: int = 32
    nodes_per_panel: int = 8
    window_kT: float = 40.0
    contour_height_kT: float = 2.0
    contour_panels: int = 8
    contour_nodes_per_panel: int = 8
    contour_mu_offsets: tuple = (-6.0, -3.0, -1.5, 0.0, 1.5, 3.0, 6.0)
    floor_margin_eV: float = 0.1
    notch_filling: str = "emitter"
    adapt_swaps: int = 6
    adapt_rounds: int = 30
    merge_factor: float = 256.0
    accept_ratio: float = 0.25
    current_floor_Acm2: float = 10.0
    error_floor: float = 1e-11
    n_resonances: int = 2
    resonance_share: float = 0.3
    resonance_width_factor: float = 1.0

    def __post_init__(self):
        if self.notch_filling not in ("emitter", "collector"):
            raise ValueError(f"notch_filling must be 'emitter' or 'collector', got {self.notch_filling!r}")
        if not 0.0 < self.contour_height_kT < math.pi:
            raise ValueError(
                f"contour_height_kT must lie in (0, π): the supply function has branch points at "
                f"Im z = πk_BT; got {self.contour_height_kT}"
            )
        if self.n_panels < 4 or self.nodes_per_panel < 3:
            raise ValueError("need n_panels >= 4 and nodes_per_panel >= 3")
        if not 0 <= self.adapt_swaps < self.n_panels // 2:
            raise ValueError("adapt_swaps must lie in [0, n_panels/2)")


class DensityGrid(NamedTuple):
    """The adaptive part of the density's energy quadrature (frozen, never differentiated).

    Not the grid of the currents (:mod:`.energy_grid`, real axis, static, rebuilt inside
    ``jit``): this one changes its panels between fixed-point iterations (:func:`adapt_grid`)
    and lives beside an exact contour for the equilibrium part.

    Attributes:
      breaks: (n_panels + 1,) panel edges in the real-axis coordinate u ∈ [0, 1].
      floor_eV: lower end E_floor of the contour.
      res_x: (R,) resonance centres in x = (E − U_L)/W ∈ [0, 1] (W = E_top − U_L).
      res_g: (R,) their half-widths Γ/(2W) (times ``resonance_width_factor``).
      res_share: (R,) share of u given to each resonance (0: slot unused).

    The real-axis coordinate is u(x) = (1 − Σ_r s_r)·√x + Σ_r s_r·L_r(x), L_r the
    Lorentzian CDF of resonance r normalised on [0, 1]: the panels see a resonance of
    width Γ spread over a fixed share of u, so its Lorentzian peak is smooth in u.
    """

    breaks: jax.Array
    floor_eV: jax.Array
    res_x: jax.Array
    res_g: jax.Array
    res_share: jax.Array


def initial_grid(config: DensityConfig, potential) -> DensityGrid:
    """Uniform panels in u = √x, no resonances, a contour floor ``floor_margin_eV`` below min(U)."""
    r = config.n_resonances
    return DensityGrid(
        jnp.linspace(0.0, 1.0, config.n_panels + 1),
        jnp.min(lax.stop_gradient(jnp.asarray(potential))) - config.floor_margin_eV,
        jnp.full(r, 0.5),
        jnp.full(r, 0.1),
        jnp.zeros(r),
    )


def _lorentz_cdf(x, c, g):
    """CDF on [0, 1] of the Lorentzian (g/π)/((x − c)² + g²), normalised to the interval."""
    lo, hi = jnp.arctan(-c / g), jnp.arctan((1.0 - c) / g)
    return (jnp.arctan((x[..., None] - c) / g) - lo) / (hi - lo)


def _lorentz_pdf(x, c, g):
    lo, hi = jnp.arctan(-c / g), jnp.arctan((1.0 - c) / g)
    return (g / ((x[..., None] - c) ** 2 + g * g)) / (hi - lo)


def _coordinate(x, grid: DensityGrid):
    """u(x) and du/dx of the real-axis coordinate (see :class:`DensityGrid`)."""
    share = grid.res_share
    rest = 1.0 - jnp.sum(share)
    root = jnp.sqrt(jnp.maximum(x, 0.0))
    u = rest * root + jnp.sum(share * _lorentz_cdf(x, grid.res_x, grid.res_g), axis=-1)
    du = rest * 0.5 / jnp.maximum(root, 1e-300) + jnp.sum(share * _lorentz_pdf(x, grid.res_x, grid.res_g), axis=-1)
    return u, du


def _inverse_coordinate(u, grid: DensityGrid, steps=60):
    """x(u) by bisection (u(x) is increasing; 60 halvings reach double precision)."""

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        below = _coordinate(mid, grid)[0] < u
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = lax.fori_loop(0, steps, body, (jnp.zeros_like(u), jnp.ones_like(u)))
    return 0.5 * (lo + hi)


def update_resonances(grid: DensityGrid, potential, m_eff, length, mu_left, mu_right, kT, config: DensityConfig):
    """Re-locate the R most important narrow resonances and put them into the real-axis coordinate.

    Poles z = E_r − iΓ_r/2 of G_{N−1,0} (zeros of s(E) = 1/G_{N−1,0}) by two real-axis
    Newton steps z = E − s(E)/s′(E) (:func:`.energy_grid.pole_step`, s′ by a JVP through
    the transfer recurrence) started from every other real-axis node *and* from the
    resonances already in the grid (so a narrow resonance, once found, is followed as it
    moves). Candidates are ranked by the occupation Σ_s f(E_r; μ_s) times
    1 − e^{−(3h_r/Γ_r)²} (h_r the node spacing of the plain √x coordinate: resonances the
    panels resolve anyway rank low), duplicates within a few widths are merged, and the
    R best get the share s_r = (share/R)·(1 − e^{−(3h_r/Γ_r)²}) of u. Everything under
    ``stop_gradient``.
    """
    if config.n_resonances == 0:
        return grid
    sg = lax.stop_gradient
    potential, m_eff, length = sg(potential), sg(jnp.asarray(m_eff)), sg(length)
    mu_left, mu_right, kT = sg(mu_left), sg(mu_right), sg(kT)
    e_low = potential[0]
    e_high = jnp.maximum(mu_left, mu_right) + config.window_kT * kT
    width = e_high - e_low
    starts = resonance_starts(grid, e_low, e_high, config)
    lo, hi = e_low + 1e-9 * width, e_high - 1e-9 * width
    z, _ = pole_step(potential, length, m_eff, jnp.clip(starts, lo, hi))
    z, _ = pole_step(potential, length, m_eff, jnp.clip(jnp.nan_to_num(jnp.real(z)), lo, hi))
    return place_resonances(grid, z, e_low, e_high, mu_left, mu_right, kT, config)


def resonance_starts(grid: DensityGrid, e_low, e_high, config):
    """Real starting energies of the pole search: the resonances already in ``grid`` and every other range-A node."""
    energy_a, _, _ = range_a_nodes(grid, e_low, e_high, config)
    return jnp.concatenate([e_low + (e_high - e_low) * grid.res_x, energy_a[::2]])


def place_resonances(grid: DensityGrid, z, e_low, e_high, mu_left, mu_right, kT, config):
    """Rank candidate poles z = E_r − iΓ_r/2 and put the R = ``config.n_resonances`` best into ``grid``.

    Shared by the finite-difference (:func:`update_resonances`) and finite-element
    (:func:`.fem_density.update_resonances_fem`) densities; the ranking is described in
    :func:`update_resonances`. Everything under ``stop_gradient``.
    """
    r = config.n_resonances
    width = e_high - e_low
    e_r = jnp.nan_to_num(jnp.real(z))
    gamma = jnp.nan_to_num(-2.0 * jnp.imag(z))
    x = (e_r - e_low) / width
    m_a = config.n_panels * config.nodes_per_panel
    h = 2.0 * jnp.sqrt(jnp.clip(x, 1e-12, 1.0)) / m_a * width  # plain-coordinate node spacing (eV)
    unresolved = 1.0 - jnp.exp(-((3.0 * h / jnp.maximum(gamma, 1e-300)) ** 2))
    occupation = jax.nn.sigmoid((mu_left - e_r) / kT) + jax.nn.sigmoid((mu_right - e_r) / kT)
    valid = jnp.isfinite(z) & (gamma > 0.0) & (x > 0.0) & (x < 1.0)
    score = jnp.where(valid, occupation * unresolved, 0.0)

    def pick(carry, _):
        score = carry
        k = jnp.argmax(score)
        dup = jnp.abs(e_r - e_r[k]) <= 3.0 * jnp.maximum(gamma, gamma[k]) + 1e-9 * width
        return jnp.where(dup, 0.0, score), (k, score[k])

    _, (idx, best) = lax.scan(pick, score, None, length=r)
    active = best > 0.0
    res_x = jnp.where(active, x[idx], grid.res_x)
    res_g = jnp.where(active, jnp.maximum(0.5 * config.resonance_width_factor * gamma[idx] / width, 1e-14), grid.res_g)
    share = jnp.where(active, config.resonance_share / r * unresolved[idx], 0.0)
    return grid._replace(res_x=res_x, res_g=res_g, res_share=share)


def adapt_grid(grid: DensityGrid, panel_error, config: DensityConfig, min_width=1e-8):
    """One split/merge step of the range-A panels (static count); returns (grid, changed).

    The ``adapt_swaps`` panels with the largest error indicator are halved; in exchange
    as many interior breakpoints are removed between the adjacent pairs with the smallest
    summed indicator — but only pairwise while merge_factor·(e_p + e_{p+1}) <
    accept_ratio·e_split, so a balanced grid stops changing. Breakpoints next to a split
    panel are never removed.
    """
    breaks = grid.breaks
    k = config.adapt_swaps
    if k == 0:
        return grid, jnp.asarray(False)
    width = breaks[1:] - breaks[:-1]
    err = jnp.where(width > min_width, panel_error, 0.0)
    split_err, split_idx = lax.top_k(err, k)
    n_p = width.shape[0]
    near_split = jnp.zeros(n_p + 1, bool).at[split_idx].set(True).at[split_idx + 1].set(True)
    merge_err = config.merge_factor * (panel_error[:-1] + panel_error[1:])  # breakpoints 1 … P−1
    merge_err = jnp.where(near_split[1:-1], jnp.inf, merge_err)
    neg_merge, merge_pos = lax.top_k(-merge_err, k)
    do = (-neg_merge < config.accept_ratio * split_err) & (split_err > config.error_floor)
    mids = 0.5 * (breaks[split_idx] + breaks[split_idx + 1])
    kept = breaks.at[merge_pos + 1].set(jnp.where(do, jnp.inf, breaks[merge_pos + 1]))
    new = jnp.sort(jnp.concatenate([kept, jnp.where(do, mids, jnp.inf)]))[: n_p + 1]
    return grid._replace(breaks=new), jnp.any(do)


# --------------------------------------------------------------------------------------
# Columns of the Green's function for a sweep of complex energies
# --------------------------------------------------------------------------------------
_UNROLL = 2


def green_columns(onsite, hop, z_re, z_im, sigma_l, sigma_r):
    """φ and χ of physics.md eqs. 3.11, 3.13 (per-site masses, eq. 9.3) for energies z = z_re + i·z_im.

    A(z) = tridiag(−t_{j±½}, onsite_j − z, ·) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ, ``hop`` the
    (N−1,) bond hoppings t_{j+½}. With

        φ_{N−1} = 1, φ_{N−2} = (d_{N−1} − z + Σ_R)/t_{N−3/2},
        φ_{j−1} = [(d_j − z)φ_j − t_{j+½}φ_{j+1}]/t_{j−½},
        χ_0 = 1,     χ_1 = (d_0 − z + Σ_L)/t_{½},
        χ_{j+1} = [(d_j − z)χ_j − t_{j−½}χ_{j−1}]/t_{j+½},
        s = (d_0 − z + Σ_L)φ_0 − t_{½}φ_1,

    the Green's function A⁻¹ has G_{jk} = χ_{min(j,k)} φ_{max(j,k)}/s (the Wronskian
    t_{j+½}(χ_{j+1}φ_j − χ_jφ_{j+1}) is constant and equals s). Each recurrence runs in
    the direction in which its solution grows through barriers, so it is stable; both
    are division-free. Returns (phi_re, phi_im, chi_re, chi_im) of shape (N, M) and the
    complex s (M,). Two O(N) ``lax.scan`` passes over the whole sweep.
    """
    inv = 1.0 / hop
    # One scan runs both recurrences: step t advances φ at site N−2−t (from the right) and
    # χ at site 1+t (from the left); rows 0 and 1 of every (2, M) array are φ and χ.
    d = jnp.stack([onsite[1:-1][::-1], onsite[1:-1]], axis=1)[..., None]  # (N−2, 2, 1)
    inv_next = jnp.stack([inv[:-1][::-1], inv[1:]], axis=1)[..., None]
    ratio = jnp.stack([(hop[1:] * inv[:-1])[::-1], hop[:-1] * inv[1:]], axis=1)[..., None]

    def step(carry, x):
        d_t, inv_t, ratio_t = x
        (cr, ci), (pr, pi) = carry
        ar = (d_t - z_re) * inv_t
        ai = -z_im * inv_t
        new = (ar * cr - ai * ci - ratio_t * pr, ar * ci + ai * cr - ratio_t * pi)
        return (new, (cr, ci)), new

    ones, zeros = jnp.ones_like(z_re), jnp.zeros_like(z_re)
    phi_n2 = (onsite[-1] - z_re + jnp.real(sigma_r)) * inv[-1], (jnp.imag(sigma_r) - z_im) * inv[-1]
    chi1 = (onsite[0] - z_re + jnp.real(sigma_l)) * inv[0], (jnp.imag(sigma_l) - z_im) * inv[0]
    first = (jnp.stack([phi_n2[0], chi1[0]]), jnp.stack([phi_n2[1], chi1[1]]))
    unit = (jnp.stack([ones, ones]), jnp.stack([zeros, zeros]))
    ((cur_r, cur_i), (prev_r, prev_i)), (ys_r, ys_i) = lax.scan(step, (first, unit), (d, inv_next, ratio), unroll=_UNROLL)
    # ys[t, 0] = φ_{N−3−t}, ys[t, 1] = χ_{t+2}
    phi_re = jnp.concatenate([ys_r[::-1, 0], phi_n2[0][None], ones[None]])
    phi_im = jnp.concatenate([ys_i[::-1, 0], phi_n2[1][None], zeros[None]])
    chi_re = jnp.concatenate([ones[None], chi1[0][None], ys_r[:, 1]])
    chi_im = jnp.concatenate([zeros[None], chi1[1][None], ys_i[:, 1]])
    phi0 = (cur_r[0], cur_i[0])
    phi1 = (prev_r[0], prev_i[0])
    a00 = (onsite[0] - z_re + jnp.real(sigma_l)) + 1j * (jnp.imag(sigma_l) - z_im)
    phi_0 = phi0[0] + 1j * phi0[1]
    phi_1 = phi1[0] + 1j * phi1[1]
    scale = a00 * phi_0 - hop[0] * phi_1
    return phi_re, phi_im, chi_re, chi_im, scale


class DensityWeights(NamedTuple):
    """Per-energy quadrature weights of the density and current (differentiable inputs of :func:`density_core`).

    n_j = Σ_{E∈A} [(1 − mask_j) a_E|G_{j0}|² − mask_j b_E|G_{j,N−1}|²] + Σ_{z∈B} Im[c_{zj} G_jj(z)],
    c_{zj} = c^R_z + mask_j (c^L_z − c^R_z);  J = Σ_{E∈A} t_E |G_{N−1,0}|².
    """

    a: jax.Array  # (M_A,)
    b: jax.Array  # (M_A,)
    t: jax.Array  # (M_A,)
    cl_re: jax.Array  # (M_B,)
    cl_im: jax.Array
    cr_re: jax.Array
    cr_im: jax.Array


def _core_forward(m_a, n_g, args, w: DensityWeights, mask):
    """Density (N,), current, per-panel error sums (P,), (P,) and the columns (residuals)."""
    phi_re, phi_im, chi_re, chi_im, scale = green_columns(
        args[0], args[1], args[2], args[3], lax.complex(args[4], args[5]), lax.complex(args[6], args[7])
    )
    inv = 1.0 / scale
    inv_re, inv_im = jnp.real(inv), jnp.imag(inv)
    abs_inv = inv_re[:m_a] ** 2 + inv_im[:m_a] ** 2
    site_a, site_b = (1.0 - mask)[:, None], -mask[:, None]  # reference μ_R (collector side) or μ_L (emitter side)
    node_a = site_a * (phi_re[:, :m_a] ** 2 + phi_im[:, :m_a] ** 2) * (w.a * abs_inv) + site_b * (
        chi_re[:, :m_a] ** 2 + chi_im[:, :m_a] ** 2
    ) * (w.b * abs_inv)  # (N, M_A): contribution of each range-A node
    node_j = w.t * abs_inv
    pr, pi_, cr, ci = phi_re[:, m_a:], phi_im[:, m_a:], chi_re[:, m_a:], chi_im[:, m_a:]
    wr, wi = cr * pr - ci * pi_, cr * pi_ + ci * pr  # χφ
    br, bi = inv_re[m_a:], inv_im[m_a:]
    g_re, g_im = wr * br - wi * bi, wr * bi + wi * br  # G_jj on the contour
    dens_b_r = g_re @ w.cr_im + g_im @ w.cr_re  # Im[G c]
    dens_b_l = g_re @ w.cl_im + g_im @ w.cl_re
    density = jnp.sum(node_a, axis=1) + mask * dens_b_l + (1.0 - mask) * dens_b_r
    current = jnp.sum(node_j)
    # spectral error indicator per panel: ∫|c_k P_k| over the panel's reference interval ≤ 2|c_k|
    q = legendre_error_matrix(n_g)
    _, w_gl = gauss_legendre(n_g)
    n_p = m_a // n_g
    vals = node_a.reshape(node_a.shape[0], n_p, n_g) / w_gl
    dens_err = 2.0 * jnp.sum(jnp.abs(jnp.einsum("jpn,nk->jpk", vals, q)), axis=(0, 2))
    cur_err = 2.0 * jnp.sum(jnp.abs((node_j.reshape(n_p, n_g) / w_gl) @ q), axis=1)
    cols = (lax.complex(phi_re, phi_im), lax.complex(chi_re, chi_im), scale)
    return (density, current, lax.stop_gradient(dens_err), lax.stop_gradient(cur_err)), cols


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def density_core(m_a, n_g, args, weights: DensityWeights, mask):
    """(n_j, J, error sums) from the Green's functions of A(z) (physics.md eqs. 10.3, 11.2).

    ``args`` = (onsite, hop, z_re, z_im, Σ_L re, im, Σ_R re, im) of
    A(z) = tridiag(−hop, onsite − z, −hop) + Σ_L e₀e₀ᵀ + Σ_R e_{N−1}e_{N−1}ᵀ; the first
    ``m_a`` energies are real (the real-axis part), the others complex (the contour); ``n_g`` nodes per
    panel. Forward: the recurrences of :func:`green_columns`, G_{jk} = χ_{min}φ_{max}/s.

    Reverse mode (custom VJP, no stored scan tape): the output cotangents n̄ (N,) and J̄
    make every input cotangent a sum over sites of products of G entries — with
    dG = −G dA G and the factorised G, prefix sums (see :class:`PotentialVJP`); for a
    hopping, u = e_k − e_{k+1} replaces e_k (``hop`` enters only off the diagonal,
    −(e_ke_{k+1}ᵀ + e_{k+1}e_kᵀ) = uuᵀ − e_ke_kᵀ − e_{k+1}e_{k+1}ᵀ). Two scans over the
    sites with O(M) work each (:func:`_adjoint_scans`). Reverse mode only.
    """
    return _core_forward(m_a, n_g, args, weights, mask)[0]


def _density_core_fwd(m_a, n_g, args, weights, mask):
    out, cols = _core_forward(m_a, n_g, args, weights, mask)
    return out, (cols, weights, mask)


def _adjoint_scans(m_a, cols, w: DensityWeights, mask, nbar, jbar, full: bool):
    """Site (and, if ``full``, bond and per-energy) sensitivities for cotangents n̄, J̄.

    Per real energy α = −2a/(s²s̄), β = −2b/(s²s̄), κ = −2t/(s²s̄); per contour energy
    γ = i/s². Site sensitivity (dL = Re Σ_k Q_k δA_kk):

        Q_k = α(φ_k²P1_k + φ_kχ_k Q1_k) + β(φ_kχ_k P2_k + χ_k²Q2_k) + J̄κφ_kχ_k     (A)
        Q_k = γ(φ_k²P3_k + χ_k²Q3_k)                                              (B)

    P1 = Σ_{j≤k} n̄ᵃ_jχ_jφ̄_j, P2 = Σ_{j≤k} n̄ᵇ_j|χ_j|², P3 = Σ_{j≤k} n̄_j c_{zj}χ_j²,
    Q1 = Σ_{j>k} n̄ᵃ_j|φ_j|², Q2 = Σ_{j>k} n̄ᵇ_jφ_jχ̄_j, Q3 = Σ_{j>k} n̄_j c_{zj}φ_j², with
    n̄ᵃ = (1 − mask)n̄ and n̄ᵇ = −mask·n̄ (the site factors of :class:`DensityWeights`); the
    bond sensitivity R_k is the same with φ_k → φ_k − φ_{k+1}, χ_k → χ_k − χ_{k+1}.
    """
    phi, chi, scale = cols
    n = phi.shape[0]
    cdt = phi.dtype
    m_b = phi.shape[1] - m_a
    inv = 1.0 / scale
    s3 = inv[:m_a] * inv[:m_a] * jnp.conj(inv[:m_a])
    alpha, beta, kappa = -2.0 * w.a * s3, -2.0 * w.b * s3, -2.0 * jbar * w.t * s3
    gamma = 1j * inv[m_a:] * inv[m_a:]
    c_r = lax.complex(w.cr_re, w.cr_im)
    c_d = lax.complex(w.cl_re, w.cl_im) - c_r

    def prefix(c, xs):
        nb, ph, ch, mk = xs
        pa, ca, cb = ph[:m_a], ch[:m_a], ch[m_a:]
        c = (
            c[0] + nb * (1.0 - mk) * ca * jnp.conj(pa),
            c[1] - nb * mk * (jnp.real(ca) ** 2 + jnp.imag(ca) ** 2),
            c[2] + nb * (c_r + mk * c_d) * cb * cb,
        )
        return c, c

    init = (jnp.zeros(m_a, cdt), jnp.zeros(m_a), jnp.zeros(m_b, cdt))
    p_last, pre = lax.scan(prefix, init, (nbar, phi, chi, mask), unroll=2)

    def site(pa, ca, pb, cb, p1, p2, p3, q1, q2, q3):
        pc = pa * ca
        qa = alpha * (pa * pa * p1 + pc * q1) + beta * (pc * p2 + ca * ca * q2) + kappa * pc
        qb = gamma * (pb * pb * p3 + cb * cb * q3)
        return qa, qb

    def suffix(c, xs):
        (p1, p2, p3), nb, ph, ch, mk, k = xs
        q1, q2, q3 = c[:3]
        pa, ca, pb, cb = ph[:m_a], ch[:m_a], ph[m_a:], ch[m_a:]
        qa, qb = site(pa, ca, pb, cb, p1, p2, p3, q1, q2, q3)
        onsite_k = jnp.sum(jnp.real(qa)) + jnp.sum(jnp.real(qb))
        cz = c_r + mk * c_d
        sums = (
            q1 + nb * (1.0 - mk) * (jnp.real(pa) ** 2 + jnp.imag(pa) ** 2),
            q2 - nb * mk * pa * jnp.conj(ca),
            q3 + nb * cz * pb * pb,
        )
        if not full:
            return sums, onsite_k
        ph_next, ch_next, zsum, q_top, _, cl_acc, cr_acc = c[3:]
        # bond (k, k+1); at k = N−1 the "next" row is the row itself, so R = 0 there
        ra, rb = site(
            pa - ph_next[:m_a], ca - ch_next[:m_a], pb - ph_next[m_a:], cb - ch_next[m_a:], p1, p2, p3, q1, q2, q3
        )
        bond_k = jnp.sum(jnp.real(ra)) + jnp.sum(jnp.real(rb))
        q = jnp.concatenate([qa, qb])
        g = nb * cb * pb  # n̄_j χ_jφ_j on the contour
        new = sums + (ph, ch, zsum + q, jnp.where(k == n - 1, q, q_top), q, cl_acc + mk * g, cr_acc + (1.0 - mk) * g)
        return new, (onsite_k, bond_k)

    zero_a, zero_b = jnp.zeros(m_a, cdt), jnp.zeros(m_b, cdt)
    init = (jnp.zeros(m_a), zero_a, zero_b)
    if full:
        zm = jnp.zeros(phi.shape[1], cdt)
        init = init + (phi[-1], chi[-1], zm, zm, zm, zero_b, zero_b)
    xs = (pre, nbar, phi, chi, mask, jnp.arange(n))
    last, out = lax.scan(suffix, init, xs, reverse=True, unroll=2)
    if not full:
        return out
    onsite_bar, bond_sum = out
    q1_total = last[0]
    _, _, _, _, _, zsum, q_top, q_bottom, cl_acc, cr_acc = last
    return onsite_bar, bond_sum, zsum, q_top, q_bottom, q1_total, p_last[1], cl_acc, cr_acc


def _density_core_bwd(m_a, n_g, res, cts):
    cols, w, mask = res
    nbar, jbar, _, _ = cts
    onsite_bar, bond_sum, zsum, q_top, q_bottom, sum_phi2, sum_chi2, cl_acc, cr_acc = _adjoint_scans(
        m_a, cols, w, mask, nbar, jbar, full=True
    )
    inv = 1.0 / cols[2]
    abs_inv = jnp.real(inv[:m_a]) ** 2 + jnp.imag(inv[:m_a]) ** 2
    gl, gr = cl_acc * inv[m_a:], cr_acc * inv[m_a:]  # Σ_j n̄_j mask_j G_jj, Σ_j n̄_j (1 − mask_j) G_jj
    w_bar = DensityWeights(
        a=sum_phi2 * abs_inv,
        b=sum_chi2 * abs_inv,
        t=jbar * abs_inv,
        cl_re=jnp.imag(gl),
        cl_im=jnp.real(gl),
        cr_re=jnp.imag(gr),
        cr_im=jnp.real(gr),
    )
    # ``hop`` enters A only off the diagonal (see density_core)
    hop_bar = bond_sum[:-1] - onsite_bar[:-1] - onsite_bar[1:]
    args_bar = (
        onsite_bar,
        hop_bar,
        -jnp.real(zsum),
        jnp.imag(zsum),
        jnp.real(q_bottom),
        -jnp.imag(q_bottom),
        jnp.real(q_top),
        -jnp.imag(q_top),
    )
    return args_bar, w_bar, jnp.zeros_like(mask)


density_core.defvjp(_density_core_fwd, _density_core_bwd)


# --------------------------------------------------------------------------------------
# Quadrature nodes
# --------------------------------------------------------------------------------------
def range_a_nodes(grid: DensityGrid, e_low, e_high, config: DensityConfig):
    """Real nodes on the u-panels: E = e_low + W·x(u); returns (E (P·n,), dE weights (P·n,), x).

    x(u) and the weights 1/(du/dx) are computed under ``stop_gradient`` (they only place
    the nodes); E and the weights are affine in e_low and W = e_high − e_low, so gradients
    with respect to the window are those of the quadrature with moving end points.
    """
    t, w = gauss_legendre(config.nodes_per_panel)
    a, b = grid.breaks[:-1], grid.breaks[1:]
    u = ((0.5 * (a + b))[:, None] + (0.5 * (b - a))[:, None] * t).reshape(-1)
    w_u = ((0.5 * (b - a))[:, None] * w).reshape(-1)
    x = lax.stop_gradient(_inverse_coordinate(u, grid))
    dxdu = lax.stop_gradient(1.0 / _coordinate(x, grid)[1])
    width = e_high - e_low
    return e_low + width * x, w_u * width * dxdu, x


def contour_nodes(floor, top, mus, kT, config: DensityConfig):
    """Complex nodes on the rectangle floor → floor + ih → top + ih → top (Im z ≥ 0), h < πk_BT.

    The long side carries composite Gauss–Legendre panels: ``contour_panels`` uniform ones
    plus breakpoints at μ + k_BT·``contour_mu_offsets`` for each chemical potential, where
    the supply functions' branch points μ + iπk_BT come closest (distance (π − h/k_BT)k_BT).
    The short sides are below every state (at E_floor) and where the supply function is
    e^{−40} (at the top). Returns (z (M,), dz weights (M,)). ``config`` needs only the
    ``contour_*`` fields (the finite-element density's config has them too).
    """
    h = config.contour_height_kT * kT
    xs_, ws_ = gauss_legendre(8)
    n_g = config.contour_nodes_per_panel
    xh, wh = gauss_legendre(n_g)
    # left side (below every state): z = floor + i y, y: 0 → h, dz = i dy
    z1 = floor + 1j * 0.5 * h * (xs_ + 1.0)
    w1 = 1j * 0.5 * h * ws_
    # long side: z = x + i h, x: floor → top
    uniform = floor + (top - floor) * jnp.linspace(0.0, 1.0, config.contour_panels + 1)
    offsets = jnp.asarray(config.contour_mu_offsets) * kT
    extra = jnp.concatenate([mu + offsets for mu in mus])
    edges = jnp.sort(jnp.concatenate([uniform, jnp.clip(extra, floor, top)]))
    mid, half = 0.5 * (edges[:-1] + edges[1:]), 0.5 * (edges[1:] - edges[:-1])
    z2 = (mid[:, None] + half[:, None] * xh).reshape(-1) + 1j * h
    w2 = (half[:, None] * wh).reshape(-1).astype(jnp.complex128)
    # right side: z = top + i y, y: h → 0
    z3 = top + 1j * 0.5 * h * (1.0 - xs_)
    w3 = -1j * 0.5 * h * ws_
    return jnp.concatenate([z1, z2, z3]), jnp.concatenate([w1, w2, w3])


# --------------------------------------------------------------------------------------
# Density and current on a given grid
# --------------------------------------------------------------------------------------
class DensityResult(NamedTuple):
    """Output of :func:`density_on_grid`.

    Attributes:
      density_nm3: (N,) electron density in nm⁻³.
      current_Acm2: Tsu–Esaki current density J in A/cm² (physics.md eq. 10.3) on the
        same range-A nodes.
      panel_error: (n_panels,) relative error indicator per range-A panel (sheet density
        and current combined), drives :func:`adapt_grid`.
      sheet_error: estimated relative error of the sheet density Σ_j n_j a.
    """

    density_nm3: jax.Array
    current_Acm2: jax.Array
    panel_error: jax.Array
    sheet_error: jax.Array


class _Setup(NamedTuple):
    """Inputs of :func:`density_core` built from the physical arguments."""

    args: tuple
    weights: DensityWeights
    mask: jax.Array
    m_a: int
    spacing: jax.Array


def _setup(potential, m_eff, length, mu_left, mu_right, kT, emitter_mask, grid, config) -> _Setup:
    n = potential.shape[-1]
    spacing = length / (n - 1)
    mass = jnp.broadcast_to(jnp.asarray(m_eff, jnp.float64), (n,))
    lat = lattice(potential, length, mass)
    hop = jnp.broadcast_to(lat.hop, (n - 1,))
    grid = jax.tree_util.tree_map(lax.stop_gradient, grid)
    e_low = lat.u_left  # range A starts at the emitter band edge (U_L ≥ U_R)
    e_high = jnp.maximum(mu_left, mu_right) + config.window_kT * kT
    energy_a, w_a, x_a = range_a_nodes(grid, e_low, e_high, config)
    z_b, w_b = contour_nodes(grid.floor_eV, e_high, (mu_left, mu_right), kT, config)

    offset_a = (e_high - e_low) * x_a  # E − U_L, exact near the band edge
    lam_l_a = lead_phase_from_offset(offset_a, lat.t_left)
    lam_r_a = lead_phase_from_offset(offset_a + (lat.u_left - lat.u_right), lat.t_right)
    lam_l_b = lead_phase(z_b, lat.u_left, lat.t_left)
    lam_r_b = lead_phase(z_b, lat.u_right, lat.t_right)
    sigma_l = -lat.t_left * jnp.concatenate([lam_l_a, lam_l_b])
    sigma_r = -lat.t_right * jnp.concatenate([lam_r_a, lam_r_b])
    z_re = jnp.concatenate([energy_a, jnp.real(z_b)])
    z_im = jnp.concatenate([jnp.zeros_like(energy_a), jnp.imag(z_b)])
    args = (lat.onsite, hop, z_re, z_im, jnp.real(sigma_l), jnp.imag(sigma_l), jnp.real(sigma_r), jnp.imag(sigma_r))

    d2_l = transverse_dos_nm2(mass[0], kT)
    d2_r = transverse_dos_nm2(mass[-1], kT)
    gam_l = 2.0 * lat.t_left * jnp.imag(lam_l_a)
    gam_r = 2.0 * lat.t_right * jnp.imag(lam_r_a)
    sup_l = supply(energy_a, mu_left, kT)
    sup_r = supply(energy_a, mu_right, kT)
    # non-equilibrium part on the real axis (physics.md eq. 11.2 rearranged):
    # [Γ_L|G_{j0}|² or −Γ_R|G_{j,N−1}|²]·(D₂,L S_L − D₂,R S_R)/(2πa), zero at V = 0
    window = w_a * (d2_l * sup_l - d2_r * sup_r) / (2.0 * math.pi * spacing)
    # current (physics.md eq. 10.3): T = Γ_LΓ_R|G_{N−1,0}|², transverse mass of the left contact
    j_pref = RICHARDSON_A_PER_CM2_K2 * mass[0] * kT / K_B_EV_PER_K**2  # A*·m_t·T/k_B in A cm⁻² eV⁻¹
    # equilibrium part on the contour: (D₂/πa)·Im ∮ G_jj(z) S(z; μ_j) dz
    base = w_b / (math.pi * spacing)
    c_r = base * d2_r * supply(z_b, mu_right, kT)
    if config.notch_filling == "emitter":
        c_l = base * d2_l * supply(z_b, mu_left, kT)
        mask = lax.stop_gradient(emitter_mask)
    else:
        c_l, mask = c_r, jnp.zeros(n)
    weights = DensityWeights(
        a=window * gam_l,
        b=window * gam_r,
        t=w_a * j_pref * gam_l * gam_r * (sup_l - sup_r),
        cl_re=jnp.real(c_l),
        cl_im=jnp.imag(c_l),
        cr_re=jnp.real(c_r),
        cr_im=jnp.imag(c_r),
    )
    return _Setup(args, weights, mask, energy_a.shape[0], spacing)


def _result(st: _Setup, out, config: DensityConfig) -> DensityResult:
    density, current, dens_err, cur_err = out
    sheet = jnp.sum(lax.stop_gradient(density)) * lax.stop_gradient(st.spacing)
    dens_err = dens_err * lax.stop_gradient(st.spacing) / (sheet + 1e-30)
    cur_err = cur_err / (jnp.abs(lax.stop_gradient(current)) + config.current_floor_Acm2)
    return DensityResult(density, current, dens_err + cur_err, jnp.sum(dens_err))


def density_on_grid(
    potential,
    m_eff,
    length,
    mu_left,
    mu_right,
    kT,
    emitter_mask,
    grid: DensityGrid,
    config: DensityConfig,
) -> DensityResult:
    """n(x_j) (nm⁻³) and J (A/cm²) for the potential U_j on a frozen energy grid (physics.md §11).

    Args:
      potential: (N,) U_j in eV; the leads continue U_0 (= U_L) and U_{N−1} (= U_R ≤ U_L).
      m_eff: scalar or (N,) masses (units of m₀); bond masses as in physics.md §9.
      length: L in nm.
      mu_left, mu_right: contact electrochemical potentials μ_L, μ_R (eV).
      kT: k_BT in eV.
      emitter_mask: (N,) 1.0 on sites whose equilibrium reference is the emitter, μ_L (the
        emitter side of the first barrier), when ``config.notch_filling == "emitter"``.
      grid: :class:`DensityGrid` (treated as constant).
      config: :class:`DensityConfig`.

    Differentiable (reverse mode) with respect to potential, masses, length, μ's and kT;
    the Green's functions have the prefix-sum VJP of :func:`density_core`.
    """
    st = _setup(potential, m_eff, length, mu_left, mu_right, kT, emitter_mask, grid, config)
    return _result(st, density_core(st.m_a, config.nodes_per_panel, st.args, st.weights, st.mask), config)


@partial(jax.tree_util.register_dataclass, data_fields=["cols", "weights", "mask"], meta_fields=["m_a"])
@dataclasses.dataclass(frozen=True)
class PotentialVJP:
    """Linearisation of n[U] for the transposed Jacobian (∂n/∂U)ᵀ on the interior sites.

    Built once by :func:`density_linearization` (one density evaluation that keeps the
    columns φ, χ and s); :meth:`apply` runs the two site scans of :func:`_adjoint_scans`
    (site sensitivities only) — no recurrence, no autodiff tape. It is the matrix-free
    operator of the implicit-function adjoint (:mod:`.selfconsistent`). With
    dG = −G e_k e_kᵀ G dU_k and G_{jk} = χ_{min(j,k)}φ_{max(j,k)}/s (physics.md eq. 11.2
    differentiated):

        ū_k = Σ_E Re{α_E[φ_k² Σ_{j≤k} n̄_jχ_j φ̄_j + φ_kχ_k Σ_{j>k} n̄_j|φ_j|²]
                   + β_E[φ_kχ_k Σ_{j≤k} n̄_j|χ_j|² + χ_k² Σ_{j>k} n̄_j φ_j χ̄_j] + J̄κ_Eφ_kχ_k}
            + Σ_z Re{(i/s²)[φ_k² Σ_{j≤k} n̄_j c_{zj} χ_j² + χ_k² Σ_{j>k} n̄_j c_{zj} φ_j²]},

    α = −2a/(s²s̄), β = −2b/(s²s̄), κ = −2t/(s²s̄) with the weights of :class:`DensityWeights`
    (bar: complex conjugate). Exact on the interior sites 1 … N−2 (the end sites also
    move the leads, which this omits).
    """

    m_a: int
    cols: tuple
    weights: DensityWeights
    mask: jax.Array

    def apply(self, nbar, jbar=0.0):
        """(∂n/∂U)ᵀn̄ + (∂J/∂U)ᵀJ̄ (N,); n̄ in the units of n, J̄ per A/cm²."""
        return _adjoint_scans(self.m_a, self.cols, self.weights, self.mask, nbar, jbar, full=False)


def density_linearization(potential, m_eff, length, mu_left, mu_right, kT, emitter_mask, grid, config):
    """(:class:`DensityResult`, :class:`PotentialVJP`) at ``potential`` (same arguments as :func:`density_on_grid`)."""
    st = _setup(potential, m_eff, length, mu_left, mu_right, kT, emitter_mask, grid, config)
    out, cols = _core_forward(st.m_a, config.nodes_per_panel, st.args, st.weights, st.mask)
    return _result(st, out, config), PotentialVJP(st.m_a, cols, st.weights, st.mask)


# --------------------------------------------------------------------------------------
# Emitter region
# --------------------------------------------------------------------------------------
def emitter_mask_from_position(n_points: int, length, emitter_end_nm):
    """(N,) 1.0 on sites x_j < emitter_end_nm, else 0.0 (constant under differentiation)."""
    x = jnp.linspace(0.0, 1.0, n_points) * lax.stop_gradient(length)
    return (x < lax.stop_gradient(emitter_end_nm)).astype(jnp.float64)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
@partial(jax.jit, static_argnames=("config",))
def _electron_density_adaptive(potential, m_eff, length, mu_left, mu_right, kT, mask, config):
    grid = initial_grid(config, potential)

    grid = update_resonances(grid, potential, m_eff, length, mu_left, mu_right, kT, config)

    def body(_, grid):
        res = density_on_grid(potential, m_eff, length, mu_left, mu_right, kT, mask, grid, config)
        new, _ = adapt_grid(grid, res.panel_error, config)
        return new

    grid = lax.fori_loop(0, config.adapt_rounds, body, grid)
    grid = jax.tree_util.tree_map(lax.stop_gradient, grid)
    return density_on_grid(potential, m_eff, length, mu_left, mu_right, kT, mask, grid, config), grid


def electron_density(
    potential,
    fermi_level,
    bias,
    length,
    m_eff=DEFAULT_M_EFF,
    temperature_K=300.0,
    *,
    config: DensityConfig = DensityConfig(),
    emitter_end_nm=None,
    return_details: bool = False,
):
    """Electron density n(x_j) in cm⁻³ for a given total potential (physics.md eq. 11.2, §8).

    Args:
      potential: (N,) total potential energy U_j in eV on x_j = j·L/(N−1), bias drop
        included (U_0 = U_L is the emitter band edge, U_{N−1} = U_R ≤ U_L).
      fermi_level: μ_L = E_F in eV (same energy zero as ``potential``); μ_R = E_F − V.
      bias: V ≥ 0 in volts.
      length: L in nm.
      m_eff: effective mass (units of m₀): scalar or (N,) per-site masses.
      temperature_K: lattice temperature T > 0 in K.
      config: :class:`DensityConfig` (quadrature; quasi-bound state filling).
      emitter_end_nm: sites with x < emitter_end_nm are the emitter side, whose states below
        U_L are filled with μ_L (``notch_filling="emitter"``); default: the position of
        the maximum of U (the first barrier under forward bias).
      return_details: also return the :class:`DensityResult` (nm⁻³, current, error
        indicators) and the adapted :class:`DensityGrid`.
    Returns:
      (N,) density in cm⁻³ [, DensityResult, DensityGrid].

    The energy grid adapts to the integrand (``config.adapt_rounds`` split/merge steps),
    then is frozen: gradients are those of the final quadrature. Inputs are validated
    when concrete.
    """
    val.check_ndim("potential", potential, (1,))
    n = np.shape(potential)[0]
    if n < 3:
        raise ValueError(f"potential needs at least 3 grid points, got {n}")
    potential = val.as_float_array("potential", potential)
    fermi_level = val.as_float_array("fermi_level", fermi_level)
    val.check_nonnegative("bias", bias)
    val.check_positive("length", length)
    val.check_positive("temperature_K", temperature_K)
    check_mass(m_eff, n)
    if val.is_concrete((potential, bias, fermi_level, m_eff, length)):
        check_energy_range(np.asarray(potential), float(fermi_level), float(length), m_eff, temperature_K, config)
    potential = jnp.asarray(potential, jnp.float64)
    length = jnp.asarray(length, jnp.float64)
    mu_left = jnp.asarray(fermi_level, jnp.float64)
    mu_right = mu_left - bias
    kT = thermal_energy_eV(jnp.asarray(temperature_K, jnp.float64))
    if emitter_end_nm is None:
        emitter_end_nm = jnp.argmax(potential) * length / (n - 1)
    mask = emitter_mask_from_position(n, length, emitter_end_nm)
    res, grid = _electron_density_adaptive(potential, jnp.asarray(m_eff, jnp.float64), length, mu_left, mu_right, kT, mask, config)
    dens = res.density_nm3 * CM3_PER_NM3
    if return_details:
        return dens, res, grid
    return dens


def check_energy_range(potential, fermi_level, length, m_eff, temperature_K, config: DensityConfig):
    """Reject potentials outside the model: U_R > U_L, or energies above the lattice band top."""
    if potential[-1] > potential[0] + 1e-12:
        raise ValueError(
            "the right lead's band edge lies above the left's (U_R > U_L); the density "
            "integration assumes forward bias with the emitter on the left (physics.md §11)"
        )
    top = float(band_top_eV(potential, length, np.asarray(m_eff, float)))
    e_high = fermi_level + config.window_kT * K_B_EV_PER_K * temperature_K
    if e_high > top:
        raise ValueError(
            f"energies up to μ_L + {config.window_kT:g} k_BT = {e_high:.4g} eV exceed the lattice band "
            f"top {top:.4g} eV (physics.md §3); refine the grid"
        )
