"""Self-consistent Schrödinger–Poisson on finite elements (physics.md §11, §14.11): the sibling of
:mod:`.selfconsistent` with the Schrödinger solver, the density and the Poisson equation all on one
finite-element mesh whose element ends include every interface of the stack (abrupt band offsets,
masses, permittivities and dopings — no smoothing width).

* Fields per layer k at the quadrature points: ΔE_c(x_k), m*(x_k), ε_r(x_k) (physics.md eq. 9.1)
  and N_k; U = U_band + U_H with U_H at the GLL nodes (:mod:`.physics.fem_poisson`).
* Contacts as in :mod:`.selfconsistent`: μ_L = U_band(0) + k_BT𝓕_{1/2}⁻¹(N_D,L/N_c),
  μ_R = μ_L − V, U_H(0) = 0 and U(L) = μ_R − k_BT𝓕_{1/2}⁻¹(N_D,R/N_c) (both contacts neutral);
  with ``fermi_level_eV`` given, μ_L = fermi_level_eV and U_H(L) = −V.
* Density: physics.md eq. 14.13 (:func:`.physics.fem_density.density_contour_on_mesh`): the
  equilibrium part on a complex contour from the finite-element Green's function, the
  non-equilibrium part from the scattering states of eq. 14.12; by default the states below the
  emitter band edge on the emitter side of the first barrier are filled with μ_L
  (``notch_filling="emitter"``, as :mod:`.physics.density`; the pure scattering model depletes the
  emitter under bias).
* Fixed point (physics.md eq. 11.4) by the predictor–corrector of :mod:`.selfconsistent` in
  Galerkin form (physics.md eq. 14.15): the nonlinear Poisson equation with the local response
  ñ_q(U) = n^k_q𝓕(η_q − (U_q − U^k_q)/k_BT)/𝓕(η_q) at every quadrature point is solved by
  Newton steps whose Jacobian K + (q²/ε₀)∫(−∂ñ/∂U)ℓ_iℓ_j is symmetric positive definite and
  element-local (condensed and solved as the linear Poisson equation), accelerated by the
  project's Anderson mixing (:mod:`.numerics.anderson`) on the global node values of U_H.
  Convergence: max|F(U) − U| < ``tol_eV`` at the GLL nodes, F the plain map U_band + U_H[n[U]].

Gradients (physics.md eqs. 11.5, 14.15a) by the implicit function theorem, never by unrolling: the
outputs (U_H at the nodes, n at the quadrature points, J) come from :func:`fem_solution_outputs`, a
``custom_vjp`` at the converged U_H*. Its backward pass solves the adjoint of the Galerkin residual
R(U_H, n, θ) = K U_H + load((q²/ε₀)(N_D − n)) (Dirichlet rows removed) together with n = ρ(U_H, θ)
(:func:`fem_adjoint_solve`: eliminating the density's adjoint gives 𝒥ᵀλ = ū, 𝒥 the Jacobian of
:func:`galerkin_residual`) by restarted GMRES (:mod:`.numerics.gmres`), matrix-free with (∂ρ/∂U)ᵀ
from ``jax.vjp`` of the density at fixed θ, right-preconditioned by the predictor's element-local
Jacobian of eq. 14.15; then θ̄ in one reverse pass. θ is the :class:`FemPoint`: the element ends
(which move with the thicknesses, eq. 14.7 — the mesh topology is static), the layer fields at the
quadrature points, the lead values, μ_L, μ_R and the Dirichlet values, so ``jax.grad`` reaches the
stack's thicknesses, Al fractions and dopings through :func:`solve_self_consistent_fem` (eagerly).

Bias sweeps with continuation and branch keeping: :func:`.selfconsistent.self_consistent_iv` with a
:class:`FemSolverConfig`.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import validation as val
from ..numerics.anderson import anderson_init, anderson_step
from ..numerics.gmres import gmres
from ..physics import fem
from ..physics.constants import (
    CM3_PER_NM3,
    HBAR2_OVER_2M0_EV_NM2,
    K_B_EV_PER_K,
    RICHARDSON_A_PER_CM2_K2,
)
from ..physics.density import initial_grid
from ..physics.fem_density import (
    FemDensityConfig,
    density_contour_on_mesh,
    real_axis_nodes,
    update_resonances_fem,
)
from ..physics.fem_poisson import load_vectors, solve_dirichlet, stiffness_matrices
from ..physics.layers import BARRIER_THRESHOLD, Stack, check_stack
from ..physics.materials import ALGAAS
from ..physics.poisson import NM3_PER_CM3, Q2_OVER_EPS0_EV_NM
from ..physics.statistics import (
    effective_density_of_states_cm3,
    fermi_dirac_half_fast,
    inverse_fermi_dirac_half,
    inverse_fermi_dirac_half_fast,
    supply,
    thermal_energy_eV,
)


@dataclasses.dataclass(frozen=True)
class FemSolverConfig:
    """Static settings of the finite-element self-consistent solver (physics.md §14.11).

    Attributes:
      order: element degree p.
      tol: target |ΔT| of the graded mesh (physics.md eq. 14.8) over the energies the density needs.
      tol_eV: convergence when max|F(U) − U| < tol_eV (physics.md eq. 11.4).
      max_iterations: outer iterations before giving up.
      newton_steps: Newton steps of the predictor's nonlinear Poisson solve per iteration.
      anderson_depth: Anderson history m (0: plain predictor).
      density: :class:`.fem_density.FemDensityConfig` (64 real-axis panels; the narrow resonances get
        their own share of the nodes, :func:`.fem_density.update_resonances_fem`). Measured on the
        self-consistent J(V) up sweeps (13 biases, 0–0.6 V) of the Fig. 8 RTD and of the bistable RTD
        of Fig. 9: 64 panels within 2e-7 of 128 (32 panels: 5e-6; 24 panels: 9e-3 and more iterations).
      adapt_until_eV, max_adapt_steps: the resonances of the real-axis grid are re-located at every
        iteration while the residual exceeds ``adapt_until_eV`` (and for at most ``max_adapt_steps``
        iterations), then the grid is frozen, so the converged U_H is the fixed point of one
        quadrature (as :class:`.selfconsistent.SolverConfig`).
      notch_filling: "emitter" (states below the emitter band edge on the emitter side of the first
        barrier filled with μ_L, as the default of :mod:`.physics.density`) or "collector" (pure
        scattering states).
      on_failure: "raise" (``NotConvergedError``) or "warn" (a ``RuntimeWarning`` and the
        unconverged result, ``converged=False``), as :class:`.selfconsistent.SolverConfig`.
      gmres_tol: relative residual of the adjoint GMRES solve (physics.md eq. 14.15a).
      gmres_restart, gmres_maxiter: its Krylov dimension and number of restarts.
    """

    order: int = 3
    tol: float = 1e-6
    tol_eV: float = 1e-6
    max_iterations: int = 60
    newton_steps: int = 8
    anderson_depth: int = 4
    density: FemDensityConfig = FemDensityConfig(n_panels=64)
    notch_filling: str = "emitter"
    on_failure: str = "raise"
    gmres_tol: float = 1e-10
    gmres_restart: int = 30
    gmres_maxiter: int = 6
    adapt_until_eV: float = 1e-4
    max_adapt_steps: int = 30

    def __post_init__(self):
        if self.on_failure not in ("raise", "warn"):
            raise ValueError(f"on_failure must be 'raise' or 'warn', got {self.on_failure!r}")
        if self.notch_filling not in ("emitter", "collector"):
            raise ValueError(f"notch_filling must be 'emitter' or 'collector', got {self.notch_filling!r}")
        if self.order not in fem.SUPPORTED_ORDERS:
            raise ValueError(f"order must be one of {fem.SUPPORTED_ORDERS}, got {self.order!r}")
        if not (isinstance(self.max_adapt_steps, int) and self.max_adapt_steps >= 0):
            raise ValueError(f"max_adapt_steps must be an integer >= 0, got {self.max_adapt_steps!r}")
        for name in ("tol", "tol_eV", "gmres_tol", "adapt_until_eV"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(f"max_iterations must be an integer >= 1, got {self.max_iterations!r}")
        for name in ("gmres_restart", "gmres_maxiter"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")


class FemPoint(NamedTuple):
    """Inputs of the fixed point at one bias on the mesh (a pytree of arrays)."""

    nodes: jax.Array  # (n_el + 1,) element ends
    band_q: jax.Array  # (n_el, q) U_band at the quadrature points
    c_q: jax.Array  # (n_el, q) C₀/m
    eps_q: jax.Array
    doping_q: jax.Array  # nm⁻³
    nc_q: jax.Array  # N_c (nm⁻³) of the local mass
    mass_ends: jax.Array  # (2,) m(0), m(L)
    band_ends: jax.Array  # (2,) U_band(0), U_band(L)
    mu_left: jax.Array
    mu_right: jax.Array
    uh_left: jax.Array  # U_H(0)
    uh_right: jax.Array  # U_H(L)
    kT: jax.Array
    emitter_mask: jax.Array  # (n_el, q) 1.0 left of the first barrier's centre (notch_filling="emitter"), else 0
    grid: Any = None  # the real-axis DensityGrid (None: plain √-panels); frozen, never differentiated


def layer_fields(stack: Stack, x, materials=ALGAAS):
    """(U_band, m, ε_r, N_D in cm⁻³) of the layer containing each x (abrupt; x off the interfaces)."""
    k = jnp.sum(x[..., None] > stack.interfaces_nm, axis=-1)
    al = stack.al_fraction[k]
    return materials.band_edge_eV(al), materials.mass(al), materials.eps_r(al), stack.doping_cm3[k]


def stack_mesh(stack: Stack, bias_V: float, temperature_K: float, config: FemSolverConfig, fermi_level_eV=None,
               materials=ALGAAS) -> fem.FemMesh:
    """Graded mesh (physics.md eq. 14.8) for energies from min U_band − V to max μ + window·k_BT + V."""
    kT = float(thermal_energy_eV(temperature_K))
    mu = _mu_left(stack, kT, temperature_K, fermi_level_eV, materials)
    band = materials.band_edge_eV(stack.al_fraction)
    energies = np.array([float(np.min(band)) - abs(bias_V), float(mu) + config.density.window_kT * kT + abs(bias_V)])

    def u(x):
        return layer_fields(stack, x, materials)[0]

    def m(x):
        return layer_fields(stack, x, materials)[1]

    return fem.graded_mesh(u, m, energies, float(stack.length_nm), np.asarray(stack.interfaces_nm), config.order, config.tol)


def _mu_left(stack, kT, temperature_K, fermi_level_eV, materials):
    if fermi_level_eV is not None:
        return jnp.asarray(fermi_level_eV, jnp.float64)
    eta = inverse_fermi_dirac_half(stack.doping_cm3[0] / effective_density_of_states_cm3(materials.mass(stack.al_fraction[0]), temperature_K))
    return materials.band_edge_eV(stack.al_fraction[0]) + kT * eta


def point_inputs_fem(stack: Stack, bias, temperature_K, mesh: fem.FemMesh, order: int, fermi_level_eV=None,
                     materials=ALGAAS, notch_filling: str = "emitter") -> FemPoint:
    """:class:`FemPoint` of ``stack`` at ``bias`` on ``mesh`` (element ends follow the interfaces, eq. 14.7).

    Compiled once per (mesh, order, materials, notch_filling): eagerly, the contact Fermi levels'
    𝓕_{1/2}⁻¹ (a ``scan``) would be traced anew at every bias of a sweep (0.5 s each)."""
    return _point_inputs_jit(stack, bias, temperature_K, mesh, order, fermi_level_eV, materials, notch_filling)


@partial(jax.jit, static_argnames=("mesh", "order", "materials", "notch_filling"))
def _point_inputs_jit(stack: Stack, bias, temperature_K, mesh: fem.FemMesh, order: int, fermi_level_eV, materials,
                      notch_filling: str) -> FemPoint:
    kT = thermal_energy_eV(jnp.asarray(temperature_K, jnp.float64))
    nodes = fem.mesh_nodes(mesh, stack.length_nm, stack.interfaces_nm)
    xq = fem.quadrature_points(nodes, order)
    band_q, m_q, eps_q, dop_q = layer_fields(stack, xq, materials)
    al_l, al_r = stack.al_fraction[0], stack.al_fraction[-1]
    band_ends = jnp.stack([materials.band_edge_eV(al_l), materials.band_edge_eV(al_r)])
    mass_ends = jnp.stack([materials.mass(al_l), materials.mass(al_r)])
    mu_left = _mu_left(stack, kT, temperature_K, fermi_level_eV, materials)
    mu_right = mu_left - bias
    if fermi_level_eV is None:
        eta_r = inverse_fermi_dirac_half(stack.doping_cm3[-1] / effective_density_of_states_cm3(mass_ends[1], temperature_K))
        uh_right = mu_right - kT * eta_r - band_ends[1]
    else:
        uh_right = -jnp.asarray(bias, jnp.float64)
    nc_q = effective_density_of_states_cm3(m_q, temperature_K) * NM3_PER_CM3
    mask = emitter_mask_fem(stack, mesh, order) if notch_filling == "emitter" else jnp.zeros(xq.shape)
    return FemPoint(nodes, band_q, HBAR2_OVER_2M0_EV_NM2 / m_q, eps_q, dop_q * NM3_PER_CM3, nc_q, mass_ends, band_ends,
                    mu_left, mu_right, jnp.zeros(()), uh_right, kT, mask)


def emitter_mask_fem(stack: Stack, mesh: fem.FemMesh, order: int):
    """(n_el, q) 1.0 at the quadrature points left of the first barrier's centre, else 0 (physics.md §11.1).

    The side is decided on the mesh topology, not on positions: a quadrature point's fraction of
    its layer is fixed by the mesh (eq. 14.7), so the mask is the same for every thickness and a point
    at the centre itself (the middle Gauss point of a barrier with an odd number of elements and
    odd p) cannot flip with round-off as the thicknesses move. Same barrier rule as
    :func:`.layers.first_barrier_centre_nm` (no barrier: all 0).
    """
    t = fem.reference_element(order).points
    seg = mesh.segment[:-1]
    f_end = np.where(mesh.segment[1:] == seg, mesh.fraction[1:], 1.0)  # an element ending on an interface
    frac_q = mesh.fraction[:-1, None] * (1.0 - t) + f_end[:, None] * t
    is_barrier = jax.lax.stop_gradient(stack.al_fraction) > BARRIER_THRESHOLD
    k = jnp.where(jnp.any(is_barrier), jnp.argmax(is_barrier), -1)
    seg_q = seg[:, None]
    return ((seg_q < k) | ((seg_q == k) & (frac_q < 0.5))).astype(jnp.float64)


def _scatter_index(n_el: int, p: int):
    return np.arange(n_el)[:, None] * p + np.arange(p + 1)[None, :]


def _assemble(values_el, n_el, p):
    """Global vector from element vectors (sums shared ends)."""
    return jnp.zeros(n_el * p + 1).at[_scatter_index(n_el, p)].add(values_el)


def _leads(pt: FemPoint):
    """(U_L, U_R, m_L, m_R) of the leads: the band edges plus the Dirichlet U_H at 0 and L."""
    return pt.band_ends[0] + pt.uh_left, pt.band_ends[1] + pt.uh_right, pt.mass_ends[0], pt.mass_ends[1]


@partial(jax.jit, static_argnames=("order", "cfg"))
def locate_resonances_fem(uh_glob, pt: FemPoint, order: int, cfg: FemDensityConfig):
    """``pt.grid`` with the narrow resonances of the potential U_band + U_H re-located (physics.md §14.9)."""
    u_q = pt.band_q + _hartree_q(uh_glob, order)
    return update_resonances_fem(pt.grid, pt.nodes, u_q, pt.c_q, _leads(pt), pt.mu_left, pt.mu_right, pt.kT, order, cfg)


def _density(uh_glob, pt: FemPoint, order: int, cfg: FemDensityConfig):
    n_el = pt.nodes.shape[0] - 1
    ref = fem.reference_element(order)
    uh_q = uh_glob[_scatter_index(n_el, order)] @ jnp.asarray(ref.basis).T  # (n_el, q)
    leads = _leads(pt)
    return density_contour_on_mesh(pt.nodes, pt.band_q + uh_q, pt.c_q, leads, pt.mu_left, pt.mu_right, pt.kT, order,
                                   pt.emitter_mask, cfg, grid=pt.grid), uh_q


def _global(nodal):
    """Global node values from (n_el, p+1) nodal values."""
    p = nodal.shape[1] - 1
    return jnp.concatenate([nodal[:, :p].reshape(-1), nodal[-1:, p]])


def _embed(u_int, pt: FemPoint):
    """Global node vector from the interior values and the Dirichlet ends U_H(0), U_H(L)."""
    return jnp.concatenate([jnp.atleast_1d(pt.uh_left), u_int, jnp.atleast_1d(pt.uh_right)])


def _local_response(n_q, pt: FemPoint):
    """(η_q, scale_q) of the predictor's local response ñ_q(U) = scale_q𝓕(η_q − (U_q − U⁰_q)/k_BT) (§11.1)."""
    n_safe = jnp.maximum(n_q, 1e-14 * pt.nc_q)
    eta = inverse_fermi_dirac_half_fast(n_safe / pt.nc_q)
    return eta, n_safe / fermi_dirac_half_fast(eta)


