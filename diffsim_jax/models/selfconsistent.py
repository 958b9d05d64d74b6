"""Self-consistent Schrödinger–Poisson (Hartree) resonant-tunnelling diode (physics.md §11).

The total potential energy is the fixed point (physics.md eq. 11.4)

    U = F(U) := U_band + U_H[n[U]],

n[U] the scattering-state density of :mod:`.density` (eq. 11.2) and U_H the Poisson
solution of :mod:`.poisson` (eq. 11.3). Contacts: μ_L = E_c,L + k_BT·𝓕_{1/2}⁻¹(N_D,L/N_c)
(eq. 11.1), μ_R = μ_L − V; Dirichlet values U(0) = U_band(0) and
U(L) = μ_R − k_BT·𝓕_{1/2}⁻¹(N_D,R/N_c), i.e. U_H(L) = −V for identical contacts (with
different contact dopings the built-in voltage is included so that both contacts are
neutral and flat).

Fixed-point scheme (per bias, all inside one jitted ``lax.while_loop``):

1. Density n^k = n[U^k] on the current energy grid; the plain residual
   r^k = max|F(U^k) − U^k| (one linear Poisson solve) is the convergence measure:
   stop when r^k < ``tol_eV`` (default 1e-6 eV) with the grid frozen.
2. Predictor–corrector (Trellakis et al., J. Appl. Phys. 81, 7880 (1997)): the nonlinear
   Poisson equation K(U − U_band) = (q²/ε₀)(ñ(U) − N_D) is solved by Newton (tridiagonal
   Jacobian, gtsv) with the local response
   ñ_j(U_j) = n^k_j·𝓕(η_j − (U_j − U^k_j)/k_BT)/𝓕(η_j), η_j = 𝓕⁻¹(n^k_j/N_c,j), 𝓕 the
   Aymerich-Humet 𝓕_{1/2}. Its fixed points are those of F (ñ(U^k) = n^k).
3. Anderson acceleration (depth m = 6, type II) on the predictor map U ↦ PC(U), safeguarded:
   active only below ``anderson_below_eV`` (3 meV), history cleared when the residual
   grows by 1.5× or the grid changes, non-finite steps replaced by the predictor step;
   the step is damped by β (halved whenever the residual grew, down to 1/16, and
   restored ×1.5 per successful step) — near a sharp resonance the local predictor
   overshoots the nonlocal well-charge response and would otherwise oscillate.
4. While r^k > ``adapt_until_eV`` (and for at most ``max_adapt_steps`` iterations, and
   only while a step changes it) the real-axis energy grid adapts: narrow resonances are
   re-located (:func:`.density.update_resonances`) and one split/merge step of the
   panels is made (:func:`.density.adapt_grid`). The final iterations run on a frozen
   grid, so the converged U is the fixed point of one well-defined quadrature.
5. Continuation in bias: a sweep starts each bias from the previous solution,
   extrapolated linearly from the last two (secant predictor), and its energy grid.

Gradients (physics.md eq. 11.5) by the implicit function theorem, never by unrolling:
the outputs (U*, n, J) come from :func:`solution_outputs`, a ``custom_vjp`` whose
backward pass solves Jᵀλ = ū for the Jacobian J = ∂R/∂U of the residual
R(U, θ) = K(U − U_band) + (q²/ε₀)(N_D − n[U]) by preconditioned GMRES (matrix-free:
Jᵀv = Kv − (q²/ε₀)(∂n/∂U)ᵀv with the prefix-sum operator of
:class:`.density.PotentialVJP`; preconditioner K + (q²/ε₀)·diag(−∂ñ/∂U), the
predictor's tridiagonal Jacobian), then forms θ̄ = −(∂R/∂θ)ᵀλ plus the direct terms in
one reverse pass through the density. θ are the profiles, contact potentials and Fermi
levels, so gradients reach the stack (thicknesses, Al fractions, doping) through
:func:`.stack.profiles_unchecked`. The energy grid is frozen at the solution.

Failure policy: :func:`solve_self_consistent` never returns silently unconverged. With
``SolverConfig(on_failure="raise")`` (default) it raises ``RuntimeError`` naming the
cause; with ``"warn"`` it returns ``converged=False`` and issues a ``RuntimeWarning``.
Bad inputs (negative doping, undoped contacts without an explicit Fermi level, contacts
too short to screen, negative bias) raise ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import validation as val
from ..physics.constants import CM3_PER_NM3
from ..physics.density import (
    DensityConfig,
    DensityGrid,
    adapt_grid,
    density_linearization,
    density_on_grid,
    initial_grid,
    update_resonances,
)
from ..numerics.anderson import AndersonState, anderson_init, anderson_step
from ..numerics.gmres import gmres
from ..physics.materials import ALGAAS
from ..physics.poisson import NM3_PER_CM3, Q2_OVER_EPS0_EV_NM, apply_stiffness, solve_poisson, stiffness, tridiagonal_solve
from ..physics.statistics import (
    effective_density_of_states_cm3,
    fermi_dirac_half,
    fermi_dirac_half_fast,
    inverse_fermi_dirac_half,
    inverse_fermi_dirac_half_fast,
    thermal_energy_eV,
)
from ..physics.layers import Stack, check_stack, first_barrier_centre_nm, profiles_unchecked
from .selfconsistent_fem import FemSelfConsistentSolution, FemSolverConfig, solve_self_consistent_fem, stack_mesh


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Static settings of the self-consistent solver (hashable; physics.md §11).

    Attributes:
      n_points: grid points N on [0, L].
      tol_eV: convergence when max|F(U) − U| < tol_eV (physics.md eq. 11.4).
      max_iterations: fixed-point iterations per bias before giving up.
      anderson_depth: history length m of the Anderson acceleration (0: plain predictor).
      anderson_below_eV: Anderson acceleration acts only once the residual is below this
        (the nearly linear regime); above it, and after any increase of the residual,
        the plain predictor step is taken and the history cleared.
      min_damping: the step is multiplied by β, halved (down to this) whenever the
        residual grew and restored by 1.5× per successful step.
      adapt_until_eV: the energy grid adapts while the residual exceeds this …
      max_adapt_steps: … for at most this many iterations, and only while each step
        changes it (a split/merge sequence can cycle; freezing the grid then lets the
        fixed point converge).
      newton_steps: maximum Newton steps of the predictor's nonlinear Poisson solve.
      on_failure: "raise" (RuntimeError) or "warn" (RuntimeWarning, ``converged=False``).
      density: :class:`.density.DensityConfig`.
      interface_width_nm: smooth-step width δ of the stack profiles (None: a/2).
      contact_tolerance_kT: a contact counts as neutral when the band bending left at
        its outer boundary, |dU/dx|·λ_s (λ_s the screening length), is below this many
        k_BT.
      gmres_tol: relative residual of the adjoint GMRES solve.
      gmres_restart, gmres_maxiter: GMRES Krylov dimension and number of restarts.
    """

    n_points: int = 300
    tol_eV: float = 1e-6
    max_iterations: int = 150
    anderson_depth: int = 6
    anderson_below_eV: float = 3e-3
    min_damping: float = 1.0 / 16.0
    adapt_until_eV: float = 1e-4
    max_adapt_steps: int = 30
    newton_steps: int = 40
    on_failure: str = "raise"
    density: DensityConfig = DensityConfig()
    interface_width_nm: float | None = None
    contact_tolerance_kT: float = 0.25
    gmres_tol: float = 1e-9
    gmres_restart: int = 40
    gmres_maxiter: int = 4

    def __post_init__(self):
        if self.on_failure not in ("raise", "warn"):
            raise ValueError(f"on_failure must be 'raise' or 'warn', got {self.on_failure!r}")
        if self.n_points < 10:
            raise ValueError(f"n_points must be >= 10, got {self.n_points}")
        if not self.tol_eV > 0:
            raise ValueError(f"tol_eV must be > 0, got {self.tol_eV}")


