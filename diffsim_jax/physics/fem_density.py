"""Wavefunctions and the §11 electron density from finite elements (physics.md §14.8–14.9, eqs. 14.10–14.13).

The finite-element QTBM of :mod:`.fem` solves for ψ at the element ends only: each
element's p − 1 interior values are eliminated by static condensation (physics.md eq. 14.5).
This module undoes that elimination and builds the electron density of physics.md eq. 11.2
from the recovered states:

* **Back-substitution** (physics.md eq. 14.10). With the interior Dirichlet modes
  (μ_k, v_k) of :func:`.fem.interior_modes` and P = K_bi V, Q = M_bi V, the interior nodal
  values of element e at energy z follow from its two end values ψ_b (b ∈ {first, last}):

      ψ_i = −Σ_k v_ik c_k/(μ_k − z),   c_k = Σ_b (P_bk − z·Q_bk) ψ_b,

  i.e. ψ_I = −A_ii(z)⁻¹A_ib(z)ψ_b with the same rational expansion the condensation uses,
  valid for real and complex z (μ_k > Re z on every admissible mesh, eq. 14.6).
* **Injection from either contact** (physics.md eq. 14.11): unit incident amplitude from the
  left gives the source −2i·C₀k_L/m_L in the first end value (eq. 14.3); from the right
  the source −2i·C₀k_R/m_R in the last. The lead self-energies are Σ_s = −i·C₀k_s/m_s with
  the principal-branch k_s = √(m_s(z − U_s)/C₀), which is the decaying wave when a lead is
  closed (E < U_s), so the state of the open side is exact there too.
* **Density** (physics.md eq. 14.12, which is eq. 11.2 with ħv_s = 2C₀k_s/m_s of the
  continuum leads):

      n(x) = Σ_{s=L,R} ∫_{U_s}^{E_top} dE |ψ_s(x;E)|²/(4π C₀k_s/m_s) · D₂,s · ln(1 + e^{(μ_s − E)/k_BT}),

  at the quadrature points of the mesh (where :mod:`.fem` samples U and where the Galerkin
  Poisson equation of :mod:`.fem_poisson` needs the charge). The energy integral uses the
  substitution E = U_s + W_sσ², W_s = E_top − U_s, E_top = max μ + window·k_BT, which removes
  the 1/√(E − U_s) band-edge singularity, with composite Gauss–Legendre panels in σ. The
  weights D₂ and the supply function are those of :mod:`.statistics` (the same as the
  finite-difference density, :mod:`.density`).

* **Contour form** (physics.md eq. 14.13, :func:`density_contour_on_mesh`, used by the
  self-consistent solver): as :mod:`.density` (§11.1), the equilibrium part with each point's
  reference contact is the integral of the finite-element G(x, x; z) on a rectangle in the upper
  half plane, the non-equilibrium rest the states of eq. 14.12 above U_L — quasi-bound notch
  states, whose resonances no real-axis grid resolves, are filled exactly (emitter filling).

:func:`electron_density_fem` / :func:`density_on_mesh` are the pure scattering-state density
(eq. 11.2; states below both lead band edges unfilled, notch states filled from the collector).
Units: eV, nm; densities in nm⁻³ inside, cm⁻³ from the public wrapper. jit/vmap/grad-safe in float64.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as val
from ..numerics.quadrature import gauss_legendre_panels
from . import fem
from .constants import CM3_PER_NM3, DEFAULT_M_EFF, HBAR2_OVER_2M0_EV_NM2
from .density import DensityGrid, contour_nodes, place_resonances, range_a_nodes, resonance_starts
from .qtbm import solve_tridiagonal
from .statistics import supply, thermal_energy_eV, transverse_dos_nm2

SIDES = ("left", "right")


# --------------------------------------------------------------------------------------
# Lagrange basis at arbitrary points of the reference element
# --------------------------------------------------------------------------------------
@functools.cache
def _basis_cached(order: int, t: tuple):
    return fem.lagrange_basis(fem.reference_element(order).nodes, 2.0 * np.asarray(t, float) - 1.0)


def lagrange_basis(order: int, fractions):
    """(basis, dbasis) of shape (P, p+1): the GLL Lagrange basis of :func:`.fem.reference_element`
    and its ξ-derivative at the element fractions t = (ξ + 1)/2 ∈ [0, 1] (NumPy, static)."""
    return _basis_cached(int(order), tuple(np.atleast_1d(np.asarray(fractions, float)).tolist()))


def point_fractions(order: int, points) -> np.ndarray:
    """Element fractions of ``points``: "quadrature" (the p + 2 Gauss points of :mod:`.fem`),
    "nodes" (the p + 1 GLL nodes) or an array of fractions in [0, 1]."""
    ref = fem.reference_element(order)
    if isinstance(points, str):
        if points == "quadrature":
            return np.asarray(ref.points)
        if points == "nodes":
            return 0.5 * (ref.nodes + 1.0)
        raise ValueError(f"points must be 'quadrature', 'nodes' or an array of fractions, got {points!r}")
    t = np.atleast_1d(np.asarray(points, float))
    if t.ndim != 1 or np.any(t < 0) or np.any(t > 1):
        raise ValueError("points must be a 1-D array of element fractions in [0, 1]")
    return t


# --------------------------------------------------------------------------------------
# Scattering states on the whole mesh (physics.md eqs. 14.10–14.11)
# --------------------------------------------------------------------------------------
def lead_self_energy(z, u_lead, m_lead):
    """Σ_s = −i·C₀k_s/m_s (eV·nm), k_s = √(m_s(z − U_s)/C₀) on the principal branch (eq. 14.11).

    Outgoing for E > U_s, decaying for E < U_s and for Im z > 0 (retarded)."""
    k = jnp.sqrt((m_lead / HBAR2_OVER_2M0_EV_NM2) * (z - u_lead) + 0j)
    return -1j * HBAR2_OVER_2M0_EV_NM2 * k / m_lead


def element_states(nodes, u_q, c_q, leads, energies, order: int, side: str = "left"):
    """ψ at every element's p + 1 GLL nodes, (M, n_el, p+1) complex, for unit injection from ``side``.

    Real ``energies`` (M,) at which the injecting lead is open (E > U_side). The element-end
    values come from the Thomas solve of the condensed system (physics.md eq. 14.5,
    :func:`.qtbm.solve_tridiagonal`) with the source of eq. 14.11; the interior values from
    the back-substitution of eq. 14.10. No validation; jit/vmap/grad-safe.
    """
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    p = int(order)
    k_el, m_el = fem.element_matrices(nodes, u_q, c_q, p)
    diag, off = fem.condensed(k_el, m_el, nodes, energies)
    u_l, u_r, m_l, m_r = leads
    sigma_l = lead_self_energy(energies, u_l, m_l)
    sigma_r = lead_self_energy(energies, u_r, m_r)
    flux_in = -jnp.imag(sigma_l if side == "left" else sigma_r)  # C₀k_s/m_s of the injecting lead
    at = 0 if side == "left" else -1

    def one(d, o, sl, sr, fin):
        dc = d.astype(jnp.complex128).at[0].add(sl).at[-1].add(sr)
        rhs = jnp.zeros(d.shape, jnp.complex128).at[at].set(-2j * fin)
        return solve_tridiagonal(dc, o.astype(jnp.complex128), rhs)

    ends = jax.vmap(one, in_axes=(1, 1, 0, 0, 0))(diag, off, sigma_l, sigma_r, flux_in)  # (M, N)
    return with_interior(ends, k_el, m_el, nodes, energies, p)


def with_interior(ends, k_el, m_el, nodes, energies, order: int):
    """Element nodal values (M, n_el, p+1) from end values ``ends`` (M, n_el+1) (eq. 14.10, back-substitution)."""
    p = int(order)
    a, b = ends[:, :-1], ends[:, 1:]
    if p == 1:
        return jnp.stack([a, b], axis=-1)
    mu, v = fem.interior_modes(k_el, nodes, p)
    idx = np.array([0, p])
    pk = jnp.einsum("ebi,eik->ebk", k_el[:, idx][:, :, 1:p], v)  # (n_el, 2, p−1)
    qk = jnp.einsum("ebi,eik->ebk", m_el[:, idx][:, :, 1:p], v)
    z = energies[:, None, None]  # (M, 1, 1)
    ck = (pk[None, :, 0] - z * qk[None, :, 0]) * a[..., None] + (pk[None, :, 1] - z * qk[None, :, 1]) * b[..., None]
    coef = ck / (mu[None] - z)  # (M, n_el, p−1)
    interior = -jnp.einsum("eik,mek->mei", v, coef)
    return jnp.concatenate([a[..., None], interior, b[..., None]], axis=-1)


def evaluate(nodal, nodes, order: int, fractions):
    """(ψ, dψ/dx) at the element fractions ``fractions`` (P,) of every element: shapes (..., n_el, P)."""
    basis, dbasis = lagrange_basis(order, fractions)
    h = nodes[1:] - nodes[:-1]
    psi = jnp.einsum("...ei,pi->...ep", nodal, basis)
    dpsi = jnp.einsum("...ei,pi->...ep", nodal, dbasis) * (2.0 / h)[:, None]
    return psi, dpsi


def positions(nodes, fractions):
    """(n_el, P) positions (nm) of the element fractions ``fractions`` on element ends ``nodes``."""
    t = jnp.asarray(fractions)
    return nodes[:-1, None] * (1.0 - t) + nodes[1:, None] * t


class FemStates(NamedTuple):
    """Scattering states of the finite-element QTBM (physics.md §14.8).

    Attributes:
      x_nm: (n_el, P) positions of the sample points.
      psi: (M, n_el, P) ψ (unit amplitude incident from ``side``).
      dpsi: (M, n_el, P) dψ/dx in nm⁻¹.
      nodal: (M, n_el, p+1) values at the GLL nodes of each element (ends included).
      flux: (M, n_el, P) probability current (C₀/m)·Im(ψ*ψ′) in eV·nm at the sample points;
        the incident wave carries C₀k_s/m_s, so flux = T·C₀k_s/m_s (eq. 14.11).
      incident_flux: (M,) C₀k_s/m_s of the injecting lead.
      transmission: (M,) T from the outgoing end value, (k_out/m_out)/(k_in/m_in)·|ψ_out|².
      mesh: the :class:`.fem.FemMesh`.
    """

    x_nm: jax.Array
    psi: jax.Array
    dpsi: jax.Array
    nodal: jax.Array
    flux: jax.Array
    incident_flux: jax.Array
    transmission: jax.Array
    mesh: fem.FemMesh


def fem_wavefunctions(potential, energies, length_nm, m_eff=DEFAULT_M_EFF, order=3, n_elements=None, breakpoints_nm=(), *,
                      side="left", points="quadrature", mesh=None, tol=fem.DEFAULT_TOL) -> FemStates:
    """ψ(x) of the finite-element QTBM inside every element (physics.md eqs. 14.10–14.11).

    Arguments as :func:`.fem.transmission_fem`; ``side`` the injecting contact ("left" or
    "right"), whose lead must propagate at every energy; ``points`` where ψ is returned:
    "quadrature" (the Gauss points where U, m and the density live), "nodes" (the GLL nodes)
    or an array of element fractions in [0, 1].
    """
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    prob = fem.prepare(potential, energies, length_nm, m_eff, order, n_elements, breakpoints_nm, mesh=mesh, tol=tol)
    frac = point_fractions(prob.order, points)
    u_l, u_r, m_l, m_r = prob.leads
    u_in = u_l if side == "left" else u_r
    if val.is_concrete((prob.energies, u_in)) and np.any(np.asarray(prob.energies) <= float(u_in)):
        raise ValueError(f"energies must lie above the {side} lead's band edge {float(u_in):.6g} eV (the injecting lead must propagate)")
    nodal = _states_jit(prob.nodes, prob.u_q, prob.c_q, prob.leads, prob.energies, order=prob.order, side=side)
    psi, dpsi = evaluate(nodal, prob.nodes, prob.order, frac)
    xs = positions(prob.nodes, frac)
    c_x = _mass_factor(m_eff, xs)
    flux = c_x * jnp.imag(jnp.conj(psi) * dpsi)
    e = prob.energies
    s_l, s_r = -jnp.imag(lead_self_energy(e, u_l, m_l)), -jnp.imag(lead_self_energy(e, u_r, m_r))
    f_in, f_out = (s_l, s_r) if side == "left" else (s_r, s_l)
    psi_out = nodal[:, -1, -1] if side == "left" else nodal[:, 0, 0]
    trans = f_out / f_in * jnp.abs(psi_out) ** 2
    return FemStates(xs, psi, dpsi, nodal, flux, f_in, trans, prob.mesh)


def _mass_factor(m_eff, xs):
    """C₀/m at the sample points (nm) from the mass (a constant or a callable of x)."""
    if callable(m_eff):
        return HBAR2_OVER_2M0_EV_NM2 / jnp.asarray(m_eff(xs))
    return HBAR2_OVER_2M0_EV_NM2 / jnp.asarray(m_eff, jnp.float64)


_states_jit = jax.jit(element_states, static_argnames=("order", "side"))


# --------------------------------------------------------------------------------------
# Density (physics.md eq. 14.12)
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FemDensityConfig:
    """Energy quadrature of the finite-element density (physics.md eq. 14.12). Static.

    Attributes:
      n_panels: equal Gauss–Legendre panels in σ ∈ [0, 1] (E = U_s + W_sσ²) per contact.
      nodes_per_panel: Gauss–Legendre nodes per panel.
      window_kT: the integral ends at E_top = max(μ_L, μ_R) + window_kT·k_BT (the supply
        there is e^{−window_kT} of its value at μ).
      contour_height_kT, contour_panels, contour_nodes_per_panel, contour_mu_offsets,
        floor_margin_eV: the equilibrium contour of :func:`density_contour_on_mesh` (height
        below πk_BT; panels on the long side; breaks at μ + offset·k_BT; the floor this far
        below min U), as in :class:`.density.DensityConfig`.
      n_resonances, resonance_share, resonance_width_factor: the resonance-adapted real-axis
        coordinate of a :class:`.density.DensityGrid` (:func:`update_resonances_fem`), as in
        :class:`.density.DensityConfig`.
    """

    n_panels: int = 24
    nodes_per_panel: int = 8
    window_kT: float = 40.0
    contour_height_kT: float = 2.0
    contour_panels: int = 8
    contour_nodes_per_panel: int = 8
    contour_mu_offsets: tuple = (-6.0, -3.0, -1.5, 0.0, 1.5, 3.0, 6.0)
    floor_margin_eV: float = 0.1
    n_resonances: int = 2
    resonance_share: float = 0.3
    resonance_width_factor: float = 1.0

    def __post_init__(self):
        if not (isinstance(self.n_resonances, int) and self.n_resonances >= 0):
            raise ValueError(f"n_resonances must be an integer >= 0, got {self.n_resonances!r}")
        if not 0.0 <= self.resonance_share < 1.0:
            raise ValueError(f"resonance_share must lie in [0, 1), got {self.resonance_share!r}")
        if not (isinstance(self.n_panels, int) and self.n_panels >= 1):
            raise ValueError(f"n_panels must be an integer >= 1, got {self.n_panels!r}")
        if not (isinstance(self.nodes_per_panel, int) and self.nodes_per_panel >= 2):
            raise ValueError(f"nodes_per_panel must be an integer >= 2, got {self.nodes_per_panel!r}")
        if not self.window_kT > 0:
            raise ValueError(f"window_kT must be > 0, got {self.window_kT!r}")
        if not 0.0 < self.contour_height_kT < math.pi:
            raise ValueError(f"contour_height_kT must lie in (0, π) (branch points of the supply at iπk_BT), got {self.contour_height_kT!r}")


def injection_grid(u_lead, e_top, config: FemDensityConfig):
    """(E (M,), dE weights (M,)): E = U_s + Wσ², W = e_top − U_s, composite Gauss–Legendre in σ (eq. 14.12)."""
    sigma, w = gauss_legendre_panels(config.n_panels * config.nodes_per_panel, config.nodes_per_panel)
    width = e_top - u_lead
    return u_lead + width * sigma**2, 2.0 * width * sigma * w


def real_axis_nodes(u_lead, e_top, config: FemDensityConfig, grid: DensityGrid | None = None):
    """(E, dE weights) of the real-axis integral from U_s to E_top: :func:`injection_grid`, or the
    nodes of ``grid`` (:func:`.density.range_a_nodes`; with no resonance shares and uniform panels
    the same √-panels)."""
    if grid is None:
        return injection_grid(u_lead, e_top, config)
    energies, w, _ = range_a_nodes(grid, u_lead, e_top, config)
    return energies, w


def pole_step_on_mesh(nodes, u_q, c_q, leads, energies, order: int):
    """One real-axis Newton step z = E − s(E)/s′(E) towards the zeros of s = 1/G_{N,0} (physics.md §14.9).

    The finite-element sibling of :func:`.energy_grid.pole_step`: G_{N,0}(E) is the corner of the
    condensed end-value system (eq. 14.5) with the continuum lead self-energies, s′ a forward-mode
    JVP in E (through the condensation's rational functions and the Thomas solve). Poles
    z = E_r − iΓ/2 of the transmission place the resonance-adapted energy nodes; no gradient flows.
    """
    sg = jax.lax.stop_gradient
    nodes, u_q, c_q, energies = sg(nodes), sg(u_q), sg(c_q), sg(energies)
    leads = tuple(sg(v) for v in leads)
    p = int(order)
    k_el, m_el = fem.element_matrices(nodes, u_q, c_q, p)
    u_l, u_r, m_l, m_r = leads

    def s_of(e):
        diag, off = fem.condensed(k_el, m_el, nodes, e)
        sigma_l, sigma_r = lead_self_energy(e, u_l, m_l), lead_self_energy(e, u_r, m_r)

        def corner(d, o, sl, sr):
            dc = d.astype(jnp.complex128).at[0].add(sl).at[-1].add(sr)
            return solve_tridiagonal(dc, o.astype(jnp.complex128), jnp.zeros(d.shape, jnp.complex128).at[0].set(1.0))[-1]

        return 1.0 / jax.vmap(corner, in_axes=(1, 1, 0, 0))(diag, off, sigma_l, sigma_r)

    s, ds = jax.jvp(s_of, (energies,), (jnp.ones_like(energies),))
    ok = jnp.isfinite(s) & jnp.isfinite(ds) & (jnp.abs(ds) > 1e-300)
    return jnp.where(ok, energies - s / jnp.where(ok, ds, 1.0), jnp.nan + 0j)


def update_resonances_fem(grid: DensityGrid, nodes, u_q, c_q, leads, mu_left, mu_right, kT, order: int,
                          config: FemDensityConfig):
    """Re-locate the narrow resonances of the finite-element device and put them into ``grid``'s coordinate.

    As :func:`.density.update_resonances` (two Newton steps from the grid's resonances and every
    other real-axis node, then :func:`.density.place_resonances`), with the poles of the
    finite-element G (:func:`pole_step_on_mesh`); the R picked poles are then polished by three
    more Newton steps (kept where they move by less than their width Γ), so E_r and Γ are those
    of the pole to ~1e-9 eV rather than the two-step estimates. Under ``stop_gradient``.
    """
    if config.n_resonances == 0:
        return grid
    sg = jax.lax.stop_gradient
    e_low = sg(leads[0])
    e_high = sg(jnp.maximum(mu_left, mu_right) + config.window_kT * kT)
    lo, hi = e_low + 1e-9 * (e_high - e_low), e_high - 1e-9 * (e_high - e_low)
    mus = (sg(mu_left), sg(mu_right), sg(kT))

    def steps(z, n):
        for _ in range(n):
            z = pole_step_on_mesh(nodes, u_q, c_q, leads, jnp.clip(jnp.nan_to_num(jnp.real(z)), lo, hi), order)
        return z

    z = steps(resonance_starts(grid, e_low, e_high, config), 2)
    picked = place_resonances(grid, z, e_low, e_high, *mus, config)
    # polish the picked poles (3 more Newton steps; kept where they stay within their width)
    z0 = e_low + (e_high - e_low) * (picked.res_x - 1j * picked.res_g / config.resonance_width_factor)
    z1 = steps(z0, 3)
    z1 = jnp.where(jnp.abs(z1 - z0) < -2.0 * jnp.imag(z0), z1, z0)
    return place_resonances(grid, jnp.where(picked.res_share > 0.0, z1, jnp.nan + 0j), e_low, e_high, *mus, config)


def density_on_mesh(nodes, u_q, c_q, leads, mu_left, mu_right, kT, order: int, config: FemDensityConfig = FemDensityConfig(),
                    fractions=None):
    """n (nm⁻³) at the element fractions ``fractions`` (default: the quadrature points), shape (n_el, P).

    Physics.md eq. 14.12 (eq. 11.2 with the continuum lead velocity): each contact s injects
    states with unit amplitude for E > U_s, weighted by D₂,s·S(E; μ_s)/(4πC₀k_s/m_s).
    Pure scattering states (the ``notch_filling="collector"`` model of physics.md §11.1); for the
    emitter filling and quasi-bound states use :func:`density_contour_on_mesh`. No validation;
    jit/vmap/grad-safe in every array argument.
    """
    p = int(order)
    frac = fem.reference_element(p).points if fractions is None else fractions
    u_l, u_r, m_l, m_r = leads
    e_top = jnp.maximum(mu_left, mu_right) + config.window_kT * kT
    total = 0.0
    for side, u_s, m_s, mu_s in (("left", u_l, m_l, mu_left), ("right", u_r, m_r, mu_right)):
        energies, w = injection_grid(u_s, e_top, config)
        nodal = element_states(nodes, u_q, c_q, leads, energies, p, side)
        psi, _ = evaluate(nodal, nodes, p, frac)
        density = jnp.real(psi) ** 2 + jnp.imag(psi) ** 2
        flux = -jnp.imag(lead_self_energy(energies, u_s, m_s))  # C₀k_s/m_s, > 0 on the grid
        weight = w * transverse_dos_nm2(m_s, kT) * supply(energies, mu_s, kT) / (4.0 * math.pi * flux)
        part = jnp.einsum("m,mep->ep", weight, density)
        total = total + part
    return total


# --------------------------------------------------------------------------------------
# Equilibrium part on a complex contour (physics.md eq. 14.13)
# --------------------------------------------------------------------------------------
def green_diagonal(nodes, u_q, c_q, leads, z, order: int, fractions):
    """G(x, x; z) = ℓ(x)ᵀ A(z)⁻¹ ℓ(x) (1/(eV·nm)) at the element fractions, shape (M, n_el, P) (eq. 14.13).

    A(z) = K − zM + Σ_L + Σ_R is the finite-element matrix (eqs. 14.1–14.3, retarded leads for
    Im z > 0). The end-value block comes from two Thomas solves of the condensed system,
    g⁰ = A♭⁻¹e₀ and gᴺ = A♭⁻¹e_N, as G_jk = gᴺ_j g⁰_k/g⁰_N (j ≤ k, the Wronskian form of §3.5);
    the interior from the condensation: with R = −A_ii⁻¹A_ib (eq. 14.10),
    G(x, x) = wᵀG_bb w + Σ_k (ℓ_Iᵀv_k)²/(μ_k − z), w = ℓ_b + Rᵀℓ_I.
    """
    p = int(order)
    k_el, m_el = fem.element_matrices(nodes, u_q, c_q, p)
    diag, off = fem.condensed(k_el, m_el, nodes, z)
    u_l, u_r, m_l, m_r = leads
    sigma_l, sigma_r = lead_self_energy(z, u_l, m_l), lead_self_energy(z, u_r, m_r)

    def cols(d, o, sl, sr):
        dc = d.astype(jnp.complex128).at[0].add(sl).at[-1].add(sr)
        unit = jnp.zeros(d.shape, jnp.complex128)
        solve = lambda rhs: solve_tridiagonal(dc, o.astype(jnp.complex128), rhs)
        return solve(unit.at[0].set(1.0)), solve(unit.at[-1].set(1.0))

    g0, gn = jax.vmap(cols, in_axes=(1, 1, 0, 0))(diag, off, sigma_l, sigma_r)  # (M, N)
    inv = 1.0 / g0[:, -1:]
    g_aa = gn[:, :-1] * g0[:, :-1] * inv
    g_ab = gn[:, :-1] * g0[:, 1:] * inv
    g_bb = gn[:, 1:] * g0[:, 1:] * inv
    basis, _ = lagrange_basis(p, fractions)
    la, lb = basis[:, 0], basis[:, p]
    if p == 1:
        wa, wb = jnp.asarray(la)[None, None, :], jnp.asarray(lb)[None, None, :]
        extra = 0.0
    else:
        mu, v = fem.interior_modes(k_el, nodes, p)
        idx = np.array([0, p])
        pk = jnp.einsum("ebi,eik->ebk", k_el[:, idx][:, :, 1:p], v)
        qk = jnp.einsum("ebi,eik->ebk", m_el[:, idx][:, :, 1:p], v)
        zz = z[:, None, None]
        denom = mu[None] - zz  # (M, n_el, p−1)
        lv = jnp.einsum("pi,eik->epk", jnp.asarray(basis[:, 1:p]), v)  # (n_el, P, p−1): ℓ_Iᵀv_k
        ca = (pk[None, :, 0] - zz * qk[None, :, 0]) / denom  # (M, n_el, p−1)
        cb = (pk[None, :, 1] - zz * qk[None, :, 1]) / denom
        wa = la[None, None, :] - jnp.einsum("epk,mek->mep", lv, ca)
        wb = lb[None, None, :] - jnp.einsum("epk,mek->mep", lv, cb)
        extra = jnp.einsum("epk,mek->mep", lv**2, 1.0 / denom)
    return g_aa[..., None] * wa**2 + 2.0 * g_ab[..., None] * wa * wb + g_bb[..., None] * wb**2 + extra


def density_contour_on_mesh(nodes, u_q, c_q, leads, mu_left, mu_right, kT, order: int, emitter_mask,
                            config: FemDensityConfig = None, fractions=None, grid: DensityGrid | None = None):
    """n (nm⁻³) at the element fractions (default: quadrature points) with the equilibrium part on a contour (eq. 14.13).

    Each point takes a reference contact r (μ_L where ``emitter_mask`` = 1, the emitter side of the
    first barrier; μ_R elsewhere):

        n(x) = (D₂,r/π) Im ∮ G(x, x; z) S(z; μ_r) dz
               + Σ_{E ≥ U_L} w_E [|ψ_L|²/(4πC₀k_L/m_L) (if r = R) or −|ψ_R|²/(4πC₀k_R/m_R) (if r = L)]
                 · (D₂,L S(E; μ_L) − D₂,R S(E; μ_R)),

    i.e. eq. 14.12 for E ≥ U_L and, below U_L, every state — the emitter's quasi-bound notch states
    too, whose resonances no real-axis grid resolves — filled with μ_r (``notch_filling="emitter"``
    of physics.md §11.1). At V = 0 only the contour contributes. The real-axis nodes are those of
    ``grid`` (a :class:`.density.DensityGrid`: √-panels plus the Lorentzian shares of narrow
    resonances, :func:`update_resonances_fem`), by default the plain √-panels of
    :func:`injection_grid`. No validation; jit/grad-safe.
    """
    config = FemDensityConfig() if config is None else config
    p = int(order)
    frac = fem.reference_element(p).points if fractions is None else fractions
    u_l, u_r, m_l, m_r = leads
    e_top = jnp.maximum(mu_left, mu_right) + config.window_kT * kT
    floor = jnp.minimum(jnp.min(jax.lax.stop_gradient(u_q)), jnp.minimum(u_l, u_r)) - config.floor_margin_eV
    d2_l, d2_r = transverse_dos_nm2(m_l, kT), transverse_dos_nm2(m_r, kT)
    z, dz = contour_nodes(floor, e_top, (mu_left, mu_right), kT, config)
    g = green_diagonal(nodes, u_q, c_q, leads, z, p, frac)
    eq_l = jnp.imag(jnp.einsum("m,mep->ep", dz * d2_l * supply(z, mu_left, kT), g)) / math.pi
    eq_r = jnp.imag(jnp.einsum("m,mep->ep", dz * d2_r * supply(z, mu_right, kT), g)) / math.pi
    energies, w = real_axis_nodes(u_l, e_top, config, grid)
    window = w * (d2_l * supply(energies, mu_left, kT) - d2_r * supply(energies, mu_right, kT)) / (4.0 * math.pi)
    neq = []
    for side, u_s, m_s in (("left", u_l, m_l), ("right", u_r, m_r)):
        psi, _ = evaluate(element_states(nodes, u_q, c_q, leads, energies, p, side), nodes, p, frac)
        flux = -jnp.imag(lead_self_energy(energies, u_s, m_s))
        neq.append(jnp.einsum("m,mep->ep", window / flux, jnp.real(psi) ** 2 + jnp.imag(psi) ** 2))
    return emitter_mask * (eq_l - neq[1]) + (1.0 - emitter_mask) * (eq_r + neq[0])


class FemDensity(NamedTuple):
    """Output of :func:`electron_density_fem`.

    Attributes:
      x_nm: (n_el, P) sample positions (the quadrature points by default).
      density_cm3: (n_el, P) electron density in cm⁻³.
      mesh: the :class:`.fem.FemMesh`.
      order: element degree.
    """

    x_nm: jax.Array
    density_cm3: jax.Array
    mesh: fem.FemMesh
    order: int


_density_jit = jax.jit(density_on_mesh, static_argnames=("order", "config", "fractions"))


def electron_density_fem(potential, fermi_level, bias, length_nm, m_eff=DEFAULT_M_EFF, temperature_K=300.0, order=3,
                         n_elements=None, breakpoints_nm=(), *, mesh=None, tol=1e-6,
                         config: FemDensityConfig = FemDensityConfig(), points="quadrature") -> FemDensity:
    """Electron density (cm⁻³) from finite-element scattering states (physics.md eq. 14.12).

    Args:
      potential: U in eV, a constant or a vectorised traceable callable of x (nm), bias drop
        included; the leads continue U(0) and U(L).
      fermi_level: μ_L = E_F (eV); μ_R = E_F − V.
      bias: V in volts.
      length_nm, m_eff, order, n_elements, breakpoints_nm, mesh, tol: as
        :func:`.fem.transmission_fem`; the default mesh is graded (eq. 14.8) for energies from
        min U up to max μ + ``config.window_kT``·k_BT.
      temperature_K: T > 0 in K.
      config: :class:`FemDensityConfig` (energy quadrature).
      points: "quadrature", "nodes" or element fractions (see :func:`fem_wavefunctions`).
    """
    val.check_positive("temperature_K", temperature_K)
    fermi_level = val.as_float_array("fermi_level", fermi_level)
    bias = val.as_float_array("bias", bias)
    val.check_ndim("fermi_level", fermi_level, (0,))
    val.check_ndim("bias", bias, (0,))
    kT = thermal_energy_eV(jnp.asarray(temperature_K, jnp.float64))
    mu_l = jnp.asarray(fermi_level, jnp.float64)
    mu_r = mu_l - bias
    if val.is_concrete((fermi_level, bias, temperature_K, potential, length_nm)):
        # the energy range the mesh must resolve (eq. 14.8) and the resolution check (eq. 14.6) see
        e_top = max(float(mu_l), float(mu_r)) + config.window_kT * float(kT)
        energies = np.array([_lowest(potential, length_nm), e_top])
    elif mesh is None and n_elements is None:
        raise ValueError("the default graded mesh needs concrete potential, fermi_level, bias and temperature_K; pass mesh=")
    else:
        energies = jnp.zeros(1)
    prob = fem.prepare(potential, energies, length_nm, m_eff, order, n_elements, breakpoints_nm, mesh=mesh, tol=tol)
    frac = point_fractions(prob.order, points)
    n = _density_jit(prob.nodes, prob.u_q, prob.c_q, prob.leads, mu_l, mu_r, kT, order=prob.order, config=config,
                     fractions=tuple(frac.tolist()))
    return FemDensity(positions(prob.nodes, frac), n * CM3_PER_NM3, prob.mesh, prob.order)


def _lowest(potential, length_nm):
    """min U on a dense sampling (for the energy range of the default mesh)."""
    if not callable(potential):
        return float(potential)
    x = np.linspace(0.0, float(length_nm), 4097)
    return float(np.min(np.asarray(potential(jnp.asarray(x)))))


__all__ = [
    "FemDensity",
    "FemDensityConfig",
    "FemStates",
    "density_contour_on_mesh",
    "density_on_mesh",
    "electron_density_fem",
    "element_states",
    "evaluate",
    "fem_wavefunctions",
    "green_diagonal",
    "injection_grid",
    "lagrange_basis",
    "lead_self_energy",
    "point_fractions",
    "positions",
    "with_interior",
]