def _response_slope(arg, scale, kT):
    """(ñ, −dñ/dU ≥ 0) at ``arg`` = η − (U − U⁰)/k_BT."""
    n_tilde, der = jax.jvp(fermi_dirac_half_fast, (arg,), (jnp.ones_like(arg),))
    return scale * n_tilde, scale * der / kT


def _predictor_jacobians(k_el, slope, nodes, order: int):
    """(n_el, p+1, p+1) element Jacobians K + (q²/ε₀)(h/2)Σ_q w_q(−∂ñ/∂U)_q ℓ_iℓ_j (physics.md eq. 14.15)."""
    ref = fem.reference_element(order)
    wbb = jnp.asarray(np.einsum("q,qi,qj->qij", ref.weights, ref.basis, ref.basis))
    h = nodes[1:] - nodes[:-1]
    return k_el + jnp.einsum("eq,qij->eij", Q2_OVER_EPS0_EV_NM * slope, wbb) * (0.5 * h)[:, None, None]


def _residual_from_density(u_glob, n_q, pt: FemPoint, order: int):
    """Interior rows of R = K U_H + load((q²/ε₀)(N_D − n)) (eV/nm; physics.md eqs. 14.14, 14.15a)."""
    n_el = pt.nodes.shape[0] - 1
    k_el = stiffness_matrices(pt.nodes, pt.eps_q, order)
    res_el = jnp.einsum("eij,ej->ei", k_el, u_glob[_scatter_index(n_el, order)])
    res_el = res_el + load_vectors(pt.nodes, Q2_OVER_EPS0_EV_NM * (pt.doping_q - n_q), order)
    return _assemble(res_el, n_el, order)[1:-1]