# --------------------------------------------------------------------------------------
# Inputs of the fixed point at one bias (a pytree; everything but the mask is differentiable)
# --------------------------------------------------------------------------------------
class PointInputs(NamedTuple):
    """Physical inputs of the fixed point at one bias (physics.md §11).

    Attributes:
      band_edge_eV: (N,) U_band (conduction-band offset, no bias).
      m_eff: (N,) masses (m₀).
      eps_r: (N,) relative permittivity.
      doping_nm3: (N,) N_D in nm⁻³.
      length_nm: L.
      mu_left, mu_right: μ_L, μ_R in eV.
      u_left, u_right: Dirichlet values U(0), U(L) of the total potential (eV).
      kT: k_BT in eV.
      emitter_mask: (N,) 1.0 left of the centre of the first barrier (not differentiated).
    """

    band_edge_eV: jax.Array
    m_eff: jax.Array
    eps_r: jax.Array
    doping_nm3: jax.Array
    length_nm: jax.Array
    mu_left: jax.Array
    mu_right: jax.Array
    u_left: jax.Array
    u_right: jax.Array
    kT: jax.Array
    emitter_mask: jax.Array


def point_inputs(stack: Stack, bias, temperature_K, config: SolverConfig, fermi_level_eV=None, materials=ALGAAS) -> PointInputs:
    """:class:`PointInputs` of ``stack`` at ``bias`` (differentiable in the stack's arrays).

    μ_L = U_band(0) + k_BT 𝓕_{1/2}⁻¹(N_D,0/N_c(m_0)) unless ``fermi_level_eV`` is given
    (then μ_L = fermi_level_eV and U(L) = U_band(L) − V, the spec's U_H(L) = −V).
    """
    return _point_inputs(stack, bias, temperature_K, fermi_level_eV, config, materials)


@partial(jax.jit, static_argnames=("config", "materials"))
def _point_inputs(stack, bias, temperature_K, fermi_level_eV, config, materials):
    prof = profiles_unchecked(stack, config.n_points, config.interface_width_nm, materials)
    kT = thermal_energy_eV(jnp.asarray(temperature_K, jnp.float64))
    band = prof.band_edge_eV
    if fermi_level_eV is None:
        eta_l = _contact_eta(stack.doping_cm3[0], materials.mass(stack.al_fraction[0]), temperature_K)
        eta_r = _contact_eta(stack.doping_cm3[-1], materials.mass(stack.al_fraction[-1]), temperature_K)
        mu_left = band[0] + kT * eta_l
        mu_right = mu_left - bias
        u_right = mu_right - kT * eta_r
    else:
        mu_left = jnp.asarray(fermi_level_eV, jnp.float64)
        mu_right = mu_left - bias
        u_right = band[-1] - bias
    length = stack.length_nm
    x = jnp.linspace(0.0, 1.0, config.n_points) * lax.stop_gradient(length)
    mask = (x < lax.stop_gradient(first_barrier_centre_nm(stack))).astype(jnp.float64)
    return PointInputs(
        band_edge_eV=band,
        m_eff=prof.m_eff,
        eps_r=prof.eps_r,
        doping_nm3=prof.doping_cm3 * NM3_PER_CM3,
        length_nm=length,
        mu_left=mu_left,
        mu_right=mu_right,
        u_left=band[0],
        u_right=u_right,
        kT=kT,
        emitter_mask=mask,
    )


def _contact_eta(doping_cm3, mass, temperature_K):
    return inverse_fermi_dirac_half(doping_cm3 / effective_density_of_states_cm3(mass, temperature_K))


