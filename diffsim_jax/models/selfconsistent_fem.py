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

Not yet: implicit-function gradients (physics.md eq. 11.5). Bias sweeps with continuation and branch keeping:
:func:`.selfconsistent.self_consistent_iv` with a :class:`FemSolverConfig`.
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
from ..physics import fem
from ..physics.constants import (
    CM3_PER_NM3,
    HBAR2_OVER_2M0_EV_NM2,
    K_B_EV_PER_K,
    RICHARDSON_A_PER_CM2_K2,
)
from ..physics.fem_density import (
    FemDensityConfig,
    density_contour_on_mesh,
    injection_grid,
)
from ..physics.fem_poisson import load_vectors, solve_dirichlet, stiffness_matrices
from ..physics.layers import Stack, check_stack, first_barrier_centre_nm
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
      density: :class:`.fem_density.FemDensityConfig`; 64 real-axis panels: the Fig. 8-type RTD's
        J(V) moves by ≤ 0.2 % from 64 to 128 panels (24 panels: 3 % at 0.1 V; the fixed σ² panels
        are not resonance-adapted).
      notch_filling: "emitter" (states below the emitter band edge on the emitter side of the first
        barrier filled with μ_L, as the default of :mod:`.physics.density`) or "collector" (pure
        scattering states).
      on_failure: "raise" (``NotConvergedError``) or "warn" (a ``RuntimeWarning`` and the
        unconverged result, ``converged=False``), as :class:`.selfconsistent.SolverConfig`.
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

    def __post_init__(self):
        if self.on_failure not in ("raise", "warn"):
            raise ValueError(f"on_failure must be 'raise' or 'warn', got {self.on_failure!r}")
        if self.notch_filling not in ("emitter", "collector"):
            raise ValueError(f"notch_filling must be 'emitter' or 'collector', got {self.notch_filling!r}")
        if self.order not in fem.SUPPORTED_ORDERS:
            raise ValueError(f"order must be one of {fem.SUPPORTED_ORDERS}, got {self.order!r}")
        for name in ("tol", "tol_eV"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(f"max_iterations must be an integer >= 1, got {self.max_iterations!r}")


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
    """:class:`FemPoint` of ``stack`` at ``bias`` on ``mesh`` (element ends follow the interfaces, eq. 14.7)."""
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
    mask = jnp.zeros(xq.shape)
    if notch_filling == "emitter":
        mask = (xq < jax.lax.stop_gradient(first_barrier_centre_nm(stack))).astype(jnp.float64)
    return FemPoint(nodes, band_q, HBAR2_OVER_2M0_EV_NM2 / m_q, eps_q, dop_q * NM3_PER_CM3, nc_q, mass_ends, band_ends,
                    mu_left, mu_right, jnp.zeros(()), uh_right, kT, mask)


def _scatter_index(n_el: int, p: int):
    return np.arange(n_el)[:, None] * p + np.arange(p + 1)[None, :]


def _assemble(values_el, n_el, p):
    """Global vector from element vectors (sums shared ends)."""
    return jnp.zeros(n_el * p + 1).at[_scatter_index(n_el, p)].add(values_el)


def _density(uh_glob, pt: FemPoint, order: int, cfg: FemDensityConfig):
    n_el = pt.nodes.shape[0] - 1
    ref = fem.reference_element(order)
    uh_q = uh_glob[_scatter_index(n_el, order)] @ jnp.asarray(ref.basis).T  # (n_el, q)
    leads = (pt.band_ends[0] + pt.uh_left, pt.band_ends[1] + pt.uh_right, pt.mass_ends[0], pt.mass_ends[1])
    return density_contour_on_mesh(pt.nodes, pt.band_q + uh_q, pt.c_q, leads, pt.mu_left, pt.mu_right, pt.kT, order,
                                   pt.emitter_mask, cfg), uh_q


def _global(nodal):
    """Global node values from (n_el, p+1) nodal values."""
    p = nodal.shape[1] - 1
    return jnp.concatenate([nodal[:, :p].reshape(-1), nodal[-1:, p]])


@partial(jax.jit, static_argnames=("order", "cfg", "newton_steps"))
def fem_iteration(uh_glob, pt: FemPoint, order: int, cfg: FemDensityConfig, newton_steps: int):
    """One density evaluation: (plain map F(U_H) (global), predictor PC(U_H) (global), n_q (nm⁻³)) (eq. 14.15)."""
    n_el = pt.nodes.shape[0] - 1
    ref = fem.reference_element(order)
    basis = jnp.asarray(ref.basis)
    n_q, uh_q = _density(uh_glob, pt, order, cfg)
    k_el = stiffness_matrices(pt.nodes, pt.eps_q, order)
    plain = solve_dirichlet(k_el, -load_vectors(pt.nodes, Q2_OVER_EPS0_EV_NM * (pt.doping_q - n_q), order), pt.uh_left, pt.uh_right)
    # local response ñ(U) at the quadrature points (Trellakis predictor, physics.md §11.1)
    n_safe = jnp.maximum(n_q, 1e-14 * pt.nc_q)
    eta = inverse_fermi_dirac_half_fast(n_safe / pt.nc_q)
    scale = n_safe / fermi_dirac_half_fast(eta)
    h = pt.nodes[1:] - pt.nodes[:-1]
    wbb = jnp.asarray(np.einsum("q,qi,qj->qij", ref.weights, ref.basis, ref.basis))
    idx = _scatter_index(n_el, order)

    def newton(_, u_glob):
        u_el = u_glob[idx]
        arg = eta - (u_el @ basis.T - uh_q) / pt.kT
        n_tilde, der = jax.jvp(fermi_dirac_half_fast, (arg,), (jnp.ones_like(arg),))
        n_tilde, slope = scale * n_tilde, scale * der / pt.kT  # slope = −dñ/dU ≥ 0
        res_el = jnp.einsum("eij,ej->ei", k_el, u_el) + load_vectors(pt.nodes, Q2_OVER_EPS0_EV_NM * (pt.doping_q - n_tilde), order)
        jac_el = k_el + jnp.einsum("eq,qij->eij", Q2_OVER_EPS0_EV_NM * slope, wbb) * (0.5 * h)[:, None, None]
        step = solve_dirichlet(jac_el, -res_el, 0.0, 0.0)
        return u_glob + _global(step)

    pred = jax.lax.fori_loop(0, newton_steps, newton, _global(plain))
    return _global(plain), pred, n_q


@partial(jax.jit, static_argnames=("order", "cfg"))
def current_density_on_mesh(nodes, u_q, pt: FemPoint, order: int, cfg: FemDensityConfig):
    """Tsu–Esaki J (A/cm², physics.md eq. 10.3) with 𝒯 from :func:`.fem.transmission_on_mesh` on the real-axis
    nodes of the density (E = U_L + Wσ², eq. 14.12); transverse mass of the left contact, as :mod:`.physics.density`.
    Resolves resonances as wide as the panels (single barriers); narrow double-barrier resonances need the
    resonance-adapted grid of :func:`.stack_fem.current_density_fem`."""
    leads = (pt.band_ends[0] + pt.uh_left, pt.band_ends[1] + pt.uh_right, pt.mass_ends[0], pt.mass_ends[1])
    e_top = jnp.maximum(pt.mu_left, pt.mu_right) + cfg.window_kT * pt.kT
    energies, w = injection_grid(leads[0], e_top, cfg)
    trans = fem.transmission_on_mesh(nodes, u_q, pt.c_q, leads, energies, order)
    prefactor = RICHARDSON_A_PER_CM2_K2 * pt.mass_ends[0] * pt.kT / K_B_EV_PER_K**2  # A cm⁻² eV⁻¹
    return prefactor * jnp.sum(w * trans * (supply(energies, pt.mu_left, pt.kT) - supply(energies, pt.mu_right, pt.kT)))


class FemSelfConsistentSolution(NamedTuple):
    """Self-consistent solution on finite elements (physics.md §14.11).

    Attributes:
      x_nm: (n_el, q) quadrature points; potential_eV, hartree_eV, density_cm3 there.
      nodes_nm: (n_el·p + 1,) GLL node positions; hartree_nodes_eV: U_H there.
      mu_left_eV, mu_right_eV: contact electrochemical potentials.
      current_density_Acm2: Tsu–Esaki J (physics.md eq. 10.3) in the self-consistent potential.
      bias_V: the bias; iterations, residual_eV, converged, residual_history: fixed-point record;
      attempts: starting points tried (as :class:`.selfconsistent.SelfConsistentSolution`).
      mesh: the :class:`.fem.FemMesh`; order: p.
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
    """
    check_stack(stack, materials)
    val.check_nonnegative("bias", bias)
    val.check_positive("temperature_K", temperature_K)
    if fermi_level_eV is None and (float(stack.doping_cm3[0]) <= 0 or float(stack.doping_cm3[-1]) <= 0):
        raise ValueError("doping_cm3 of the contact layers must be > 0 (or pass fermi_level_eV)")
    p = config.order
    if mesh is None:
        mesh = initial.mesh if initial is not None else stack_mesh(stack, float(bias), float(temperature_K), config,
                                                                   fermi_level_eV, materials)
    for name, sol in (("initial", initial), ("previous", previous)):
        if sol is not None and (sol.order != p or np.shape(sol.hartree_nodes_eV) != (mesh.unknowns(p),)):
            raise ValueError(f"{name} must be a FemSelfConsistentSolution on the same mesh and order")
    pt = point_inputs_fem(stack, jnp.asarray(bias, jnp.float64), temperature_K, mesh, p, fermi_level_eV, materials,
                          config.notch_filling)
    nodes = pt.nodes
    frac = 0.5 * (fem.reference_element(p).nodes + 1.0)
    x_nodes = _global(nodes[:-1, None] * (1.0 - frac) + nodes[1:, None] * frac)
    ramp = (x_nodes - x_nodes[0]) / (x_nodes[-1] - x_nodes[0])
    attempts, best = 0, None
    for u0 in _starting_points(pt, ramp, float(bias), initial, previous, fresh_restart):
        attempts += 1
        u, history, n_q = _fixed_point(u0, pt, config)
        converged = bool(history[-1] < config.tol_eV)
        if best is None or converged or history[-1] < best[1][-1]:
            best = (u, history, n_q)
        if converged:
            break
    u, history, n_q = best
    if not converged:
        msg = (f"finite-element self-consistent solution did not converge at bias {float(bias):.4g} V: "
               f"max|F(U) − U| = {history[-1]:.3g} eV after {len(history)} iterations (tolerance {config.tol_eV:g} eV)"
               + (f" (best of {attempts} starting points)" if attempts > 1 else ""))
        if config.on_failure == "raise":
            raise val.NotConvergedError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    uh_q = u[_scatter_index(mesh.n_elements, p)] @ jnp.asarray(fem.reference_element(p).basis).T
    current = current_density_on_mesh(pt.nodes, pt.band_q + uh_q, pt, p, config.density)
    return FemSelfConsistentSolution(
        x_nm=fem.quadrature_points(nodes, p), potential_eV=pt.band_q + uh_q, hartree_eV=uh_q, density_cm3=n_q * CM3_PER_NM3,
        nodes_nm=x_nodes, hartree_nodes_eV=u, mu_left_eV=float(pt.mu_left), mu_right_eV=float(pt.mu_right),
        current_density_Acm2=float(current), iterations=len(history), residual_eV=history[-1], converged=converged,
        residual_history=np.array(history), mesh=mesh, order=p, bias_V=float(bias), attempts=attempts)


def _starting_points(pt: FemPoint, ramp, bias_V: float, initial, previous, fresh_restart: bool):
    """Starting U_H (global nodes) for :func:`solve_self_consistent_fem`, lazily, best first (physics.md §11.1)."""
    if initial is not None:
        u_prev = jnp.asarray(initial.hartree_nodes_eV)
        if previous is not None and previous.bias_V != initial.bias_V:
            step = (bias_V - initial.bias_V) / (initial.bias_V - previous.bias_V)
            u_sec = u_prev + step * (u_prev - jnp.asarray(previous.hartree_nodes_eV))
            yield u_sec + (pt.uh_left - u_sec[0]) * (1.0 - ramp) + (pt.uh_right - u_sec[-1]) * ramp
        yield u_prev + (pt.uh_left - u_prev[0]) * (1.0 - ramp) + (pt.uh_right - u_prev[-1]) * ramp
        if not fresh_restart:
            return
    yield pt.uh_left + (pt.uh_right - pt.uh_left) * ramp  # charge-neutral guess: the linear drop


def _fixed_point(u, pt: FemPoint, config: FemSolverConfig):
    """Anderson-accelerated predictor–corrector from ``u`` (eq. 14.15): (U_H, residual history, n_q at U_H)."""
    m = config.anderson_depth
    state = anderson_init(m, u.shape[0])
    history, n_q = [], None
    for _ in range(config.max_iterations):
        plain, pred, n_q = fem_iteration(u, pt, config.order, config.density, config.newton_steps)
        res = float(jnp.max(jnp.abs(plain - u)))
        history.append(res if np.isfinite(res) else np.inf)
        if not np.isfinite(res) or res < config.tol_eV:
            break
        state, u = anderson_step(state, u, pred - u, m)
    return u, history, n_q


__all__ = [
    "FemPoint",
    "FemSelfConsistentSolution",
    "FemSolverConfig",
    "current_density_on_mesh",
    "fem_iteration",
    "layer_fields",
    "point_inputs_fem",
    "solve_self_consistent_fem",
    "stack_mesh",
]