def galerkin_residual(u_int, pt: FemPoint, order: int, cfg: FemDensityConfig):
    """R(U_H, ρ(U_H, θ), θ) of physics.md eq. 14.15a at the interior nodes (eV/nm): zero at the self-consistent U_H.

    The Galerkin Poisson residual K U_H + load((q²/ε₀)(N_D − n)) with the density of eq. 14.13 at
    U_H. ``u_int``: U_H at the interior global GLL nodes; the ends are ``pt.uh_left``, ``pt.uh_right``.
    """
    u_glob = _embed(u_int, pt)
    n_q, _ = _density(u_glob, pt, order, cfg)
    return _residual_from_density(u_glob, n_q, pt, order)


@partial(jax.jit, static_argnames=("order", "cfg", "newton_steps"))
def fem_iteration(uh_glob, pt: FemPoint, order: int, cfg: FemDensityConfig, newton_steps: int):
    """One density evaluation: (plain map F(U_H) (global), predictor PC(U_H) (global), n_q (nm⁻³)) (eq. 14.15)."""
    n_el = pt.nodes.shape[0] - 1
    basis = jnp.asarray(fem.reference_element(order).basis)
    n_q, uh_q = _density(uh_glob, pt, order, cfg)
    k_el = stiffness_matrices(pt.nodes, pt.eps_q, order)
    plain = solve_dirichlet(k_el, -load_vectors(pt.nodes, Q2_OVER_EPS0_EV_NM * (pt.doping_q - n_q), order), pt.uh_left, pt.uh_right)
    # local response ñ(U) at the quadrature points (Trellakis predictor, physics.md §11.1)
    eta, scale = _local_response(n_q, pt)
    idx = _scatter_index(n_el, order)

    def newton(_, u_glob):
        u_el = u_glob[idx]
        n_tilde, slope = _response_slope(eta - (u_el @ basis.T - uh_q) / pt.kT, scale, pt.kT)
        res_el = jnp.einsum("eij,ej->ei", k_el, u_el) + load_vectors(pt.nodes, Q2_OVER_EPS0_EV_NM * (pt.doping_q - n_tilde), order)
        step = solve_dirichlet(_predictor_jacobians(k_el, slope, pt.nodes, order), -res_el, 0.0, 0.0)
        return u_glob + _global(step)

    pred = jax.lax.fori_loop(0, newton_steps, newton, _global(plain))
    return _global(plain), pred, n_q