# --------------------------------------------------------------------------------------
# Density, plain map F and the predictor
# --------------------------------------------------------------------------------------
def _density(u, p: PointInputs, grid: DensityGrid, cfg: DensityConfig):
    return density_on_grid(u, p.m_eff, p.length_nm, p.mu_left, p.mu_right, p.kT, p.emitter_mask, grid, cfg)


def _embed(u_int, p: PointInputs):
    return jnp.concatenate([jnp.atleast_1d(p.u_left), u_int, jnp.atleast_1d(p.u_right)])


def plain_map(u, density_nm3, p: PointInputs):
    """F(U) = U_band + U_H[n] for a given density (physics.md eq. 11.4)."""
    u_h = solve_poisson(
        p.eps_r, p.length_nm, p.doping_nm3, density_nm3, p.u_left - p.band_edge_eV[0], p.u_right - p.band_edge_eV[-1]
    )
    return p.band_edge_eV + u_h


def residual(u_int, p: PointInputs, grid: DensityGrid, cfg: DensityConfig):
    """R(U) = K(U − U_band) + (q²/ε₀)(N_D − n[U]) on the interior, eV/nm² (zero at the fixed point)."""
    u = _embed(u_int, p)
    n = _density(u, p, grid, cfg).density_nm3
    spacing = p.length_nm / (u.shape[0] - 1)
    return apply_stiffness(p.eps_r, spacing, u - p.band_edge_eV) + Q2_OVER_EPS0_EV_NM * (p.doping_nm3 - n)[1:-1]


class _Response(NamedTuple):
    """Local density response of the predictor: ñ_j(U_j) = scale_j·𝓕(η_j − (U_j − U⁰_j)/k_BT)."""

    u0: jax.Array
    eta: jax.Array
    scale: jax.Array

    def density(self, u, kT):
        return self.scale * fermi_dirac_half_fast(self.eta - (u - self.u0) / kT)

    def slope(self, u, kT):
        """−dñ/dU ≥ 0."""
        _, der = jax.jvp(fermi_dirac_half_fast, (self.eta - (u - self.u0) / kT,), (jnp.ones_like(u),))
        return self.scale * der / kT


def _response(u, n_nm3, p: PointInputs):
    nc = effective_density_of_states_cm3(p.m_eff, p.kT / thermal_energy_eV(1.0)) * NM3_PER_CM3
    n_safe = jnp.maximum(n_nm3, 1e-14 * nc)
    ratio = n_safe / nc
    eta = inverse_fermi_dirac_half_fast(ratio)
    return _Response(u, eta, n_safe / fermi_dirac_half_fast(eta))


def predictor(u, n_nm3, p: PointInputs, newton_steps: int):
    """Trellakis predictor: solve K(U − U_band) = (q²/ε₀)(ñ(U) − N_D) by Newton (gtsv per step)."""
    resp = _response(u, n_nm3, p)
    spacing = p.length_nm / (u.shape[0] - 1)
    lower, diag, upper = stiffness(p.eps_r, spacing)
    c = Q2_OVER_EPS0_EV_NM

    def res(ui):
        full = _embed(ui, p)
        n_pred = resp.density(full, p.kT)[1:-1]
        return apply_stiffness(p.eps_r, spacing, full - p.band_edge_eV) + c * (p.doping_nm3[1:-1] - n_pred)

    def body(state):
        ui, _, k = state
        r = res(ui)
        jac_diag = diag + c * resp.slope(_embed(ui, p), p.kT)[1:-1]
        step = -tridiagonal_solve(lower, jac_diag, upper, r)
        step = jnp.clip(step, -0.2, 0.2)
        return ui + step, jnp.max(jnp.abs(step)), k + 1

    def cond(state):
        _, size, k = state
        return (size > 1e-12) & (k < newton_steps)

    ui, _, _ = lax.while_loop(cond, body, (u[1:-1], jnp.asarray(jnp.inf), 0))
    return _embed(ui, p)


def preconditioner(u, n_nm3, p: PointInputs):
    """(lower, diag, upper) of K + (q²/ε₀)·diag(−∂ñ/∂U), the predictor's Jacobian at U."""
    resp = _response(u, n_nm3, p)
    spacing = p.length_nm / (u.shape[0] - 1)
    lower, diag, upper = stiffness(p.eps_r, spacing)
    return lower, diag + Q2_OVER_EPS0_EV_NM * resp.slope(u, p.kT)[1:-1], upper


# --------------------------------------------------------------------------------------
# The fixed-point loop (jitted)
# --------------------------------------------------------------------------------------
class _LoopState(NamedTuple):
    u: jax.Array
    beta: jax.Array
    grid: DensityGrid
    eval_grid: DensityGrid
    anderson: AndersonState
    adapting: jax.Array
    iteration: jax.Array
    residual: jax.Array
    converged: jax.Array
    density: jax.Array
    current: jax.Array
    sheet_error: jax.Array
    history: jax.Array


class PointResult(NamedTuple):
    """Raw result of :func:`solve_point` (arrays; see :class:`SelfConsistentSolution`)."""

    potential: jax.Array
    density_nm3: jax.Array
    current_Acm2: jax.Array
    grid: DensityGrid
    iterations: jax.Array
    residual_eV: jax.Array
    converged: jax.Array
    sheet_error: jax.Array
    residual_history: jax.Array


def solve_point(p: PointInputs, u_init, grid: DensityGrid, config: SolverConfig) -> PointResult:
    """The fixed point U = F(U) at one bias from ``u_init`` and ``grid`` (not differentiable; see module doc).

    Jitted; the tolerance is a traced argument and the settings that do not enter the loop
    are normalised, so changing them does not recompile.
    """
    loop_config = dataclasses.replace(
        config, tol_eV=1.0, on_failure="raise", contact_tolerance_kT=0.25,
        gmres_tol=1e-9, gmres_restart=40, gmres_maxiter=4, interface_width_nm=None,
    )
    return _solve_point(p, u_init, grid, jnp.asarray(config.tol_eV, jnp.float64), loop_config)


@partial(jax.jit, static_argnames=("config",))
def _solve_point(p: PointInputs, u_init, grid: DensityGrid, tol, config: SolverConfig) -> PointResult:
    dcfg = config.density
    n = u_init.shape[0]
    m = config.anderson_depth
    u0 = u_init.at[0].set(p.u_left).at[-1].set(p.u_right)

    def body(s: _LoopState):
        grid = s.grid
        grid = grid._replace(floor_eV=jnp.where(s.adapting, jnp.min(s.u) - dcfg.floor_margin_eV, grid.floor_eV))
        located = update_resonances(grid, s.u, p.m_eff, p.length_nm, p.mu_left, p.mu_right, p.kT, dcfg)
        # move the resonance coordinate only when a resonance moved by more than a tenth of
        # its width or its share changed appreciably (otherwise the nodes would jitter)
        moved = jnp.any(
            (jnp.abs(located.res_x - grid.res_x) > 0.1 * grid.res_g)
            | (jnp.abs(located.res_g - grid.res_g) > 0.1 * grid.res_g)
            | (jnp.abs(located.res_share - grid.res_share) > 0.1 * jnp.maximum(grid.res_share, 1e-3))
        ) & s.adapting
        grid = jax.tree_util.tree_map(lambda a, b: jnp.where(moved, a, b), located, grid)
        dens = _density(s.u, p, grid, dcfg)
        f_u = plain_map(s.u, dens.density_nm3, p)
        res = jnp.max(jnp.abs(f_u - s.u))
        converged = (res < tol) & ~s.adapting
        u_pc = predictor(s.u, dens.density_nm3, p, config.newton_steps)
        # Safeguarded Anderson: history is kept only in the asymptotic regime (res below
        # anderson_below_eV) and is cleared whenever the residual grows, the grid changes
        # or the accelerated step is not finite; otherwise the plain predictor step is taken.
        fresh = anderson_init(m, n - 2)
        worse = res > s.residual
        restart = (res > config.anderson_below_eV) | (res > 1.5 * s.residual)
        history = jax.tree_util.tree_map(lambda a, b: jnp.where(restart, b, a), s.anderson, fresh)
        # adaptive damping: halve the step when the residual grew (an overshooting predictor
        # near a sharp resonance oscillates), recover by 1.5× per successful step
        beta = jnp.where(worse, jnp.maximum(0.5 * s.beta, config.min_damping), jnp.minimum(1.0, 1.5 * s.beta))
        anderson, x_new = anderson_step(history, s.u[1:-1], (u_pc - s.u)[1:-1], m, beta)
        x_new = jnp.where(jnp.all(jnp.isfinite(x_new)), x_new, u_pc[1:-1])
        new_grid, changed = adapt_grid(grid, dens.panel_error, dcfg)
        changed = changed & s.adapting
        new_grid = jax.tree_util.tree_map(lambda a, b: jnp.where(s.adapting, a, b), new_grid, grid)
        anderson = jax.tree_util.tree_map(lambda a, b: jnp.where(changed | moved, b, a), anderson, fresh)
        # stop adapting once converged to adapt_until_eV, after max_adapt_steps, or when a
        # step neither split/merged a panel nor moved a resonance (the grid is balanced)
        adapting = (
            s.adapting & (res > config.adapt_until_eV) & (s.iteration + 1 < config.max_adapt_steps) & (changed | moved)
        )
        u_next = jnp.where(converged, s.u, _embed(x_new, p))
        hist = s.history.at[jnp.minimum(s.iteration, s.history.shape[0] - 1)].set(res)
        return _LoopState(
            u_next, beta, new_grid, grid, anderson, adapting, s.iteration + 1, res, converged,
            dens.density_nm3, dens.current_Acm2, dens.sheet_error, hist,
        )

    def cond(s: _LoopState):
        return ~s.converged & (s.iteration < config.max_iterations)

    init = _LoopState(
        u0, jnp.asarray(1.0), grid, grid, anderson_init(m, n - 2), jnp.asarray(config.max_adapt_steps > 0), jnp.asarray(0), jnp.asarray(jnp.inf),
        jnp.asarray(False), jnp.zeros(n), jnp.asarray(0.0), jnp.asarray(0.0),
        jnp.full(config.max_iterations, jnp.nan),
    )
    s = lax.while_loop(cond, body, init)
    return PointResult(s.u, s.density, s.current, s.eval_grid, s.iteration, s.residual, s.converged, s.sheet_error, s.history)