@partial(jax.jit, static_argnames=("order", "cfg"))
def current_density_on_mesh(nodes, u_q, pt: FemPoint, order: int, cfg: FemDensityConfig):
    """Tsu–Esaki J (A/cm², physics.md eq. 10.3) with 𝒯 from :func:`.fem.transmission_on_mesh` on the real-axis
    nodes of the density (``pt.grid``: √-panels plus the shares of the narrow resonances, physics.md §14.9);
    transverse mass of the left contact, as :mod:`.physics.density`."""
    leads = _leads(pt)
    e_top = jnp.maximum(pt.mu_left, pt.mu_right) + cfg.window_kT * pt.kT
    energies, w = real_axis_nodes(leads[0], e_top, cfg, pt.grid)
    trans = fem.transmission_on_mesh(nodes, u_q, pt.c_q, leads, energies, order)
    prefactor = RICHARDSON_A_PER_CM2_K2 * pt.mass_ends[0] * pt.kT / K_B_EV_PER_K**2  # A cm⁻² eV⁻¹
    return prefactor * jnp.sum(w * trans * (supply(energies, pt.mu_left, pt.kT) - supply(energies, pt.mu_right, pt.kT)))


# --------------------------------------------------------------------------------------
# Implicit differentiation through the fixed point (physics.md eqs. 11.5, 14.15a)
# --------------------------------------------------------------------------------------
def _hartree_q(u_glob, order: int):
    """U_H at the quadrature points (n_el, q) from the global node values."""
    n_el = (u_glob.shape[0] - 1) // order
    return u_glob[_scatter_index(n_el, order)] @ jnp.asarray(fem.reference_element(order).basis).T