# --------------------------------------------------------------------------------------
# Implicit differentiation through the fixed point (physics.md eq. 11.5)
# --------------------------------------------------------------------------------------
def adjoint_solve(p: PointInputs, u_full, grid: DensityGrid, u_bar, config: SolverConfig, linearization=None):
    """λ with Jᵀλ = ū on the interior, J = ∂R/∂U the Jacobian of the residual (physics.md eq. 11.5).

    GMRES (right-preconditioned by the predictor's tridiagonal Jacobian
    K + (q²/ε₀)diag(−∂ñ/∂U)) with the matrix-free Jᵀv = Kv − (q²/ε₀)(∂n/∂U)ᵀv of
    :class:`.density.PotentialVJP`. ``linearization``: (DensityResult, PotentialVJP) at
    ``u_full`` if already computed. Returns (λ, relative residual, number of matvecs).
    """
    dcfg = config.density
    if linearization is None:
        linearization = density_linearization(
            u_full, p.m_eff, p.length_nm, p.mu_left, p.mu_right, p.kT, p.emitter_mask, grid, dcfg
        )
    dens, lin = linearization
    lower, diag, upper = preconditioner(u_full, dens.density_nm3, p)
    spacing = p.length_nm / (u_full.shape[0] - 1)
    zero = jnp.zeros((1,))

    def matvec(v):  # Jᵀv = K v − (q²/ε₀)(∂n/∂U)ᵀv on the interior
        full = jnp.concatenate([zero, v, zero])
        return apply_stiffness(p.eps_r, spacing, full) - Q2_OVER_EPS0_EV_NM * lin.apply(full)[1:-1]

    lam, rel, count = gmres(
        matvec,
        u_bar,
        lambda v: tridiagonal_solve(lower, diag, upper, v),
        config.gmres_restart,
        config.gmres_maxiter,
        config.gmres_tol,
    )
    return lam, rel, count


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def solution_outputs(p: PointInputs, u_star, grid: DensityGrid, config: SolverConfig):
    """(U, n in nm⁻³, J in A/cm²) at the converged U* = ``u_star``, differentiable in θ = ``p``.

    The values are those at U* (its boundary entries replaced by p.u_left, p.u_right).
    The VJP is the implicit-function theorem (physics.md eq. 11.5), never an unrolled
    iteration: with output cotangents (Ū, n̄, J̄),

        ū = Ū_int + (∂n/∂U)ᵀn̄ + (∂J/∂U)ᵀJ̄,      Jᵀλ = ū   (:func:`adjoint_solve`),
        θ̄ = ∇_θ[(n̄ + (q²/ε₀)λ)·n + J̄·J − λ·(K(U − U_band) + (q²/ε₀)N_D) + Ū_0 U_0 + Ū_{N−1} U_{N−1}],

    the last gradient one reverse pass through the density at fixed interior U*.
    """
    u = _embed(u_star[1:-1], p)
    dens = _density(u, p, grid, config.density)
    return u, dens.density_nm3, dens.current_Acm2


def _outputs_fwd(p, u_star, grid, config):
    out = solution_outputs(p, u_star, grid, config)
    return out, (p, out[0], grid)


@partial(jax.jit, static_argnames=("config",))
def _outputs_bwd_jit(p, u_full, grid, cts, config):
    u_bar, n_bar, j_bar = cts
    c = Q2_OVER_EPS0_EV_NM
    linearization = density_linearization(
        u_full, p.m_eff, p.length_nm, p.mu_left, p.mu_right, p.kT, p.emitter_mask, grid, config.density
    )
    lin = linearization[1]
    rhs = u_bar[1:-1] + lin.apply(n_bar, j_bar)[1:-1]
    lam, rel, count = adjoint_solve(p, u_full, grid, rhs, config, linearization)
    lam_full = jnp.concatenate([jnp.zeros(1), lam, jnp.zeros(1)])
    u_int = u_full[1:-1]

    def h(pp):
        u = _embed(u_int, pp)
        dens = _density(u, pp, grid, config.density)
        spacing = pp.length_nm / (u.shape[0] - 1)
        r_lin = apply_stiffness(pp.eps_r, spacing, u - pp.band_edge_eV) + c * pp.doping_nm3[1:-1]
        return (
            jnp.sum((n_bar + c * lam_full) * dens.density_nm3)
            + j_bar * dens.current_Acm2
            - jnp.sum(lam * r_lin)
            + u_bar[0] * pp.u_left
            + u_bar[-1] * pp.u_right
        )

    p_bar = jax.grad(h)(p)
    p_bar = p_bar._replace(emitter_mask=jnp.zeros_like(p.emitter_mask))
    return p_bar, rel, count


def _outputs_bwd(config, res, cts):
    p, u_full, grid = res
    p_bar, rel, _ = _outputs_bwd_jit(p, u_full, grid, cts, config)
    if val.is_concrete(rel) and not float(rel) < 1e3 * config.gmres_tol:
        warnings.warn(f"adjoint GMRES solve reached relative residual {float(rel):.2e} only", RuntimeWarning, stacklevel=2)
    return p_bar, jnp.zeros_like(u_full), jax.tree_util.tree_map(jnp.zeros_like, grid)


solution_outputs.defvjp(_outputs_fwd, _outputs_bwd)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
class SelfConsistentSolution(NamedTuple):
    """Self-consistent state of a stack at one bias (physics.md §11). Units in the names.

    ``potential_eV``, ``hartree_eV``, ``density_cm3`` and ``current_density_Acm2`` are
    differentiable with respect to the stack (implicit function theorem).
    """

    x_nm: jax.Array
    potential_eV: jax.Array
    band_edge_eV: jax.Array
    hartree_eV: jax.Array
    density_cm3: jax.Array
    doping_cm3: jax.Array
    eps_r: jax.Array
    m_eff: jax.Array
    fermi_level_eV: jax.Array
    bias_V: float
    current_density_Acm2: jax.Array
    iterations: int
    residual_eV: float
    converged: bool
    quadrature_error: float
    grid: DensityGrid
    residual_history: np.ndarray
    attempts: int = 1


def check_inputs(stack, bias, temperature_K, fermi_level_eV, materials=ALGAAS):
    """ValueError for bad stacks, biases, temperatures (concrete values only)."""
    check_stack(stack, materials)
    val.check_ndim("bias", bias, (0,))
    val.check_nonnegative("bias", bias)
    val.check_positive("temperature_K", temperature_K)
    val.check_range("temperature_K", temperature_K, *val.TEMPERATURE_RANGE_K, "K")
    if fermi_level_eV is None and val.is_concrete(stack.doping_cm3):
        dop = np.asarray(stack.doping_cm3)
        for name, k in (("emitter (first layer)", 0), ("collector (last layer)", -1)):
            if not dop[k] > 0:
                raise ValueError(
                    f"the {name} is undoped, so no Fermi level follows from its doping "
                    "(physics.md eq. 11.1); dope it or pass fermi_level_eV"
                )
    if fermi_level_eV is not None:
        val.check_ndim("fermi_level_eV", fermi_level_eV, (0,))
        val.as_float_array("fermi_level_eV", fermi_level_eV)