def fem_adjoint_solve(pt: FemPoint, u_glob, u_bar, config: FemSolverConfig, n_bar=None):
    """Adjoint (λ, ν) of the fixed point at ``u_glob`` as R(U_H, n, θ) = 0, n − ρ(U_H, θ) = 0 (physics.md eq. 14.15a).

    R = K U_H + load((q²/ε₀)(N_D − n)) (interior rows), ρ the density of eq. 14.13 at the quadrature
    points. The transposed system

        K λ − (∂ρ/∂U)ᵀν = ``u_bar``,   ν − (q²/ε₀)loadᵀλ = ``n_bar``   (default 0)

    is, after eliminating ν, 𝒥ᵀλ = ū + (∂ρ/∂U)ᵀn̄ with 𝒥 the Jacobian of
    :func:`galerkin_residual`. Solved by right-preconditioned restarted GMRES (:mod:`.numerics.gmres`)
    on (λ, ν) together, so the density's reverse pass has one call site: (∂ρ/∂U)ᵀ by ``jax.vjp`` of ρ
    at fixed θ = ``pt`` (one linearisation, reused by every product). Preconditioner: the same
    system with ∂ρ/∂U replaced by the predictor's local response ∂ñ/∂U (eq. 14.15), which it
    solves exactly — one element-local K + (q²/ε₀)∫(−∂ñ/∂U)ℓ_iℓ_j solve (condensed, eq. 14.14).
    Returns (λ (interior nodes), ν (n_el, q), relative residual, matrix-vector products).
    """
    return _adjoint(pt, u_glob, _density_vjp(pt, u_glob[1:-1], config), u_bar, n_bar, config)


def _density_vjp(pt: FemPoint, u_int, config: FemSolverConfig):
    """(n_q, its VJP in the interior U_H) at fixed θ."""
    return jax.vjp(lambda ui: _density(_embed(ui, pt), pt, config.order, config.density)[0], u_int)