@jax.jit
def screening_length_nm(doping_cm3, mass, eps_r, temperature_K):
    """Thomas–Fermi/Debye screening length λ_s = √(ε_r k_BT 𝓕_{1/2}(η)/((q²/ε₀) N_D 𝓕_{−1/2}(η))) in nm."""
    kT = thermal_energy_eV(temperature_K)
    eta = _contact_eta(doping_cm3, mass, temperature_K)
    f, df = jax.jvp(fermi_dirac_half, (jnp.asarray(eta),), (jnp.ones(()),))
    return jnp.sqrt(eps_r * kT * f / (Q2_OVER_EPS0_EV_NM * doping_cm3 * NM3_PER_CM3 * df))


def _check_contact_lengths(stack, temperature_K, materials, fermi_level_eV):
    if fermi_level_eV is not None or not val.is_concrete(stack):
        return
    th = np.asarray(stack.thickness_nm)
    for name, k in (("emitter (first layer)", 0), ("collector (last layer)", -1)):
        x = float(np.asarray(stack.al_fraction)[k])
        lam = float(screening_length_nm(float(np.asarray(stack.doping_cm3)[k]), materials.mass(x), materials.eps_r(x), temperature_K))
        if th[k] < 3.0 * lam:
            raise val.InfeasibleError(
                f"the {name} is {th[k]:.3g} nm thick, less than 3 screening lengths "
                f"(λ_s = {lam:.3g} nm): too short to be charge-neutral at its outer boundary"
            )


def _check_neutral_ends(u, p: PointInputs, stack, temperature_K, config, materials, fermi_level_eV):
    """Band bending left at the outer boundaries, |dU/dx|·λ_s, must be < contact_tolerance_kT·k_BT."""
    if fermi_level_eV is not None or not val.is_concrete((stack, p)):
        return
    u = np.asarray(u)
    spacing = float(p.length_nm) / (u.size - 1)
    kT = float(p.kT)
    for name, k, slope in (
        ("emitter (first layer)", 0, (u[1] - u[0]) / spacing),
        ("collector (last layer)", -1, (u[-1] - u[-2]) / spacing),
    ):
        x = float(np.asarray(stack.al_fraction)[k])
        lam = float(screening_length_nm(float(np.asarray(stack.doping_cm3)[k]), materials.mass(x), materials.eps_r(x), temperature_K))
        bend = abs(slope) * lam
        if bend > config.contact_tolerance_kT * kT:
            raise val.InfeasibleError(
                f"the {name} is too short to be charge-neutral at bias {float(p.mu_left - p.mu_right):.3g} V: "
                f"the field at its outer boundary leaves {1e3 * bend:.3g} meV of band bending "
                f"(> {config.contact_tolerance_kT:g} k_BT); make it thicker or more heavily doped"
            )


def _fields(p: PointInputs, length, u, density_nm3, current):
    return dict(
        x_nm=jnp.linspace(0.0, 1.0, u.shape[0]) * length,
        potential_eV=u,
        band_edge_eV=p.band_edge_eV,
        hartree_eV=u - p.band_edge_eV,
        density_cm3=density_nm3 * CM3_PER_NM3,
        doping_cm3=p.doping_nm3 * CM3_PER_NM3,
        eps_r=p.eps_r,
        m_eff=p.m_eff,
        fermi_level_eV=p.mu_left,
        current_density_Acm2=current,
    )


@partial(jax.jit, static_argnames=("config", "materials"))
def _traced_fields(stack, bias, temperature_K, fermi_level_eV, u_star, grid, config, materials):
    """Solution fields as differentiable functions of (stack, bias, E_F) at the converged U*."""
    p = _point_inputs(stack, bias, temperature_K, fermi_level_eV, config, materials)
    u, density_nm3, current = solution_outputs(p, u_star, grid, config)
    return _fields(p, stack.length_nm, u, density_nm3, current)


def with_dirichlet_ends(p: PointInputs, u):
    """``u`` plus the linear ramp that moves its end values to the Dirichlet values U(0), U(L)."""
    x = jnp.linspace(0.0, 1.0, u.shape[0])
    return u + (p.u_left - u[0]) * (1.0 - x) + (p.u_right - u[-1]) * x


def initial_potential(p: PointInputs):
    """Starting guess: U_band plus the linear ramp between the Dirichlet values."""
    return with_dirichlet_ends(p, p.band_edge_eV)