def _adjoint(pt: FemPoint, u_glob, linearization, u_bar, n_bar, config: FemSolverConfig):
    order = config.order
    n_el = pt.nodes.shape[0] - 1
    u_int = u_glob[1:-1]
    n_q, n_vjp = linearization
    n_bar = jnp.zeros_like(n_q) if n_bar is None else n_bar
    size = u_int.shape[0]
    # R is linear in (U_H, n): its transpose gives (Kλ, −(q²/ε₀)loadᵀλ)
    _, lin_vjp = jax.vjp(lambda ui, n: _residual_from_density(_embed(ui, pt), n, pt, order), u_int, n_q)

    def split(y):
        return y[:size], y[size:].reshape(n_q.shape)

    def matvec(y):
        lam, nu = split(y)
        r_u, r_n = lin_vjp(lam)
        return jnp.concatenate([r_u - n_vjp(nu)[0], (r_n + nu).reshape(-1)])

    # the predictor's local response ñ(U) about the fixed point (physics.md §11.1, eq. 14.15)
    eta, scale = _local_response(n_q, pt)
    uh_q = _hartree_q(u_glob, order)
    _, local_vjp = jax.vjp(lambda ui: _response_slope(eta - (_hartree_q(_embed(ui, pt), order) - uh_q) / pt.kT, scale,
                                                      pt.kT)[0], u_int)
    _, slope = _response_slope(eta, scale, pt.kT)
    jac_el = _predictor_jacobians(stiffness_matrices(pt.nodes, pt.eps_q, order), slope, pt.nodes, order)

    def precond(y):  # exact inverse of the system with ∂ρ/∂U → ∂ñ/∂U
        a, b = split(y)
        rhs_glob = jnp.concatenate([jnp.zeros(1), a + local_vjp(b)[0], jnp.zeros(1)])
        f_el = jnp.concatenate([rhs_glob[:-1].reshape(n_el, order), jnp.zeros((n_el, 1))], axis=1)  # each node once
        lam = _global(solve_dirichlet(jac_el, f_el, 0.0, 0.0))[1:-1]
        return jnp.concatenate([lam, (b - lin_vjp(lam)[1]).reshape(-1)])

    rhs = jnp.concatenate([u_bar, n_bar.reshape(-1)])
    y, rel, count = gmres(matvec, rhs, precond, config.gmres_restart, config.gmres_maxiter, config.gmres_tol)
    lam, nu = split(y)
    return lam, nu, rel, count


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def fem_solution_outputs(pt: FemPoint, u_star, config: FemSolverConfig):
    """(U_H at the global nodes, n_q in nm⁻³, J in A/cm²) at the converged U_H* = ``u_star``, differentiable in θ = ``pt``.

    The values are those at U_H* with its end entries replaced by ``pt.uh_left``, ``pt.uh_right``.
    The VJP is the implicit-function theorem (physics.md eqs. 11.5, 14.15a), never the unrolled
    iteration: with output cotangents (Ū, n̄, J̄),

        Kλ − (∂ρ/∂U)ᵀν = Ū_int + (∂J/∂U)ᵀJ̄,   ν − (q²/ε₀)loadᵀλ = n̄   (:func:`fem_adjoint_solve`),
        θ̄ = ∇_θ[ν·ρ(U_H*, θ) − λ·R(U_H*, n*, θ) + J̄·J + Ū_0 U_H(0) + Ū_N U_H(L)],

    i.e. 𝒥ᵀλ = Ū_int + (∂n/∂U)ᵀn̄ + (∂J/∂U)ᵀJ̄ (𝒥 the Jacobian of :func:`galerkin_residual`); the last line is one reverse pass through the
    density, the current, K and the loads (the element ends move with θ). ``u_star`` gets no
    cotangent.
    """
    return _outputs(pt, u_star, config)


def _outputs(pt: FemPoint, u_star, config: FemSolverConfig):
    # the executables of the fixed-point loop (fem_iteration) and of the concrete current are reused
    u_glob = _embed(u_star[1:-1], pt)
    n_q = fem_iteration(u_glob, pt, config.order, config.density, config.newton_steps)[2]
    current = current_density_on_mesh(pt.nodes, pt.band_q + _hartree_q(u_glob, config.order), pt, config.order,
                                      config.density)
    return u_glob, n_q, current


def _outputs_fwd(pt, u_star, config):
    out = _outputs(pt, u_star, config)
    return out, (pt, out[0])


@partial(jax.jit, static_argnames=("config",))
def _outputs_bwd_jit(pt, u_glob, cts, config):
    u_bar, n_bar, j_bar = cts
    order, cfg = config.order, config.density
    u_int = u_glob[1:-1]
    # one linearisation of the density and one of the current in (U_H, θ); the density's transpose is
    # applied in the GMRES products (U_H part) and once more for θ̄ (θ part)
    n_q, rho_vjp = jax.vjp(lambda ui, pp: _density(_embed(ui, pp), pp, order, cfg)[0], u_int, pt)

    def current(ui, pp):
        return current_density_on_mesh(pp.nodes, pp.band_q + _hartree_q(_embed(ui, pp), order), pp, order, cfg)

    _, j_vjp = jax.vjp(current, u_int, pt)
    j_u, j_theta = j_vjp(j_bar)
    lam, nu, rel, count = _adjoint(pt, u_glob, (n_q, lambda w: rho_vjp(w)[:1]), u_bar[1:-1] + j_u, n_bar, config)

    def explicit(pp):  # the rest of θ̄ at fixed (U_H*, n*): −λ·R(U, n*, θ) and the Dirichlet ends
        r = _residual_from_density(_embed(u_int, pp), n_q, pp, order)
        return -jnp.sum(lam * r) + u_bar[0] * pp.uh_left + u_bar[-1] * pp.uh_right

    p_bar = jax.tree_util.tree_map(lambda a, b, c: a + b + c, rho_vjp(nu)[1], j_theta, jax.grad(explicit)(pt))
    return p_bar._replace(emitter_mask=jnp.zeros_like(pt.emitter_mask),
                          grid=jax.tree_util.tree_map(jnp.zeros_like, pt.grid)), rel, count


def _outputs_bwd(config, res, cts):
    pt, u_glob = res
    p_bar, rel, count = _outputs_bwd_jit(pt, u_glob, cts, config)
    if val.is_concrete(rel) and not float(rel) <= config.gmres_tol:
        warnings.warn(f"adjoint GMRES of the finite-element fixed point reached relative residual {float(rel):.2e} "
                      f"(tolerance {config.gmres_tol:g}) after {int(count)} products; the gradient is that inaccurate",
                      RuntimeWarning, stacklevel=2)
    return p_bar, jnp.zeros_like(u_glob)


fem_solution_outputs.defvjp(_outputs_fwd, _outputs_bwd)