def solve_self_consistent(
    stack: Stack,
    bias,
    temperature_K: float = 300.0,
    *,
    config: SolverConfig | FemSolverConfig = SolverConfig(),
    fermi_level_eV=None,
    initial: SelfConsistentSolution | None = None,
    previous: SelfConsistentSolution | None = None,
    materials=ALGAAS,
    fresh_restart: bool = True,
) -> SelfConsistentSolution:
    """Self-consistent Hartree potential, density and current of ``stack`` at ``bias`` (physics.md §11).

    Args:
      stack: :class:`.stack.Stack` (doped first and last layers are the contacts).
      bias: V ≥ 0 in volts.
      temperature_K: T > 0 in K.
      config: :class:`SolverConfig`.
      fermi_level_eV: override μ_L (needed for undoped contacts); then U_H(L) = −V.
      initial: a solution at a nearby bias to continue from (its potential, shifted by
        the change of the bias ramp, and its energy grid).
      previous: the solution before ``initial`` in a bias sweep: the starting potential
        is then extrapolated linearly in the bias from the two (a secant predictor).
      materials: materials table.
      fresh_restart: when every continuation start fails (below), try once more from the
        default starting guess. Bias sweeps that must stay on one branch of a bistable
        device pass False and shorten the bias step instead (:func:`self_consistent_iv`).

    Starting points, tried in order until one converges (physics.md §11.1, "restarts"):
    the secant-extrapolated potential with the previous energy grid; the shifted potential
    of ``initial`` without extrapolation; the same potential on a freshly adapted energy
    grid; and (``fresh_restart``) the default guess. ``attempts`` in the result says which.

    Returns:
      :class:`SelfConsistentSolution`. Differentiable (eagerly, e.g. under ``jax.grad``)
      with respect to the stack's arrays and ``fermi_level_eV`` by the implicit function
      theorem. Not jit-able as a whole (it checks convergence and raises); the fixed-point
      loop itself is jitted (:func:`solve_point`).
    Raises:
      ValueError: bad input (negative doping, undoped contacts without ``fermi_level_eV``,
        contacts too short to be neutral, negative bias).
      RuntimeError: no convergence within ``config.max_iterations`` (or NaN), when
        ``config.on_failure == "raise"``.

    The discretisation is the one switch ``config``: a :class:`SolverConfig` solves on the
    finite-difference grid (smoothed interfaces), a :class:`.selfconsistent_fem.FemSolverConfig`
    on finite elements with abrupt interfaces (physics.md §14.11; returns a
    :class:`.selfconsistent_fem.FemSelfConsistentSolution`, same field names for U, n, J).
    """
    if not isinstance(config, (SolverConfig, FemSolverConfig)):
        raise ValueError(f"config must be a SolverConfig or a FemSolverConfig, got {type(config).__name__}")
    check_inputs(stack, bias, temperature_K, fermi_level_eV, materials)
    traced = not val.is_concrete((stack, bias, fermi_level_eV))
    stack_c, bias_c, fermi_c = jax.tree_util.tree_map(lax.stop_gradient, (stack, bias, fermi_level_eV))
    _check_contact_lengths(stack_c, temperature_K, materials, fermi_level_eV)
    if isinstance(config, FemSolverConfig):
        return solve_self_consistent_fem(stack, bias, temperature_K, config=config, fermi_level_eV=fermi_level_eV,
                                         initial=initial, previous=previous, fresh_restart=fresh_restart,
                                         materials=materials)
    p_const = point_inputs(stack_c, bias_c, temperature_K, config, fermi_c, materials)
    attempts = 0
    for u_init, grid in _starting_points(p_const, float(bias_c), config, initial, previous, fresh_restart):
        attempts += 1
        out = solve_point(p_const, u_init, grid, config)
        converged = bool(out.converged) and bool(np.all(np.isfinite(np.asarray(out.potential))))
        if converged:
            break
    if not converged:
        msg = (
            f"self-consistent solution did not converge at bias {float(bias):.4g} V: residual "
            f"max|F(U) − U| = {float(out.residual_eV):.3g} eV after {int(out.iterations)} iterations "
            f"(tolerance {config.tol_eV:g} eV)"
        )
        if not np.all(np.isfinite(np.asarray(out.potential))):
            msg += "; the iteration produced NaN/inf"
        if attempts > 1:
            msg += f" (from each of {attempts} starting points)"
        if config.on_failure == "raise":
            raise val.NotConvergedError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    else:
        _check_neutral_ends(out.potential, p_const, stack_c, temperature_K, config, materials, fermi_level_eV)
    if traced:  # differentiable outputs: one jitted call, implicit-function VJP inside
        fields = _traced_fields(stack, bias, temperature_K, fermi_level_eV, out.potential, out.grid, config, materials)
    else:
        fields = _fields(p_const, stack.length_nm, out.potential, out.density_nm3, out.current_Acm2)
    hist = np.asarray(out.residual_history)
    return SelfConsistentSolution(
        **fields,
        bias_V=float(bias_c),
        iterations=int(out.iterations),
        residual_eV=float(out.residual_eV),
        converged=converged,
        quadrature_error=float(out.sheet_error),
        grid=out.grid,
        residual_history=hist[np.isfinite(hist)],
        attempts=attempts,
    )


def _starting_points(p: PointInputs, bias_V: float, config: SolverConfig, initial, previous, fresh_restart: bool):
    """Starting (potential, energy grid) pairs for :func:`solve_self_consistent`, lazily, best first.

    A fixed point near a sharp resonance can lock into a 2-cycle once the energy grid is
    frozen (the well charge is then a nearly discontinuous function of U); a different
    start or a re-adapted grid escapes it.
    """
    if initial is not None:
        u_prev = jnp.asarray(lax.stop_gradient(initial.potential_eV))
        grid = jax.tree_util.tree_map(lax.stop_gradient, initial.grid)
        if previous is not None and previous.bias_V != initial.bias_V:
            step = (bias_V - initial.bias_V) / (initial.bias_V - previous.bias_V)
            u_secant = u_prev + step * (u_prev - jnp.asarray(lax.stop_gradient(previous.potential_eV)))
            yield with_dirichlet_ends(p, u_secant), grid
        u_shifted = with_dirichlet_ends(p, u_prev)
        yield u_shifted, grid
        yield u_shifted, initial_grid(config.density, u_shifted)
        if not fresh_restart:
            return
    u = initial_potential(p)  # the default guess: first without ``initial``, last with it
    yield u, initial_grid(config.density, u)


class SweepResult(NamedTuple):
    """Self-consistent J(V) swept up and (optionally) down (physics.md §11).

    Attributes:
      biases: (K,) in V, ascending.
      current_up, current_down: (K,) J in A/cm² on the upward and downward sweeps, both
        indexed like ``biases`` (None for a direction not swept).
      iterations_up, iterations_down: (K,) fixed-point iterations per bias (or None).
      solutions_up, solutions_down: lists of :class:`SelfConsistentSolution` (or None).
      bistable: (K,) True where the two branches differ by more than ``rtol`` (relative
        to the peak current) — intrinsic bistability (Goldman, Tsui & Cunningham,
        PRL 58, 1256 (1987)).
    """

    biases: np.ndarray
    current_up: jax.Array
    current_down: jax.Array | None
    iterations_up: np.ndarray
    iterations_down: np.ndarray | None
    solutions_up: list
    solutions_down: list | None
    bistable: np.ndarray | None


MAX_BIAS_BISECTIONS = 3
"""Times a failed bias step of a sweep is halved before restarting from the default guess."""


def _sweep_one(stack, biases, temperature_K, config, fermi_level_eV, materials, progress, label, start=None, mesh=None):
    sols = []
    prev, before = start, None
    iterator = biases
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        iterator = tqdm(biases, desc=f"self-consistent J(V) {label}", leave=False, disable=None)  # terminal only
    strict = dataclasses.replace(config, on_failure="raise")

    def solve(v, initial, previous, fresh_restart, cfg=strict):
        if mesh is not None:  # finite elements: one mesh for the whole sweep
            check_inputs(stack, v, temperature_K, fermi_level_eV, materials)
            return solve_self_consistent_fem(
                stack, v, temperature_K, config=cfg, fermi_level_eV=fermi_level_eV, mesh=mesh, initial=initial,
                previous=previous, fresh_restart=fresh_restart, materials=materials,
            )
        return solve_self_consistent(
            stack, v, temperature_K, config=cfg, fermi_level_eV=fermi_level_eV, initial=initial,
            previous=previous, materials=materials, fresh_restart=fresh_restart,
        )

    def bisect(v, initial, previous, depth):
        """Continue to bias v, halving the bias step on failure (stays on the branch)."""
        try:
            return solve(v, initial, previous, False)
        except RuntimeError:
            if initial is None or depth == 0:
                raise
        mid = bisect(0.5 * (initial.bias_V + float(v)), initial, None, depth - 1)
        return bisect(v, mid, initial, depth - 1)

    for v in iterator:
        try:
            sol = bisect(v, prev, before, MAX_BIAS_BISECTIONS)
        except RuntimeError:
            # last resort: the default starting guess (with the caller's on_failure)
            sol = solve(v, prev, before, True, cfg=config)
            if prev is not None and sol.converged:
                warnings.warn(
                    f"self-consistent sweep ({label}): continuation failed at {float(v):.4g} V even with "
                    f"the bias step halved {MAX_BIAS_BISECTIONS} times; converged from the default "
                    "starting guess, which may lie on the other branch of a bistable device",
                    RuntimeWarning, stacklevel=3,
                )
        sols.append(sol)
        prev, before = sol, prev
    return sols


def self_consistent_iv(
    stack: Stack,
    biases,
    temperature_K: float = 300.0,
    *,
    config: SolverConfig | FemSolverConfig = SolverConfig(),
    fermi_level_eV=None,
    direction: str = "both",
    rtol: float = 1e-3,
    progress: bool = True,
    materials=ALGAAS,
) -> SweepResult:
    """Self-consistent J(V) with bias continuation (physics.md §11).

    Each bias starts from the converged potential and energy grid of the previous one
    (see :func:`solve_self_consistent` for the restarts); a bias step that still fails is
    halved up to ``MAX_BIAS_BISECTIONS`` times, which keeps the sweep on its branch, and
    only then restarted from the default guess (with a warning).
    ``direction="both"`` sweeps up, then down from the top, and flags the biases where
    the branches differ (bistability). Differentiable in the stack (eagerly): each J is
    the implicit-function J(U*(θ), θ) of :func:`solve_self_consistent`.

    With a :class:`.selfconsistent_fem.FemSolverConfig` the same sweep (continuation, secant
    predictor, step halving) runs on finite elements, on one graded mesh built for the largest
    bias (:func:`.selfconsistent_fem.stack_mesh`), so successive solutions share their nodes.
    """
    if direction not in ("up", "down", "both"):
        raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")
    if not isinstance(config, (SolverConfig, FemSolverConfig)):
        raise ValueError(f"config must be a SolverConfig or a FemSolverConfig, got {type(config).__name__}")
    biases = np.asarray(val.check_biases("biases", biases), float)  # 1-D, finite, >= 0 V, increasing
    mesh = None
    if isinstance(config, FemSolverConfig):
        check_inputs(stack, float(biases[-1]), temperature_K, fermi_level_eV, materials)
        stack_c = jax.tree_util.tree_map(lax.stop_gradient, stack)
        _check_contact_lengths(stack_c, temperature_K, materials, fermi_level_eV)
        mesh = stack_mesh(stack_c, float(biases[-1]), float(temperature_K), config, fermi_level_eV, materials)
    up = down = None
    if direction in ("up", "both"):
        up = _sweep_one(stack, biases, temperature_K, config, fermi_level_eV, materials, progress, "up", mesh=mesh)
    if direction in ("down", "both"):
        start = up[-1] if up is not None else None
        down = _sweep_one(stack, biases[::-1], temperature_K, config, fermi_level_eV, materials, progress, "down", start,
                          mesh=mesh)[::-1]
    j_up = jnp.stack([s.current_density_Acm2 for s in up]) if up is not None else None
    j_down = jnp.stack([s.current_density_Acm2 for s in down]) if down is not None else None
    bistable = None
    if up is not None and down is not None:
        a, b = np.asarray(lax.stop_gradient(j_up)), np.asarray(lax.stop_gradient(j_down))
        bistable = np.abs(a - b) > rtol * np.max(np.abs(a))
    iters = lambda sols: None if sols is None else np.array([s.iterations for s in sols])  # noqa: E731
    return SweepResult(biases, j_up, j_down, iters(up), iters(down), up, down, bistable)


__all__ = [
    "FemSelfConsistentSolution",
    "FemSolverConfig",
    "PointInputs",
    "SelfConsistentSolution",
    "SolverConfig",
    "SweepResult",
    "plain_map",
    "point_inputs",
    "predictor",
    "residual",
    "screening_length_nm",
    "self_consistent_iv",
    "solve_point",
    "solve_self_consistent",
]