class FemSelfConsistentSolution(NamedTuple):
    """Self-consistent solution on finite elements (physics.md §14.11).

    Attributes:
      x_nm: (n_el, q) quadrature points; potential_eV, hartree_eV, density_cm3 there.
      nodes_nm: (n_el·p + 1,) GLL node positions; hartree_nodes_eV: U_H there.
      mu_left_eV, mu_right_eV: contact electrochemical potentials.
      current_density_Acm2: Tsu–Esaki J (physics.md eq. 10.3) in the self-consistent potential.
        With a traced stack (``jax.grad``) the positions, U, U_H, n, J and μ are differentiable
        (JAX arrays; floats otherwise).
      bias_V: the bias; iterations, residual_eV, converged, residual_history: fixed-point record;
      attempts: starting points tried (as :class:`.selfconsistent.SelfConsistentSolution`).
      mesh: the :class:`.fem.FemMesh`; order: p; grid: the frozen real-axis
        :class:`.density.DensityGrid` of the converged density (reused by a continuation).
    """

    x_nm: Any
    potential_eV: Any
    hartree_eV: Any
    density_cm3: Any
    nodes_nm: Any
    hartree_nodes_eV: Any
    mu_left_eV: float
    mu_right_eV: float
    current_density_Acm2: float
    iterations: int
    residual_eV: float
    converged: bool
    residual_history: Any
    mesh: fem.FemMesh
    order: int
    bias_V: float
    attempts: int
    grid: Any = None


def solve_self_consistent_fem(stack: Stack, bias, temperature_K: float = 300.0, *, config: FemSolverConfig = FemSolverConfig(),
                              fermi_level_eV=None, mesh: fem.FemMesh | None = None, initial=None, previous=None,
                              fresh_restart: bool = True, materials=ALGAAS) -> FemSelfConsistentSolution:
    """Self-consistent Hartree potential and density of ``stack`` at ``bias`` on finite elements (physics.md §14.11).

    Args as :func:`.selfconsistent.solve_self_consistent` (``config`` a :class:`FemSolverConfig`);
    ``mesh`` fixes the mesh topology (default: ``initial``'s mesh, else :func:`stack_mesh`).
    Starting points, tried in order until one converges (physics.md §11.1): with ``initial`` and
    ``previous`` (two solutions of a bias sweep on the same mesh) the secant extrapolation of U_H in
    the bias; ``initial``'s U_H plus the change of the right boundary value, spread linearly; and
    (``fresh_restart``, or without ``initial``) the charge-neutral linear drop. Raises
    ``NotConvergedError`` when no start brings max|F(U) − U| below ``config.tol_eV`` within
    ``config.max_iterations`` (``config.on_failure="warn"``: warns and returns the last iterate,
    ``converged=False``).

    Differentiable (eagerly, e.g. under ``jax.grad``; not under ``jax.jit``) in the stack's arrays,
    ``bias`` and ``fermi_level_eV`` by the implicit function theorem (physics.md eq. 14.15a): the
    fixed point is solved on stop-gradient inputs, then U_H, n, J (and the fields built from them,
    x_nm, nodes_nm, μ_L, μ_R) are recomputed through :func:`fem_solution_outputs` at the converged
    U_H*. The mesh topology stays fixed (``mesh``, default built from the concrete stack); the
    element ends move with the thicknesses.
    """
    check_stack(stack, materials)
    val.check_nonnegative("bias", bias)
    val.check_positive("temperature_K", temperature_K)
    traced = not val.is_concrete((stack, bias, fermi_level_eV))
    stack_c, bias_c, fermi_c = jax.tree_util.tree_map(jax.lax.stop_gradient, (stack, bias, fermi_level_eV))
    if not val.is_concrete((stack_c, bias_c, fermi_c, temperature_K)):
        raise ValueError("solve_self_consistent_fem runs eagerly (it checks convergence): call it outside jax.jit; "
                         "jax.grad (eager) differentiates it by the implicit function theorem")
    if fermi_level_eV is None and (float(stack_c.doping_cm3[0]) <= 0 or float(stack_c.doping_cm3[-1]) <= 0):
        raise ValueError("doping_cm3 of the contact layers must be > 0 (or pass fermi_level_eV)")
    p = config.order
    bias_f = float(bias_c)
    if mesh is None:
        mesh = initial.mesh if initial is not None else stack_mesh(stack_c, bias_f, float(temperature_K), config,
                                                                   fermi_c, materials)
    if mesh.n_segments != np.shape(stack.thickness_nm)[0]:
        raise ValueError(f"mesh must have one segment per layer ({np.shape(stack.thickness_nm)[0]}), got {mesh.n_segments}")
    for name, sol in (("initial", initial), ("previous", previous)):
        if sol is not None and (sol.order != p or np.shape(sol.hartree_nodes_eV) != (mesh.unknowns(p),)):
            raise ValueError(f"{name} must be a FemSelfConsistentSolution on the same mesh and order")
    pt = point_inputs_fem(stack_c, jnp.asarray(bias_c, jnp.float64), temperature_K, mesh, p, fermi_c, materials,
                          config.notch_filling)
    ramp = _node_positions(pt.nodes, p)
    ramp = (ramp - ramp[0]) / (ramp[-1] - ramp[0])
    attempts, best = 0, None
    for u0, grid in _starting_points(pt, ramp, bias_f, initial, previous, fresh_restart, config):
        attempts += 1
        u, history, n_q, grid = _fixed_point(u0, pt._replace(grid=grid), config)
        converged = bool(history[-1] < config.tol_eV)
        if best is None or converged or history[-1] < best[1][-1]:
            best = (u, history, n_q, grid)
        if converged:
            break
    u, history, n_q, grid = best
    pt = pt._replace(grid=grid)
    if not converged:
        msg = (f"finite-element self-consistent solution did not converge at bias {bias_f:.4g} V: "
               f"max|F(U) − U| = {history[-1]:.3g} eV after {len(history)} iterations (tolerance {config.tol_eV:g} eV)"
               + (f" (best of {attempts} starting points)" if attempts > 1 else ""))
        if config.on_failure == "raise":
            raise val.NotConvergedError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    if traced:  # differentiable outputs: the implicit-function VJP of fem_solution_outputs (eq. 14.15a)
        pt = point_inputs_fem(stack, jnp.asarray(bias, jnp.float64), temperature_K, mesh, p, fermi_level_eV, materials,
                              config.notch_filling)._replace(grid=grid)
        # the loop settings do not enter the outputs: normalised, so changing them does not recompile the VJP
        out_config = dataclasses.replace(config, tol=1.0, tol_eV=1.0, max_iterations=1, anderson_depth=0,
                                         notch_filling="emitter", on_failure="raise", adapt_until_eV=1.0,
                                         max_adapt_steps=0)
        u, n_q, current = fem_solution_outputs(pt, u, out_config)
        mu_left, mu_right = pt.mu_left, pt.mu_right
    else:
        current = float(current_density_on_mesh(pt.nodes, pt.band_q + _hartree_q(u, p), pt, p, config.density))
        mu_left, mu_right = float(pt.mu_left), float(pt.mu_right)
    uh_q = _hartree_q(u, p)
    return FemSelfConsistentSolution(
        x_nm=fem.quadrature_points(pt.nodes, p), potential_eV=pt.band_q + uh_q, hartree_eV=uh_q,
        density_cm3=n_q * CM3_PER_NM3, nodes_nm=_node_positions(pt.nodes, p), hartree_nodes_eV=u, mu_left_eV=mu_left,
        mu_right_eV=mu_right, current_density_Acm2=current, iterations=len(history), residual_eV=history[-1],
        converged=converged, residual_history=np.array(history), mesh=mesh, order=p, bias_V=bias_f, attempts=attempts,
        grid=grid)


def _node_positions(nodes, order: int):
    """Global GLL node positions (nm) of the elements with ends ``nodes``."""
    frac = 0.5 * (fem.reference_element(order).nodes + 1.0)
    return _global(nodes[:-1, None] * (1.0 - frac) + nodes[1:, None] * frac)


def _starting_points(pt: FemPoint, ramp, bias_V: float, initial, previous, fresh_restart: bool, config: FemSolverConfig):
    """Starting (U_H at the global nodes, real-axis grid) for :func:`solve_self_consistent_fem`, lazily, best first
    (physics.md §11.1): a continuation starts from ``initial``'s grid, the default guess from plain √-panels."""
    fresh = initial_grid(config.density, pt.band_q)
    if initial is not None:
        u_prev = jax.lax.stop_gradient(jnp.asarray(initial.hartree_nodes_eV))
        grid = fresh if initial.grid is None else jax.tree_util.tree_map(jax.lax.stop_gradient, initial.grid)
        if previous is not None and previous.bias_V != initial.bias_V:
            step = (bias_V - initial.bias_V) / (initial.bias_V - previous.bias_V)
            u_sec = u_prev + step * (u_prev - jax.lax.stop_gradient(jnp.asarray(previous.hartree_nodes_eV)))
            yield u_sec + (pt.uh_left - u_sec[0]) * (1.0 - ramp) + (pt.uh_right - u_sec[-1]) * ramp, grid
        yield u_prev + (pt.uh_left - u_prev[0]) * (1.0 - ramp) + (pt.uh_right - u_prev[-1]) * ramp, grid
        if not fresh_restart:
            return
    yield pt.uh_left + (pt.uh_right - pt.uh_left) * ramp, fresh  # charge-neutral guess: the linear drop


def _fixed_point(u, pt: FemPoint, config: FemSolverConfig):
    """Anderson-accelerated predictor–corrector from ``u`` (eq. 14.15): (U_H, residual history, n_q at U_H, grid).

    While the residual exceeds ``config.adapt_until_eV`` (at most ``config.max_adapt_steps`` times) the
    resonances of ``pt.grid`` are re-located in the current potential and the Anderson history is
    cleared (its differences belong to another quadrature); then the grid is frozen.
    """
    m = config.anderson_depth
    state = anderson_init(m, u.shape[0])
    history, n_q = [], None
    for it in range(config.max_iterations):
        if config.density.n_resonances and it < config.max_adapt_steps and (not history or history[-1] > config.adapt_until_eV):
            pt = pt._replace(grid=locate_resonances_fem(u, pt, config.order, config.density))
            state = anderson_init(m, u.shape[0])
        plain, pred, n_q = fem_iteration(u, pt, config.order, config.density, config.newton_steps)
        res = float(jnp.max(jnp.abs(plain - u)))
        history.append(res if np.isfinite(res) else np.inf)
        if not np.isfinite(res) or res < config.tol_eV:
            break
        state, u = anderson_step(state, u, pred - u, m)
    return u, history, n_q, pt.grid


__all__ = [
    "FemPoint",
    "FemSelfConsistentSolution",
    "FemSolverConfig",
    "current_density_on_mesh",
    "emitter_mask_fem",
    "fem_adjoint_solve",
    "fem_iteration",
    "fem_solution_outputs",
    "galerkin_residual",
    "locate_resonances_fem",
    "layer_fields",
    "point_inputs_fem",
    "solve_self_consistent_fem",
    "stack_mesh",
]
